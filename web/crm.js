// The CRM pages: a client's card (R5, R10, R34: contact persons, interests, every dialog,
// merge) and the automatic processing rules (R8).

import { h, api, when, failed, toast, modal, field, base64Of } from "./lib.js";
import { t } from "./i18n.js";
import { earlierDialog } from "./messages.js";

/** A client's card: #/clients/{id}. */
export async function clientCard(page, context, id) {
  try {
    const admin = context.me.is_admin;
    const [card, dialogs, consents] = await Promise.all([
      api("GET", `/api/v1/clients/${id}`),
      api("GET", `/api/v1/clients/${id}/dialogs`),
      api("GET", `/api/v1/clients/${id}/consents`),
    ]);
    // After the card: this reading is the log's newest line.
    const reads = admin ? await api("GET", `/api/v1/data-access?client_id=${id}&limit=20`) : null;
    const c = card.client;
    const reload = () => clientCard(page, context, id);
    const patch = async (body) => {
      try {
        await api("PATCH", `/api/v1/clients/${id}`, body);
        reload();
      } catch (e) {
        failed(e);
      }
    };
    page.replaceChildren(h("div", { class: "page client" },
      h("div", { class: "page-head" },
        h("h2", {}, c.name, " ", h("span", { class: "badge" }, t(`client.${c.kind}`))),
        h("div", { class: "row-actions" },
          c.kind === "prospect" ? h("button", { type: "button", class: "primary", onclick: () => patch({ kind: "client" }) }, t("client.promote")) : null,
          h("button", { type: "button", onclick: () => editClient(c, reload) }, t("account.settings")),
          admin ? h("button", { type: "button", onclick: () => merge(c, reload) }, t("client.merge")) : null,
          // R47: the client's data on request — a download of everything, or its erasure.
          admin ? h("a", { class: "button", href: `/api/v1/clients/${id}/export`, download: `client-${id}.tar` }, t("pd.export")) : null,
          admin && !c.erased_at ? h("button", { type: "button", class: "danger", onclick: () => erase(c, reload) }, t("pd.erase")) : null)),
      c.merged_into_id ? h("p", { class: "hint" }, h("a", { href: `#/clients/${c.merged_into_id}` }, t("client.merged"))) : null,
      h("p", {}, [c.phone, c.email].filter(Boolean).join(" · ")),
      c.notes ? h("p", { class: "notes" }, c.notes) : null,
      h("div", { class: "columns" },
        h("section", {},
          h("h3", {}, t("client.contacts")),
          h("ul", {}, card.contacts.map((p) => h("li", {}, `${p.name}${p.position ? `, ${p.position}` : ""}`,
            [p.phone, p.email].filter(Boolean).length ? ` · ${[p.phone, p.email].filter(Boolean).join(", ")}` : ""))),
          h("button", { type: "button", class: "secondary", onclick: () => addContact(id, reload) }, t("client.add_contact")),
          h("h3", {}, t("client.interests")),
          h("ul", { class: "interests" }, card.interests.map((i) => h("li", {},
            h("a", { href: `#/interests/${i.id}` }, i.title), " ", h("span", { class: `status ${i.status}` }, t(`interest.${i.status}`)),
            i.status === "active" ? [
              h("button", { type: "button", class: "link", onclick: () => setStatus(i.id, "won", reload) }, t("interest.won")),
              h("button", { type: "button", class: "link", onclick: () => setStatus(i.id, "lost", reload) }, t("interest.lost")),
            ] : null))),
          h("button", { type: "button", class: "secondary", onclick: () => addInterest(id, reload) }, t("client.add_interest")),
          h("h3", {}, t("pd.consents")),
          consents.length
            ? h("ul", { class: "consents" }, consents.map((k) => h("li", {},
              `${when(k.at)} · ${t(k.given ? "pd.given" : "pd.withdrawn")} · ${t(`pd.source.${k.source}`)}`,
              k.note ? ` · ${k.note}` : "")))
            : h("p", { class: "hint" }, t("pd.no_consents")),
          reads ? [h("h3", {}, t("pd.reads")),
            reads.items.length
              ? h("ul", { class: "reads" }, reads.items.map((r) => h("li", {},
                `${when(r.at)} · ${r.user_name} · `,
                r.dialog_id ? h("a", { href: `#/dialogs/${r.dialog_id}` }, t(`pd.read.${r.what}`)) : t(`pd.read.${r.what}`))))
              : h("p", { class: "hint" }, t("pd.no_reads"))] : null),
        h("section", {},
          h("h3", {}, t("dialog.with_client", { n: dialogs.length })),
          // Every dialog with the client reads here, whatever the user's rights on its
          // account (R10); one they may work in also opens in the workstation.
          h("div", { class: "client-dialogs" }, dialogs.map((d) => h("div", { class: "dialog-item" },
            earlierDialog(id, d, context),
            h("div", { class: "preview" }, `${when(d.last_message_at)} ${d.last_message_preview}`,
              context.accounts.some((a) => a.id === d.account.id)
                ? [" · ", h("a", { href: `#/dialogs/${d.id}` }, t("dialog.openInWorkstation"))] : null))))))));
  } catch (e) {
    failed(e);
    page.replaceChildren(h("p", { class: "empty" }, e.message));
  }
}

/** An interest: #/interests/{id} — its basis, amount, status and the feed of its dialogs
 * (R22, R23), each readable in place like the client card's (R10). */
export async function interestPage(page, context, id) {
  try {
    const { interest: i, dialogs } = await api("GET", `/api/v1/interests/${id}`);
    const reload = () => interestPage(page, context, id);
    const amount = i.amount_minor != null
      ? new Intl.NumberFormat(document.documentElement.lang, { style: "currency", currency: i.currency || "RUB" }).format(i.amount_minor / 100)
      : null;
    const responsible = context.users.find((u) => u.id === i.responsible_user_id);
    const basis = dialogs.find((d) => d.id === i.basis_dialog_id);
    const clientName = dialogs.length && dialogs[0].client ? dialogs[0].client.name : null;
    page.replaceChildren(h("div", { class: "page interest" },
      h("div", { class: "page-head" },
        h("h2", {}, h("bdi", {}, i.title), " ", h("span", { class: `status ${i.status}` }, t(`interest.${i.status}`))),
        h("div", { class: "row-actions" },
          i.status === "active" ? [
            h("button", { type: "button", onclick: () => setStatus(i.id, "won", reload) }, t("interest.mark_won")),
            h("button", { type: "button", onclick: () => setStatus(i.id, "lost", reload) }, t("interest.mark_lost")),
          ] : h("button", { type: "button", onclick: () => setStatus(i.id, "active", reload) }, t("interest.reopen")))),
      h("dl", { class: "facts" },
        h("dt", {}, t("interest.client")), h("dd", {}, h("a", { href: `#/clients/${i.client_id}` }, clientName || t("client.card"))),
        h("dt", {}, t("interest.basis")), h("dd", {}, i.basis_dialog_id
          ? h("a", { href: `#/dialogs/${i.basis_dialog_id}` }, basis ? `${t("dialog.number", { n: basis.number })} · ${basis.title}` : `№${i.basis_dialog_id}`)
          : t("interest.no_basis")),
        h("dt", {}, t("interest.amount")), h("dd", {}, amount || "—"),
        h("dt", {}, t("account.responsible")), h("dd", {}, responsible ? responsible.display_name : "—"),
        h("dt", {}, t("interest.created")), h("dd", {}, when(i.created_at))),
      i.description ? h("p", { class: "notes", dir: "auto" }, i.description) : null,
      h("h3", {}, t("interest.feed", { n: dialogs.length })),
      dialogs.length
        ? h("div", { class: "client-dialogs" }, dialogs.map((d) => h("div", { class: "dialog-item" },
          earlierDialog(i.client_id, d, context),
          h("div", { class: "preview" }, `${when(d.last_message_at)} ${d.last_message_preview}`,
            context.accounts.some((a) => a.id === d.account.id)
              ? [" · ", h("a", { href: `#/dialogs/${d.id}` }, t("dialog.openInWorkstation"))] : null))))
        : h("p", { class: "empty" }, t("interest.no_dialogs"))));
  } catch (e) {
    failed(e);
    page.replaceChildren(h("p", { class: "empty" }, e.message));
  }
}

function erase(c, reload) {
  modal({
    title: t("pd.erase"),
    body: [h("p", { class: "hint" }, t("pd.erase_hint", { name: c.name })),
      field(t("pd.erase_reason"), h("input", { name: "reason", required: true, maxlength: "500", placeholder: t("pd.erase_placeholder") }))],
    submitLabel: t("pd.erase_confirm"),
    submit: async (data) => {
      const removed = await api("POST", `/api/v1/clients/${c.id}/erase`, { reason: data.get("reason") });
      toast(t("pd.erased", { messages: removed.messages, files: removed.files }));
      reload();
    },
  });
}

export function editClient(c, reload) {
  modal({
    title: c.name,
    body: [
      field(t("people.name"), h("input", { name: "name", required: true, value: c.name })),
      h("div", { class: "row" },
        field(t("client.phone"), h("input", { name: "phone", value: c.phone || "" })),
        field("E-mail", h("input", { name: "email", type: "email", value: c.email || "" }))),
      field(t("client.notes"), h("textarea", { name: "notes", rows: "3" }, c.notes)),
    ],
    submit: async (data) => {
      await api("PATCH", `/api/v1/clients/${c.id}`, {
        name: data.get("name"), phone: data.get("phone") || null, email: data.get("email") || null, notes: data.get("notes"),
      });
      reload();
    },
  });
}

function merge(c, reload) {
  modal({
    title: t("client.merge"),
    body: [h("p", { class: "hint" }, t("client.merge_hint", { name: c.name })),
      field(t("client.merge_from"), h("input", { name: "from", type: "number", required: true, min: "1" }))],
    submit: async (data) => {
      const result = await api("POST", `/api/v1/clients/${c.id}/merge`, { from_client_id: Number(data.get("from")) });
      toast(t("client.merged_count", { n: result.moved_dialogs }));
      reload();
    },
  });
}

export function addContact(clientId, reload) {
  modal({
    title: t("client.add_contact"),
    body: [field(t("people.name"), h("input", { name: "name", required: true })),
      field(t("client.position"), h("input", { name: "position" })),
      h("div", { class: "row" }, field(t("client.phone"), h("input", { name: "phone" })), field("E-mail", h("input", { name: "email", type: "email" })))],
    submit: async (data) => {
      await api("POST", `/api/v1/clients/${clientId}/contacts`, {
        name: data.get("name"), position: data.get("position") || null, phone: data.get("phone") || null, email: data.get("email") || null,
      });
      reload();
    },
  });
}

export function addInterest(clientId, reload) {
  modal({
    title: t("client.add_interest"),
    body: [field(t("lead.title"), h("input", { name: "title", required: true })),
      field(t("lead.description"), h("textarea", { name: "description", rows: "2" }))],
    submit: async (data) => {
      await api("POST", "/api/v1/interests", { client_id: clientId, title: data.get("title"), description: data.get("description") || null });
      reload();
    },
  });
}

async function setStatus(interestId, status, reload) {
  try {
    await api("PATCH", `/api/v1/interests/${interestId}`, { status });
    reload();
  } catch (e) {
    failed(e);
  }
}

const CONDITIONS = ["text_contains", "text_matches", "channel", "account", "client_known", "time_of_day", "weekdays"];
const ACTIONS = ["auto_reply", "assign", "redirect", "close", "link_interest", "mark_lead"];
const KIND_NAMES = ["telegram", "vk", "viber", "whatsapp", "max", "web"];
/** The browser's offset from UTC, for conditions on the local time. */
const localOffset = () => -new Date().getTimezoneOffset();

/** A list of rows, each a type and its own inputs; `read` turns the rows back into JSON. */
function ruleRows(kinds, initial, build, labelKey) {
  const rows = h("div", { class: "rule-rows" });
  const add = (value) => {
    const type = h("select", { class: "rule-type", "aria-label": t(labelKey) },
      kinds.map((k) => h("option", { value: k, selected: value.type === k }, t(`rule.${k}`))));
    const inputs = h("div", { class: "rule-inputs" });
    const row = h("div", { class: "rule-row" }, type, inputs,
      h("button", { type: "button", class: "link", "aria-label": t("rules.remove_row"), onclick: () => row.remove() }, "×"));
    const show = (v) => { row.read = build(type.value, v, inputs); };
    type.addEventListener("change", () => show({ type: type.value }));
    show(value);
    rows.append(row);
  };
  for (const value of initial) add(value);
  return { node: rows, add: () => add({ type: kinds[0] }), read: () => [...rows.children].map((r) => r.read()) };
}

function conditionInputs(context) {
  return (type, v, inputs) => {
    const ticks = (name, options, chosen) => options.map(([value, label]) =>
      h("label", { class: "check" }, h("input", { type: "checkbox", name, value, checked: chosen.includes(value) }), label));
    const checked = (name) => [...inputs.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
    switch (type) {
      case "text_contains": {
        const value = h("input", { required: true, value: v.value || "", "aria-label": t("rule.text_contains") });
        const cs = h("input", { type: "checkbox", checked: Boolean(v.case_sensitive) });
        inputs.replaceChildren(value, h("label", { class: "check" }, cs, t("rule.case_sensitive")));
        return () => ({ type, value: value.value, case_sensitive: cs.checked });
      }
      case "text_matches": {
        const pattern = h("input", { required: true, value: v.pattern || "", class: "code", "aria-label": t("rule.text_matches") });
        inputs.replaceChildren(pattern);
        return () => ({ type, pattern: pattern.value });
      }
      case "channel":
        inputs.replaceChildren(...ticks("kinds", KIND_NAMES.map((k) => [k, t(`kind.${k}`)]), v.kinds || []));
        return () => ({ type, kinds: checked("kinds") });
      case "account":
        inputs.replaceChildren(...ticks("ids", context.accounts.map((a) => [String(a.id), a.name]), (v.ids || []).map(String)));
        return () => ({ type, ids: checked("ids").map(Number) });
      case "client_known": {
        const known = h("select", { "aria-label": t("rule.client_known") },
          h("option", { value: "true", selected: v.known !== false }, t("rule.known")),
          h("option", { value: "false", selected: v.known === false }, t("rule.unknown")));
        inputs.replaceChildren(known);
        return () => ({ type, known: known.value === "true" });
      }
      case "time_of_day": {
        const from = h("input", { type: "time", required: true, value: v.from || "21:00", "aria-label": t("rule.from") });
        const to = h("input", { type: "time", required: true, value: v.to || "09:00", "aria-label": t("rule.to") });
        inputs.replaceChildren(t("rule.from"), " ", from, " ", t("rule.to"), " ", to);
        return () => ({ type, from: from.value, to: to.value, utc_offset_minutes: v.utc_offset_minutes ?? localOffset() });
      }
      case "weekdays":
        inputs.replaceChildren(...ticks("days", [1, 2, 3, 4, 5, 6, 7].map((d) => [String(d), t(`rule.day${d}`)]), (v.days || []).map(String)));
        return () => ({ type, days: checked("days").map(Number), utc_offset_minutes: v.utc_offset_minutes ?? localOffset() });
      default:
        return () => ({ type });
    }
  };
}

function actionInputs(context) {
  return (type, v, inputs) => {
    switch (type) {
      case "auto_reply": {
        const text = h("textarea", { rows: "2", required: true, maxlength: "4096", "aria-label": t("rule.auto_reply") }, v.text || "");
        // The placeholders are the rule's own words: filled in when the reply is sent.
        const placeholders = [["client", "rule.ph_client"], ["account", "rule.ph_account"], ["dialog", "rule.ph_dialog"]]
          .map(([name, label], i) => [i ? "; " : "", h("code", {}, `{${name}}`), ` — ${t(label)}`]);
        inputs.replaceChildren(text, h("span", { class: "hint" }, t("rule.reply_hint"), " ", placeholders));
        return () => ({ type, text: text.value });
      }
      case "assign":
      case "redirect": {
        const who = h("select", { required: true, "aria-label": t("redirect.to") }, h("option", { value: "" }, "—"),
          h("optgroup", { label: t("redirect.user") }, context.users.filter((u) => !u.disabled).map((u) =>
            h("option", { value: `user:${u.id}`, selected: v.user_id === u.id }, u.display_name))),
          h("optgroup", { label: t("redirect.role") }, context.roles.map((r) =>
            h("option", { value: `role:${r.id}`, selected: v.role_id === r.id }, r.name))));
        inputs.replaceChildren(who);
        return () => {
          const [kind, id] = who.value.split(":");
          return { type, user_id: kind === "user" ? Number(id) : null, role_id: kind === "role" ? Number(id) : null };
        };
      }
      case "close": {
        const reason = h("select", { "aria-label": t("close.reason") }, h("option", { value: "" }, t("rule.no_reason")),
          (context.reasons || []).filter((r) => !r.archived).map((r) => h("option", { value: r.id, selected: v.reason_id === r.id }, r.name)));
        inputs.replaceChildren(reason);
        return () => ({ type, reason_id: reason.value ? Number(reason.value) : null });
      }
      default:
        inputs.replaceChildren();
        return () => ({ type });
    }
  };
}

/** The automatic processing rules (R8): #/rules. */
export async function rules(page, context) {
  const list = h("tbody");
  page.replaceChildren(h("div", { class: "page admin" },
    h("div", { class: "page-head" }, h("h2", {}, t("nav.rules")),
      h("button", { type: "button", class: "primary", onclick: () => edit(null) }, t("rules.add"))),
    h("p", { class: "hint" }, t("rules.hint")),
    h("table", { class: "grid" }, h("thead", {}, h("tr", {}, h("th", {}, "#"), h("th", {}, t("people.name")),
      h("th", {}, t("account.kind")), h("th", {}, t("account.state")), h("th", {}))), list)));
  const accountName = (id) => (id ? (context.accounts.find((a) => a.id === id) || {}).name || `#${id}` : t("rules.global"));
  const load = async () => {
    try {
      const rows = await api("GET", "/api/v1/rules");
      list.replaceChildren(...rows.map((r) => h("tr", { class: r.enabled ? "" : "disabled" },
        h("td", {}, r.position), h("td", {}, r.name), h("td", {}, accountName(r.account_id)),
        h("td", {}, r.enabled ? t("account.on") : t("account.off")),
        h("td", { class: "row-actions" },
          h("button", { type: "button", onclick: () => edit(r) }, t("account.settings")),
          h("button", { type: "button", onclick: () => toggle(r) }, r.enabled ? t("people.disable") : t("people.enable")),
          h("button", { type: "button", onclick: () => remove(r) }, t("rules.delete"))))));
    } catch (e) {
      failed(e);
    }
  };
  const toggle = async (rule) => {
    try {
      await api("PATCH", `/api/v1/rules/${rule.id}`, { enabled: !rule.enabled });
      load();
    } catch (e) {
      failed(e);
    }
  };
  const remove = async (rule) => {
    try {
      await api("DELETE", `/api/v1/rules/${rule.id}`);
      load();
    } catch (e) {
      failed(e);
    }
  };
  const edit = (rule) => {
    // Conditions and actions as form rows; the API keeps its JSON (R8).
    const conditions = ruleRows(CONDITIONS, rule ? rule.conditions : [{ type: "text_contains" }], conditionInputs(context), "rules.conditions");
    const actions = ruleRows(ACTIONS, rule ? rule.actions : [{ type: "auto_reply" }], actionInputs(context), "rules.actions");
    modal({
      title: rule ? rule.name : t("rules.add"),
      wide: true,
      body: [
        h("div", { class: "row" },
          field(t("people.name"), h("input", { name: "name", required: true, value: rule ? rule.name : "" })),
          field(t("rule.account"), h("select", { name: "account_id", disabled: Boolean(rule) },
            h("option", { value: "" }, t("rules.global")),
            context.accounts.map((a) => h("option", { value: a.id, selected: rule && rule.account_id === a.id }, a.name)))),
          field(t("rules.position"), h("input", { name: "position", type: "number", value: rule ? rule.position : 0 }))),
        h("label", { class: "check" }, h("input", { type: "checkbox", name: "stop", checked: rule && rule.stop_processing }), t("rules.stop")),
        h("fieldset", { class: "rule-part" }, h("legend", {}, t("rules.conditions")), conditions.node,
          h("button", { type: "button", class: "secondary", onclick: conditions.add }, t("rules.add_condition"))),
        h("fieldset", { class: "rule-part" }, h("legend", {}, t("rules.actions")), actions.node,
          h("button", { type: "button", class: "secondary", onclick: actions.add }, t("rules.add_action"))),
      ],
      submit: async (data) => {
        const body = { name: data.get("name"), position: Number(data.get("position") || 0), stop_processing: data.get("stop") === "on",
          conditions: conditions.read(), actions: actions.read() };
        if (rule) {
          await api("PATCH", `/api/v1/rules/${rule.id}`, body);
        } else {
          if (data.get("account_id")) body.account_id = Number(data.get("account_id"));
          await api("POST", "/api/v1/rules", body);
        }
        load();
      },
    });
  };
  load();
}

/** Quick replies (R41): #/replies — the templates one may use, made and changed by whom
 * their scope says; CSV export and import. */
export async function replies(page, context) {
  const list = h("tbody");
  const adminOf = context.accounts.filter((a) => a.my_rights && a.my_rights.admin);
  const scopeName = (q) => (q.scope === "account"
    ? `${t("templates.scope.account")}: ${(context.accounts.find((a) => a.id === q.account_id) || {}).name || ""}`
    : t(`templates.scope.${q.scope}`));
  const file = h("input", { type: "file", accept: ".csv,text/csv", hidden: true, "aria-hidden": "true", tabindex: "-1" });
  page.replaceChildren(h("div", { class: "page admin replies" },
    h("div", { class: "page-head" }, h("h2", {}, t("nav.replies")),
      h("div", { class: "row-actions" },
        h("a", { class: "button", href: "/api/v1/quick-replies/export", download: "quick-replies.csv" }, t("templates.export")),
        h("button", { type: "button", onclick: () => file.click() }, t("templates.import")), file,
        h("button", { type: "button", class: "primary", onclick: () => edit(null) }, t("templates.add")))),
    h("p", { class: "hint" }, t("templates.hint")),
    h("table", { class: "grid" }, h("thead", {}, h("tr", {}, h("th", {}, t("people.name")), h("th", {}, t("templates.text")),
      h("th", {}, t("templates.scope")), h("th", {}, t("templates.uses")), h("th", {}))), list)));
  const load = async () => {
    try {
      const rows = await api("GET", "/api/v1/quick-replies");
      list.replaceChildren(...(rows.length ? rows.map((q) => h("tr", {},
        h("td", {}, h("bdi", {}, q.name)), h("td", { class: "template-text" }, h("bdi", {}, q.text),
          q.files.length ? h("span", { class: "template-files" }, q.files.map((f) => h("bdi", { class: "chip" }, f.file_name))) : null),
        h("td", {}, scopeName(q)), h("td", {}, String(q.uses)),
        h("td", { class: "row-actions" }, q.may_edit ? [
          h("button", { type: "button", onclick: () => edit(q) }, t("account.settings")),
          h("button", { type: "button", onclick: () => remove(q) }, t("rules.delete")),
        ] : null))) : [h("tr", {}, h("td", { colspan: "5", class: "empty" }, t("templates.empty")))]));
    } catch (e) {
      failed(e);
    }
  };
  const scopes = () => [
    h("option", { value: "personal" }, t("templates.scope.personal")),
    ...adminOf.map((a) => h("option", { value: `account:${a.id}` }, `${t("templates.scope.account")}: ${a.name}`)),
    context.me.is_admin ? h("option", { value: "global" }, t("templates.scope.global")) : null,
  ].filter(Boolean);
  const scopeBody = (value) => {
    const [scope, account] = String(value || "personal").split(":");
    return account ? { scope, account_id: Number(account) } : { scope };
  };
  const placeholders = () => h("p", { class: "hint" }, t("templates.placeholders"), " ",
    ["client.name", "operator.name", "dialog.number", "account.name"].map((p, i) => [i ? ", " : "", h("code", {}, `{${p}}`)]));
  // A template's files (R41): the ones it has, each removable at once; new ones go up
  // when the form is saved (at most five, up to 10 MB each, checked before).
  const MAX_TEMPLATE_FILES = 5;
  const MAX_TEMPLATE_FILE_BYTES = 10 * 1024 * 1024;
  const held = (q) => {
    const kept = [...(q ? q.files : [])];
    const list = h("ul", { class: "template-file-list" });
    const show = () => list.replaceChildren(...kept.map((f) => h("li", {}, h("bdi", {}, f.file_name), " ",
      h("button", { type: "button", class: "link", "aria-label": `${t("templates.file_remove")}: ${f.file_name}`, onclick: async () => {
        try {
          await api("DELETE", `/api/v1/quick-replies/${q.id}/files/${f.id}`);
          kept.splice(kept.indexOf(f), 1);
          show();
          load();
        } catch (e) {
          failed(e);
        }
      } }, t("templates.file_remove")))));
    show();
    return { list, count: () => kept.length };
  };
  const edit = (q) => {
    const files = held(q);
    // A failed upload leaves the form open: saving again changes the template made by
    // the first try and sends only the files not sent yet.
    let target = q;
    const sent = new Set();
    modal({
      title: q ? q.name : t("templates.add"),
      body: [
        field(t("people.name"), h("input", { name: "name", required: true, maxlength: "100", value: q ? q.name : "" })),
        field(t("templates.text"), h("textarea", { name: "text", required: true, rows: "4", maxlength: "4096" }, q ? q.text : "")),
        placeholders(),
        q ? null : field(t("templates.scope"), h("select", { name: "scope" }, scopes())),
        files.list,
        field(t("templates.files"), h("input", { type: "file", name: "files", multiple: true })),
        h("p", { class: "hint" }, t("templates.files_hint")),
      ],
      submit: async (data) => {
        const chosen = data.getAll("files").filter((f) => f && f.size && !sent.has(f));
        if (files.count() + sent.size + chosen.length > MAX_TEMPLATE_FILES) throw new Error(t("composer.too_many_files"));
        const big = chosen.find((f) => f.size > MAX_TEMPLATE_FILE_BYTES);
        if (big) throw new Error(t("composer.file_too_large", { name: big.name }));
        const body = { name: data.get("name"), text: data.get("text") };
        target = target ? await api("PATCH", `/api/v1/quick-replies/${target.id}`, body)
          : await api("POST", "/api/v1/quick-replies", { ...body, ...scopeBody(data.get("scope")) });
        for (const file of chosen) {
          await api("POST", `/api/v1/quick-replies/${target.id}/files`,
            { file_name: file.name, mime_type: file.type || null, content_base64: await base64Of(file) });
          sent.add(file);
        }
        toast(t("ok"));
        load();
      },
    });
  };
  const remove = async (q) => {
    try {
      await api("DELETE", `/api/v1/quick-replies/${q.id}`);
      load();
    } catch (e) {
      failed(e);
    }
  };
  file.addEventListener("change", () => {
    const chosen = file.files[0];
    file.value = "";
    if (!chosen) return;
    modal({
      title: t("templates.import"),
      body: [h("p", { class: "hint" }, t("templates.import_hint", { name: chosen.name })),
        field(t("templates.scope"), h("select", { name: "scope" }, scopes()))],
      submit: async (data) => {
        const result = await api("POST", "/api/v1/quick-replies/import", { csv: await chosen.text(), ...scopeBody(data.get("scope")) });
        toast(t("templates.imported", { n: result.created }));
        load();
      },
    });
  });
  load();
}
