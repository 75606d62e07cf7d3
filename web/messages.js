// A dialog's messages (R31, R32): keyed bubbles patched in place (a delivery state, an
// edit), a separator per day and one at the first unread message, links in texts made
// clickable (http(s) only, `rel="noopener noreferrer"`), every text isolated with
// `dir="auto"`. Scrolling up loads older messages with the `before` cursor until the
// first one; the view stays where the reader is.

import { h, when, failed, modal, field } from "./lib.js";
import { t } from "./i18n.js";
import * as api from "./api.js";

/** A picture over the page, whole; Esc, a click or «Закрыть» closes it, focus goes back. */
export function lightbox(url, name) {
  const opener = document.activeElement;
  const box = h("dialog", { class: "lightbox", "aria-label": name },
    h("img", { src: url, alt: name }),
    h("div", { class: "lightbox-bar" },
      h("bdi", {}, name),
      h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, t("lightbox.open")),
      h("button", { type: "button", class: "primary", onclick: () => box.close() }, t("lightbox.close"))));
  box.addEventListener("click", (event) => {
    if (event.target === box || event.target.tagName === "IMG") box.close();
  });
  box.addEventListener("close", () => {
    box.remove();
    if (opener && opener.isConnected) opener.focus();
  });
  document.body.append(box);
  box.showModal();
  box.querySelector("button").focus();
}

const URL_IN_TEXT = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/gi;

/** A text with its http(s) links as links. */
export function linkified(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(URL_IN_TEXT)) {
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push(h("a", { href: match[0], target: "_blank", rel: "noopener noreferrer" }, match[0]));
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

function dayLabel(iso) {
  const date = new Date(iso);
  const today = new Date();
  const yesterday = new Date(today);
  yesterday.setDate(today.getDate() - 1);
  if (date.toDateString() === today.toDateString()) return t("feed.today");
  if (date.toDateString() === yesterday.toDateString()) return t("feed.yesterday");
  return date.toLocaleDateString(document.documentElement.lang, { day: "numeric", month: "long", year: "numeric" });
}

export class Feed {
  constructor(store, dialogId, { unreadFrom, context, canWrite }) {
    this.store = store;
    this.canWrite = canWrite || (() => false);
    this.dialogId = dialogId;
    this.unreadFrom = unreadFrom;
    this.context = context;
    this.nodes = new Map();
    this.node = h("ol", { class: "feed", tabindex: "0", "aria-label": t("feed.label") });
    this.top = h("li", { class: "feed-top", "aria-hidden": "true" });
    this.node.append(this.top);
    this.older = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.loadOlder();
    }, { root: this.node, rootMargin: "300px" });
    this.off = store.on(`feed:${dialogId}`, (change) => this.onFeed(change));
  }

  dispose() {
    this.off();
    this.older.disconnect();
  }

  async loadFirst() {
    try {
      this.store.putMessages(this.dialogId, await api.listMessages(this.dialogId), false);
    } catch (e) {
      failed(e);
    }
  }

  async loadOlder() {
    const feed = this.store.feed(this.dialogId);
    if (this.loading || feed.complete || !feed.loaded) return;
    this.loading = true;
    this.top.textContent = t("feed.older");
    try {
      this.store.putMessages(this.dialogId, await api.listMessages(this.dialogId, feed.before), true);
    } catch (e) {
      failed(e);
      return;
    } finally {
      this.loading = false;
    }
    // Still at the top (the reader keeps scrolling up faster than pages arrive): the
    // observer reports only changes, so the next page is asked for here.
    requestAnimationFrame(() => {
      if (this.node.isConnected && this.node.scrollTop < 300) this.loadOlder();
    });
  }

  onFeed(change) {
    const feed = this.store.feed(this.dialogId);
    const nearBottom = this.node.scrollHeight - this.node.scrollTop - this.node.clientHeight < 80;
    // Keep what the reader sees in place when older messages arrive above it.
    const fromBottom = this.node.scrollHeight - this.node.scrollTop;
    for (const id of change.changed || []) {
      const message = feed.items.find((m) => m.id === id);
      const old = this.nodes.get(id);
      if (message && old) {
        const fresh = this.bubble(message);
        old.replaceWith(fresh);
        this.nodes.set(id, fresh);
      }
    }
    // A new view of a dialog seen before renders everything its store already holds.
    if (!this.placed || (change.added && change.added.length)) this.render(feed);
    this.top.textContent = feed.complete ? t("feed.beginning") : "";
    if (feed.complete) this.older.unobserve(this.top);
    else this.older.observe(this.top);
    if (change.older) {
      this.node.scrollTop = this.node.scrollHeight - fromBottom;
    } else if (!this.placed || nearBottom) {
      this.placed = true;
      this.toFirstUnreadOrBottom();
    }
  }

  /** Puts every loaded message in order with its separators; keeps existing bubbles. */
  render(feed) {
    const wanted = [this.top];
    let day = null;
    let unreadShown = false;
    for (const message of feed.items) {
      const label = dayLabel(message.created_at);
      if (label !== day) {
        day = label;
        wanted.push(this.separator(`day:${label}`, label, "day"));
      }
      if (!unreadShown && this.unreadFrom != null && message.id > this.unreadFrom && message.direction === "in") {
        unreadShown = true;
        wanted.push(this.separator("unread", t("feed.unread"), "unread"));
      }
      let node = this.nodes.get(message.id);
      if (!node) {
        node = this.bubble(message);
        this.nodes.set(message.id, node);
      }
      wanted.push(node);
    }
    let cursor = this.node.firstElementChild;
    for (const node of wanted) {
      if (node === cursor) cursor = cursor.nextElementSibling;
      else this.node.insertBefore(node, cursor);
    }
    while (cursor) {
      const next = cursor.nextElementSibling;
      cursor.remove();
      cursor = next;
    }
  }

  separator(key, text, kind) {
    this.separators = this.separators || new Map();
    let node = this.separators.get(key);
    if (!node) {
      node = h("li", { class: `separator ${kind}` }, h("span", {}, text));
      this.separators.set(key, node);
    }
    return node;
  }

  toFirstUnreadOrBottom() {
    const unread = this.separators && this.separators.get("unread");
    if (unread && unread.isConnected) unread.scrollIntoView({ block: "start" });
    else this.node.scrollTop = this.node.scrollHeight;
  }

  systemText(m) {
    const data = m.system_data || {};
    const who = m.author ? m.author.name : t("system.someone");
    if (m.system_kind === "rule") {
      const results = (data.actions || []).map((a) => `${a.action}${a.ok ? "" : ` ✗ ${a.error}`}`).join(", ");
      return `${t("system.rule", { name: data.name || "" })}${results ? `: ${results}` : ""}${data.error ? ` ✗ ${data.error}` : ""}`;
    }
    const text = t(`system.${m.system_kind}`, { who, title: data.title || (data.interest_id ? `#${data.interest_id}` : "") });
    // What the operator chose, as they chose it: the reason of a close, who a redirect
    // went to, and the comment (R25, R26).
    const context = this.context || {};
    let detail = "";
    if (m.system_kind === "closed" && data.reason_id) {
      const reason = (context.reasons || []).find((r) => r.id === data.reason_id);
      if (reason) detail += `: ${reason.name}`;
    }
    if (m.system_kind === "redirected" && data.to) {
      const to = data.to.user_id
        ? (context.users || []).find((u) => u.id === data.to.user_id)
        : (context.roles || []).find((r) => r.id === data.to.role_id);
      if (to) detail += ` → ${to.display_name || to.name}`;
    }
    const comment = data.comment ? ` — «${data.comment}»` : "";
    return `${data.automatic ? `${text} (${t("system.auto")})` : text}${detail}${comment}`;
  }

  bubble(m) {
    if (m.direction === "system") {
      const data = m.system_data || {};
      // A redirect's comment is a word to the colleague: shown as a note (R26, R42).
      if (m.system_kind === "redirected" && data.comment) {
        return h("li", { class: "bubble note redirect-note", dataset: { id: m.id } },
          h("div", { class: "note-mark" }, t("note.mark")),
          h("div", { class: "author" }, h("bdi", {}, this.systemText({ ...m, system_data: { ...data, comment: null } }))),
          h("div", { class: "text", dir: "auto" }, data.comment),
          h("div", { class: "foot" }, h("time", { datetime: m.created_at }, when(m.created_at))));
      }
      return h("li", { class: "system", dataset: { id: m.id } }, h("bdi", {}, this.systemText(m)), " · ",
        h("time", { datetime: m.created_at }, when(m.created_at)));
    }
    const attachments = (m.attachments || []).map((a) => {
      if (a.kind === "image") {
        // Opens in a lightbox over the page; the link still works in a new tab.
        return h("a", { class: "thumb", href: a.url, target: "_blank", rel: "noopener noreferrer",
          onclick: (event) => {
            if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
            event.preventDefault();
            lightbox(a.url, a.file_name || t("attachment.image"));
          } },
        h("img", { src: a.url, alt: a.file_name || t("attachment.image"), loading: "lazy" }));
      }
      if (a.kind === "link") {
        // Only http(s) links are clickable; anything else is shown as text.
        if (!/^https?:\/\//i.test(a.url || "")) return h("span", { class: "file" }, h("bdi", {}, a.file_name || a.url || ""));
        return h("a", { class: "file", href: a.url, target: "_blank", rel: "noopener noreferrer" }, h("bdi", {}, a.file_name || a.url));
      }
      return h("a", { class: "file", href: a.url, download: a.file_name }, h("bdi", {}, a.file_name));
    });
    // Delivery as ticks (R44): queued, sent, delivered, read; a failure says why and
    // offers to send the same message again.
    const delivery = m.direction === "out" && m.delivery
      ? h("span", { class: `delivery ${m.delivery}`, role: "img", "aria-label": t(`delivery.${m.delivery}`),
        title: m.delivery_error ? `${t(`delivery.${m.delivery}`)}: ${m.delivery_error}` : t(`delivery.${m.delivery}`) },
      TICKS[m.delivery] || "")
      : null;
    const retry = m.direction === "out" && m.delivery === "failed" && this.canWrite()
      ? h("button", { type: "button", class: "link retry", onclick: (event) => this.retry(m, event.currentTarget) }, t("delivery.retry"))
      : null;
    // Who wrote it: the operator of a reply, or the member of a group conversation.
    const author = (m.author && m.author.name) || (m.sender && m.sender.name);
    // A note is for colleagues only (R42): it says so, and the client never sees it.
    const note = m.direction === "note" ? h("div", { class: "note-mark" }, t("note.mark")) : null;
    return h("li", { class: `bubble ${m.direction}`, dataset: { id: m.id } },
      note,
      author ? h("div", { class: "author", dir: "auto" }, author) : null,
      ...extrasOf(m),
      m.deleted_at ? h("div", { class: "deleted" }, t(m.direction === "out" ? "content.deletedOurs" : "content.deleted")) : null,
      // R47: removed by the account's retention or when the client's data was erased.
      m.redacted_at ? h("div", { class: "deleted" }, t("content.redacted", { date: when(m.redacted_at) })) : null,
      m.text ? h("div", { class: "text", dir: "auto" }, linkified(m.text)) : null,
      attachments.length ? h("div", { class: "attachments" }, attachments) : null,
      h("div", { class: "foot" }, h("time", { datetime: m.created_at }, when(m.created_at)),
        m.edited_at ? h("span", { class: "edited", title: t("content.edited"), "aria-label": t("content.edited") }, "✎") : null, delivery,
        m.extras && m.extras.reaction
          ? h("span", { class: "reaction", title: t("content.reaction") }, m.extras.reaction)
          : null,
        m.delivery === "failed" && m.delivery_error ? h("span", { class: "delivery-error", title: m.delivery_error }, deliveryReason(m.delivery_error)) : null,
        retry,
        m.extras && m.extras.our_reaction
          ? h("span", { class: "reaction ours", title: t("content.ourReaction") }, m.extras.our_reaction)
          : null,
        ...this.changeButtons(m),
        ...this.reactButtons(m)));
  }

  /** Sends a failed reply again; its ticks start over from "queued". */
  async retry(m, button) {
    button.disabled = true;
    try {
      const message = await api.retryMessage(this.dialogId, m.id);
      this.store.applyDelivery({ dialog_id: this.dialogId, message_id: m.id, delivery: message.delivery, error: null });
    } catch (error) {
      button.disabled = false;
      failed(error);
    }
  }

  /**
   * A reaction to the client's message, where the channel lets a business react
   * (Telegram, WhatsApp): a button that opens the six reactions (and "take back").
   */
  reactButtons(m) {
    const row = this.store.rows.get(this.dialogId);
    const kind = row && row.account && row.account.kind;
    if (m.direction !== "in" || m.deleted_at || !REACTING.includes(kind) || !this.canWrite()) return [];
    const current = m.extras && m.extras.our_reaction;
    const choose = async (emoji) => {
      try {
        this.store.applyMessage(await api.react(this.dialogId, m.id, emoji));
      } catch (error) {
        failed(error);
      }
    };
    const picker = h("span", { class: "reaction-picker", hidden: true, role: "group", "aria-label": t("message.react") },
      REACTIONS.map((emoji) => h("button", { type: "button", class: "link", "aria-label": `${t("message.react")}: ${emoji}`,
        "aria-pressed": String(current === emoji), onclick: () => choose(emoji) }, emoji)),
      current ? h("button", { type: "button", class: "link", onclick: () => choose(null) }, t("message.unreact")) : null);
    const toggle = h("button", { type: "button", class: "link change", "aria-expanded": "false",
      onclick: () => {
        picker.hidden = !picker.hidden;
        toggle.setAttribute("aria-expanded", String(!picker.hidden));
        if (!picker.hidden) picker.querySelector("button").focus();
      } }, t("message.reactShort"));
    return [toggle, picker];
  }

  /**
   * Edit and delete for the operator's own reply once it reached a channel that allows
   * changing it (Telegram, VK); elsewhere nothing is offered.
   */
  changeButtons(m) {
    const me = this.context && this.context.me;
    const row = this.store.rows.get(this.dialogId);
    const kind = row && row.account && row.account.kind;
    const mine = m.direction === "out" && m.author && me && m.author.user_id === me.id;
    const reached = ["sent", "delivered", "read"].includes(m.delivery);
    if (!mine || !reached || m.deleted_at || !CHANGEABLE.includes(kind)) return [];
    const apply = (message) => this.store.applyMessage(message);
    const edit = () => modal({
      title: t("message.edit"),
      body: [field(t("message.text"), h("textarea", { name: "text", required: true, maxlength: "4096", rows: "4" }, m.text))],
      submit: async (data) => apply(await api.editMessage(this.dialogId, m.id, String(data.get("text")))),
    });
    const remove = () => modal({
      title: t("message.delete"),
      body: [h("p", {}, t("message.deleteExplained"))],
      submitLabel: t("message.deleteConfirm"),
      submit: async () => apply(await api.deleteMessage(this.dialogId, m.id)),
    });
    return [
      h("button", { type: "button", class: "link change", onclick: edit, "aria-label": t("message.edit") }, t("message.editShort")),
      h("button", { type: "button", class: "link change", onclick: remove, "aria-label": t("message.delete") }, t("message.deleteShort")),
    ];
  }
}

/** What a message holds besides text and files (R48): the message it answers, a place, a
 * contact card, a sticker, a poll, a dice roll, or the name of a kind not shown yet. */
/**
 * Another dialog with the client, read-only (R10, R34): a disclosure that loads its
 * messages when opened — through the client's card, so whoever may see the client may
 * read it, whatever their rights on its account — with nothing to act on.
 */
export function earlierDialog(clientId, dialog, context) {
  const summary = h("summary", {}, `${dialog.title} · ${dialog.account.name} · ${t(`status.${dialog.status}`)}`,
    dialog.last_message_at ? ` · ${when(dialog.last_message_at)}` : "");
  const body = h("div", { class: "earlier-feed" });
  const node = h("details", { class: "earlier-dialog", dataset: { id: dialog.id } }, summary, body);
  // The feed's own rendering, without its store: no edit, delete or reaction is offered.
  const shim = Object.assign(Object.create(Feed.prototype),
    { context, store: { rows: new Map() }, dialogId: dialog.id, canWrite: () => false });
  let loaded = false;
  const load = async (before) => {
    const page = await api.clientDialogMessages(clientId, dialog.id, before);
    const list = h("ol", { class: "feed readonly", "aria-label": t("dialog.readonly") }, page.items.map((m) => shim.bubble(m)));
    const older = page.next_cursor
      ? h("button", { type: "button", class: "link", onclick: () => { older.remove(); load(page.next_cursor).catch(failed); } }, t("list.more"))
      : null;
    body.prepend(...[older, list].filter(Boolean));
  };
  node.addEventListener("toggle", () => {
    if (node.open && !loaded) {
      loaded = true;
      body.append(h("p", { class: "hint" }, t("dialog.readonly")));
      load().catch(failed);
    }
  });
  return node;
}

/**
 * Why a reply failed, in the user's language (R44): the channels' usual refusals are
 * recognised; anything else is shown as the channel said it (the tooltip keeps the
 * original).
 */
function deliveryReason(text) {
  const known = [
    [/blocked the bot|unsubscribed|denied messages|bot was blocked|not subscribed/i, "delivery.why.blocked"],
    [/24.hour|24 hours|window has closed/i, "delivery.why.window"],
    [/too many requests|rate limit|flood/i, "delivery.why.rate"],
    [/file|too large|media/i, "delivery.why.file"],
    [/chat not found|user not found|peer_id|recipient/i, "delivery.why.nobody"],
  ];
  const found = known.find(([pattern]) => pattern.test(text));
  return found ? t(found[1]) : t("delivery.why.other", { reason: text });
}

/** The ticks of a reply's delivery (R44); their words are the label and the tooltip. */
const TICKS = { pending: "◷", sent: "✓", delivered: "✓✓", read: "✓✓", failed: "⚠" };

/** The channels where an operator may edit and delete a reply already sent. */
const CHANGEABLE = ["telegram", "vk", "max"];

/** The channels where a business may react to a client's message, and the reactions. */
const REACTING = ["telegram", "whatsapp"];
const REACTIONS = ["👍", "❤", "🔥", "🙏", "👌", "😁"];

/** The platforms' own names (the same in every language). */
const PLATFORMS = { vk: "VK", telegram: "Telegram", viber: "Viber", whatsapp: "WhatsApp", max: "MAX" };

function extrasOf(m) {
  const extras = m.extras || {};
  const quote = extras.quote
    ? h("blockquote", { class: "quote", dir: "auto" },
      extras.quote.author ? h("div", { class: "author" }, extras.quote.author) : null, extras.quote.text)
    : null;
  // Forwarded messages: who wrote each first, and its words (none on Telegram, where the
  // forwarded message is this one's own text).
  const forwarded = (extras.forwarded || []).map((f) =>
    h("blockquote", { class: "forwarded", dir: "auto" },
      h("div", { class: "author" }, "↪ ", f.from ? t("content.forwardedFrom", { from: f.from }) : t("content.forwarded")),
      f.text ? h("div", {}, linkified(f.text)) : null));
  const typedOn = extras.typed_on
    ? h("div", { class: "typed-on" }, t("content.typedOn", { platform: PLATFORMS[extras.typed_on] || extras.typed_on }))
    : null;
  const c = extras.content;
  if (!c) return [typedOn, ...forwarded, quote];
  let body = null;
  if (c.kind === "location") {
    const [lat, lon] = [Number(c.latitude), Number(c.longitude)];
    const place = [c.title, c.address].filter(Boolean).join(", ");
    const href = `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`;
    body = h("a", { class: "content location", href, target: "_blank", rel: "noopener noreferrer" },
      "📍 ", h("bdi", {}, place || `${lat.toFixed(5)}, ${lon.toFixed(5)}`));
  } else if (c.kind === "contact") {
    body = h("div", { class: "content contact" },
      h("div", { class: "name" }, "👤 ", h("bdi", {}, c.name || t("content.contact"))),
      (c.phones || []).map((p) => h("a", { href: `tel:${String(p).replace(/[^\d+]/g, "")}` }, p)),
      (c.emails || []).map((e) => h("a", { href: `mailto:${encodeURIComponent(e).replace("%40", "@")}` }, e)));
  } else if (c.kind === "sticker") {
    body = h("div", { class: "content sticker", role: "img", "aria-label": t("content.sticker") }, c.emoji || "🖼");
  } else if (c.kind === "poll") {
    body = h("div", { class: "content poll" }, h("div", { class: "question" }, "📊 ", h("bdi", {}, c.question)),
      h("ul", {}, (c.options || []).map((o) => h("li", { dir: "auto" }, o))));
  } else if (c.kind === "dice") {
    body = h("div", { class: "content dice" }, `${c.emoji} ${t("content.dice", { n: c.value })}`);
  } else {
    body = h("div", { class: "content unsupported" }, t("content.unsupported", { kind: c.platform_kind || c.kind }));
  }
  return [typedOn, ...forwarded, quote, body];
}
