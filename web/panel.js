// R43: the client panel beside the chat — the client or prospect (edited in place), their
// contact persons, interests (opened, or linked to this dialog), every dialog with them on
// every channel, open tasks and colleagues' notes. One request fills it; it is asked again
// only when an event says something it shows changed (a dialog of the client changed its
// interest, client or status, a task, a note), never for an ordinary message.

import { h, api, when, failed } from "./lib.js";
import { t } from "./i18n.js";
import { linkInterest } from "./api.js";
import { editClient, addContact, addInterest } from "./crm.js";

const REMEMBER = "dialogi.panel";
/** Changes that come together (a lead accepted: dialog, interest, task) ask once. */
const SETTLE_MS = 250;

export class ClientPanel {
  constructor(store, context) {
    this.store = store;
    this.context = context;
    this.dialogId = null;
    this.data = null;
    /** What the panel last showed of each dialog: a change to it asks again. */
    this.seen = new Map();
    store.on("rows", (row) => this.onRow(row));
    this.node = h("aside", { class: "client-panel", id: "client-panel", tabindex: "-1", "aria-label": t("panel.title"), hidden: true });
    // As the user left it; at first open only where the chat keeps room beside it (on a
    // phone it opens over the dialog, only when asked).
    const remembered = localStorage.getItem(REMEMBER);
    this.wanted = window.innerWidth >= 768 && (remembered === "open" || (!remembered && window.innerWidth >= 1400));
  }

  /** The dialog now open (`null`: none). */
  show(dialogId) {
    this.dialogId = dialogId;
    this.data = null;
    this.node.replaceChildren();
    this.node.hidden = !(dialogId && this.wanted);
    if (!this.node.hidden) this.load();
  }

  /** The header's button that shows or hides the panel. */
  toggleButton() {
    const open = !this.node.hidden;
    return h("button", { type: "button", class: "panel-toggle", "aria-controls": "client-panel", "aria-expanded": String(open),
      title: t(open ? "panel.hide" : "panel.show"), onclick: (e) => this.toggle(e.currentTarget) }, t("panel.title"));
  }

  toggle(button) {
    this.wanted = this.node.hidden;
    localStorage.setItem(REMEMBER, this.wanted ? "open" : "closed");
    this.node.hidden = !(this.dialogId && this.wanted);
    if (button) {
      button.setAttribute("aria-expanded", String(!this.node.hidden));
      button.title = t(this.node.hidden ? "panel.show" : "panel.hide");
    }
    if (!this.node.hidden && !this.data) this.load();
    if (!this.node.hidden) this.node.focus();
    else if (button) button.focus();
  }

  async load() {
    const id = this.dialogId;
    if (!id || this.node.hidden) return;
    try {
      const data = await api("GET", `/api/v1/dialogs/${id}/panel`);
      if (this.dialogId !== id) return;
      this.data = data;
      this.seen = new Map(data.dialogs.map((d) => [d.id, shown(d)]));
      const row = this.store.rows.get(id);
      if (row && !this.seen.has(id)) this.seen.set(id, shown(row));
      this.render();
    } catch (e) {
      if (this.dialogId === id) this.node.replaceChildren(h("p", { class: "hint" }, e.text || String(e)));
    }
  }

  /** Asks again once, shortly: several events of one change make one request. */
  soon() {
    if (this.node.hidden || !this.dialogId) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), SETTLE_MS);
  }

  /**
   * A dialog row changed (a live event or the user's own action, whichever came first):
   * asked again when it is one of the client's and what the panel shows of it changed.
   */
  onRow(row) {
    if (!this.data) return;
    const clientId = this.data.client && this.data.client.id;
    const ours = row.id === this.dialogId || this.seen.has(row.id) || (clientId && row.client && row.client.id === clientId);
    if (ours && this.seen.get(row.id) !== shown(row)) this.soon();
  }

  /** A live event other than a dialog's: a task, or a colleague's note in the client's dialogs. */
  onLive(type, data) {
    if (!this.data || !data) return;
    if (type === "task") {
      this.soon();
    } else if (type === "message" && data.message && data.message.direction === "note" && this.seen.has(data.message.dialog_id)) {
      this.soon();
    }
  }

  render() {
    const { client, contacts, interests, dialogs, tasks, notes } = this.data;
    const close = h("button", { type: "button", class: "link panel-close", "aria-label": t("panel.close"), title: t("panel.close"),
      onclick: () => this.toggle(null) }, "✕");
    if (!client) {
      this.node.replaceChildren(close, h("p", { class: "hint" }, t("panel.no_client")));
      return;
    }
    const reload = () => this.load();
    const row = this.store.rows.get(this.dialogId);
    const canLink = row && this.context.accounts.some((a) => a.id === row.account.id && a.my_rights && a.my_rights.send);
    const section = (title, items, empty, ...after) => h("section", {},
      h("h3", {}, title), items.length ? h("ul", {}, items) : h("p", { class: "hint" }, empty), ...after);
    const dialogLink = (d) => (this.context.accounts.some((a) => a.id === d.account.id)
      ? `#/dialogs/${d.id}` : `#/clients/${client.id}`);
    this.node.replaceChildren(...[
      close,
      h("header", {},
        h("h2", {}, h("bdi", {}, client.name), " ", h("span", { class: "badge" }, t(`client.${client.kind}`))),
        h("div", { class: "panel-actions" },
          h("button", { type: "button", class: "link", onclick: () => editClient(client, reload) }, t("panel.edit")),
          h("a", { href: `#/clients/${client.id}` }, t("client.card")))),
      [client.phone, client.email].some(Boolean) ? h("p", {}, [client.phone, client.email].filter(Boolean).join(" · ")) : null,
      client.notes ? h("p", { class: "notes" }, client.notes) : null,
      section(t("client.contacts"), contacts.map((p) => h("li", {}, h("bdi", {}, p.name), p.position ? `, ${p.position}` : "",
        [p.phone, p.email].some(Boolean) ? ` · ${[p.phone, p.email].filter(Boolean).join(", ")}` : "")),
      t("panel.no_contacts"),
      h("button", { type: "button", class: "link", onclick: () => addContact(client.id, reload) }, t("client.add_contact"))),
      section(t("client.interests"), interests.map((i) => h("li", { class: "interest-row" },
        h("a", { href: `#/interests/${i.id}` }, i.title), " ",
        h("span", { class: `status ${i.status}` }, t(`interest.${i.status}`)),
        row && row.interest_id === i.id ? h("span", { class: "hint" }, ` · ${t("panel.linked")}`)
          : canLink && i.status === "active" ? h("button", { type: "button", class: "link", onclick: () => this.link(i.id) }, t("panel.link")) : null)),
      t("panel.no_interests"),
      h("button", { type: "button", class: "link", onclick: () => addInterest(client.id, reload) }, t("client.add_interest"))),
      section(t("panel.dialogs", { n: dialogs.length }), dialogs.map((d) => h("li", {},
        h("a", { href: dialogLink(d) }, h("span", { class: `channel ${d.account.kind}` }, d.account.name), ` · ${d.title}`),
        " ", h("span", { class: `status ${d.status}` }, t(`status.${d.status}`)),
        d.id === this.dialogId ? h("span", { class: "hint" }, ` · ${t("panel.this")}`) : ` · ${when(d.last_message_at)}`)),
      t("panel.no_dialogs")),
      section(t("panel.tasks"), tasks.map((k) => h("li", {}, k.title,
        k.due_at ? h("span", { class: "hint" }, ` · ${t("task.due")}: ${when(k.due_at)}`) : null)),
      t("panel.no_tasks")),
      section(t("panel.notes"), notes.map((m) => h("li", { class: "panel-note" },
        h("span", { class: "hint" }, h("bdi", {}, (m.author && m.author.name) || ""), ` · ${when(m.created_at)}`),
        h("div", { dir: "auto" }, m.text))),
      t("panel.no_notes")),
    ].filter(Boolean));
  }

  async link(interestId) {
    try {
      await linkInterest(this.dialogId, interestId);
      this.load();
    } catch (e) {
      failed(e);
    }
  }
}

/** What the panel shows of a dialog: its interest, its client and its status. */
function shown(row) {
  return `${row.interest_id ?? ""}|${(row.client && row.client.id) ?? ""}|${row.status}`;
}
