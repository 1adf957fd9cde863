// Loads the widget named in ?widget= (default: the demo account's) the way a customer's site would.
(function () {
  var token = new URLSearchParams(location.search).get("widget") || "wgt_demo_acme";
  var tag = document.createElement("script");
  tag.src = new URL("continuum.js", document.currentScript.src).href;
  tag.async = true;
  tag.setAttribute("data-widget", token);
  document.body.appendChild(tag);
})();
