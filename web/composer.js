// The composer: nothing an operator typed is ever lost, and a reply goes out once.
//
// - A draft per dialog lives in this browser's storage (`dialogi.draft.<id>`) with the
//   caret: it survives live events (the composer is never rebuilt by them), switching
//   dialogs, reloading the page and a server restart.
// - Sending carries an `Idempotency-Key` made once per reply and kept with the draft
//   until the server answers: a double click, a retry after a network error or a reload
//   in between cannot send it twice. The composer is busy while it sends.
// - The text's length (with a counter) and the files' count and sizes are checked here,
//   before anything is sent.

import { h, when, base64Of } from "./lib.js";
import { t } from "./i18n.js";
import * as api from "./api.js";

export const MAX_TEXT = 4096;
const MAX_FILES = 5;
const MAX_FILE_BYTES = 10 * 1024 * 1024;

function draftKey(dialogId) {
  return `dialogi.draft.${dialogId}`;
}

/** The stored draft of a dialog: {text, start, end, key}. */
export function loadDraft(dialogId) {
  try {
    return JSON.parse(localStorage.getItem(draftKey(dialogId)) || "null") || { text: "" };
  } catch {
    return { text: "" };
  }
}

function saveDraft(dialogId, draft) {
  if (!draft.text && !draft.key) localStorage.removeItem(draftKey(dialogId));
  else localStorage.setItem(draftKey(dialogId), JSON.stringify(draft));
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** A template's text with its placeholders filled for this dialog (R41). */
export function filled(text, row, me) {
  const values = {
    "client.name": row ? ((row.client && row.client.name) || row.interlocutor.name) : "",
    "operator.name": me ? me.display_name : "",
    "dialog.number": row ? String(row.number) : "",
    "account.name": row ? row.account.name : "",
  };
  return text.replace(/\{(client\.name|operator\.name|dialog\.number|account\.name)\}/g, (_, key) => values[key]);
}

export class Composer {
  constructor(store, dialogId, { onSent, me }) {
    this.store = store;
    this.dialogId = dialogId;
    this.onSent = onSent;
    this.me = me;
    this.files = [];
    this.busy = false;
    this.draft = loadDraft(dialogId);
    this.node = h("form", { class: "composer", novalidate: true });
    this.note = h("p", { class: "window", hidden: true });
    this.problem = h("p", { class: "composer-problem", role: "alert" });
    this.chips = h("div", { class: "chips" });
    this.text = h("textarea", { name: "text", rows: "3", dir: "auto", placeholder: t("composer.placeholder"),
      "aria-label": t("composer.placeholder"), "aria-describedby": `count-${dialogId}` });
    this.text.value = this.draft.text || "";
    this.count = h("span", { class: "count-chars", id: `count-${dialogId}`, "aria-live": "polite" });
    this.picker = h("input", { type: "file", multiple: true, hidden: true, "aria-hidden": "true", tabindex: "-1" });
    this.send = h("button", { type: "submit", class: "primary" }, t("composer.send"));
    this.readonly = h("p", { class: "readonly", hidden: true }, t("composer.readonly"));
    // R42: a note for colleagues instead of a reply; the client never sees it.
    this.mode = this.draft.mode === "note" ? "note" : "reply";
    this.noteToggle = h("button", { type: "button", class: "tool note-toggle", "aria-pressed": "false",
      title: t("note.toggle_hint"), onclick: () => this.setNote(this.mode !== "note") }, t("note.toggle"));
    this.attach = h("button", { type: "button", class: "tool", title: t("composer.attach"), "aria-label": t("composer.attach"),
      onclick: () => this.picker.click() }, t("composer.file"));
    this.mentionBox = h("ul", { class: "mention-picker", role: "listbox", id: `mentions-${dialogId}`,
      "aria-label": t("note.mention_list"), hidden: true });
    this.row = h("div", { class: "compose-row" }, this.noteToggle, this.attach, this.picker, this.text, this.send);
    this.node.append(this.note, this.readonly, this.problem, this.chips, this.mentionBox, this.row,
      h("div", { class: "compose-foot" }, this.count));
    this.text.addEventListener("keydown", (event) => this.mentionKey(event));
    this.text.addEventListener("input", () => this.showMentions());
    this.text.addEventListener("input", () => this.keep());
    this.text.addEventListener("select", () => this.keep());
    this.text.addEventListener("keyup", () => this.keep());
    this.text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.node.requestSubmit();
      }
    });
    // A screenshot pasted, or files dropped, join the reply like picked ones (size checked
    // before anything is sent).
    this.text.addEventListener("paste", (event) => {
      const files = [...((event.clipboardData && event.clipboardData.files) || [])];
      if (!files.length || this.mode === "note" || this.canReply === false) return;
      if (!event.clipboardData.getData("text/plain")) event.preventDefault();
      this.addFiles(files.map((file, i) => named(file, i)));
    });
    this.node.addEventListener("dragover", (event) => {
      if (this.mode === "note" || this.canReply === false || !hasFiles(event)) return;
      event.preventDefault();
      this.node.classList.add("drop-target");
    });
    this.node.addEventListener("dragleave", (event) => {
      if (!this.node.contains(event.relatedTarget)) this.node.classList.remove("drop-target");
    });
    this.node.addEventListener("drop", (event) => {
      this.node.classList.remove("drop-target");
      if (this.mode === "note" || this.canReply === false || !hasFiles(event)) return;
      event.preventDefault();
      this.addFiles([...event.dataTransfer.files]);
      this.text.focus();
    });
    this.picker.addEventListener("change", () => {
      this.addFiles([...this.picker.files]);
      this.picker.value = "";
    });
    this.node.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.showCount();
    this.setNote(this.mode === "note");
  }

  /** Switches between a reply to the client and a note for colleagues. */
  setNote(on) {
    if (!on && this.canReply === false) return;
    this.mode = on ? "note" : "reply";
    this.node.classList.toggle("note-mode", on);
    this.noteToggle.setAttribute("aria-pressed", String(on));
    this.attach.hidden = on;
    this.chips.hidden = on;
    this.text.placeholder = t(on ? "note.placeholder" : "composer.placeholder");
    this.text.setAttribute("aria-label", this.text.placeholder);
    this.send.textContent = t(on ? "note.send" : "composer.send");
    this.hideMentions();
    if (this.draft.mode !== this.mode) {
      this.draft.mode = this.mode;
      saveDraft(this.dialogId, this.draft);
    }
  }

  /**
   * What is being typed just before the caret that a list can complete: "@name" in a
   * note (a colleague, R42), or "/word" at a line's start or after a space (a quick
   * reply, R41).
   */
  suggestQuery() {
    const before = this.text.value.slice(0, this.text.selectionStart);
    const mention = this.mode === "note" && before.match(/(^|[^\p{L}\p{N}])@([\p{L}\p{N}._-]*)$/u);
    if (mention) return { kind: "mention", query: mention[2].toLowerCase() };
    const template = before.match(/(^|\s)\/([^\s/]*)$/u);
    if (template) return { kind: "template", query: template[2].toLowerCase() };
    return null;
  }

  async showMentions() {
    const wanted = this.suggestQuery();
    if (!wanted) {
      this.hideMentions();
      return;
    }
    const same = (a, b) => a && b && a.kind === b.kind && a.query === b.query;
    try {
      if (wanted.kind === "mention") {
        this.viewersOnce = this.viewersOnce || api.viewers(this.dialogId);
        const viewers = await this.viewersOnce;
        if (!same(this.suggestQuery(), wanted)) return;
        const q = wanted.query;
        this.options = viewers.filter((v) => v.login.toLowerCase().startsWith(q)
          || v.display_name.toLowerCase().split(/\s+/).some((w) => w.startsWith(q)))
          .slice(0, 8).map((v) => ({ kind: "mention", id: v.id, value: v, label: v.display_name, hint: `@${v.login}` }));
      } else {
        const row = this.store.rows.get(this.dialogId);
        if (!row) return;
        this.templatesOnce = this.templatesOnce || api.quickReplies(row.account.id);
        const templates = await this.templatesOnce;
        if (!same(this.suggestQuery(), wanted)) return;
        const q = wanted.query;
        this.options = templates.filter((tpl) => !q || tpl.name.toLowerCase().includes(q) || tpl.text.toLowerCase().includes(q))
          .slice(0, 8).map((tpl) => ({ kind: "template", id: tpl.id, value: tpl, label: tpl.name, hint: tpl.text.slice(0, 60) }));
      }
    } catch {
      this.viewersOnce = null;
      this.templatesOnce = null;
      this.options = [];
    }
    this.active = 0;
    this.renderMentions();
  }

  renderMentions() {
    const options = this.options || [];
    this.mentionBox.hidden = !options.length;
    this.text.setAttribute("aria-controls", this.mentionBox.id);
    const kind = options.length ? options[0].kind : "mention";
    this.mentionBox.setAttribute("aria-label", t(kind === "template" ? "templates.list" : "note.mention_list"));
    this.mentionBox.replaceChildren(...options.map((o, i) => h("li", {
      role: "option", id: `suggest-${this.dialogId}-${o.kind}-${o.id}`, "aria-selected": String(i === this.active),
      class: i === this.active ? "active" : "",
      onmousedown: (event) => { event.preventDefault(); this.chooseMention(o); },
    }, o.label, " ", h("span", { class: "mention-login" }, o.hint))));
    const active = options[this.active];
    if (active) this.text.setAttribute("aria-activedescendant", `suggest-${this.dialogId}-${active.kind}-${active.id}`);
    else this.text.removeAttribute("aria-activedescendant");
  }

  hideMentions() {
    this.options = [];
    this.mentionBox.hidden = true;
    this.text.removeAttribute("aria-activedescendant");
  }

  /** Keys while the list is open: arrows move, Enter or Tab choose, Escape closes. */
  mentionKey(event) {
    if (this.mentionBox.hidden || !(this.options || []).length) return;
    const n = this.options.length;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      this.active = (this.active + (event.key === "ArrowDown" ? 1 : n - 1)) % n;
      this.renderMentions();
    } else if (event.key === "Enter" || event.key === "Tab") {
      this.chooseMention(this.options[this.active]);
    } else if (event.key === "Escape") {
      this.hideMentions();
    } else {
      return;
    }
    event.preventDefault();
    event.stopImmediatePropagation();
  }

  chooseMention(option) {
    const caret = this.text.selectionStart;
    let before;
    if (option.kind === "template") {
      // Inserted for editing, never sent at once; its use is counted (R41).
      const text = filled(option.value.text, this.store.rows.get(this.dialogId), this.me);
      before = this.text.value.slice(0, caret).replace(/\/[^\s/]*$/u, text);
      api.quickReplyUsed(option.id).catch(() => {});
      if (option.value.files.length) this.addTemplateFiles(option.value);
    } else {
      before = this.text.value.slice(0, caret).replace(/@[\p{L}\p{N}._-]*$/u, `@${option.value.login} `);
    }
    this.text.value = before + this.text.value.slice(caret);
    this.text.setSelectionRange(before.length, before.length);
    this.hideMentions();
    this.keep();
    this.text.focus();
  }

  /** A template's files join the reply's, to be removed before sending if not wanted. */
  async addTemplateFiles(template) {
    if (this.mode === "note") {
      this.problem.textContent = t("templates.files_note");
      return;
    }
    try {
      const files = await Promise.all(template.files.map(async (f) => {
        const response = await fetch(`/api/v1/quick-replies/${template.id}/files/${f.id}`);
        if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
        return new File([await response.blob()], f.file_name, { type: f.mime_type || "" });
      }));
      this.addFiles(files);
    } catch (e) {
      this.problem.textContent = t("templates.files_failed", { reason: e.message || String(e) });
    }
  }

  /** Puts the caret back where it was when the dialog was left. */
  restoreCaret() {
    const end = this.text.value.length;
    this.text.focus({ preventScroll: true });
    this.text.setSelectionRange(Math.min(this.draft.start ?? end, end), Math.min(this.draft.end ?? end, end));
  }

  keep() {
    this.draft.text = this.text.value;
    this.draft.start = this.text.selectionStart;
    this.draft.end = this.text.selectionEnd;
    saveDraft(this.dialogId, this.draft);
    this.showCount();
  }

  showCount() {
    const n = [...this.text.value].length;
    this.count.textContent = n > MAX_TEXT - 500 ? t("composer.count", { n, max: MAX_TEXT }) : "";
    this.count.classList.toggle("over", n > MAX_TEXT);
  }

  addFiles(files) {
    this.problem.textContent = "";
    for (const file of files) {
      if (file.size > MAX_FILE_BYTES) {
        this.problem.textContent = t("composer.file_too_large", { name: file.name });
        continue;
      }
      if (this.files.length >= MAX_FILES) {
        this.problem.textContent = t("composer.too_many_files");
        break;
      }
      this.files.push(file);
    }
    this.showChips();
  }

  showChips() {
    this.chips.replaceChildren(...this.files.map((file, i) =>
      h("span", { class: "chip" }, h("bdi", {}, file.name), h("button", { type: "button", class: "link", "aria-label": `${t("cancel")}: ${file.name}`,
        onclick: () => { this.files.splice(i, 1); this.showChips(); } }, "×"))));
  }

  /** What may be done here now: `reply` (write), or read only, or nothing (closed). */
  setMode({ closed, reply, window }) {
    this.node.hidden = closed;
    // Whoever may view the dialog may leave a note (R42); only a replier may answer.
    this.canReply = reply;
    this.readonly.hidden = reply;
    this.noteToggle.disabled = !reply;
    if (!reply) this.setNote(true);
    this.chips.hidden = !reply || this.mode === "note";
    this.window = window && reply ? new Date(window) : null;
    this.showWindow();
  }

  /** WhatsApp's reply window (R44): until when, and how long is left, said again each minute. */
  showWindow() {
    clearTimeout(this.windowTimer);
    if (!this.window) {
      this.note.hidden = true;
      return;
    }
    const left = this.window - Date.now();
    this.note.hidden = false;
    this.note.className = left <= 0 ? "window closed" : left < 3600000 ? "window closing" : "window";
    this.note.textContent = left <= 0 ? t("composer.window_closed")
      : t("composer.window_open", { time: when(this.window.toISOString()), left: timeLeft(left) });
    if (left > 0) this.windowTimer = setTimeout(() => this.node.isConnected && this.showWindow(), 60000);
  }

  setBusy(busy) {
    this.busy = busy;
    this.send.disabled = busy;
    this.text.readOnly = busy;
    this.send.textContent = busy ? t("composer.sending") : t(this.mode === "note" ? "note.send" : "composer.send");
    this.node.setAttribute("aria-busy", String(busy));
  }

  async submit() {
    if (this.busy) return;
    const text = this.text.value;
    this.problem.textContent = "";
    if (!text.trim() && !this.files.length) return;
    if (this.mode === "note" && this.files.length) {
      this.problem.textContent = t("note.no_files");
      return;
    }
    if ([...text].length > MAX_TEXT) {
      this.problem.textContent = t("composer.too_long", { max: MAX_TEXT });
      return;
    }
    // The key is this reply's: kept (with the draft) until the server has answered.
    if (!this.draft.key || this.draft.keyText !== text) {
      this.draft.key = newKey();
      this.draft.keyText = text;
      saveDraft(this.dialogId, this.draft);
    }
    this.setBusy(true);
    try {
      const body = { text };
      if (this.files.length) {
        body.attachments = await Promise.all(this.files.map(async (file) => ({
          file_name: file.name, mime_type: file.type || null, content_base64: await base64Of(file),
        })));
      }
      // Files: the button says how much has gone up (R46).
      const progress = (fraction) => {
        this.send.textContent = t("composer.uploading", { percent: Math.min(99, Math.round(fraction * 100)) });
      };
      const answer = this.mode === "note"
        ? await api.addNote(this.dialogId, text, this.draft.key)
        : body.attachments
          ? await api.replyWithFiles(this.dialogId, body, this.draft.key, progress)
          : await api.reply(this.dialogId, body, this.draft.key);
      this.text.value = "";
      this.files = [];
      this.showChips();
      this.draft = { text: "", mode: this.mode };
      saveDraft(this.dialogId, this.draft);
      this.showCount();
      this.onSent(answer);
    } catch (e) {
      // Not answered (the network, a 5xx): the key stays, so sending again cannot make a
      // second message. Refused (4xx): nothing was sent; the next try is a new request.
      const refused = e.status >= 400 && e.status < 500 && e.code !== "idempotency_key_in_use";
      if (refused) {
        delete this.draft.key;
        saveDraft(this.dialogId, this.draft);
      }
      this.problem.textContent = t("composer.retry", { reason: e.text || String(e) });
    } finally {
      this.setBusy(false);
      this.text.focus();
    }
  }
}

/** "23 ч 50 мин", "10 мин": how long is left, to the minute. */
function timeLeft(ms) {
  const minutes = Math.max(1, Math.floor(ms / 60000));
  const hours = Math.floor(minutes / 60);
  return hours ? t("composer.left_hours", { h: hours, m: minutes % 60 }) : t("composer.left_minutes", { m: minutes });
}

/** Whether a drag carries files (not text or a link). */
function hasFiles(event) {
  return Boolean(event.dataTransfer) && [...event.dataTransfer.types].includes("Files");
}

/** A pasted picture is called "image.png" by every browser: give it a name of its own. */
function named(file, i) {
  if (file.name && file.name !== "image.png") return file;
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
  const ext = (file.type.split("/")[1] || "png").replace(/[^a-z0-9]/g, "");
  return new File([file], `screenshot-${stamp}${i ? `-${i + 1}` : ""}.${ext}`, { type: file.type });
}
