// The dialog pane: its header and actions, the messages and the composer. Opening a
// dialog reads it once (its detail and newest messages); after that live events patch the
// header, the buttons and the feed in place, and the composer is never rebuilt, so a
// half-typed reply, its caret and the feed's scroll stay where they are.

import { h, failed, toast } from "./lib.js";
import { t } from "./i18n.js";
import * as api from "./api.js";
import * as modals from "./modals.js";
import { Feed, earlierDialog } from "./messages.js";
import { Composer } from "./composer.js";
import { presenceText } from "./presence.js";

/**
 * What the caller may do on a dialog, from its row and their rights on its account: the
 * same rules the server applies (it checks again), so a colleague's action changes the
 * buttons without asking the server.
 */
export function actionsFor(row, rights, me) {
  const mine = row.responsible.user_id === me.id;
  const closed = row.status === "closed";
  const takenByOther = row.status === "accepted" && !mine;
  let canAccept = rights.send && !closed && !takenByOther && !(row.status === "accepted" && mine);
  if (canAccept && row.status === "returned" && !rights.admin) {
    if (row.responsible.user_id && !mine) canAccept = false;
    if (row.responsible.role_id && !(me.role_ids || []).includes(row.responsible.role_id)) canAccept = false;
  }
  const manage = !closed && (rights.admin || (rights.send && !takenByOther));
  return {
    reply: rights.send && !closed && (canAccept || (row.status === "accepted" && mine)),
    accept: canAccept,
    close: manage,
    redirect: manage,
    rename: manage,
    accept_lead: Boolean(row.client) && (canAccept || (row.status === "accepted" && mine)),
    link_interest: manage && Boolean(row.client),
  };
}

export class DialogPane {
  constructor(store, context, { onBack, onChanged, panel }) {
    this.store = store;
    this.panel = panel;
    this.context = context;
    this.onBack = onBack;
    this.onChanged = onChanged;
    this.node = h("section", { class: "dialog-pane", "aria-label": t("dialog.pane") });
    this.showNone();
  }

  showNone() {
    this.dispose();
    this.node.replaceChildren(h("div", { class: "placeholder" }, t("dialog.none")));
  }

  dispose() {
    if (this.off) this.off();
    if (this.feed) this.feed.dispose();
    this.off = null;
    this.feed = null;
    this.composer = null;
    this.id = null;
  }

  rights(row) {
    const account = this.context.accounts.find((a) => a.id === row.account.id);
    return (account && account.my_rights) || { view: true, send: false, admin: false };
  }

  /** Opens a dialog: one read of its detail and its newest messages. */
  async open(id, { focus } = {}) {
    this.dispose();
    this.id = id;
    this.node.replaceChildren(h("div", { class: "placeholder", "aria-busy": "true" }, t("list.loading")));
    let detail;
    try {
      detail = await api.getDialog(id);
    } catch (e) {
      if (this.id === id) this.node.replaceChildren(h("div", { class: "placeholder" }, e.text || String(e)));
      failed(e);
      return;
    }
    if (this.id !== id) return;
    this.detail = detail;
    // The "unread" line goes before the first message after the caller's read mark.
    const unreadFrom = detail.unread ? (detail.read_up_to ?? 0) : null;
    this.store.putRow(detail);
    this.window = detail.reply_window_closes_at;
    this.requireReason = detail.require_close_reason;
    this.header = h("header", { class: "dialog-header" });
    this.toolbar = h("div", { class: "toolbar", role: "toolbar", "aria-label": t("dialog.more") });
    this.menu = h("details", { class: "actions-menu" }, h("summary", { "aria-label": t("dialog.more") }, "⋯"),
      h("div", { class: "menu-items" }));
    this.feed = new Feed(this.store, id, { unreadFrom, context: this.context,
      // Whether the user may write in this dialog's account (reactions are writing).
      canWrite: () => {
        const row = this.store.rows.get(id);
        return Boolean(row && this.rights(row).send);
      } });
    this.composer = new Composer(this.store, id, { onSent: (answer) => this.sent(answer), me: this.context.me });
    this.node.replaceChildren(this.header, this.toolbar, this.feed.node, this.composer.node);
    const offRow = this.store.on(`row:${id}`, (row) => this.update(row));
    const offFeed = this.store.on(`feed:${id}`, () => this.markRead());
    // Who else is here (R46): "Борис смотрит", "Борис печатает".
    this.presenceLine = h("div", { class: "presence-line", role: "status", "aria-live": "polite" });
    const offPresence = this.store.on(`presence:${id}`, () => this.showPresence());
    const typing = () => this.context.presence && this.context.presence.typing();
    this.composer.text.addEventListener("input", typing);
    this.off = () => {
      offRow();
      offFeed();
      offPresence();
    };
    this.update(this.store.rows.get(id));
    await this.feed.loadFirst();
    if (this.id !== id) return;
    if (focus && this.composer && !this.composer.node.hidden && !this.composer.row.hidden) this.composer.restoreCaret();
    else if (focus) this.feed.node.focus();
  }

  /** The dialog changed (here or anywhere): header, buttons and composer mode. */
  update(row) {
    if (!row || row.id !== this.id) return;
    const rights = this.rights(row);
    this.actions = actionsFor(row, rights, this.context.me);
    this.renderHeader(row);
    this.renderActions(row);
    this.composer.setMode({
      closed: row.status === "closed",
      reply: this.actions.reply,
      window: row.account.kind === "whatsapp" ? this.window : null,
    });
  }

  renderHeader(row) {
    const interest = row.interest_id
      ? h("a", { class: "interest", href: `#/interests/${row.interest_id}` }, t("dialog.interest", { title: row.interest_title || `#${row.interest_id}` }))
      : null;
    const withClient = row.client && row.dialogs_with_client > 1
      ? h("button", { type: "button", class: "link", onclick: (e) => this.toggleEarlier(e.currentTarget, row) },
        t("dialog.with_client", { n: row.dialogs_with_client }))
      : null;
    this.header.replaceChildren(
      h("button", { type: "button", class: "back", onclick: () => this.onBack(), "aria-label": t("dialog.back") }, "←"),
      h("div", { class: "who" },
        h("h2", {}, h("bdi", {}, row.interlocutor.name),
          row.client ? h("a", { class: "client-link", href: `#/clients/${row.client.id}` }, t("client.card")) : null),
        h("div", { class: "meta" },
          h("span", { class: `channel ${row.account.kind}` }, row.account.name), " · ",
          h("bdi", { class: "title" }, row.title), " · ",
          h("span", { class: `status ${row.status}` }, t(`status.${row.status}`)),
          row.responsible.user_name ? ` · ${row.responsible.user_name}` : "",
          row.is_lead ? h("span", { class: "badge" }, t("badge.lead")) : null),
        this.presenceLine, this.visitLine(row), withClient, this.earlier || null),
      ...(interest ? [interest] : []),
      ...(row.status === "closed" ? [this.closedWith(row)].filter(Boolean) : []),
      this.panel ? this.panel.toggleButton() : null);
    this.showPresence();
  }

  /** A website visitor (R40): the page and referrer they came from, their browser, the
   * contact they left, and a known client with that contact (a suggestion). */
  visitLine(row) {
    const visit = this.detail && this.detail.id === row.id ? this.detail.visit : null;
    if (!visit) return null;
    const link = (url) => (/^https?:\/\//i.test(url || "")
      ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, h("bdi", {}, url)) : null);
    const browser = (visit.user_agent || "").match(/(Firefox|Edg|OPR|YaBrowser|Chrome|Safari)\/[\d.]+/);
    const parts = [
      visit.page_url ? [t("visit.page"), ": ", link(visit.page_url)] : null,
      visit.referrer ? [t("visit.referrer"), ": ", link(visit.referrer)] : null,
      browser ? [t("visit.browser"), ": ", h("bdi", { title: visit.user_agent }, browser[0])] : null,
      visit.phone || visit.email ? [t("visit.contact"), ": ", h("bdi", {}, [visit.phone, visit.email].filter(Boolean).join(", "))] : null,
    ].filter(Boolean);
    const same = visit.same_client
      ? h("a", { class: "same-client", href: `#/clients/${visit.same_client.id}` },
        t("visit.same_client", { name: visit.same_client.name, what: t(visit.same_client.by === "phone" ? "visit.by_phone" : "visit.by_email") }))
      : null;
    return h("div", { class: "visit meta" }, parts.map((p, i) => [i ? " · " : "", ...p]), same ? [" · ", same] : null);
  }

  showPresence() {
    if (!this.presenceLine || this.id == null) return;
    const viewers = this.store.viewers(this.id);
    const text = presenceText(t, viewers);
    if (this.presenceLine.textContent !== text) this.presenceLine.textContent = text;
    this.presenceLine.hidden = !text;
    this.presenceLine.classList.toggle("typing", [...viewers.values()].some((v) => v.activity === "typing"));
  }

  /** A closed dialog says why (R25): the reason chosen and the comment given. */
  closedWith(row) {
    const reason = (this.context.reasons || []).find((r) => r.id === row.close_reason_id);
    const line = [...this.store.feed(row.id).items].reverse().find((m) => m.system_kind === "closed");
    const comment = (line && line.system_data && line.system_data.comment)
      || (this.detail && this.detail.id === row.id ? this.detail.close_comment : null);
    if (!reason && !comment) return null;
    return h("div", { class: "closed-with" }, t("dialog.closed_with"), " ",
      reason ? h("strong", {}, reason.name) : null, comment ? ` — «${comment}»` : "");
  }

  async toggleEarlier(button, row) {
    if (this.earlier) {
      this.earlier.remove();
      this.earlier = null;
      return;
    }
    try {
      const list = await api.clientDialogs(row.client.id);
      // Earlier dialogs open here, above the current one, read-only (R34): the current
      // dialog and its draft stay where they are.
      this.earlier = h("div", { class: "earlier" }, h("h3", {}, t("dialog.earlier")),
        list.filter((x) => x.id !== row.id).map((x) => earlierDialog(row.client.id, x, this.context)));
      button.after(this.earlier);
    } catch (e) {
      failed(e);
    }
  }

  buttons(row) {
    const a = this.actions;
    const channel = (this.detail && this.detail.actions) || {};
    const done = (answer) => this.changed(answer);
    const run = (fn) => () => Promise.resolve(fn()).catch(failed);
    return [
      { id: "accept", enabled: a.accept, run: run(async () => done(await api.accept(row.id))) },
      // Once the dialog has its interest, a second one is a re-link (R23), not a new lead.
      { id: "lead", enabled: a.accept_lead && row.is_lead && !row.interest_id, why: row.interest_id ? t("action.leadLinked") : null, run: run(() => modals.acceptLead(row, done)) },
      { id: "link", enabled: a.link_interest, run: run(() => modals.linkInterest(row, done)) },
      { id: "redirect", enabled: a.redirect, run: run(() => modals.redirect(this.context, row, done)) },
      { id: "close", enabled: a.close, run: run(() => modals.closeDialog(this.context, row, this.requireReason, done)) },
      { id: "rename", enabled: a.rename, run: run(() => modals.rename(row, done)) },
      { id: "task", enabled: row.status !== "closed", run: run(() => modals.task(this.context, row)) },
      // What the channel can do (R29, R30), as the server found it when the dialog opened;
      // a disabled button says why.
      { id: "site", enabled: Boolean(channel.open_on_site), why: t("action.siteNone"), run: run(() => this.openSite(row)) },
      { id: "fetch", enabled: Boolean(channel.fetch_now), why: t("action.fetchNotNeeded"), run: run(() => this.fetchNow(row)) },
      { id: "search", enabled: Boolean(row.client), run: run(() => modals.searchClient(row)) },
      { id: "gallery", enabled: Boolean(row.client), run: run(() => modals.gallery(row)) },
    ];
  }

  renderActions(row) {
    const buttons = this.buttons(row);
    // Buttons are patched, not rebuilt: focus stays on the one the user pressed.
    if (!this.toolbar.childElementCount) {
      this.toolbar.append(...buttons.map((b) => h("button", { type: "button", class: "tool", dataset: { action: b.id } }, t(`action.${b.id}`))));
      this.toolbar.append(this.menu);
      this.menu.querySelector(".menu-items").append(...buttons.map((b) =>
        h("button", { type: "button", class: "tool", dataset: { menuAction: b.id } }, t(`action.${b.id}`))));
    }
    for (const b of buttons) {
      for (const node of this.toolbar.querySelectorAll(`[data-action="${b.id}"], [data-menu-action="${b.id}"]`)) {
        node.disabled = !b.enabled;
        if (b.why && !b.enabled) node.title = b.why;
        else node.removeAttribute("title");
        node.onclick = () => {
          this.menu.open = false;
          b.run();
        };
      }
    }
  }

  /** An action's answer: the dialog as it is now, for the caller. */
  changed(detail) {
    if (detail && detail.id) this.onChanged(detail);
  }

  sent(answer) {
    if (answer && answer.message) this.store.applyMessage(answer.message);
    // A note answers with the note itself (R42).
    if (answer && answer.direction === "note") this.store.applyMessage(answer);
    if (answer && answer.dialog) this.changed(answer.dialog);
  }

  /** Marks what is shown as read (once per new inbound message). */
  markRead() {
    const feed = this.store.feed(this.id);
    const last = [...feed.items].reverse().find((m) => m.direction === "in");
    if (!last || document.hidden) return;
    const id = this.id;
    if (last.id <= (this.store.readUpTo.get(id) || 0) || this.reading === last.id) return;
    this.reading = last.id;
    api.markRead(id, last.id).then(() => this.store.applyRead(id, last.id), () => {});
    // A new inbound message into a WhatsApp dialog reopens its 24-hour window (never
    // shortens it: the client may have written later in another dialog).
    const row = this.store.rows.get(id);
    const reopened = Date.parse(last.created_at) + 24 * 3600 * 1000;
    if (row && row.account.kind === "whatsapp" && !(Date.parse(this.window) >= reopened)) {
      this.window = new Date(reopened).toISOString();
      this.update(row);
    }
  }

  async openSite(row) {
    const link = await api.siteLink(row.id);
    window.open(link.url, "_blank", "noopener");
  }

  async fetchNow(row) {
    const report = await api.fetchAccount(row.account.id);
    toast(report.polled ? t("fetch.done", { n: report.stored }) : t("fetch.webhook"));
  }
}
