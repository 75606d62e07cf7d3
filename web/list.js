// The list pane (R13–R18): the sections with their counters, search and filters, and the
// dialog list. Rows are keyed by dialog id and patched in place when their dialog
// changes; a live event moves a row to its new place or takes it out, never reloading
// the list; more rows load as the user scrolls; new rows arriving while the user reads
// further down are announced at the top ("N new"). One Tab stop for the whole list:
// ↑/↓ (or J/K) move, Enter opens.

import { h, when, failed } from "./lib.js";
import { settings as notifySettings, badge } from "./notify.js";
import { t } from "./i18n.js";
import * as api from "./api.js";
import { SECTION_STATUSES } from "./store.js";
import { presenceText } from "./presence.js";

const SECTIONS = ["new", "in_work", "all"];
const PAGE = 50;

export class ListPane {
  constructor(store, context, { onOpen }) {
    this.store = store;
    this.context = context;
    this.onOpen = onOpen;
    this.section = localStorage.getItem("dialogi.section") || "new";
    if (!SECTIONS.includes(this.section)) this.section = "new";
    this.filters = { q: "", account_id: "", user_id: "", department_id: "", closed: false, priority: false, all_operators: false };
    this.selected = null;
    this.nodes = new Map();
    this.seq = 0;
    this.node = this.build();
    store.on("list", (change) => this.onList(change));
    store.on("rows", (row) => this.patch(row.id));
    store.on("presence", (id) => this.patch(id));
    store.on("counters", (counters) => this.showCounters(counters));
  }

  build() {
    this.tabs = h("div", { class: "tabs", role: "tablist", "aria-label": t("nav.inbox") }, SECTIONS.map((section) =>
      h("button", {
        type: "button", role: "tab", dataset: { section },
        "aria-selected": String(section === this.section),
        onclick: () => this.setSection(section),
      }, t(`section.${section}`), " ", h("span", { class: "count", dataset: { counter: section } }, ""))));
    this.search = h("input", { type: "search", class: "search", placeholder: t("search"), "aria-label": t("search") });
    let timer = null;
    this.search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.setFilter("q", this.search.value.trim()), 300);
    });
    const select = (key, label, options) => {
      const node = h("select", { "aria-label": label }, h("option", { value: "" }, label),
        options.map(([value, text]) => h("option", { value }, text)));
      node.addEventListener("change", () => this.setFilter(key, node.value));
      return node;
    };
    const check = (key, label) => {
      const box = h("input", { type: "checkbox" });
      box.addEventListener("change", () => this.setFilter(key, box.checked));
      return h("label", { class: "check" }, box, label);
    };
    this.closedToggle = check("closed", t("filter.closed"));
    this.closedToggle.hidden = this.section !== "all";
    // "In work" is one's own (R13); a supervisor (an administrator of the program or of an
    // account) may look at every operator's.
    const me = this.context.me || {};
    this.supervisor = Boolean(me.is_admin) || this.context.accounts.some((a) => a.my_rights && a.my_rights.admin);
    this.everyoneToggle = check("all_operators", t("filter.allOperators"));
    this.everyoneToggle.hidden = !this.supervisor || this.section !== "in_work";
    const filters = h("details", { class: "filters-box" },
      h("summary", {}, t("filters")),
      h("div", { class: "filters" },
        select("account_id", t("filter.account"), this.context.accounts.map((a) => [a.id, a.name])),
        select("user_id", t("filter.user"), this.context.users.map((u) => [u.id, u.display_name])),
        select("department_id", t("filter.department"), (this.context.departments || []).map((d) => [d.id, d.name])),
        this.closedToggle, this.everyoneToggle, check("priority", t("filter.priority")),
        check("undelivered", t("filter.undelivered")),
        h("button", { type: "button", class: "link", onclick: () => notifySettings() }, t("notify.settings"))));
    this.above = h("button", { type: "button", class: "above", hidden: true, onclick: () => this.store.revealAbove() });
    this.staleNote = h("button", { type: "button", class: "above", hidden: true, onclick: () => this.load() }, t("list.refresh"));
    this.list = h("ul", { class: "dialog-list", role: "listbox", tabindex: "0", "aria-label": t("nav.inbox"),
      onkeydown: (event) => this.onKey(event) });
    this.sentinel = h("li", { class: "sentinel", "aria-hidden": "true" });
    this.more = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.load(true);
    }, { root: this.list, rootMargin: "400px" });
    return h("section", { class: "list-pane", "aria-label": t("nav.inbox") },
      this.tabs, this.search, filters, this.above, this.staleNote, this.list);
  }

  setSection(section) {
    this.section = section;
    localStorage.setItem("dialogi.section", section);
    for (const tab of this.tabs.children) tab.setAttribute("aria-selected", String(tab.dataset.section === section));
    this.closedToggle.hidden = section !== "all";
    this.everyoneToggle.hidden = !this.supervisor || section !== "in_work";
    this.load();
  }

  setFilter(key, value) {
    this.filters[key] = value;
    this.load();
  }

  query(more) {
    const f = this.filters;
    // A search looks through every section (R15): what is found may be new, in work or,
    // with "closed" on, closed.
    const params = { section: f.q ? "all" : this.section, limit: String(PAGE) };
    for (const key of ["q", "account_id", "user_id", "department_id"]) if (f[key]) params[key] = f[key];
    if (f.closed && (this.section === "all" || f.q)) params.closed = "true";
    if (f.all_operators && this.section === "in_work") params.all_operators = "true";
    if (f.priority) params.priority = "true";
    if (f.undelivered) params.undelivered = "true";
    if (more && this.store.list.cursor) params.cursor = this.store.list.cursor;
    return params;
  }

  key() {
    return JSON.stringify(this.query(false));
  }

  /** Loads the first page (or the next one): only the newest request fills the list. */
  async load(more = false) {
    if (more && (!this.store.list.cursor || this.loadingMore)) return;
    // A next page only of the list shown: after a switch its first page is on its way.
    const key = this.key();
    if (more && this.store.list.key !== key) return;
    const seq = ++this.seq;
    if (more) this.loadingMore = true;
    else this.list.setAttribute("aria-busy", "true");
    try {
      const page = await api.listDialogs(this.query(more));
      if (seq !== this.seq && !more) return;
      // A page of a list no longer wanted (the section or a filter changed meanwhile).
      if (key !== this.key()) return;
      this.store.putPage(key, page, more);
    } catch (e) {
      failed(e);
    } finally {
      if (more) this.loadingMore = false;
      else this.list.removeAttribute("aria-busy");
    }
    // The end of the list still in view (a tall window, a fast scroll): the observer
    // reports only changes, so the next page is asked for here.
    requestAnimationFrame(() => {
      const bottom = this.list.getBoundingClientRect().bottom + 400;
      if (this.store.list.cursor && this.sentinel.isConnected && this.sentinel.getBoundingClientRect().top < bottom) {
        this.load(true);
      }
    });
  }

  async loadCounters() {
    try {
      this.store.setCounters(await api.counters());
    } catch (e) {
      failed(e);
    }
  }

  /**
   * Whether a row belongs in the list as it is filtered: true/false, or null when only
   * the server can tell (a search, a department, the channel-priority order).
   */
  belongs(row) {
    const f = this.filters;
    if (f.q || f.department_id || f.priority) return null;
    const statuses = this.section === "all" && f.closed
      ? [...SECTION_STATUSES.all, "closed"]
      : SECTION_STATUSES[this.section];
    if (!statuses.includes(row.status)) return false;
    const me = this.context.me || {};
    if (this.section === "in_work" && !f.all_operators && row.responsible.user_id !== me.id) return false;
    if (f.account_id && String(row.account.id) !== String(f.account_id)) return false;
    if (f.user_id && String(row.responsible.user_id) !== String(f.user_id)) return false;
    if (f.undelivered && !row.undelivered) return false;
    return true;
  }

  atTop() {
    return this.list.scrollTop < 8;
  }

  /** The first row in view (not `except`) and where it is: kept in place across a change. */
  anchor(except) {
    const top = this.list.scrollTop;
    for (const [id, node] of this.nodes) {
      if (id !== except && node.isConnected && node.offsetTop + node.offsetHeight > top) {
        return { node, offset: node.offsetTop - top };
      }
    }
    return null;
  }

  onList(change) {
    const ids = this.store.list.ids;
    if (change.reset || change.revealed) {
      this.nodes.clear();
      this.list.scrollTop = 0;
    }
    // What the reader looks at stays where it is, whatever moved above it.
    const anchor = !change.reset && !change.revealed && this.list.scrollTop > 0
      ? this.anchor(change.moved || change.added)
      : null;
    // Keyed: each id keeps its node; only missing ones are made, and nodes are moved
    // only where the order changed (the browser keeps the scroll anchored).
    const wanted = ids.map((id) => this.node_(id));
    let cursor = this.list.firstElementChild;
    for (const node of wanted) {
      if (node === cursor) {
        cursor = cursor.nextElementSibling;
      } else {
        this.list.insertBefore(node, cursor);
      }
    }
    while (cursor) {
      const next = cursor.nextElementSibling;
      if (cursor !== this.sentinel) cursor.remove();
      cursor = next;
    }
    for (const [id, node] of this.nodes) {
      if (!ids.includes(id)) {
        node.remove();
        this.nodes.delete(id);
      }
    }
    if (!ids.length) {
      this.list.append(h("li", { class: "empty" }, this.filters.q ? t("search.empty") : t("list.empty")));
    }
    this.list.append(this.sentinel);
    if (this.store.list.cursor) this.more.observe(this.sentinel);
    else this.more.unobserve(this.sentinel);
    const above = this.store.list.above.size;
    this.above.hidden = !above;
    this.above.textContent = t("list.new_above", { n: above });
    this.staleNote.hidden = !this.store.list.stale;
    if (anchor && anchor.node.isConnected) this.list.scrollTop = anchor.node.offsetTop - anchor.offset;
    this.markSelected();
  }

  node_(id) {
    let node = this.nodes.get(id);
    if (!node) {
      node = this.makeRow(id);
      this.nodes.set(id, node);
    }
    return node;
  }

  makeRow(id) {
    const node = h("li", { class: "dialog-item", role: "option", id: `dialog-item-${id}`, dataset: { id },
      onclick: () => this.onOpen(id) },
    h("div", { class: "line1" }, h("bdi", { class: "name" }),
      h("span", { class: "undelivered-mark", role: "img", "aria-label": t("list.undelivered"), title: t("list.undelivered"), hidden: true }, "⚠"),
      h("time", {})),
    h("div", { class: "line2" }, h("span", { class: "channel" }), " · ", h("bdi", { class: "title" }), " ",
      h("span", { class: "status" }), h("span", { class: "who" }), h("span", { class: "presence-mark", hidden: true })),
    h("div", { class: "preview", dir: "auto" }));
    this.fill(node, id);
    return node;
  }

  /** Writes a row's data into its node (no node is rebuilt). */
  fill(node, id) {
    const row = this.store.rows.get(id);
    if (!row) return;
    const set = (selector, text) => {
      const el = node.querySelector(selector);
      if (el.textContent !== text) el.textContent = text;
    };
    // What a search found is marked in the name, the title and the preview (R15).
    const words = searchWords(this.filters.q);
    const marked = (selector, text) => {
      const el = node.querySelector(selector);
      const key = words.join(" ");
      if (el.textContent === text && (el.dataset.marked || "") === key) return;
      el.dataset.marked = key;
      el.replaceChildren(...highlighted(text || "", words));
    };
    marked(".name", row.interlocutor.name);
    const time = node.querySelector("time");
    time.dateTime = row.last_message_at || "";
    set("time", when(row.last_message_at));
    const channel = node.querySelector(".channel");
    channel.className = `channel ${row.account.kind}`;
    set(".channel", row.account.name);
    marked(".title", row.title);
    const status = node.querySelector(".status");
    status.className = `status ${row.status}`;
    set(".status", t(`status.${row.status}`));
    set(".who", row.responsible.user_name ? ` · ${row.responsible.user_name}` : "");
    // Redirected to me and waiting for me to take it (R26).
    const me = this.context.me || {};
    const toMe = row.status === "returned" && (row.responsible.user_id === me.id
      || (row.responsible.role_id != null && (me.role_ids || []).includes(row.responsible.role_id)));
    node.classList.toggle("to-me", toMe);
    if (toMe) set(".status", t("status.toYou"));
    marked(".preview", row.last_message_preview);
    node.classList.toggle("unread", this.store.unread(id));
    // A reply that failed and was not sent again (R44).
    node.querySelector(".undelivered-mark").hidden = !row.undelivered;
    node.classList.toggle("undelivered", Boolean(row.undelivered));
    // A colleague is here (R46): "Борис смотрит".
    const viewers = this.store.viewers(id);
    const mark = node.querySelector(".presence-mark");
    const here = presenceText(t, viewers);
    mark.hidden = !here;
    set(".presence-mark", here ? ` · ${here}` : "");
    mark.classList.toggle("typing", [...viewers.values()].some((v) => v.activity === "typing"));
  }

  patch(id) {
    const node = this.nodes.get(id);
    if (node) this.fill(node, id);
  }

  select(id) {
    this.selected = id;
    this.markSelected();
  }

  markSelected() {
    for (const [id, node] of this.nodes) {
      const on = id === this.selected;
      node.classList.toggle("selected", on);
      node.setAttribute("aria-selected", String(on));
    }
    const current = this.focusId();
    if (current) this.list.setAttribute("aria-activedescendant", `dialog-item-${current}`);
    else this.list.removeAttribute("aria-activedescendant");
  }

  focusId() {
    const ids = this.store.list.ids;
    if (this.cursorId && ids.includes(this.cursorId)) return this.cursorId;
    if (this.selected && ids.includes(this.selected)) return this.selected;
    return ids[0] || null;
  }

  /** ↑/↓ and J/K move the cursor through the list, Enter opens the row under it. */
  onKey(event) {
    const ids = this.store.list.ids;
    if (!ids.length) return;
    const at = Math.max(0, ids.indexOf(this.focusId()));
    let next = null;
    if (event.key === "ArrowDown" || event.key === "j") next = Math.min(ids.length - 1, at + 1);
    else if (event.key === "ArrowUp" || event.key === "k") next = Math.max(0, at - 1);
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = ids.length - 1;
    else if (event.key === "Enter") {
      event.preventDefault();
      this.onOpen(ids[at]);
      return;
    }
    if (next === null) return;
    event.preventDefault();
    this.cursorId = ids[next];
    for (const [id, node] of this.nodes) node.classList.toggle("cursor", id === this.cursorId);
    this.markSelected();
    const node = this.nodes.get(this.cursorId);
    if (node) node.scrollIntoView({ block: "nearest" });
  }

  focus() {
    this.list.focus();
  }

  showCounters(counters) {
    for (const section of SECTIONS) {
      const badge = this.tabs.querySelector(`[data-counter="${section}"]`);
      const text = counters[section] ? String(counters[section]) : "";
      if (badge.textContent !== text) badge.textContent = text;
    }
    document.title = counters.new ? `(${counters.new}) ${t("app.title")}` : t("app.title");
    badge(counters.new || 0);
  }
}

/** The words of a search worth marking (two letters or more), lower case. */
function searchWords(q) {
  return String(q || "").toLowerCase().split(/\s+/).filter((w) => w.length > 1);
}

/** `text` as nodes, each occurrence of a word wrapped in <mark>. */
function highlighted(text, words) {
  if (!words.length || !text) return [text];
  const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const parts = text.split(new RegExp(`(${escaped.join("|")})`, "gi"));
  return parts.filter(Boolean).map((part) => (words.includes(part.toLowerCase()) ? h("mark", {}, part) : part));
}
