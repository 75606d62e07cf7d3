// The operator's workstation (R12–R35): the list pane and the dialog pane around one
// store. The live stream's events carry what changed (a dialog's list row, a whole
// message, a delivery state), so they are applied to the store and the views patch
// themselves: no event makes the page ask the server again. Under 768 px the list and
// the dialog are two screens with a back button.
//
// Keyboard: ↑/↓ or J/K in the list, Enter opens, Esc goes back to the list, Ctrl+K (or
// Cmd+K) jumps to a dialog by name or number.

import { h, modal, field, api } from "./lib.js";
import { notify, askOnce } from "./notify.js";
import { t } from "./i18n.js";
import { Store } from "./store.js";
import { ListPane } from "./list.js";
import { DialogPane } from "./dialog.js";
import { ClientPanel } from "./panel.js";

const MIN_LIST = 260;

export class Workstation {
  constructor(context) {
    this.context = context;
    this.store = new Store(context.me);
    this.selected = null;
    this.page = null;
    this.list = new ListPane(this.store, context, { onOpen: (id) => { location.hash = `#/dialogs/${id}`; } });
    this.panel = new ClientPanel(this.store, context);
    this.dialog = new DialogPane(this.store, context, {
      panel: this.panel,
      onBack: () => this.back(),
      onChanged: (row) => this.store.applyDialog(row, (r) => this.list.belongs(r), this.list.atTop()),
    });
    window.addEventListener("dialogi:live", (event) => this.onLive(event.detail));
    document.addEventListener("keydown", (event) => this.onKey(event));
  }

  /** Renders into `page`, with `dialogId` open (or none). */
  show(page, dialogId) {
    if (this.page !== page || !page.contains(this.layout)) {
      this.page = page;
      this.build();
      this.list.load();
      this.list.loadCounters();
    }
    if (dialogId !== this.selected) this.open(dialogId);
  }

  build() {
    askOnce(this.list.node);
    const width = Number(localStorage.getItem("dialogi.split")) || 380;
    this.list.node.style.width = `${width}px`;
    this.splitter = h("div", { class: "splitter", role: "separator", tabindex: "0", "aria-orientation": "vertical",
      "aria-label": t("splitter"), "aria-valuemin": String(MIN_LIST), "aria-valuemax": String(Math.max(MIN_LIST, window.innerWidth - 360)),
      "aria-valuenow": String(width), "aria-controls": "list-pane" });
    this.list.node.id = "list-pane";
    this.splitter.addEventListener("pointerdown", (event) => this.drag(event));
    this.splitter.addEventListener("keydown", (event) => {
      const step = event.key === "ArrowLeft" ? -20 : event.key === "ArrowRight" ? 20 : 0;
      if (!step) return;
      event.preventDefault();
      this.setWidth(this.list.node.getBoundingClientRect().width + step);
    });
    this.layout = h("div", { class: "workstation" }, this.list.node, this.splitter, this.dialog.node, this.panel.node);
    this.page.replaceChildren(this.layout);
  }

  setWidth(px) {
    const width = Math.round(Math.max(MIN_LIST, Math.min(window.innerWidth - 360, px)));
    this.list.node.style.width = `${width}px`;
    this.splitter.setAttribute("aria-valuenow", String(width));
    localStorage.setItem("dialogi.split", String(width));
  }

  drag(event) {
    this.splitter.setPointerCapture(event.pointerId);
    const startX = event.clientX;
    const startWidth = this.list.node.getBoundingClientRect().width;
    const move = (e) => this.setWidth(startWidth + e.clientX - startX);
    this.splitter.addEventListener("pointermove", move);
    this.splitter.addEventListener("pointerup", () => this.splitter.removeEventListener("pointermove", move), { once: true });
  }

  open(id) {
    this.selected = id;
    if (this.context.presence) this.context.presence.view(id || null);
    this.panel.show(id || null);
    this.list.select(id);
    this.layout.classList.toggle("dialog-open", Boolean(id));
    if (!id) {
      this.dialog.showNone();
      return;
    }
    // Focus goes to the composer (its caret where it was), or the messages when the
    // caller may only read.
    this.dialog.open(id, { focus: true });
  }

  /** Back to the list (the phone's back button, Esc): focus returns to the list. */
  back() {
    location.hash = "#/";
    this.list.focus();
  }

  onKey(event) {
    if (!this.page || !this.page.contains(this.layout)) return;
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
      event.preventDefault();
      this.jump();
      return;
    }
    if (event.key === "Escape" && this.selected && !document.querySelector("dialog[open]")) {
      const typing = event.target instanceof HTMLTextAreaElement && event.target.value;
      if (!typing) {
        event.preventDefault();
        this.back();
      }
    }
  }

  /** Ctrl+K: go to a dialog by the client's name or the dialog's number. */
  jump() {
    const input = h("input", { name: "q", type: "search", placeholder: t("jump.placeholder"), autocomplete: "off", list: "jump-list" });
    const options = h("datalist", { id: "jump-list" });
    input.addEventListener("input", () => {
      const q = input.value.trim().toLowerCase();
      const rows = [...this.store.rows.values()].filter((r) =>
        q && (r.interlocutor.name.toLowerCase().includes(q) || String(r.number) === q || r.title.toLowerCase().includes(q)));
      options.replaceChildren(...rows.slice(0, 8).map((r) => h("option", { value: `${r.title} — ${r.interlocutor.name}` })));
    });
    modal({
      title: t("jump.title"),
      submitLabel: t("jump.title"),
      body: [field(t("jump.placeholder"), input), options],
      submit: async (data) => {
        const q = String(data.get("q")).trim().toLowerCase();
        const rows = [...this.store.rows.values()];
        const found = rows.find((r) => `${r.title} — ${r.interlocutor.name}`.toLowerCase() === q)
          || rows.find((r) => String(r.number) === q.replace(/^№/, ""))
          || rows.find((r) => r.interlocutor.name.toLowerCase().includes(q) || r.title.toLowerCase().includes(q));
        if (!found) throw new Error(t("jump.none"));
        location.hash = `#/dialogs/${found.id}`;
      },
    });
  }

  // ------------------------------------------------------------------ live

  onLive({ type, data }) {
    const store = this.store;
    switch (type) {
      case "online":
        store.setOnline(Boolean(data));
        // Who is where now; the stream tells each change after (R46).
        if (data) api("GET", "/api/v1/presence").then((now) => store.setPresence(now.viewers), () => {});
        break;
      case "presence":
        if (data) store.applyPresence(data);
        break;
      case "counters":
        if (data) store.setCounters(data);
        break;
      case "dialog":
        if (data && data.row) {
          const before = store.rows.get(data.row.id);
          store.applyDialog(data.row, (r) => this.list.belongs(r), this.list.atTop());
          if (!before && data.row.status === "new") this.notifyNew(data.row);
          // Handed to me (R26): say so, once, whoever did it.
          if (this.toMe(data.row) && !(before && this.toMe(before))) this.notifyRedirected(data.row);
        }
        break;
      case "message":
        if (data && data.message) {
          store.applyMessage(data.message);
          this.notifyMessage(data.message);
          this.panel.onLive(type, data);
        }
        break;
      case "task":
        if (data) this.notifyTask(data);
        this.panel.onLive(type, data);
        break;
      case "delivery":
        if (data) store.applyDelivery(data);
        break;
      case "read":
        if (data) store.applyRead(data.dialog_id, data.last_read_message_id);
        break;
      case "mention":
        if (data) this.notifyMention(data);
        break;
      case "resync":
        // Too far behind to catch up from events: read everything afresh, once.
        this.list.load();
        this.list.loadCounters();
        if (this.selected) this.dialog.open(this.selected);
        break;
      default:
        break;
    }
  }

  /** A dialog redirected to me (or to a role of mine) that waits for me to take it. */
  toMe(row) {
    const me = this.context.me || {};
    return row.status === "returned" && (row.responsible.user_id === me.id
      || (row.responsible.role_id != null && (me.role_ids || []).includes(row.responsible.role_id)));
  }

  notifyRedirected(row) {
    const role = row.responsible.user_id == null
      ? (this.context.me.roles || []).find((r) => r.id === row.responsible.role_id) : null;
    const text = role ? t("redirect.toRole", { title: row.title, role: role.name }) : t("redirect.toYou", { title: row.title });
    notify("redirect", text, row.last_message_preview || "", `dialog-${row.id}`, true);
  }

  /** A colleague mentioned me in a note (R42): said at once, wherever I am. */
  notifyMention(data) {
    const author = (this.context.users || []).find((u) => u.id === data.by);
    const text = t("mention.toast", { who: author ? author.display_name : "", text: data.preview || "" });
    notify("mention", text, "", `mention-${data.message_id}`, true);
  }

  notifyNew(row) {
    notify("new", t("notify.new"), row.last_message_preview || "", `dialog-${row.id}`, false);
  }

  /** The client wrote in a dialog I took, unless I am looking at it now (R45). */
  notifyMessage(message) {
    if (message.direction !== "in") return;
    const row = this.store.rows.get(message.dialog_id);
    if (!row || row.responsible.user_id !== (this.context.me || {}).id) return;
    if (this.selected === message.dialog_id && document.hasFocus()) return;
    notify("message", t("notify.message", { who: row.interlocutor.name }), message.text || "", `dialog-${row.id}`, false);
  }

  /** A task given to me by someone else (R45). */
  notifyTask(data) {
    if (data.status || data.kind !== "assignment") return;
    notify("task", t("notify.task", { title: data.title || "" }), "", `task-${data.task_id}`, true);
  }
}
