/* Continuum console: live updates over the account's websocket, forms that write through the REST API, and
 * keyboard shortcuts. No inline scripts (the pages are served with a strict Content-Security-Policy). */
(function () {
  "use strict";

  const $ = (selector, root) => (root || document).querySelector(selector);
  const $$ = (selector, root) => Array.from((root || document).querySelectorAll(selector));

  // The cookie, not the page: signing in rotates the token, and boosted navigation keeps the old <head>.
  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const meta = $('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function announce(text, kind) {
    const box = $("#toasts");
    if (!box || !text) return;
    const toast = document.createElement("p");
    toast.className = "toast" + (kind ? " toast-" + kind : "");
    toast.setAttribute("role", kind === "error" ? "alert" : "status");
    toast.textContent = text;
    box.appendChild(toast);
    setTimeout(() => toast.remove(), kind === "error" ? 8000 : 4000);
  }

  // --- Regions that refresh themselves (each has an id and data-src) -----------------------------------------

  // A burst of events (message.created, conversation.updated, memory.updated arrive within a few ms) costs one
  // request per region: a refresh waits `delay` ms for company, an earlier deadline moves a pending one forward,
  // and a region is not fetched more than once per MIN_GAP ms.
  const pending = {};
  const lastRun = {};
  const inflight = {};
  const MIN_GAP = 250;

  function refresh(id, delay) {
    const el = document.getElementById(id);
    if (!el || !el.dataset.src || el.dataset.paged) return Promise.resolve();
    const now = performance.now();
    const due = Math.max(now + (delay === undefined ? 60 : delay), (lastRun[id] || -Infinity) + MIN_GAP);
    let entry = pending[id];
    if (entry && entry.due <= due) return entry.promise;
    if (entry) {
      clearTimeout(entry.timer);
    } else {
      entry = pending[id] = {};
      entry.promise = new Promise((r) => (entry.resolve = r));
    }
    entry.due = due;
    entry.timer = setTimeout(() => {
      delete pending[id];
      if (inflight[id]) {
        // htmx drops a request for an element that already has one in flight: fetch again once it lands, so
        // what changed after that request started is not lost.
        inflight[id].then(() => refresh(id, 0)).then(entry.resolve);
        return;
      }
      lastRun[id] = performance.now();
      const target = document.getElementById(id);
      if (!target) return entry.resolve();
      const keep = keepState(target);
      // what the person did while the request was out (a value typed, an error shown) counts too
      target.addEventListener("htmx:beforeSwap", () => Object.assign(keep, keepState(target)), { once: true });
      inflight[id] = htmx
        // The region is the request's source too: without one htmx uses <body> for every call, and a second
        // call while the first is in flight is silently dropped.
        .ajax("GET", target.dataset.src, { source: target, target: target, swap: "outerHTML" })
        .then(
          () => restoreState(id, keep),
          () => {}
        )
        .finally(() => delete inflight[id]);
      inflight[id].then(entry.resolve);
    }, due - now);
    return entry.promise;
  }

  const picks = new Set();
  function showPicked() {
    const count = $(".bulk-count");
    if (count) count.textContent = picks.size ? `${picks.size} selected` : "Tick to act on several";
    document.getElementById("bulk-form")?.classList.toggle("active", picks.size > 0);
  }

  // Keep what the person was doing across a refresh: open <details>, focus, and the thread's scroll position.
  function keepState(el) {
    const open = $$("details[open][id]", el).map((d) => d.id);
    const active = document.activeElement && el.contains(document.activeElement) ? document.activeElement.id : null;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
    const bulkAction = $("#bulk-action", el)?.value;
    // what a person typed in a form of this region and not yet sent: a live refresh must not lose it
    const typed = $$("input[id], textarea[id]", el)
      .filter((f) => f.type !== "hidden" && f.type !== "checkbox" && f.type !== "radio" && f.value !== f.defaultValue)
      .map((f) => [f.id, f.value]);
    // and what the server said about it: an error shown next to a field stays while the refused value is there
    const errors = $$(".field-error", el)
      .map((note) => [note.previousElementSibling?.id, note.textContent, note.previousElementSibling?.value])
      .filter(([fieldId]) => fieldId);
    return { open, active, atBottom, scrollTop: el.scrollTop, bulkAction, typed, errors };
  }

  function restoreState(id, keep) {
    const el = document.getElementById(id);
    if (!el) return;
    keep.open.forEach((id) => {
      const details = document.getElementById(id);
      if (details && el.contains(details)) details.open = true;
    });
    (keep.typed || []).forEach(([fieldId, value]) => {
      const field = document.getElementById(fieldId);
      if (field && el.contains(field)) field.value = value;
    });
    (keep.errors || []).forEach(([fieldId, text, value]) => {
      const field = document.getElementById(fieldId);
      // not once the value was sent again and kept (the field now shows it as saved), nor for another value
      const refused = field && field.value === value && field.value !== field.defaultValue;
      if (refused && el.contains(field)) placeFieldError(field, text);
    });
    if (keep.active) document.getElementById(keep.active)?.focus();
    if (picks.size) {
      // the selection as it is now (a box ticked while the refresh was in flight counts too)
      $$("input.pick", el).forEach((box) => { if (picks.has(box.value)) box.checked = true; });
      showPicked();
    }
    if (keep.bulkAction && $("#bulk-action", el)) $("#bulk-action", el).value = keep.bulkAction;
    if (id === "thread") el.scrollTop = keep.atBottom ? el.scrollHeight : keep.scrollTop;
  }

  function scrollThread() {
    const thread = $("#thread");
    if (!thread) return;
    const target = location.hash && $(location.hash, thread);
    if (target) {
      target.scrollIntoView({ block: "center" });
      target.classList.add("highlight");
    } else {
      thread.scrollTop = thread.scrollHeight;
    }
  }

  // --- The websocket -----------------------------------------------------------------------------------------

  let socket = null;
  let socketPath = null;
  let retry = 0;

  function current() {
    const section = $("section.conversation");
    return section
      ? {
          conversation: Number(section.dataset.conversationId),
          contact: Number(section.dataset.contactId),
        }
      : {};
  }

  // --- Out-of-band swaps: an event carries its conversation's list row and its message, rendered by the server as
  // the pages render them; they are put in place here instead of fetching the list and the thread again. What
  // depends on who is looking (unread, the open row, the list's own query) is set here; `data-in` says which
  // folders the row belongs to. Anything that cannot be placed with certainty falls back to a fetch.
  function fromHtml(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  function rowFits(list, row) {
    const folders = (row.dataset.in || "").split(" ");
    const folder = list.dataset.folder || "all";
    const inFolder = folder === "mine"
      ? folders.includes("open") && row.dataset.assignee === list.dataset.me
      : folders.includes(folder);
    const labels = (row.dataset.labels || "").split(" ");
    return inFolder && (!list.dataset.inbox || row.dataset.inbox === list.dataset.inbox) &&
      (!list.dataset.label || labels.includes(list.dataset.label));
  }

  // Rows that arrive while the list is being fetched are put in place once it lands (the fetch may have read the
  // database before they were written), in the order they came. Fetching again for each of them kept a busy
  // inbox's list fetching for as long as messages came faster than a fetch took (a list fetch every 250 ms at 20
  // messages/s on a slow machine, bench/realtime_bench.py).
  let heldRows = [];
  function holdRow(event) {
    if (!heldRows.length) {
      const list = "conversation-list";
      (pending[list] ? pending[list].promise : inflight[list]).then(() => {
        const held = heldRows;
        heldRows = [];
        const here = current();
        if (!held.every((e) => swapRow(e, here))) refresh("conversation-list");
      });
    }
    heldRows.push(event);
    return true;
  }

  function swapRow(event, here) {
    const list = document.getElementById("conversation-list");
    if (!list) return true;
    if (list.dataset.paged) return true;  // an older page stays as it was read
    if (typeof event.row_html !== "string") return false;
    if (pending["conversation-list"] || inflight["conversation-list"]) return holdRow(event);
    const id = String(event.conversation_id || event.conversation?.id || "");
    const old = $(`li.row[data-conversation-id="${id}"]`, list);
    const row = event.row_html ? fromHtml(event.row_html) : null;
    if (!row || !rowFits(list, row)) {
      if (old) old.remove();
      if (old && !$("li.row", list)) return false;  // the list is now empty: let the server say so
      return true;
    }
    const rows = $("ol.rows", list);
    if (!rows) return false;  // an empty list: the server renders its first row and the bulk bar
    const customerWrote = event.type === "message.created" && event.message?.direction === "in" &&
      event.message?.kind === "message";
    const open = here.conversation === Number(id);
    const unread = !open && (customerWrote || (old ? old.classList.contains("unread") : false));
    row.classList.toggle("unread", unread);
    if (!unread) $(".dot", row)?.remove();
    else if (!$(".dot", row)) {
      $(".contact-name", row)?.insertAdjacentHTML(
        "afterend", '<span class="dot" title="unread"><span class="sr-only">unread</span></span>');
    }
    row.classList.toggle("active", open);
    const link = $("a", row);
    if (link) {
      link.search = new URL(list.dataset.src, location.href).search;
      if (open) link.setAttribute("aria-current", "page");
    }
    if (list.dataset.inbox) $(".inbox-name", row)?.remove();
    const pick = $("input.pick", row);
    if (pick && picks.has(pick.value)) pick.checked = true;
    if (old) old.remove();
    // newest activity first, as the server orders the list
    const at = $("time", row)?.getAttribute("datetime") || "";
    const after = $$("li.row", rows).find((r) => ($("time", r)?.getAttribute("datetime") || "") < at);
    if (after) rows.insertBefore(row, after);
    else if (!list.dataset.more) rows.appendChild(row);
    // else it belongs on a later page
    const size = Number(list.dataset.pageSize || 0);
    const all = $$("li.row", rows);
    if (size && all.length > size) {
      // one page, as the server serves it: the oldest rows move to the next page, and the server adds the
      // "older" link once the burst is over
      all.slice(size).forEach((r) => r.remove());
      if (!list.dataset.more) refresh("conversation-list", 2000);
    }
    return true;
  }

  function swapMessage(event) {
    const thread = document.getElementById("thread");
    if (!thread || !event.message_html || pending.thread || inflight.thread) return false;
    const messages = $("ol.messages", thread);
    const item = fromHtml(event.message_html);
    if (!messages || !item || !item.id) return false;
    const atBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 40;
    const old = document.getElementById(item.id);
    if (old) old.replaceWith(item);
    else if (event.type === "message.created") {
      $("li.empty", messages)?.remove();
      messages.appendChild(item);
    } else return false;  // an update to a message this page does not show
    if (atBottom) thread.scrollTop = thread.scrollHeight;
    return true;
  }

  function onEvent(event) {
    const here = current();
    const mine = (event.conversation_id || event.conversation?.id) === here.conversation;
    switch (event.type) {
      case "message.created":
      case "conversation.updated":
        // row_follows: the conversation.updated right behind it (same commit) carries the row
        if (!event.row_follows && !swapRow(event, here)) refresh("conversation-list");
        if (mine) {
          if (event.type === "conversation.updated") refresh("conversation-header");
          else if (!swapMessage(event)) refresh("thread");
        }
        break;
      case "message.updated":
        if (mine && !swapMessage(event)) refresh("thread");
        break;
      case "memory.updated":
        if (event.contact_id === here.contact) refresh("memory", 300);
        // the list shows the mood (a sentiment reading brings its row) and the contact's name (a fact)
        if (event.kind === "sentiment") { if (!swapRow(event, here)) refresh("conversation-list", 400); }
        else if (event.kind === "fact") refresh("conversation-list", 400);
        break;
      case "typing":
        if (event.conversation_id === here.conversation) showTyping(event.name);
        break;
      case "notification":
        announce(event.text || "Something needs your attention");
        if (event.id) {
          setUnread(unreadCount + 1);
          showBrowserNotification(event);
        }
        break;
    }
  }

  // --- Notifications: the bell's unread count, and a browser notification when the tab is in the background --
  let unreadCount = 0;
  function setUnread(n) {
    unreadCount = Math.max(0, n);
    const badge = $("#unread-notifications");
    if (!badge) return;
    badge.textContent = unreadCount ? String(unreadCount) : "";
    badge.hidden = !unreadCount;
    $("#bell")?.setAttribute("aria-label", `Notifications${unreadCount ? `, ${unreadCount} unread` : ""}`);
  }
  async function loadUnread() {
    const src = $("#bell")?.dataset.unreadSrc;
    if (!src) return;
    try {
      const response = await fetch(src, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) setUnread((await response.json()).unread || 0);
    } catch (e) { /* offline: the next hello retries */ }
  }
  function showBrowserNotification(event) {
    if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") return;
    if (document.body.dataset.notifyBrowser === "off") return;
    const shown = new Notification("Continuum", { body: event.text, tag: `continuum-${event.id}` });
    shown.onclick = () => {
      window.focus();
      if (event.conversation_id) location.assign(`/a/${event.account_id}/conversations/${event.conversation_id}/`);
    };
  }
  document.addEventListener("click", (event) => {
    if (event.target.closest("#allow-browser-notifications") && "Notification" in window) {
      Notification.requestPermission().then((answer) =>
        announce(answer === "granted" ? "Browser notifications are on" : "Browser notifications stay off"));
    }
  });
  // Preferences: the unticked kinds are the ones turned off.
  document.addEventListener("change", (event) => {
    const box = event.target.closest("input[data-off]");
    if (!box) return;
    const form = box.closest("form");
    const off = $$("input[data-off]", form).filter((b) => !b.checked).map((b) => b.dataset.off);
    $("input[data-off-list]", form).value = off.join(",");
  });
  // The list's bulk selection, kept across the list's live refreshes; the bulk bar says how many are picked.
  document.addEventListener("change", (event) => {
    const box = event.target.closest("input.pick");
    if (!box) return;
    if (box.checked) picks.add(box.value);
    else picks.delete(box.value);
    showPicked();
  });

  let typingTimer = null;
  function showTyping(name) {
    const box = $("#typing");
    if (!box) return;
    box.textContent = (name || "Someone") + " is typing…";
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => (box.textContent = ""), 4000);
  }

  function connect() {
    const path = $("#main")?.dataset.wsPath;
    if (!path) return;
    if (socket && socketPath === path && socket.readyState <= 1) return;
    if (socket) socket.close();
    socketPath = path;
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
    socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      retry = 0;
      document.documentElement.dataset.live = "on";
    });
    // Presence: the server counts this tab as at its desk while it pings (every 25 s).
    const ws = socket;
    const pinger = setInterval(() => {
      if (ws.readyState === 1) ws.send(JSON.stringify({ type: "ping" }));
      else if (ws.readyState > 1) clearInterval(pinger);
    }, 25000);
    socket.addEventListener("message", (msg) => {
      let event;
      try {
        event = JSON.parse(msg.data);
      } catch (e) {
        return;
      }
      if (event.type === "hello") {
        // Anything that happened while we were away: catch up once.
        ["conversation-list", "thread", "conversation-header", "memory"].forEach((id) => refresh(id, 0));
        loadUnread();
        return;
      }
      onEvent(event);
    });
    socket.addEventListener("close", (closed) => {
      document.documentElement.dataset.live = "off";
      if (closed.code === 4401 || closed.code === 4404 || socketPath !== $("#main")?.dataset.wsPath) return;
      // Back quickly (at most 5 s, with jitter so a restarted server is not hit by every tab at once); the
      // server's hello then resyncs what changed while away.
      retry = Math.min(retry + 1, 5);
      setTimeout(connect, Math.min(5000, 250 * 2 ** retry) * (0.5 + Math.random() / 2));
    });
  }
  // The network is back or the tab is looked at again: reconnect now rather than at the next backoff step.
  window.addEventListener("online", () => connect());
  document.addEventListener("visibilitychange", () => { if (!document.hidden) connect(); });

  let lastTypingSent = 0;
  function sendTyping() {
    const here = current();
    if (!here.conversation || !socket || socket.readyState !== 1) return;
    const now = Date.now();
    if (now - lastTypingSent < 2500) return;
    lastTypingSent = now;
    // A private note is typed for the team only: the customer's widget is told about replies, never notes.
    const note = document.querySelector('#composer input[name="kind"][value="note"]');
    const kind = note && note.checked ? "note" : "message";
    socket.send(JSON.stringify({ type: "typing", conversation_id: here.conversation, kind }));
  }

  // --- Forms that write through the REST API -----------------------------------------------------------------

  function typed(input, raw) {
    switch (input.dataset.type) {
      case "int":
        return raw === "" ? null : parseInt(raw, 10);
      case "float":
        return raw === "" ? null : parseFloat(raw);
      case "bool":
        return raw === "true";
      case "nullable":
        return raw === "" ? null : raw;
      case "list":
        return raw.split(/[\s,]+/).filter(Boolean);
      default:
        return raw;
    }
  }

  function setPath(obj, name, value) {
    const parts = name.split(".");
    let node = obj;
    parts.slice(0, -1).forEach((part) => (node = node[part] = node[part] || {}));
    node[parts[parts.length - 1]] = value;
  }

  function formBody(form) {
    const files = $$('input[type="file"]', form).filter((f) => f.files.length);
    if (files.length) {
      const data = new FormData(form);
      return { body: data, json: false };
    }
    const body = {};
    // form.elements: the form's own fields and those that name it (form="..."), such as the list's checkboxes
    Array.from(form.elements).filter((el) => el.name && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName)).forEach((input) => {
      if (input.type === "file") return;
      if (input.type === "radio" && !input.checked) return;
      if (input.type === "checkbox" && input.dataset.list !== undefined) {
        if (!body[input.name]) body[input.name] = [];
        if (input.checked) body[input.name].push(typed(input, input.value));
        return;
      }
      if (input.type === "checkbox") return setPath(body, input.name, input.checked);
      if (input.dataset.me !== undefined) {
        // the bulk bar's value: the chosen option's (a label), or me for "assign to me"
        const option = form.querySelector("select[name=action]")?.selectedOptions[0];
        const value = option?.dataset.value || (option?.value === "assign" ? input.dataset.me : "");
        return setPath(body, input.name, value === "" ? null : parseInt(value, 10));
      }
      if (input.dataset.omitEmpty !== undefined && input.value === "") return;
      setPath(body, input.name, typed(input, input.value));
    });
    $$("[data-hours]", form).forEach((box) => {
      const hours = {};
      $$("[data-day]", box).forEach((row) => {
        const open = $("[data-hours-open]", row).value;
        let close = $("[data-hours-close]", row).value;
        if (close === "23:59") close = "24:00";
        if (open && close) hours[row.dataset.day] = [[open, close]];
      });
      body[box.dataset.hours] = hours;
    });
    return { body: JSON.stringify(body), json: true };
  }

  function clearErrors(form) {
    $$(".field-error", form).forEach((e) => e.remove());
    $$("[aria-invalid]", form).forEach((e) => e.removeAttribute("aria-invalid"));
  }

  function placeFieldError(input, text) {
    const note = document.createElement("p");
    note.className = "field-error";
    note.id = "err-" + Math.random().toString(36).slice(2);
    note.textContent = text;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", note.id);
    input.insertAdjacentElement("afterend", note);
  }

  function showErrors(form, error) {
    const fields = error.fields || {};
    let placed = false;
    Object.entries(fields).forEach(([name, messages]) => {
      const input = form.querySelector(`[name="${name}"], [name^="${name}."], [data-hours="${name}"]`);
      if (!input) return;
      placed = true;
      placeFieldError(input, messages.join(" "));
    });
    announce(error.message || "That did not work", "error");
    if (placed) form.querySelector("[aria-invalid]")?.focus();
  }

  async function submitApiForm(form) {
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    if (form.dataset.busy) return;
    form.dataset.busy = "1";
    clearErrors(form);
    const { body, json } = formBody(form);
    const method = (form.dataset.method || "POST").toUpperCase();
    const headers = { "X-CSRFToken": csrfToken(), Accept: "application/json" };
    if (json) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(form.dataset.api, {
        method,
        headers,
        body: method === "DELETE" ? undefined : body,
        credentials: "same-origin",
      });
    } catch (e) {
      delete form.dataset.busy;
      announce("Could not reach Continuum. Check your connection and try again.", "error");
      return;
    }
    delete form.dataset.busy;
    let data = {};
    if (response.status !== 204) {
      try {
        data = await response.json();
      } catch (e) {
        data = {};
      }
    }
    if (!response.ok) {
      showErrors(form, data.error || { message: `Failed (${response.status})` });
      return;
    }
    if (form.dataset.output) {
      const [id, field] = form.dataset.output.split(":");
      const box = document.getElementById(id);
      if (box) {
        $("[data-output-value]", box).textContent = data[field] || "";
        box.hidden = false;
      }
    }
    announce(form.dataset.done || "Saved");
    $$("input[data-remember]", form).forEach((input) => {
      try { localStorage.setItem(input.dataset.remember, input.value); } catch (e) { /* private mode */ }
    });
    if (form.dataset.reset !== undefined) form.reset();
    if (form.id === "bulk-form") {  // done with them
      picks.clear();
      $$("input.pick:checked").forEach((box) => (box.checked = false));
    }
    if (form.dataset.redirect) {
      // {id}, {conversation}...: fields of the answer
      location.assign(form.dataset.redirect.replace(/\{(\w+)\}/g, (_, key) => encodeURIComponent(data[key] ?? "")));
      return;
    }
    if (form.dataset.reload !== undefined) {
      htmx.ajax("GET", location.pathname + location.search, { target: "#main", select: "#main", swap: "outerHTML" });
      return;
    }
    (form.dataset.refresh || "").split(/\s+/).filter(Boolean).forEach((id) => refresh(id, 0));
  }

  // Inputs worth keeping between visits (the agent's own phone for call backs) are filled from localStorage.
  function fillRemembered(root) {
    $$("input[data-remember]", root).forEach((input) => {
      if (input.value) return;
      try { input.value = localStorage.getItem(input.dataset.remember) || ""; } catch (e) { /* private mode */ }
    });
  }
  fillRemembered(document);
  document.addEventListener("htmx:afterSwap", (event) => fillRemembered(event.target));

  // Capture phase: runs before htmx's own (boost) handler on the form, which must not submit it as well.
  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target.closest("form[data-api]");
      if (!form) return;
      event.preventDefault();
      event.stopPropagation();
      submitApiForm(form);
    },
    true
  );

  // --- Copy buttons, shortcuts, typing -----------------------------------------------------------------------

  document.addEventListener("click", (event) => {
    const button = event.target.closest("[data-copy-from]");
    if (!button) return;
    const source = $(button.dataset.copyFrom);
    if (!source) return;
    const text = source.textContent.trim();
    const done = () => announce("Copied");
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => selectText(source));
    } else {
      selectText(source);
      try {
        document.execCommand("copy");
        done();
      } catch (e) {
        announce("Press Ctrl+C to copy the selected text");
      }
    }
  });

  function selectText(node) {
    const range = document.createRange();
    range.selectNodeContents(node);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function moveInList(step) {
    const rows = $$("#conversation-list .row a");
    if (!rows.length) return;
    let index = rows.findIndex((a) => a.getAttribute("aria-current") === "page");
    index = index === -1 ? (step > 0 ? 0 : rows.length - 1) : Math.min(Math.max(index + step, 0), rows.length - 1);
    rows[index].click();
  }

  document.addEventListener("keydown", (event) => {
    const inField = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName);
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.closest("#composer")) {
      event.preventDefault();
      $("#composer").requestSubmit();
      return;
    }
    if (event.altKey && !event.ctrlKey && !event.metaKey) {
      const key = event.key.toLowerCase();
      if (key === "n" && $("#composer")) {
        event.preventDefault();
        const note = $('#composer input[name="kind"][value="note"]');
        const reply = $('#composer input[name="kind"][value="message"]');
        (note.checked ? reply : note).checked = true;
        $("#composer").dataset.mode = note.checked ? "note" : "message";
        $("#composer-body").focus();
        return;
      }
      if (key === "j" || key === "arrowdown") {
        event.preventDefault();
        moveInList(1);
        return;
      }
      if (key === "k" || key === "arrowup") {
        event.preventDefault();
        moveInList(-1);
        return;
      }
    }
    if (event.key === "/" && !inField) {
      const search = $("#global-search");
      if (search) {
        event.preventDefault();
        search.focus();
      }
    }
    if (event.key === "?" && !inField) {  // the shortcut sheet
      const sheet = document.getElementById("shortcuts");
      if (sheet && !sheet.open) {
        event.preventDefault();
        sheet.showModal();
      }
    }
  });
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-close-dialog]")) event.target.closest("dialog")?.close();
  });

  document.addEventListener("input", (event) => {
    if (event.target.id === "composer-body") sendTyping();
  });

  document.addEventListener("change", (event) => {
    if (event.target.name === "kind" && event.target.closest("#composer")) {
      $("#composer").dataset.mode = event.target.value;
    }
  });

  // --- The composer's length counter: SMS segments (GSM-7: 160, or 153 each when split; otherwise UCS-2: 70 / 67)
  // and the channel's cap, as the server enforces it.
  const LIMITS = { sms: 1600, whatsapp: 1600, webchat: 5000 };
  const GSM7 = /^[@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&'()*+,\-.\/0-9:;<=>?¡A-ZÄÖÑÜ§¿a-zäöñüà^{}\\\[~\]|€]*$/;
  function updateCounter() {
    const box = $("#composer-count");
    const body = $("#composer-body");
    if (!box || !body) return;
    const channel = $("#composer-channel")?.value || "";
    const kind = $("input[name=kind]:checked")?.value || "message";
    const text = body.value;
    const limit = LIMITS[channel];
    if (kind !== "message" || !limit || !text) { box.textContent = ""; box.classList.remove("over"); return; }
    let line = `${text.length.toLocaleString()} / ${limit.toLocaleString()} characters`;
    if (channel === "sms") {
      const gsm = GSM7.test(text);
      const single = gsm ? 160 : 70, part = gsm ? 153 : 67;
      const segments = text.length <= single ? 1 : Math.ceil(text.length / part);
      line += ` · ${segments} SMS segment${segments === 1 ? "" : "s"}${gsm ? "" : " (Unicode)"}`;
    }
    box.textContent = line;
    box.classList.toggle("over", text.length > limit);
  }
  document.addEventListener("input", (event) => { if (event.target.closest("#composer")) updateCounter(); });
  document.addEventListener("change", (event) => { if (event.target.closest("#composer")) updateCounter(); });

  // --- Canned responses: "/" at the start of a line opens the picker; the text comes back filled in ----------
  let cannedItems = [];
  let cannedIndex = 0;
  let pickerMode = "canned";  // or "mention": the same list offers teammates after "@" in a note
  function cannedMatch(textarea) {
    const upto = textarea.value.slice(0, textarea.selectionStart);
    return pickerMode === "mention" ? upto.match(/(?:^|\s)@([\w.\- ]{0,30})$/) : upto.match(/(?:^|\n)\/([\w-]*)$/);
  }
  function mentionItems(query) {
    const q = query.trim().toLowerCase();
    return $$("#mention-people li").map((li, i) => ({ id: `m${i}`, shortcut: li.dataset.name, rendered: `@${li.dataset.name} `, body: li.dataset.email }))
      .filter((p) => !q || p.shortcut.toLowerCase().split(/\s+/).some((w) => w.startsWith(q)) || p.shortcut.toLowerCase().startsWith(q))
      .slice(0, 8);
  }
  function closeCanned() {
    const list = $("#canned-list");
    if (list) { list.hidden = true; list.textContent = ""; }
    cannedItems = [];
    $("#composer-body")?.removeAttribute("aria-activedescendant");
  }
  function drawCanned() {
    const list = $("#canned-list");
    if (!list) return;
    list.textContent = "";
    cannedItems.forEach((item, i) => {
      const option = document.createElement("li");
      option.id = `canned-${item.id}`;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", i === cannedIndex ? "true" : "false");
      option.dataset.index = String(i);
      const key = document.createElement("code");
      key.textContent = (pickerMode === "mention" ? "@" : "/") + item.shortcut;
      const text = document.createElement("span");
      text.textContent = " " + (item.rendered || item.body);
      option.append(key, text);
      list.append(option);
    });
    list.hidden = !cannedItems.length;
    const active = cannedItems[cannedIndex];
    if (active) $("#composer-body")?.setAttribute("aria-activedescendant", `canned-${active.id}`);
  }
  let cannedSeq = 0;
  async function openCanned(textarea) {
    const note = $("input[name=kind]:checked")?.value === "note";
    pickerMode = note ? "mention" : "canned";
    const match = cannedMatch(textarea);
    if (!match) return closeCanned();
    if (note) {
      cannedItems = mentionItems(match[1]);
      cannedIndex = 0;
      return drawCanned();
    }
    const seq = ++cannedSeq;
    try {
      const response = await fetch(`${textarea.dataset.cannedSrc}&q=${encodeURIComponent(match[1])}`,
        { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok || seq !== cannedSeq) return;
      cannedItems = await response.json();
      cannedIndex = 0;
      drawCanned();
    } catch (e) { closeCanned(); }
  }
  function pickCanned(textarea, item) {
    const match = cannedMatch(textarea);
    if (!match || !item) return closeCanned();
    const end = textarea.selectionStart;
    const start = end - match[0].length + (/^\s/.test(match[0]) ? 1 : 0);
    const text = item.rendered || item.body;
    textarea.value = textarea.value.slice(0, start) + text + textarea.value.slice(end);
    textarea.selectionStart = textarea.selectionEnd = start + text.length;
    closeCanned();
    updateCounter();
    textarea.focus();
  }
  document.addEventListener("input", (event) => {
    if (event.target.id === "composer-body" && event.target.dataset.cannedSrc) openCanned(event.target);
  });
  document.addEventListener("keydown", (event) => {
    const textarea = event.target;
    if (textarea.id !== "composer-body" || !cannedItems.length) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      cannedIndex = (cannedIndex + (event.key === "ArrowDown" ? 1 : cannedItems.length - 1)) % cannedItems.length;
      drawCanned();
    } else if ((event.key === "Enter" && !event.ctrlKey && !event.metaKey) || event.key === "Tab") {
      event.preventDefault();
      event.stopPropagation();
      pickCanned(textarea, cannedItems[cannedIndex]);
    } else if (event.key === "Escape") {
      event.preventDefault();
      closeCanned();
    }
  }, true);
  document.addEventListener("mousedown", (event) => {
    const option = event.target.closest("#canned-list [role=option]");
    if (!option) return;
    event.preventDefault();
    pickCanned($("#composer-body"), cannedItems[Number(option.dataset.index)]);
  });

  // --- Regions that poll (data-poll="ms"): a page fed by something other than the socket (the channel sandbox)

  const polls = {};
  function startPolls() {
    $$("[data-poll][id]").forEach((el) => {
      if (polls[el.id]) return;
      polls[el.id] = setInterval(() => {
        if (!document.getElementById(el.id)) {
          clearInterval(polls[el.id]);
          delete polls[el.id];
        } else if (!document.hidden) {
          refresh(el.id, 0);
        }
      }, Math.max(1000, Number(el.dataset.poll) || 2000));
    });
  }

  // --- Start, and again after every boosted navigation -------------------------------------------------------

  function start() {
    if (!$("input.pick:checked")) picks.clear();  // a new page: no selection carried over
    connect();
    scrollThread();
    startPolls();
  }

  document.addEventListener("DOMContentLoaded", start);
  document.addEventListener("htmx:afterSettle", (event) => {
    if (event.detail.target === document.body || event.detail.target.id === "main") start();
    if (event.detail.target.id === "thread" && !event.detail.requestConfig?.triggeringEvent) {
      /* refresh() restores the scroll position itself */
    }
  });
  document.addEventListener("htmx:historyRestore", start);
})();
