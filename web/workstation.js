// The operator's workstation (R12–R35): the dialog list with its sections, counters,
// search and filters on the left; the selected dialog with its header, actions, messages
// and the composer on the right. It follows the live stream: new messages, status
// changes, delivery states and counters appear without a reload.

import { h, api, when, toast, failed, modal, field, base64Of } from "./lib.js";
import { t } from "./i18n.js";

const SECTIONS = ["new", "in_work", "all"];
const PAGE = 50;

export class Workstation {
  constructor(context) {
    this.context = context;
    this.section = localStorage.getItem("dialogi.section") || "new";
    this.filters = { q: "", account_id: "", user_id: "", department_id: "", closed: false, priority: false };
    this.items = [];
    this.cursor = null;
    this.selected = null;
    this.detail = null;
    this.messages = [];
    this.pendingFiles = [];
    this.known = new Set();
    this.listTimer = null;
    this.page = null;
    window.addEventListener("dialogi:live", (event) => this.onLive(event.detail));
    document.addEventListener("keydown", (event) => this.onKey(event));
  }

  /** Renders into `page`, with `dialogId` open (or none). */
  show(page, dialogId) {
    if (this.page !== page || !page.querySelector(".workstation")) {
      this.page = page;
      this.build();
      this.loadList();
      this.loadCounters();
    }
    if (dialogId !== this.selected) this.open(dialogId);
  }

  build() {
    const width = Number(localStorage.getItem("dialogi.split")) || 380;
    this.listPane = h("section", { class: "list-pane", "aria-label": t("nav.inbox") });
    this.listPane.style.width = `${width}px`;
    const splitter = h("div", { class: "splitter", role: "separator", "aria-orientation": "vertical", tabindex: "0" });
    this.dialogPane = h("section", { class: "dialog-pane", "aria-live": "polite" });
    splitter.addEventListener("pointerdown", (event) => this.drag(event, splitter));
    this.page.replaceChildren(h("div", { class: "workstation" }, this.listPane, splitter, this.dialogPane));
    this.buildListPane();
    this.renderDialog();
  }

  drag(event, splitter) {
    splitter.setPointerCapture(event.pointerId);
    const startX = event.clientX;
    const startWidth = this.listPane.getBoundingClientRect().width;
    const move = (e) => {
      const width = Math.max(260, Math.min(window.innerWidth - 360, startWidth + e.clientX - startX));
      this.listPane.style.width = `${width}px`;
    };
    const up = () => {
      splitter.removeEventListener("pointermove", move);
      localStorage.setItem("dialogi.split", String(Math.round(this.listPane.getBoundingClientRect().width)));
    };
    splitter.addEventListener("pointermove", move);
    splitter.addEventListener("pointerup", up, { once: true });
  }

  buildListPane() {
    this.tabs = h("div", { class: "tabs", role: "tablist" }, SECTIONS.map((section) =>
      h("button", {
        type: "button", role: "tab", dataset: { section },
        "aria-selected": String(section === this.section),
        onclick: () => this.setSection(section),
      }, t(`section.${section}`), " ", h("span", { class: "count", dataset: { counter: section } }, ""))));
    const search = h("input", { type: "search", class: "search", placeholder: t("search"), "aria-label": t("search") });
    let timer = null;
    search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        this.filters.q = search.value.trim();
        this.loadList();
      }, 300);
    });
    const accountSelect = h("select", { "aria-label": t("filter.account") },
      h("option", { value: "" }, t("filter.account")),
      this.context.accounts.map((a) => h("option", { value: a.id }, a.name)));
    accountSelect.addEventListener("change", () => {
      this.filters.account_id = accountSelect.value;
      this.loadList();
    });
    const userSelect = h("select", { "aria-label": t("filter.user") },
      h("option", { value: "" }, t("filter.user")),
      this.context.users.map((u) => h("option", { value: u.id }, u.display_name)));
    userSelect.addEventListener("change", () => {
      this.filters.user_id = userSelect.value;
      this.loadList();
    });
    const departmentSelect = h("select", { "aria-label": t("filter.department") },
      h("option", { value: "" }, t("filter.department")),
      (this.context.departments || []).map((d) => h("option", { value: d.id }, d.name)));
    departmentSelect.addEventListener("change", () => {
      this.filters.department_id = departmentSelect.value;
      this.loadList();
    });
    const check = (key, label) => {
      const box = h("input", { type: "checkbox" });
      box.addEventListener("change", () => {
        this.filters[key] = box.checked;
        this.loadList();
      });
      return h("label", { class: "check" }, box, label);
    };
    this.closedToggle = check("closed", t("filter.closed"));
    this.list = h("ul", { class: "dialog-list", role: "listbox", "aria-label": t("nav.inbox") });
    this.more = h("button", { type: "button", class: "secondary more", hidden: true, onclick: () => this.loadList(true) }, t("list.more"));
    const notify = h("input", { type: "checkbox", checked: localStorage.getItem("dialogi.notify") === "on" });
    notify.addEventListener("change", async () => {
      if (notify.checked && "Notification" in window && Notification.permission === "default") {
        await Notification.requestPermission();
      }
      localStorage.setItem("dialogi.notify", notify.checked ? "on" : "off");
    });
    this.listPane.replaceChildren(this.tabs, search,
      h("div", { class: "filters" }, accountSelect, userSelect, departmentSelect, this.closedToggle, check("priority", t("filter.priority")),
        h("label", { class: "check" }, notify, t("notify.enable"))),
      this.list, this.more);
    this.closedToggle.hidden = this.section !== "all";
  }

  setSection(section) {
    this.section = section;
    localStorage.setItem("dialogi.section", section);
    for (const tab of this.tabs.children) tab.setAttribute("aria-selected", String(tab.dataset.section === section));
    this.closedToggle.hidden = section !== "all";
    this.loadList();
  }

  query(more) {
    const params = new URLSearchParams({ section: this.section, limit: String(PAGE) });
    const f = this.filters;
    if (f.q) params.set("q", f.q);
    if (f.account_id) params.set("account_id", f.account_id);
    if (f.user_id) params.set("user_id", f.user_id);
    if (f.department_id) params.set("department_id", f.department_id);
    if (f.closed && this.section === "all") params.set("closed", "true");
    if (f.priority) params.set("priority", "true");
    if (more && this.cursor) params.set("cursor", this.cursor);
    return `/api/v1/dialogs?${params}`;
  }

  async loadList(more = false) {
    if (!more) this.list.setAttribute("aria-busy", "true");
    // Only the newest request may fill the list: an older answer that arrives late (a
    // search typed over, a section left) is dropped.
    const seq = (this.listSeq = (this.listSeq || 0) + 1);
    try {
      const page = await api("GET", this.query(more));
      if (seq !== this.listSeq) return;
      this.items = more ? this.items.concat(page.items) : page.items;
      this.cursor = page.next_cursor;
      for (const item of page.items) this.known.add(item.id);
      this.renderList();
    } catch (e) {
      failed(e);
    } finally {
      this.list.removeAttribute("aria-busy");
    }
  }

  /** Reloads the list soon (several events in a burst cost one request). */
  refreshList() {
    clearTimeout(this.listTimer);
    this.listTimer = setTimeout(() => this.loadList(), 250);
  }

  renderList() {
    if (!this.items.length) {
      this.list.replaceChildren(h("li", { class: "empty" }, t("list.empty")));
    } else {
      this.list.replaceChildren(...this.items.map((item) => this.listItem(item)));
    }
    this.more.hidden = !this.cursor;
  }

  listItem(item) {
    const li = h("li", {
      class: `dialog-item${item.unread ? " unread" : ""}${item.id === this.selected ? " selected" : ""}`,
      role: "option", tabindex: "0", "aria-selected": String(item.id === this.selected),
      dataset: { id: item.id },
      onclick: () => { location.hash = `#/dialogs/${item.id}`; },
      onkeydown: (e) => { if (e.key === "Enter") location.hash = `#/dialogs/${item.id}`; },
    },
      h("div", { class: "line1" },
        h("span", { class: "name" }, item.interlocutor.name),
        h("time", { datetime: item.last_message_at || "" }, when(item.last_message_at))),
      h("div", { class: "line2" },
        h("span", { class: `channel ${item.account.kind}` }, item.account.name),
        " · ", h("span", { class: "title" }, item.title),
        " ", h("span", { class: `status ${item.status}` }, t(`status.${item.status}`))),
      h("div", { class: "preview" }, item.last_message_preview));
    return li;
  }

  async loadCounters() {
    try {
      this.showCounters(await api("GET", "/api/v1/dialogs/counters"));
    } catch (e) {
      failed(e);
    }
  }

  showCounters(counters) {
    for (const section of SECTIONS) {
      const badge = this.tabs && this.tabs.querySelector(`[data-counter="${section}"]`);
      if (badge) badge.textContent = counters[section] ? String(counters[section]) : "";
    }
    document.title = counters.new ? `(${counters.new}) ${t("app.title")}` : t("app.title");
  }

  // ------------------------------------------------------------------ the dialog

  async open(id) {
    this.selected = id;
    this.dialogSeq = (this.dialogSeq || 0) + 1;
    this.pendingFiles = [];
    for (const li of this.list ? this.list.children : []) {
      const on = Number(li.dataset.id) === id;
      li.classList.toggle("selected", on);
      li.setAttribute("aria-selected", String(on));
    }
    if (!id) {
      this.detail = null;
      this.renderDialog();
      return;
    }
    try {
      const [detail, feed] = await Promise.all([
        api("GET", `/api/v1/dialogs/${id}`),
        api("GET", `/api/v1/dialogs/${id}/messages?limit=200`),
      ]);
      if (this.selected !== id) return;
      this.detail = { dialog: detail, actions: detail.actions, require_close_reason: detail.require_close_reason, window: detail.reply_window_closes_at };
      this.messages = feed.items;
      this.interestTitle = null;
      this.renderDialog();
      this.markRead();
      if (detail.interest_id) {
        api("GET", `/api/v1/interests/${detail.interest_id}`).then((found) => {
          this.interestTitle = found.interest.title;
          this.renderHeader();
        }, () => {});
      }
    } catch (e) {
      failed(e);
      this.detail = null;
      this.renderDialog();
    }
  }

  async reloadDialog() {
    const id = this.selected;
    if (!id) return;
    // As for the list: only the newest reload may draw the dialog.
    const seq = (this.dialogSeq = (this.dialogSeq || 0) + 1);
    try {
      const [detail, feed] = await Promise.all([
        api("GET", `/api/v1/dialogs/${id}`),
        api("GET", `/api/v1/dialogs/${id}/messages?limit=200`),
      ]);
      if (this.selected !== id || seq !== this.dialogSeq) return;
      this.detail = { dialog: detail, actions: detail.actions, require_close_reason: detail.require_close_reason, window: detail.reply_window_closes_at };
      this.messages = feed.items;
      this.renderHeader();
      this.renderToolbar();
      this.renderMessages();
      this.renderComposer();
    } catch (e) {
      failed(e);
    }
  }

  markRead() {
    const last = [...this.messages].reverse().find((m) => m.direction === "in");
    if (!last || !this.detail || !this.detail.dialog.unread) return;
    api("POST", `/api/v1/dialogs/${this.selected}/read`, { up_to_message_id: last.id }).then(() => {
      const item = this.items.find((i) => i.id === this.selected);
      if (item) {
        item.unread = false;
        this.renderList();
      }
    }, () => {});
  }

  renderDialog() {
    if (!this.dialogPane) return;
    if (!this.detail) {
      this.dialogPane.replaceChildren(h("div", { class: "placeholder" }, t("dialog.none")));
      return;
    }
    this.header = h("div", { class: "dialog-header" });
    this.toolbar = h("div", { class: "toolbar", role: "toolbar" });
    this.feed = h("ol", { class: "feed", "aria-label": this.detail.dialog.title });
    this.composer = h("form", { class: "composer" });
    this.dialogPane.replaceChildren(this.header, this.toolbar, this.feed, this.composer);
    this.renderHeader();
    this.renderToolbar();
    this.renderMessages();
    this.renderComposer();
  }

  renderHeader() {
    if (!this.header || !this.detail) return;
    const d = this.detail.dialog;
    const earlier = h("div", { class: "earlier", hidden: true });
    const withClient = d.client && d.dialogs_with_client > 1
      ? h("button", { type: "button", class: "link", onclick: () => this.toggleEarlier(earlier, d) },
        t("dialog.with_client", { n: d.dialogs_with_client }))
      : null;
    const interest = d.interest_id
      ? h("a", { class: "interest", href: `#/dialogs/${d.id}`, title: t("action.link") },
        t("dialog.interest", { title: this.interestTitle || `#${d.interest_id}` }))
      : null;
    this.header.replaceChildren(
      h("div", { class: "who" },
        h("h2", {}, d.interlocutor.name,
          d.client ? h("a", { class: "client-link", href: `#/clients/${d.client.id}` }, t("client.card")) : null),
        h("div", { class: "meta" },
          h("span", { class: `channel ${d.account.kind}` }, d.account.name), " · ",
          h("span", { class: "title" }, d.title), " · ",
          h("span", { class: `status ${d.status}` }, t(`status.${d.status}`)),
          d.responsible.user_name ? ` · ${d.responsible.user_name}` : "",
          d.is_lead ? h("span", { class: "badge" }, "lead") : null),
        withClient, earlier),
      ...(interest ? [interest] : []));
  }

  async toggleEarlier(box, d) {
    box.hidden = !box.hidden;
    if (box.hidden || box.childElementCount) return;
    try {
      const list = await api("GET", `/api/v1/clients/${d.client.id}/dialogs`);
      box.replaceChildren(h("h3", {}, t("dialog.earlier")), h("ul", {}, list.filter((x) => x.id !== d.id).map((x) =>
        h("li", {}, h("a", { href: `#/dialogs/${x.id}` }, `${x.title} · ${x.account.name} · ${t(`status.${x.status}`)} · ${when(x.last_message_at)}`)))));
    } catch (e) {
      failed(e);
    }
  }

  actions() {
    const a = this.detail.actions;
    const d = this.detail.dialog;
    return [
      { key: "a", id: "accept", enabled: a.accept, run: () => this.act("accept") },
      { key: "l", id: "lead", enabled: a.accept_lead && d.is_lead, run: () => this.leadWizard() },
      { key: "i", id: "link", enabled: a.link_interest, run: () => this.linkInterest() },
      { key: "r", id: "redirect", enabled: a.redirect, run: () => this.redirect() },
      { key: "c", id: "close", enabled: a.close, run: () => this.closeDialog() },
      { key: "n", id: "rename", enabled: a.rename, run: () => this.rename() },
      { key: "t", id: "task", enabled: d.status !== "closed", run: () => this.task() },
      { key: "o", id: "site", enabled: true, run: () => this.openSite() },
      { key: "f", id: "fetch", enabled: true, run: () => this.fetchNow() },
      { key: "s", id: "search", enabled: Boolean(d.client), run: () => this.searchClient() },
      { key: "g", id: "gallery", enabled: Boolean(d.client), run: () => this.gallery() },
    ];
  }

  renderToolbar() {
    if (!this.toolbar || !this.detail) return;
    this.toolbar.replaceChildren(...this.actions().map((action) => h("button", {
      type: "button", class: "tool", disabled: !action.enabled, dataset: { action: action.id },
      title: `${t(`action.${action.id}`)} (Alt+${action.key.toUpperCase()})`,
      "aria-keyshortcuts": `Alt+${action.key.toUpperCase()}`,
      onclick: action.run,
    }, t(`action.${action.id}`))));
  }

  onKey(event) {
    if (!event.altKey || !this.detail || !this.page || !this.page.contains(this.dialogPane)) return;
    const action = this.actions().find((a) => a.key === event.key.toLowerCase());
    if (action && action.enabled) {
      event.preventDefault();
      action.run();
    }
  }

  renderMessages() {
    if (!this.feed) return;
    const atBottom = this.feed.scrollHeight - this.feed.scrollTop - this.feed.clientHeight < 60;
    this.feed.replaceChildren(...this.messages.map((m) => this.messageItem(m)));
    if (atBottom || !this.feed.dataset.scrolled) {
      this.feed.scrollTop = this.feed.scrollHeight;
      this.feed.dataset.scrolled = "1";
    }
  }

  systemText(m) {
    const data = m.system_data || {};
    const who = m.author ? m.author.name : t("system.someone");
    if (m.system_kind === "rule") {
      const results = (data.actions || []).map((a) => `${a.action}${a.ok ? "" : ` ✗ ${a.error}`}`).join(", ");
      return `${t("system.rule", { name: data.name || "" })}${results ? `: ${results}` : ""}${data.error ? ` ✗ ${data.error}` : ""}`;
    }
    const text = t(`system.${m.system_kind}`, { who, title: data.title || (data.interest_id ? `#${data.interest_id}` : "") });
    return data.automatic ? `${text} (${t("system.auto")})` : text;
  }

  messageItem(m) {
    if (m.direction === "system") {
      return h("li", { class: "system", dataset: { id: m.id } }, this.systemText(m), " · ", h("time", {}, when(m.created_at)));
    }
    const attachments = (m.attachments || []).map((a) => {
      if (a.kind === "image") {
        return h("a", { class: "thumb", href: a.url, target: "_blank", rel: "noopener" },
          h("img", { src: a.url, alt: a.file_name, loading: "lazy" }));
      }
      if (a.kind === "link") {
        // Only http(s) links are clickable; anything else is shown as text.
        if (!/^https?:\/\//i.test(a.url || "")) return h("span", { class: "file" }, h("bdi", {}, a.file_name || a.url || ""));
        return h("a", { class: "file", href: a.url, target: "_blank", rel: "noopener noreferrer" }, h("bdi", {}, a.file_name || a.url));
      }
      return h("a", { class: "file", href: a.url, download: a.file_name }, h("bdi", {}, a.file_name));
    });
    const delivery = m.direction === "out" && m.delivery
      ? h("span", { class: `delivery ${m.delivery}`, title: m.delivery_error || "" }, t(`delivery.${m.delivery}`))
      : null;
    // Who wrote it: the operator of a reply, or the member of a group conversation.
    const author = (m.author && m.author.name) || (m.sender && m.sender.name);
    return h("li", { class: `bubble ${m.direction}`, dataset: { id: m.id } },
      author ? h("div", { class: "author", dir: "auto" }, author) : null,
      m.text ? h("div", { class: "text", dir: "auto" }, m.text) : null,
      attachments.length ? h("div", { class: "attachments" }, attachments) : null,
      h("div", { class: "foot" }, h("time", {}, when(m.created_at)), m.edited_at ? " ✎" : "", delivery,
        m.delivery === "failed" && m.delivery_error ? h("span", { class: "delivery-error" }, m.delivery_error) : null));
  }

  renderComposer() {
    if (!this.composer || !this.detail) return;
    const d = this.detail.dialog;
    if (d.status === "closed") {
      this.composer.replaceChildren();
      this.composer.hidden = true;
      return;
    }
    this.composer.hidden = false;
    if (!this.detail.actions.reply) {
      this.composer.replaceChildren(h("p", { class: "readonly" }, t("composer.readonly")));
      return;
    }
    const closes = this.detail.window ? new Date(this.detail.window) : null;
    const windowNote = closes
      ? h("p", { class: closes < new Date() ? "window closed" : "window" },
        closes < new Date() ? t("composer.window_closed") : t("composer.window_open", { time: when(this.detail.window) }))
      : null;
    const text = h("textarea", { name: "text", rows: "3", placeholder: t("composer.placeholder"), "aria-label": t("composer.placeholder") });
    const files = h("input", { type: "file", multiple: true, hidden: true });
    const chips = h("div", { class: "chips" });
    const showChips = () => chips.replaceChildren(...this.pendingFiles.map((file, i) =>
      h("span", { class: "chip" }, file.name, h("button", { type: "button", class: "link", "aria-label": t("cancel"),
        onclick: () => { this.pendingFiles.splice(i, 1); showChips(); } }, "×"))));
    files.addEventListener("change", () => {
      this.pendingFiles.push(...files.files);
      files.value = "";
      showChips();
    });
    text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.composer.requestSubmit();
      }
    });
    this.composer.onsubmit = async (event) => {
      event.preventDefault();
      const body = { text: text.value };
      if (!body.text.trim() && !this.pendingFiles.length) return;
      try {
        body.attachments = await Promise.all(this.pendingFiles.map(async (file) => ({
          file_name: file.name, mime_type: file.type || null, content_base64: await base64Of(file),
        })));
        text.disabled = true;
        await api("POST", `/api/v1/dialogs/${this.selected}/messages`, body);
        text.value = "";
        this.pendingFiles = [];
        showChips();
        await this.reloadDialog();
      } catch (e) {
        failed(e);
      } finally {
        text.disabled = false;
        text.focus();
      }
    };
    this.composer.replaceChildren(...(windowNote ? [windowNote] : []), chips, h("div", { class: "compose-row" },
      h("button", { type: "button", class: "tool", title: t("composer.attach"), "aria-label": t("composer.attach"), onclick: () => files.click() }, t("composer.file")),
      files, text, h("button", { type: "submit", class: "primary" }, t("composer.send"))));
  }

  // ------------------------------------------------------------------ actions

  async act(path, body = {}) {
    try {
      await api("POST", `/api/v1/dialogs/${this.selected}/${path}`, body);
      await this.reloadDialog();
      this.refreshList();
    } catch (e) {
      failed(e);
    }
  }

  closeDialog() {
    const required = this.detail.require_close_reason;
    const reasons = this.context.reasons.filter((r) => !r.archived);
    const select = h("select", { name: "reason_id", required },
      required ? null : h("option", { value: "" }, t("close.none")),
      reasons.map((r) => h("option", { value: r.id, selected: r.is_default && required }, r.name)));
    modal({
      title: t("action.close"),
      submitLabel: t("action.close"),
      body: [field(t("close.reason"), select), field(t("close.comment"), h("textarea", { name: "comment", rows: "2" }))],
      submit: async (data) => {
        const body = {};
        if (data.get("reason_id")) body.reason_id = Number(data.get("reason_id"));
        if (data.get("comment")) body.comment = data.get("comment");
        await api("POST", `/api/v1/dialogs/${this.selected}/close`, body);
        await this.reloadDialog();
        this.refreshList();
      },
    });
  }

  redirect() {
    const select = h("select", { name: "to", required: true },
      h("optgroup", { label: t("redirect.user") }, this.context.users.filter((u) => !u.disabled).map((u) =>
        h("option", { value: `user:${u.id}` }, u.display_name))),
      h("optgroup", { label: t("redirect.role") }, this.context.roles.map((r) =>
        h("option", { value: `role:${r.id}` }, r.name))));
    modal({
      title: t("action.redirect"),
      submitLabel: t("action.redirect"),
      body: [field(t("redirect.to"), select), field(t("close.comment"), h("textarea", { name: "comment", rows: "2" }))],
      submit: async (data) => {
        const [kind, id] = String(data.get("to")).split(":");
        const body = kind === "user" ? { user_id: Number(id) } : { role_id: Number(id) };
        if (data.get("comment")) body.comment = data.get("comment");
        await api("POST", `/api/v1/dialogs/${this.selected}/redirect`, body);
        await this.reloadDialog();
        this.refreshList();
      },
    });
  }

  rename() {
    const d = this.detail.dialog;
    modal({
      title: t("action.rename"),
      body: [field(t("rename.title"), h("input", { name: "title", value: d.custom_title ? d.title : "", maxlength: "300" }))],
      submit: async (data) => {
        const title = String(data.get("title")).trim();
        await api("PATCH", `/api/v1/dialogs/${this.selected}`, { title: title || null });
        await this.reloadDialog();
        this.refreshList();
      },
    });
  }

  leadWizard() {
    modal({
      title: t("action.lead"),
      submitLabel: t("action.lead"),
      body: [
        field(t("lead.title"), h("input", { name: "title", required: true, maxlength: "300", value: this.detail.dialog.last_message_preview.slice(0, 80) })),
        field(t("lead.description"), h("textarea", { name: "description", rows: "3" })),
        h("div", { class: "row" },
          field(t("lead.amount"), h("input", { name: "amount", type: "number", min: "0", step: "0.01" })),
          field(t("lead.currency"), h("input", { name: "currency", value: "RUB", maxlength: "3", pattern: "[A-Z]{3}" }))),
      ],
      submit: async (data) => {
        const body = { title: data.get("title"), description: data.get("description") || "" };
        if (data.get("amount")) {
          body.amount_minor = Math.round(Number(data.get("amount")) * 100);
          body.currency = data.get("currency");
        }
        await api("POST", `/api/v1/dialogs/${this.selected}/lead`, body);
        await this.reloadDialog();
        this.refreshList();
      },
    });
  }

  async linkInterest() {
    const client = this.detail.dialog.client;
    try {
      const interests = await api("GET", `/api/v1/interests?client_id=${client.id}&status=active`);
      if (!interests.length) {
        toast(t("link.none"));
        return;
      }
      modal({
        title: t("action.link"),
        body: [field(t("link.interest"), h("select", { name: "interest_id" }, interests.map((i) =>
          h("option", { value: i.id, selected: i.id === this.detail.dialog.interest_id }, i.title))))],
        submit: async (data) => {
          await api("PUT", `/api/v1/dialogs/${this.selected}/interest`, { interest_id: Number(data.get("interest_id")) });
          await this.reloadDialog();
        },
      });
    } catch (e) {
      failed(e);
    }
  }

  task() {
    const me = this.context.me.id;
    const assignees = h("select", { name: "assignee_ids", multiple: true, size: "5" },
      this.context.users.filter((u) => !u.disabled && u.id !== me).map((u) => h("option", { value: u.id }, u.display_name)));
    const kind = h("select", { name: "kind" },
      h("option", { value: "personal" }, t("task.personal")),
      h("option", { value: "assignment" }, t("task.assignment")));
    const assigneeField = field(t("task.assignees"), assignees);
    assigneeField.hidden = true;
    kind.addEventListener("change", () => { assigneeField.hidden = kind.value !== "assignment"; });
    modal({
      title: t("action.task"),
      body: [field(t("task.kind"), kind), field(t("task.title"), h("input", { name: "title", required: true, maxlength: "300" })),
        field(t("task.due"), h("input", { name: "due", type: "datetime-local" })), assigneeField],
      submit: async (data) => {
        const body = { kind: data.get("kind"), title: data.get("title") };
        if (data.get("due")) body.due_at = new Date(String(data.get("due"))).toISOString();
        body.assignee_ids = body.kind === "assignment" ? data.getAll("assignee_ids").map(Number) : [me];
        await api("POST", `/api/v1/dialogs/${this.selected}/tasks`, body);
        toast(t("ok"));
      },
    });
  }

  async openSite() {
    try {
      const link = await api("GET", `/api/v1/dialogs/${this.selected}/site-link`);
      window.open(link.url, "_blank", "noopener");
    } catch (e) {
      failed(e);
    }
  }

  async fetchNow() {
    try {
      const report = await api("POST", `/api/v1/accounts/${this.detail.dialog.account.id}/fetch`, {});
      toast(report.polled ? t("fetch.done", { n: report.stored }) : (report.note || t("fetch.webhook")));
      if (report.stored) this.refreshList();
    } catch (e) {
      failed(e);
    }
  }

  searchClient() {
    const client = this.detail.dialog.client;
    const results = h("ol", { class: "search-results" });
    modal({
      title: `${t("action.search")}: ${client.name}`,
      wide: true,
      submitLabel: t("search.query"),
      body: [field(t("search.query"), h("input", { name: "q", type: "search", required: true })), results],
      submit: async (data) => {
        const found = await api("GET", `/api/v1/clients/${client.id}/messages?q=${encodeURIComponent(data.get("q"))}`);
        results.replaceChildren(...(found.length ? found.map((m) => h("li", {},
          h("a", { href: `#/dialogs/${m.dialog_id}` }, when(m.created_at)), " ", m.text)) : [h("li", {}, t("search.empty"))]));
        return "keep";
      },
    });
  }

  gallery() {
    const client = this.detail.dialog.client;
    const grid = h("div", { class: "gallery" });
    const load = async (kind) => {
      try {
        const list = await api("GET", `/api/v1/clients/${client.id}/attachments${kind ? `?kind=${kind}` : ""}`);
        grid.replaceChildren(...(list.length ? list.map((a) => a.kind === "image"
          ? h("a", { class: "thumb", href: a.url, target: "_blank", rel: "noopener" }, h("img", { src: a.url, alt: a.file_name, loading: "lazy" }))
          : h("a", { class: "file", href: a.url, target: "_blank", rel: "noopener noreferrer" }, a.file_name || a.url))
          : [h("p", { class: "empty" }, t("gallery.empty"))]));
      } catch (e) {
        failed(e);
      }
    };
    const tabs = h("div", { class: "tabs" }, ["", "image", "file", "link"].map((kind) =>
      h("button", { type: "button", onclick: () => load(kind) }, t(`gallery.${kind || "all"}`))));
    modal({ title: t("action.gallery"), wide: true, body: [tabs, grid] });
    load("");
  }

  // ------------------------------------------------------------------ live

  onLive({ type, data }) {
    if (!this.page || !this.page.contains(this.listPane)) {
      if (type === "counters" && data) this.lastCounters = data;
      return;
    }
    switch (type) {
      case "counters":
        if (data) this.showCounters(data);
        break;
      case "message":
        this.refreshList();
        if (data && data.dialog_id === this.selected) this.reloadDialog().then(() => this.markRead());
        break;
      case "dialog":
        if (data && data.status === "new" && !this.known.has(data.dialog_id)) this.notifyNew(data);
        this.refreshList();
        if (data && data.dialog_id === this.selected) this.reloadDialog();
        break;
      case "delivery":
        if (data && data.dialog_id === this.selected) this.reloadDialog();
        break;
      case "resync":
        this.loadList();
        this.loadCounters();
        this.reloadDialog();
        break;
      default:
        break;
    }
  }

  notifyNew(data) {
    this.known.add(data.dialog_id);
    if (localStorage.getItem("dialogi.notify") !== "on") return;
    beep();
    if (!("Notification" in window)) return;
    if (Notification.permission === "granted") {
      new Notification(t("notify.new"), { body: data.last_message_preview || "", tag: `dialog-${data.dialog_id}` });
    }
  }
}


/** A short, quiet tone (the user turned notifications on). */
function beep() {
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.value = 0.05;
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.15);
  } catch {
    // No audio: the notification is enough.
  }
}
