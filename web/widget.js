// Dialogi's chat for a company's own website (R40). One line on the site:
//   <script src="https://dialogi.example.ru/widget.js" data-account="WIDGET-ID" async></script>
// The widget lives in a closed shadow root (the page's CSS and scripts cannot reach in),
// speaks the page's language (ru, else en), keeps the visitor's token in this browser
// (history on return), sends with an Idempotency-Key (a retry is one message) and
// follows the visitor's own stream (new replies, "the operator is typing").
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script || !script.dataset.account) return;
  const BASE = new URL(script.src).origin;
  const WID = script.dataset.account;
  const ROOT = `${BASE}/widget/${encodeURIComponent(WID)}`;
  const KEY = `dialogi.widget.${WID}`;
  const ru = (document.documentElement.lang || navigator.language || "ru").toLowerCase().startsWith("ru");
  const T = ru ? {
    open: "Написать нам", close: "Закрыть чат", title: "Чат с нами", hello: "Здравствуйте! Чем можем помочь?",
    placeholder: "Ваше сообщение…", send: "Отправить", attach: "Приложить файл", typing: "Оператор печатает…",
    name: "Ваше имя", phone: "Телефон", email: "Эл. почта", start: "Начать чат", consent: "Я согласен(на) на обработку персональных данных",
    offline: "Сейчас никого нет на связи. Оставьте сообщение и контакт — мы ответим.", failed: "Не отправлено. Нажмите, чтобы повторить.",
    sent: "Отправлено", read: "Прочитано", you: "Вы", operator: "Оператор", big: "Файл больше 10 МБ", deleted: "Сообщение удалено",
    contact: "Укажите телефон или почту", who: "Представьтесь, пожалуйста",
  } : {
    open: "Chat with us", close: "Close the chat", title: "Chat with us", hello: "Hello! How can we help?",
    placeholder: "Your message…", send: "Send", attach: "Attach a file", typing: "The operator is typing…",
    name: "Your name", phone: "Phone", email: "E-mail", start: "Start the chat", consent: "I agree to the processing of my personal data",
    offline: "Nobody is online now. Leave a message and a contact — we will answer.", failed: "Not sent. Click to try again.",
    sent: "Sent", read: "Read", you: "You", operator: "Operator", big: "The file is over 10 MB", deleted: "Message deleted",
    contact: "Give a phone or an e-mail", who: "Please introduce yourself",
  };

  const h = (tag, attrs, ...kids) => {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat()) if (kid != null) el.append(kid);
    return el;
  };
  const uuid = () => (crypto.randomUUID ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join(""));
  let token = localStorage.getItem(KEY);
  const call = async (method, path, body, extra) => {
    const headers = { ...(extra || {}) };
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = "application/json";
    const response = await fetch(`${ROOT}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) throw Object.assign(new Error(answer.message || response.statusText), { status: response.status });
    return answer;
  };

  // A tag of its own, with no box: the page's rules for div, button or * find nothing
  // to draw (inline !important outranks the page's !important).
  const host = h("dialogi-chat", { "data-dialogi-widget": "", style: "all: initial !important; display: contents !important;" });
  const svg = (d) => {
    const icon = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    icon.setAttribute("viewBox", "0 0 24 24");
    icon.setAttribute("aria-hidden", "true");
    const p = document.createElementNS("http://www.w3.org/2000/svg", "path");
    p.setAttribute("d", d);
    icon.append(p);
    return icon;
  };
  const CHAT = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z";
  const CLIP = "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5H9v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z";
  const shadow = host.attachShadow({ mode: "closed" });
  const start = async () => {
    let config;
    try {
      config = await call("GET", "/config");
    } catch {
      return; // This page may not use the widget (or the chat is off): nothing is shown.
    }
    const color = /^#[0-9a-f]{6}$/i.test(config.color) ? config.color : "#2f6fed";
    shadow.append(h("style", {}, `
      :host { all: initial; }
      * { box-sizing: border-box; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
      .bubble { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; width: 56px; height: 56px; border-radius: 50%;
        border: 0; background: ${color}; color: #fff; cursor: pointer; box-shadow: 0 4px 14px rgba(0,0,0,.25);
        display: flex; align-items: center; justify-content: center; }
      svg { width: 22px; height: 22px; fill: currentColor; }
      .bubble svg { width: 28px; height: 28px; }
      .bubble:focus-visible, button:focus-visible, textarea:focus-visible, input:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
      .panel { position: fixed; right: 20px; bottom: 88px; z-index: 2147483000; width: 360px; max-width: calc(100vw - 24px);
        height: 520px; max-height: calc(100vh - 110px); background: #fff; color: #1d1d1f; border-radius: 12px;
        box-shadow: 0 8px 30px rgba(0,0,0,.25); display: flex; flex-direction: column; overflow: hidden; }
      .panel[hidden] { display: none; }
      header { background: ${color}; color: #fff; padding: 12px 14px; display: flex; align-items: center; justify-content: space-between; }
      header b { font-weight: 600; color: #fff; }
      header button { background: none; border: 0; color: #fff; font-size: 20px; cursor: pointer; }
      .feed { flex: 1; overflow-y: auto; padding: 12px; background: #f5f6f8; display: flex; flex-direction: column; gap: 6px; }
      .msg { max-width: 80%; padding: 7px 10px; border-radius: 10px; background: #fff; white-space: pre-wrap; overflow-wrap: anywhere; }
      .msg.me { align-self: flex-end; background: ${color}; color: #fff; }
      .msg .who { display: block; font-size: 12px; opacity: .75; }
      .msg .mark { display: block; font-size: 11px; opacity: .75; text-align: right; }
      .msg.failed { background: #b3261e; cursor: pointer; }
      .msg img { max-width: 100%; min-width: 64px; min-height: 64px; object-fit: contain; background: #fff; border-radius: 6px; display: block; margin-top: 4px; }
      .msg a { color: inherit; }
      .note, .typing { font-size: 12px; color: #555; padding: 0 12px; min-height: 18px; background: #f5f6f8; }
      .note:empty, .problem:empty { display: none; }
      form { display: flex; gap: 6px; padding: 8px; border-top: 1px solid #e3e3e6; align-items: flex-end; }
      textarea { flex: 1; resize: none; border: 1px solid #c9c9cf; border-radius: 8px; padding: 7px; min-height: 38px; max-height: 120px; }
      form button, .intro button { border: 0; border-radius: 8px; background: ${color}; color: #fff; padding: 8px 12px; cursor: pointer; }
      form button.attach { background: #e9e9ee; color: #1d1d1f; padding: 8px; display: flex; }
      .intro { padding: 14px; display: flex; flex-direction: column; align-items: stretch; gap: 8px; overflow-y: auto; border-top: 0; }
      .intro label { display: flex; flex-direction: column; gap: 3px; font-size: 13px; }
      .intro label.check { flex-direction: row; align-items: flex-start; gap: 6px; }
      .intro input[type=text], .intro input[type=tel], .intro input[type=email] { border: 1px solid #c9c9cf; border-radius: 8px; padding: 7px; }
      .problem { color: #b3261e; font-size: 12px; min-height: 16px; }
    `));
    const feed = h("div", { class: "feed", role: "log", "aria-live": "polite" });
    const typing = h("div", { class: "typing", "aria-live": "polite" });
    const problem = h("div", { class: "problem", role: "alert" });
    const text = h("textarea", { rows: "1", placeholder: T.placeholder, "aria-label": T.placeholder, maxlength: "4096" });
    const picker = h("input", { type: "file", hidden: true, multiple: true });
    const form = h("form", {}, h("button", { type: "button", class: "attach", title: T.attach, "aria-label": T.attach,
      onclick: () => picker.click() }, svg(CLIP)), picker, text, h("button", { type: "submit" }, T.send));
    const body = h("div", { class: "body" });
    const panel = h("section", { class: "panel", hidden: true, role: "dialog", "aria-label": T.title },
      h("header", {}, h("b", {}, T.title), h("button", { type: "button", "aria-label": T.close, onclick: () => toggle(false) }, "×")),
      body);
    const bubble = h("button", { class: "bubble", type: "button", "aria-label": T.open, onclick: () => toggle(panel.hidden) }, svg(CHAT));
    shadow.append(bubble, panel);
    document.body.append(host);

    const shown = new Set();
    let lastId = 0;
    let streaming = false;
    const files = async (m) => Promise.all(m.files.map(async (f, i) => {
      const url = `${ROOT}/files/${m.id}/${i + 1}`;
      try {
        const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
        const blob = URL.createObjectURL(await response.blob());
        return f.kind === "image" ? h("img", { src: blob, alt: f.name }) : h("a", { href: blob, download: f.name }, `📎 ${f.name}`);
      } catch {
        return h("span", {}, `📎 ${f.name}`);
      }
    }));
    const show = async (m) => {
      if (shown.has(m.id)) return;
      shown.add(m.id);
      lastId = Math.max(lastId, m.id);
      const mine = m.from === "visitor";
      const el = h("div", { class: mine ? "msg me" : "msg", "data-id": String(m.id) },
        mine ? null : h("span", { class: "who" }, m.operator || T.operator),
        m.deleted ? h("i", {}, T.deleted) : m.text);
      if (m.files.length) el.append(...await files(m));
      if (mine) el.append(h("span", { class: "mark" }, T.sent));
      if (!mine) typing.textContent = "";
      feed.append(el);
      feed.scrollTop = feed.scrollHeight;
    };
    const follow = async () => {
      if (streaming || !token) return;
      streaming = true;
      let pause = 1000;
      for (;;) {
        try {
          const response = await fetch(`${ROOT}/events`, { headers: { authorization: `Bearer ${token}`, "last-event-id": String(lastId) } });
          // Nothing written yet: the stream opens after the first message.
          if (response.status === 409) {
            streaming = false;
            return;
          }
          if (!response.ok || !response.body) throw new Error(String(response.status));
          pause = 1000;
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value;
            let end;
            while ((end = buffer.indexOf("\n\n")) >= 0) {
              const frame = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              const event = (frame.match(/^event: ?(.*)$/m) || [])[1];
              const data = frame.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.replace(/^data: ?/, "")).join("\n");
              if (!data) continue;
              const payload = JSON.parse(data);
              if (event === "message") await show(payload);
              else if (event === "typing") typing.textContent = payload.typing ? T.typing : "";
              else if (event === "read") {
                // An operator read the visitor's messages up to this one.
                for (const mark of feed.querySelectorAll(".msg.me[data-id] .mark")) {
                  if (Number(mark.parentElement.dataset.id) <= payload.up_to) mark.textContent = T.read;
                }
              }
            }
          }
        } catch {
          // The network or the server went away: try again, a little later each time.
        }
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(pause * 2, 30000);
      }
    };
    const visitor = async (intro) => {
      if (token) return;
      const answer = await call("POST", "/visitors", { ...intro, page_url: location.href, referrer: document.referrer || null });
      token = answer.token;
      localStorage.setItem(KEY, token);
    };
    const history = async () => {
      if (!token) return;
      try {
        const answer = await call("GET", "/messages");
        for (const m of answer.messages) await show(m);
      } catch (e) {
        if (e.status === 401) {
          // A token this widget does not know (another installation): a new visitor.
          token = null;
          localStorage.removeItem(KEY);
        }
      }
    };
    const base64 = (file) => new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(file);
    });
    const deliver = async (payload, key, pending) => {
      try {
        const m = await call("POST", "/messages", payload, { "idempotency-key": key });
        pending.remove();
        await show(m);
      } catch (e) {
        pending.classList.add("failed");
        pending.title = T.failed;
        pending.querySelector(".mark").textContent = `${T.failed} ${e.message || ""}`;
        pending.onclick = () => {
          pending.classList.remove("failed");
          pending.onclick = null;
          deliver(payload, key, pending);
        };
      }
    };
    const sendNow = async (words, chosen) => {
      problem.textContent = "";
      if (chosen.some((f) => f.size > 10 * 1024 * 1024)) {
        problem.textContent = T.big;
        return;
      }
      await visitor({});
      const attachments = await Promise.all(chosen.slice(0, 5).map(async (f) => ({
        file_name: f.name, mime_type: f.type || null, content_base64: await base64(f) })));
      const pending = h("div", { class: "msg me" }, words || chosen.map((f) => `📎 ${f.name}`).join(", "), h("span", { class: "mark" }, "…"));
      feed.append(pending);
      feed.scrollTop = feed.scrollHeight;
      // The key is made once: a retry after a network error is the same message.
      await deliver({ text: words, attachments, page_url: location.href, referrer: document.referrer || null }, uuid(), pending);
      follow();
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const words = text.value.trim();
      if (!words) return;
      text.value = "";
      sendNow(words, []).catch((e) => { problem.textContent = e.message; });
    });
    text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    picker.addEventListener("change", () => {
      const chosen = [...picker.files];
      picker.value = "";
      if (chosen.length) sendNow(text.value.trim(), chosen).catch((e) => { problem.textContent = e.message; });
      text.value = "";
    });
    const chat = () => {
      body.replaceChildren(feed, typing, h("div", { class: "note" }, config.online ? "" : T.offline), problem, form);
      body.style.display = "contents";
      if (!feed.childElementCount) feed.append(h("div", { class: "msg" }, config.greeting || T.hello));
      history().then(follow);
      text.focus();
    };
    // Who writes, first, where the site asks (or nobody is online to answer now).
    const intro = () => {
      const needContact = config.prechat || !config.online;
      const name = h("input", { type: "text", name: "name", maxlength: "100", autocomplete: "name" });
      const phone = h("input", { type: "tel", name: "phone", maxlength: "30", autocomplete: "tel" });
      const email = h("input", { type: "email", name: "email", maxlength: "254", autocomplete: "email" });
      const consent = h("input", { type: "checkbox", name: "consent" });
      const why = h("div", { class: "problem", role: "alert" });
      const introForm = h("form", { class: "intro", novalidate: true },
        config.online ? null : h("p", {}, T.offline),
        h("label", {}, T.name, name), h("label", {}, T.phone, phone), h("label", {}, T.email, email),
        config.consent_text ? h("label", { class: "check" }, consent, h("span", {}, config.consent_text)) : null,
        why, h("button", { type: "submit" }, T.start));
      introForm.addEventListener("submit", async (event) => {
        event.preventDefault();
        why.textContent = "";
        if (needContact && !name.value.trim()) { why.textContent = T.who; return; }
        if (needContact && !phone.value.trim() && !email.value.trim()) { why.textContent = T.contact; return; }
        if (config.consent_text && !consent.checked) { why.textContent = T.consent; return; }
        try {
          await visitor({ name: name.value, phone: phone.value, email: email.value, consent: consent.checked });
          chat();
        } catch (e) {
          why.textContent = e.message;
        }
      });
      body.replaceChildren(introForm);
      name.focus();
    };
    let opened = false;
    const toggle = (open) => {
      panel.hidden = !open;
      bubble.setAttribute("aria-expanded", String(open));
      if (open && !opened) {
        opened = true;
        if (token || (!config.prechat && config.online && !config.consent_text)) chat();
        else intro();
      } else if (open) text.focus();
      if (!open) bubble.focus();
    };
    shadow.addEventListener("keydown", (event) => { if (event.key === "Escape" && !panel.hidden) toggle(false); });
    // A returning visitor's conversation is there at once.
    if (token) history().then(follow);
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
