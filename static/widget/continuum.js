/*
 * Continuum webchat widget. Put one tag on any page:
 *
 *   <script src="https://YOUR-CONTINUUM/static/widget/continuum.js" data-widget="wgt_..." async></script>
 *
 * Optional, before the tag: window.ContinuumSettings = {identifier, identifier_hash, name, email, phone}
 * (identifier_hash = HMAC-SHA256(widget secret, identifier), computed on the host site's server).
 *
 * The visitor's session token is kept in localStorage; messages travel over a websocket, with plain HTTP
 * (polling) when a websocket cannot be opened. Everything lives in a shadow root: the host page's CSS does not
 * leak in and ours does not leak out. window.Continuum.open() / .close() control it from the page.
 */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-widget]");
  if (!script || window.Continuum) return;
  var token = script.getAttribute("data-widget");
  var base = new URL(script.src, location.href).origin;
  var storeKey = "continuum:" + token;
  var settings = window.ContinuumSettings || {};
  var state = { session: null, config: null, known: false, lastId: 0, socket: null, failures: 0, polling: null,
                open: false, pending: {}, typingSentAt: 0, typingTimer: null, started: null };

  function load() { try { return localStorage.getItem(storeKey); } catch (e) { return null; } }
  function save(value) { try { localStorage.setItem(storeKey, value); } catch (e) { /* private mode */ } }

  function api(method, path, body) {
    var headers = { "Content-Type": "application/json" };
    if (state.session) headers.Authorization = "Bearer " + state.session;
    return fetch(base + "/webchat/" + encodeURIComponent(token) + path, {
      method: method, headers: headers, body: body ? JSON.stringify(body) : undefined, credentials: "omit",
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          var error = new Error((data.error && data.error.message) || "The chat is unavailable.");
          error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  // --- The interface ----------------------------------------------------------------------------------------
  var host = document.createElement("div");
  host.setAttribute("data-continuum-widget", "");
  var root = host.attachShadow({ mode: "open" });
  root.innerHTML =
    '<link rel="stylesheet" href="' + base + '/static/widget/continuum.css">' +
    '<button class="bubble" type="button" aria-label="Open chat" aria-expanded="false">' +
    '<svg viewBox="0 0 24 24" fill="currentColor" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg></button>' +
    '<section class="panel" role="dialog" aria-label="Chat">' +
    '<header><h2></h2><button type="button" class="mail" aria-label="Email me this chat" title="Email me this chat">' +
    '<svg viewBox="0 0 24 24" fill="currentColor" aria-hidden="true"><path d="M3 5h18a1 1 0 0 1 1 1v12a1 1 0 0 1-1 1H3a1 1 0 0 1-1-1V6a1 1 0 0 1 1-1zm9 7.2L4.4 7H19.6L12 12.2zM4 8.9V17h16V8.9l-8 5.4-8-5.4z"/></svg></button>' +
    '<button type="button" class="close" aria-label="Close chat">&times;</button></header>' +
    '<form class="transcript" hidden><p class="t-intro">We will email you this chat.</p>' +
    '<label class="t-email">Your email <input name="email" type="email" autocomplete="email"></label>' +
    '<label class="t-code" hidden>The 6-digit code we just emailed you <input name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="6"></label>' +
    '<div class="t-actions"><button type="submit">Send</button><button type="button" class="t-cancel">Cancel</button></div></form>' +
    '<form class="prechat" hidden></form>' +
    '<div class="log" aria-live="polite"></div><div class="typing" aria-live="polite"></div><div class="note" role="alert"></div>' +
    '<form class="compose"><textarea name="body" aria-label="Your message" placeholder="Write a message…" maxlength="5000"></textarea>' +
    '<label class="attach" title="Send a file"><span class="sr-only">Send a file</span>' +
    '<svg viewBox="0 0 24 24" fill="currentColor" aria-hidden="true"><path d="M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10h-1.5z"/></svg>' +
    '<input type="file" name="file" accept="image/*,application/pdf,text/plain,text/csv,.doc,.docx,.xls,.xlsx,.odt,.ods,.rtf"></label>' +
    '<button class="send" type="submit">Send</button></form></section>';
  var $ = function (selector) { return root.querySelector(selector); };
  // Shown once its stylesheet is in: no flash of an unstyled button.
  host.hidden = true;
  $("link").addEventListener("load", function () { host.hidden = false; });
  var bubble = $(".bubble"), panel = $(".panel"), log = $(".log"), typing = $(".typing"), note = $(".note");
  var compose = $("form.compose"), textarea = $("textarea"), prechat = $("form.prechat");

  function setNote(text, ok) { note.textContent = text || ""; note.classList.toggle("ok", !!ok); }

  function addMessage(message, pendingId) {
    var element = pendingId ? state.pending[pendingId] : null;
    if (message.id && root.querySelector('[data-id="' + message.id + '"]')) return;
    if (!element) element = document.createElement("div");
    if (!element.isConnected) log.appendChild(element);
    element.className = "msg " + (message.direction === "in" ? "in" : "out") + (message.id ? "" : " pending");
    element.textContent = "";
    if (message.direction === "out") {
      var who = document.createElement("span");
      who.className = "who";
      var name = message.sender_name || (message.sender_type === "ai" ? "Assistant" : "");
      who.textContent = name ? name + " · " + state.config.title : state.config.title;
      element.appendChild(who);
    }
    if (message.body) element.appendChild(document.createTextNode(message.body));
    (message.attachments || []).forEach(function (file) { element.appendChild(fileLink(file)); });
    if (message.uploading) {
      var uploading = document.createElement("span");
      uploading.className = "file";
      uploading.textContent = "Sending " + message.uploading + "…";
      element.appendChild(uploading);
    }
    if (message.id) {
      element.setAttribute("data-id", message.id);
      state.lastId = Math.max(state.lastId, message.id);
      if (pendingId) delete state.pending[pendingId];
    }
    log.scrollTop = log.scrollHeight;
    if (message.direction === "out" && message.id) seen(message.id);
    return element;
  }

  // A file of the chat: fetched with the session (never a bare URL), shown as a picture or saved when clicked.
  function fetchFile(file) {
    return fetch(base + "/webchat-files/" + encodeURIComponent(token) + "/" + file.id, {
      headers: { Authorization: "Bearer " + state.session }, credentials: "omit",
    }).then(function (response) {
      if (!response.ok) throw new Error("The file could not be loaded.");
      return response.blob();
    });
  }

  function fileLink(file) {
    var link = document.createElement("a");
    link.className = "file";
    link.href = "#";
    link.textContent = file.filename;
    link.setAttribute("aria-label", "Download " + file.filename);
    link.addEventListener("click", function (event) {
      event.preventDefault();
      fetchFile(file).then(function (blob) {
        var url = URL.createObjectURL(blob);
        var save = document.createElement("a");
        save.href = url;
        save.download = file.filename;
        root.appendChild(save);
        save.click();
        save.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
      }, function (error) { setNote(error.message); });
    });
    if (/^image\/(png|jpeg|gif|webp)$/.test(file.content_type || "")) {
      fetchFile(file).then(function (blob) {
        // the picture above its name: a tiny or transparent image (a 1x1 tracking pixel) never leaves an empty bubble
        var image = document.createElement("img");
        var caption = document.createElement("span");
        image.alt = "";
        image.src = URL.createObjectURL(blob);
        image.addEventListener("error", function () { image.remove(); });  // not an image after all: the name stays
        caption.className = "caption";
        caption.textContent = file.filename;
        link.textContent = "";
        link.appendChild(image);
        link.appendChild(caption);
      }, function () { /* the name stays */ });
    }
    return link;
  }

  function seen(id) {
    if (state.open && state.socket && state.socket.readyState === 1) state.socket.send(JSON.stringify({ type: "seen", id: id }));
  }

  function showTyping(name) {
    typing.textContent = (name || "Someone") + " is typing…";
    clearTimeout(state.typingTimer);
    state.typingTimer = setTimeout(function () { typing.textContent = ""; }, 4000);
  }

  // --- Session ----------------------------------------------------------------------------------------------
  function start(details) {
    var body = { session: load() };
    ["identifier", "identifier_hash", "name", "email", "phone"].forEach(function (key) {
      if (settings[key]) body[key] = settings[key];
    });
    Object.keys(details || {}).forEach(function (key) { if (details[key]) body[key] = details[key]; });
    return api("POST", "/session", body).then(function (data) {
      state.session = data.session;
      state.config = data.config;
      state.known = data.known;
      save(data.session);
      render(data.messages);
      connect();
      return data;
    });
  }

  function render(messages) {
    host.style.setProperty("--c", state.config.color);
    panel.style.setProperty("--c", state.config.color);
    bubble.style.setProperty("--c", state.config.color);
    $("h2").textContent = state.config.title;
    log.textContent = "";
    var greeting = document.createElement("div");
    greeting.className = "greeting";
    greeting.textContent = state.config.greeting;
    log.appendChild(greeting);
    messages.forEach(function (message) { addMessage(message); });
    var needsForm = state.config.prechat.length && !state.known && !settings.identifier;
    prechat.hidden = !needsForm;
    compose.hidden = !!needsForm;
    log.hidden = !!needsForm;
    if (needsForm) buildPrechat();
  }

  function buildPrechat() {
    var labels = { name: "Your name", email: "Email", phone: "Phone" };
    var types = { name: "text", email: "email", phone: "tel" };
    prechat.textContent = "";
    var intro = document.createElement("p");
    intro.textContent = state.config.greeting;
    prechat.appendChild(intro);
    state.config.prechat.forEach(function (field) {
      var label = document.createElement("label");
      label.textContent = labels[field];
      var input = document.createElement("input");
      input.name = field;
      input.type = types[field];
      input.autocomplete = field === "phone" ? "tel" : field;
      label.appendChild(input);
      prechat.appendChild(label);
    });
    var button = document.createElement("button");
    button.type = "submit";
    button.textContent = "Start chat";
    prechat.appendChild(button);
  }

  prechat.addEventListener("submit", function (event) {
    event.preventDefault();
    var details = {};
    state.config.prechat.forEach(function (field) { details[field] = prechat.elements[field].value.trim(); });
    setNote("");
    start(details).then(function () { textarea.focus(); }, function (error) { setNote(error.message); });
  });

  // --- Transport: websocket, else polling ---------------------------------------------------------------------
  function connect() {
    if (state.socket || state.polling) return;
    var url = base.replace(/^http/, "ws") + "/ws/webchat/" + encodeURIComponent(token) + "/?session=" +
      encodeURIComponent(state.session);
    var socket;
    try { socket = new WebSocket(url); } catch (e) { return fallback(); }
    state.socket = socket;
    socket.onopen = function () { state.failures = 0; catchUp(); };
    socket.onmessage = function (event) {
      var data = JSON.parse(event.data);
      if (data.type === "message") { typing.textContent = ""; addMessage(data.message); }
      else if (data.type === "ack") addMessage(data.message, data.client_id);
      else if (data.type === "typing") showTyping(data.name);
      else if (data.type === "error") failed(data.client_id, data.message);
    };
    socket.onclose = function (event) {
      state.socket = null;
      if (event.code === 4401) { save(""); state.session = null; return start(); }
      if (event.code === 4403 || event.code === 4404) return setNote("This chat is not available on this site.");
      state.failures += 1;
      if (state.failures >= 3) return fallback();
      setTimeout(connect, Math.min(5000, 500 * Math.pow(2, state.failures)));
    };
  }

  function fallback() {
    if (state.polling) return;
    state.polling = setInterval(catchUp, 3000);
    setTimeout(function () { clearInterval(state.polling); state.polling = null; state.failures = 0; connect(); }, 60000);
  }

  function catchUp() {
    if (!state.session) return;
    api("GET", "/messages?after=" + state.lastId).then(function (data) {
      data.messages.forEach(function (message) { addMessage(message); });
    }, function () { /* offline: the next round tries again */ });
  }

  function failed(clientId, text) {
    var element = state.pending[clientId];
    if (element) element.classList.add("failed");
    setNote(text);
  }

  compose.addEventListener("submit", function (event) {
    event.preventDefault();
    var body = textarea.value.trim();
    if (!body) return;
    setNote("");
    textarea.value = "";
    var clientId = Math.random().toString(36).slice(2) + Date.now().toString(36);
    state.pending[clientId] = addMessage({ direction: "in", body: body });
    whenReady(function () {
      if (state.socket && state.socket.readyState === 1) {
        state.socket.send(JSON.stringify({ type: "message", body: body, client_id: clientId }));
        return null;
      }
      return api("POST", "/messages", { body: body, client_id: clientId }).then(
        function (data) { addMessage(data.message, clientId); }
      );
    }, clientId);
  });

  // Sends wait for the session: a visitor who types (or picks a file) while the chat is still opening is not lost.
  function whenReady(send, clientId) {
    (state.started || Promise.reject(new Error("The chat is not open yet; try again.")))
      .then(send)
      .catch(function (error) { failed(clientId, error.message); });
  }

  var picker = $('.attach input[type="file"]');
  picker.addEventListener("change", function () {
    var file = picker.files[0];
    if (!file) return;
    setNote("");
    var clientId = Math.random().toString(36).slice(2) + Date.now().toString(36);
    state.pending[clientId] = addMessage({ direction: "in", body: "", uploading: file.name });
    var form = new FormData();
    form.append("file", file);
    form.append("client_id", clientId);
    picker.value = "";
    whenReady(function () {
      return fetch(base + "/webchat-files/" + encodeURIComponent(token) + "/upload", {
        method: "POST", headers: { Authorization: "Bearer " + state.session }, body: form, credentials: "omit",
      }).then(function (response) {
        return response.json().then(function (data) {
          if (!response.ok) throw new Error((data.error && data.error.message) || "The file could not be sent.");
          addMessage(data.message, clientId);
        });
      });
    }, clientId);
  });

  // --- The chat by email ----------------------------------------------------------------------------------
  var transcript = $("form.transcript");
  $(".mail").addEventListener("click", function () {
    transcript.hidden = !transcript.hidden;
    if (transcript.hidden) return;
    transcript.elements.email.value = transcript.elements.email.value || settings.email || "";
    $(".t-code").hidden = true;
    $(".t-intro").textContent = "We will email you this chat.";
    transcript.elements.email.focus();
  });
  $(".t-cancel").addEventListener("click", function () { transcript.hidden = true; });
  transcript.addEventListener("submit", function (event) {
    event.preventDefault();
    var body = { email: transcript.elements.email.value.trim() };
    if (!$(".t-code").hidden) body.code = transcript.elements.code.value.trim();
    api("POST", "/transcript", body).then(function (data) {
      if (data.code_sent) {
        $(".t-intro").textContent = "Check your inbox: we sent a code to prove the address is yours.";
        $(".t-code").hidden = false;
        transcript.elements.code.value = "";
        transcript.elements.code.focus();
        return;
      }
      transcript.hidden = true;
      setNote("The chat is on its way to " + data.sent_to + ".", true);
    }, function (error) { $(".t-intro").textContent = error.message; });
  });

  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); compose.requestSubmit(); }
  });
  textarea.addEventListener("input", function () {
    var now = Date.now();
    if (now - state.typingSentAt > 2000 && state.socket && state.socket.readyState === 1) {
      state.typingSentAt = now;
      state.socket.send(JSON.stringify({ type: "typing" }));
    }
  });

  // --- Open and close ---------------------------------------------------------------------------------------
  function open() {
    state.open = true;
    panel.classList.add("open");
    bubble.setAttribute("aria-expanded", "true");
    bubble.setAttribute("aria-label", "Close chat");
    (state.started || (state.started = start())).then(function () {
      (prechat.hidden ? textarea : prechat.querySelector("input") || textarea).focus();
      root.querySelectorAll(".msg.out[data-id]").forEach(function (el) { seen(Number(el.getAttribute("data-id"))); });
    }, function (error) { state.started = null; setNote(error.message); });
  }
  function close() {
    state.open = false;
    panel.classList.remove("open");
    bubble.setAttribute("aria-expanded", "false");
    bubble.setAttribute("aria-label", "Open chat");
    bubble.focus();
  }
  bubble.addEventListener("click", function () { (state.open ? close : open)(); });
  $(".close").addEventListener("click", close);
  panel.addEventListener("keydown", function (event) { if (event.key === "Escape") close(); });

  host.style.setProperty("--c", "#2563eb");
  bubble.style.setProperty("--c", "#2563eb");
  function mount() { document.body.appendChild(host); }
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
  // A returning visitor reconnects at once, so replies that arrived while away are there when they open it.
  if (load()) state.started = start().catch(function () { state.started = null; });
  window.Continuum = { open: open, close: close };
})();
