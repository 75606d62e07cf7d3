// The CRM pages: a client's card (R5, R10, R34: contact persons, interests, every dialog,
// merge) and the automatic processing rules (R8).

import { h, api, when, failed, toast, modal, field } from "./lib.js";
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
            h("span", {}, i.title), " ", h("span", { class: `status ${i.status}` }, t(`interest.${i.status}`)),
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

function editClient(c, reload) {
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

function addContact(clientId, reload) {
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

function addInterest(clientId, reload) {
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

const RULE_EXAMPLE = {
  conditions: [{ type: "text_contains", value: "цена" }, { type: "time_of_day", from: "21:00", to: "09:00", utc_offset_minutes: 180 }],
  actions: [{ type: "auto_reply", text: "{client}, спасибо! Ответим утром." }],
};

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
    const json = (value) => JSON.stringify(value, null, 2);
    modal({
      title: rule ? rule.name : t("rules.add"),
      wide: true,
      body: [
        h("div", { class: "row" },
          field(t("people.name"), h("input", { name: "name", required: true, value: rule ? rule.name : "" })),
          field(t("account.kind"), h("select", { name: "account_id", disabled: Boolean(rule) },
            h("option", { value: "" }, t("rules.global")),
            context.accounts.map((a) => h("option", { value: a.id, selected: rule && rule.account_id === a.id }, a.name)))),
          field(t("rules.position"), h("input", { name: "position", type: "number", value: rule ? rule.position : 0 }))),
        h("label", { class: "check" }, h("input", { type: "checkbox", name: "stop", checked: rule && rule.stop_processing }), t("rules.stop")),
        field(t("rules.conditions"), h("textarea", { name: "conditions", rows: "6", class: "code" }, json(rule ? rule.conditions : RULE_EXAMPLE.conditions))),
        field(t("rules.actions"), h("textarea", { name: "actions", rows: "5", class: "code" }, json(rule ? rule.actions : RULE_EXAMPLE.actions))),
      ],
      submit: async (data) => {
        let conditions;
        let actions;
        try {
          conditions = JSON.parse(String(data.get("conditions")));
          actions = JSON.parse(String(data.get("actions")));
        } catch (e) {
          throw new Error(`JSON: ${e.message}`);
        }
        const body = { name: data.get("name"), position: Number(data.get("position") || 0), stop_processing: data.get("stop") === "on", conditions, actions };
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
