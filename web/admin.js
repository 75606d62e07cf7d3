// Settings pages: channel accounts with their settings, credentials, grants, "test
// connection" and "fetch now" (R1–R11); users, roles and departments; close reasons.
// What the caller may not change, the server refuses; the page says why.

import { h, api, failed, toast, modal, field } from "./lib.js";
import { t, has } from "./i18n.js";

/** The channel kinds and their credential fields, as the server describes them (R1). */
let kindsOnce = null;
const channelKinds = () => {
  kindsOnce = kindsOnce || api("GET", "/api/v1/channel-kinds").catch((e) => { kindsOnce = null; throw e; });
  return kindsOnce;
};

/** A credential field's words: the kind's own (`cred.max.token.hint`) where it has them. */
function credWords(kind, key) {
  return has(`cred.${kind}.${key}`) ? t(`cred.${kind}.${key}`) : has(`cred.${key}`) ? t(`cred.${key}`) : null;
}

/** One credential field as a typed input: secrets in a password box, modes as a choice. */
function credentialInput(kind, f, existing) {
  const name = `cred.${f.name}`;
  const label = credWords(kind, f.name);
  const words = credWords(kind, `${f.name}.hint`);
  const hint = words ? h("span", { class: "hint" }, words) : null;
  let input;
  if (f.type === "choice") {
    input = h("select", { name },
      existing ? h("option", { value: "" }, t("cred.keep")) : null,
      f.choices.map((c) => h("option", { value: c }, credWords(kind, `${f.name}.${c}`))));
  } else {
    input = h("input", {
      name, autocomplete: "off", required: f.required && !existing,
      type: f.type === "secret" ? "password" : f.type === "url" ? "url" : "text",
      inputmode: f.type === "number" ? "numeric" : null, pattern: f.type === "number" ? "[0-9]+" : null,
      placeholder: existing ? t(f.type === "secret" ? "cred.secret_kept" : "cred.kept") : "",
    });
  }
  return h("label", { class: "field" }, h("span", {}, label, f.required ? " *" : ""), input, hint);
}
const FLAGS = ["lead_source", "require_close_reason", "create_clients", "auto_link_interests", "everyone_may_view", "group_chats", "enabled"];

const checkbox = (name, checked) => h("label", { class: "check" }, h("input", { type: "checkbox", name, checked }), t(`account.${name}`));

/** Channel accounts: the list, settings, credentials and grants. */
export async function accounts(page, context) {
  const list = h("tbody");
  const canCreate = context.me.is_admin;
  // R2: the program's one switch for every channel, with what it stops said next to it.
  const switchBox = h("input", { type: "checkbox", disabled: !context.me.is_admin, "aria-describedby": "integration-hint" });
  const integration = h("div", { class: "integration" },
    h("label", { class: "check" }, switchBox, t("settings.integration")),
    h("p", { class: "hint", id: "integration-hint" }, t("settings.integration_hint")));
  api("GET", "/api/v1/settings").then((settings) => {
    switchBox.checked = settings.integration_enabled !== false;
    hosts.value = (settings.outbound_hosts || []).join("\n");
  }, failed);
  switchBox.addEventListener("change", async () => {
    try {
      const saved = await api("PUT", "/api/v1/settings", { integration_enabled: switchBox.checked });
      switchBox.checked = saved.integration_enabled !== false;
      toast(switchBox.checked ? t("settings.integration_on") : t("settings.integration_off"));
    } catch (e) {
      switchBox.checked = !switchBox.checked;
      failed(e);
    }
  });
  // R47: where the channels may connect besides each account's API host.
  const hosts = h("textarea", { name: "outbound_hosts", rows: "3", disabled: !context.me.is_admin,
    placeholder: t("settings.outbound_placeholder"), "aria-describedby": "outbound-hint" });
  const saveHosts = async () => {
    const list = hosts.value.split(/[\s,]+/).map((x) => x.trim()).filter(Boolean);
    try {
      const saved = await api("PUT", "/api/v1/settings", { outbound_hosts: list.length ? list : null });
      hosts.value = (saved.outbound_hosts || []).join("\n");
      toast(saved.outbound_hosts ? t("settings.outbound_saved", { n: saved.outbound_hosts.length }) : t("settings.outbound_default"));
    } catch (e) {
      failed(e);
    }
  };
  const outbound = h("details", { class: "integration" },
    h("summary", {}, t("settings.outbound")),
    h("p", { class: "hint", id: "outbound-hint" }, t("settings.outbound_hint")),
    field(t("settings.outbound"), hosts),
    context.me.is_admin ? h("button", { type: "button", class: "secondary", onclick: saveHosts }, t("save")) : null);
  page.replaceChildren(h("div", { class: "page admin" },
    h("div", { class: "page-head" }, h("h2", {}, t("nav.accounts")),
      canCreate ? h("button", { type: "button", class: "primary", onclick: () => edit(null) }, t("account.add")) : null),
    integration,
    outbound,
    h("table", { class: "grid" }, h("thead", {}, h("tr", {},
      h("th", {}, t("account.name")), h("th", {}, t("account.kind")), h("th", {}, t("account.state")), h("th", {}, ""))), list)));

  const load = async () => {
    try {
      const rows = await api("GET", "/api/v1/accounts");
      context.accounts = rows;
      list.replaceChildren(...rows.map((a) => h("tr", {},
        h("td", {}, a.name, a.demo ? h("span", { class: "demo-mark", title: t("demo.account") }, t("demo.mark")) : null),
        h("td", {}, h("span", { class: `channel ${a.kind}` }, a.kind)),
        h("td", {}, a.enabled ? t("account.on") : t("account.off")),
        h("td", { class: "row-actions" },
          a.my_rights.admin ? h("button", { type: "button", onclick: () => edit(a) }, t("account.settings")) : null,
          a.my_rights.admin ? h("button", { type: "button", onclick: () => grants(a) }, t("account.grants")) : null,
          a.my_rights.admin ? h("button", { type: "button", onclick: () => check(a) }, t("account.check")) : null,
          a.my_rights.admin && a.kind === "web" ? h("button", { type: "button", onclick: () => snippet(a) }, t("widget.code")) : null,
          context.me.is_admin ? h("button", { type: "button", onclick: () => retention(a) }, t("retention.title")) : null,
          h("button", { type: "button", onclick: () => fetchNow(a) }, t("action.fetch"))))));
    } catch (e) {
      failed(e);
    }
  };

  const check = async (account) => {
    try {
      const result = await api("POST", `/api/v1/accounts/${account.id}/check`, {});
      toast(result.ok ? `✓ ${result.description}` : `✗ ${result.error}`, result.ok ? "info" : "error");
    } catch (e) {
      failed(e);
    }
  };

  // R40: the line of HTML that puts the website chat on the company's pages.
  const snippet = async (account) => {
    try {
      const widget = await api("GET", `/api/v1/accounts/${account.id}/widget`);
      const code = h("textarea", { readonly: true, rows: "3", class: "snippet", "aria-label": t("widget.code") }, widget.snippet);
      modal({
        title: `${t("widget.code")}: ${account.name}`,
        body: [h("p", { class: "hint" }, t("widget.code_hint")), code,
          h("button", { type: "button", onclick: async () => {
            code.select();
            try {
              await navigator.clipboard.writeText(widget.snippet);
              toast(t("widget.copied"));
            } catch {
              document.execCommand("copy");
            }
          } }, t("widget.copy"))],
      });
      code.select();
    } catch (e) {
      failed(e);
    }
  };

  const fetchNow = async (account) => {
    try {
      const report = await api("POST", `/api/v1/accounts/${account.id}/fetch`, {});
      toast(report.polled ? t("fetch.done", { n: report.stored }) : (report.note || t("fetch.webhook")));
    } catch (e) {
      failed(e);
    }
  };

  const edit = async (account) => {
    let kinds;
    try {
      kinds = await channelKinds();
    } catch (e) {
      failed(e);
      return;
    }
    const kind = h("select", { name: "kind", disabled: Boolean(account) },
      kinds.map((k) => h("option", { value: k.kind, selected: account && account.kind === k.kind }, t(`kind.${k.kind}`))));
    const fieldsOf = () => kinds.find((k) => k.kind === kind.value).fields
      .filter((f) => !f.admin_only || context.me.is_admin);
    const credentials = h("fieldset", { class: "credentials" });
    // Rarely needed settings wait under "More", collapsed.
    const advanced = (f) => ["api_url", "api_version", "timeout_secs"].includes(f.name);
    const showCredentials = () => credentials.replaceChildren(...[h("legend", {}, t("account.credentials")),
      account ? h("p", { class: "hint" }, t("account.credentials_hint")) : null,
      ...fieldsOf().filter((f) => !advanced(f)).map((f) => credentialInput(kind.value, f, Boolean(account))),
      h("details", { class: "advanced" }, h("summary", {}, t("account.advanced")),
        fieldsOf().filter(advanced).map((f) => credentialInput(kind.value, f, Boolean(account))))].filter(Boolean));
    kind.addEventListener("change", showCredentials);
    showCredentials();
    const responsible = h("select", { name: "responsible" },
      h("option", { value: "" }, "—"),
      h("optgroup", { label: t("redirect.user") }, context.users.map((u) =>
        h("option", { value: `user:${u.id}`, selected: account && account.responsible && account.responsible.user_id === u.id }, u.display_name))),
      h("optgroup", { label: t("redirect.role") }, context.roles.map((r) =>
        h("option", { value: `role:${r.id}`, selected: account && account.responsible && account.responsible.role_id === r.id }, r.name))));
    modal({
      title: account ? account.name : t("account.add"),
      wide: true,
      body: [
        h("div", { class: "row" }, field(t("account.name"), h("input", { name: "name", required: true, value: account ? account.name : "" })), field(t("account.kind"), kind)),
        h("div", { class: "flags" }, FLAGS.map((name) => checkbox(name, account ? account[name] : ["create_clients", "group_chats", "enabled"].includes(name)))),
        h("div", { class: "row" },
          field(t("account.responsible"), responsible),
          field(t("account.priority"), h("input", { name: "priority", type: "number", value: account ? account.priority : 0 }))),
        credentials,
      ],
      submit: async (data) => {
        const body = { name: data.get("name"), priority: Number(data.get("priority") || 0) };
        for (const name of FLAGS) body[name] = data.get(name) === "on";
        const [who, id] = String(data.get("responsible") || "").split(":");
        body.responsible = who ? { [`${who}_id`]: Number(id) } : null;
        // Only what was typed: the server keeps every other stored field.
        const creds = {};
        for (const f of fieldsOf()) {
          const value = String(data.get(`cred.${f.name}`) || "").trim();
          if (value) creds[f.name] = f.type === "number" && f.name !== "phone_number_id" ? Number(value) : value;
        }
        if (account) {
          if (Object.keys(creds).length) body.credentials = creds;
          await api("PATCH", `/api/v1/accounts/${account.id}`, body);
        } else {
          body.kind = kind.value;
          body.credentials = creds;
          if (!body.responsible) delete body.responsible;
          await api("POST", "/api/v1/accounts", body);
        }
        toast(t("ok"));
        load();
      },
    });
  };

  // R47: how long the account keeps texts and files of closed dialogs, previewed before
  // it is switched on (what a run now would remove).
  const retention = async (account) => {
    const path = `/api/v1/accounts/${account.id}/retention`;
    try {
      const current = await api("GET", path);
      const months = h("select", { name: "months" },
        h("option", { value: "" }, t("retention.forever")),
        [1, 3, 6, 12, 24, 36, 60, 120].map((n) => h("option", { value: String(n), selected: current.months === n }, t("retention.months", { n }))));
      const preview = h("p", { class: "hint", role: "status", "aria-live": "polite" });
      const show = async () => {
        if (!months.value) {
          preview.textContent = t("retention.none");
          return;
        }
        try {
          const p = await api("GET", `${path}?months=${months.value}`);
          preview.textContent = t("retention.preview", { messages: p.preview.messages, dialogs: p.preview.dialogs,
            files: p.preview.files, size: (p.preview.bytes / 1048576).toFixed(1), date: new Date(p.cutoff).toLocaleDateString() });
        } catch (e) {
          preview.textContent = e.message;
        }
      };
      months.addEventListener("change", show);
      show();
      modal({
        title: `${t("retention.title")}: ${account.name}`,
        body: [h("p", { class: "hint" }, t("retention.hint")), field(t("retention.keep"), months), preview],
        submit: async () => {
          const saved = await api("PUT", path, { months: months.value ? Number(months.value) : null });
          toast(saved.months ? t("retention.saved", { n: saved.months }) : t("retention.off"));
        },
      });
    } catch (e) {
      failed(e);
    }
  };

  const grants = async (account) => {
    try {
      const current = await api("GET", `/api/v1/accounts/${account.id}/grants`);
      const rows = h("tbody");
      const row = (grant) => {
        const who = h("select", { class: "who" },
          h("optgroup", { label: t("redirect.user") }, context.users.map((u) =>
            h("option", { value: `user:${u.id}`, selected: grant.user_id === u.id }, u.display_name))),
          h("optgroup", { label: t("redirect.role") }, context.roles.map((r) =>
            h("option", { value: `role:${r.id}`, selected: grant.role_id === r.id }, r.name))));
        const box = (name) => h("input", { type: "checkbox", class: name, checked: grant[name], "aria-label": t(`grant.${name}`) });
        const tr = h("tr", {}, h("td", {}, who), h("td", {}, box("view")), h("td", {}, box("send")), h("td", {}, box("admin")),
          h("td", {}, h("button", { type: "button", class: "link", onclick: () => tr.remove() }, "×")));
        return tr;
      };
      rows.replaceChildren(...current.map(row));
      modal({
        title: `${t("account.grants")}: ${account.name}`,
        wide: true,
        body: [h("table", { class: "grid" }, h("thead", {}, h("tr", {}, h("th", {}, t("redirect.to")),
          h("th", {}, t("grant.view")), h("th", {}, t("grant.send")), h("th", {}, t("grant.admin")), h("th", {}))), rows),
        h("button", { type: "button", class: "secondary", onclick: () => rows.append(row({ view: true })) }, t("grant.add"))],
        submit: async () => {
          const body = [...rows.children].map((tr) => {
            const [who, id] = tr.querySelector(".who").value.split(":");
            return { [`${who}_id`]: Number(id), view: tr.querySelector(".view").checked,
              send: tr.querySelector(".send").checked, admin: tr.querySelector(".admin").checked };
          });
          await api("PUT", `/api/v1/accounts/${account.id}/grants`, body);
          toast(t("ok"));
        },
      });
    } catch (e) {
      failed(e);
    }
  };
  load();
}

/** Users, roles and departments. */
export async function people(page, context) {
  const users = h("tbody");
  const roles = h("ul");
  const departments = h("ul");
  const admin = context.me.is_admin;
  page.replaceChildren(h("div", { class: "page admin" },
    h("div", { class: "page-head" }, h("h2", {}, t("nav.people")),
      admin ? h("button", { type: "button", class: "primary", onclick: () => addUser() }, t("people.add")) : null),
    h("table", { class: "grid" }, h("thead", {}, h("tr", {}, h("th", {}, t("login.login")), h("th", {}, t("people.name")),
      h("th", {}, t("people.roles")), h("th", {}, ""))), users),
    h("div", { class: "columns" },
      h("section", {}, h("h3", {}, t("people.role_list")), roles,
        admin ? h("button", { type: "button", class: "secondary", onclick: () => addNamed("roles") }, t("people.add_role")) : null),
      h("section", {}, h("h3", {}, t("people.department_list")), departments,
        admin ? h("button", { type: "button", class: "secondary", onclick: () => addNamed("departments") }, t("people.add_department")) : null))));

  const load = async () => {
    try {
      const [userPage, roleList, departmentList] = await Promise.all([
        api("GET", "/api/v1/users?limit=200"), api("GET", "/api/v1/roles"), api("GET", "/api/v1/departments"),
      ]);
      context.users = userPage.items || userPage;
      context.roles = roleList.items || roleList;
      const roleName = (id) => (context.roles.find((r) => r.id === id) || {}).name || `#${id}`;
      users.replaceChildren(...context.users.map((u) => h("tr", { class: u.disabled ? "disabled" : "" },
        h("td", {}, u.login), h("td", {}, u.display_name, u.is_admin ? h("span", { class: "badge" }, "admin") : null,
          u.status === "away" ? h("span", { class: "badge away" }, t("status.away")) : null),
        h("td", {}, u.role_ids.map(roleName).join(", ")),
        h("td", { class: "row-actions" }, admin ? [
          h("button", { type: "button", onclick: () => editUser(u) }, t("account.settings")),
          h("button", { type: "button", onclick: () => toggle(u) }, u.disabled ? t("people.enable") : t("people.disable")),
        ] : null))));
      context.departments = departmentList.items || departmentList;
      roles.replaceChildren(...context.roles.map((r) => h("li", {}, r.name)));
      departments.replaceChildren(...(departmentList.items || departmentList).map((d) => h("li", {}, d.name)));
    } catch (e) {
      failed(e);
    }
  };

  const toggle = async (user) => {
    try {
      await api("PATCH", `/api/v1/users/${user.id}`, { disabled: !user.disabled });
      load();
    } catch (e) {
      failed(e);
    }
  };

  // One form for a new user and for changing one: roles as ticks, the department as a
  // choice, the password only when it is (re)set.
  const userFields = (u) => [
    field(t("login.login"), h("input", { name: "login", required: true, autocomplete: "off", value: u ? u.login : "" })),
    field(t("people.name"), h("input", { name: "display_name", required: true, value: u ? u.display_name : "" })),
    field(u ? t("people.new_password") : t("login.password"), h("input", { name: "password", type: "password",
      required: !u, minlength: "12", autocomplete: "new-password", placeholder: u ? t("people.password_keep") : "" })),
    field(t("people.department"), h("select", { name: "department_id" }, h("option", { value: "" }, "—"),
      (context.departments || []).map((d) => h("option", { value: d.id, selected: u && u.department_id === d.id }, d.name)))),
    h("fieldset", { class: "people" }, h("legend", {}, t("people.roles")),
      context.roles.length
        ? context.roles.map((r) => h("label", { class: "check" },
          h("input", { type: "checkbox", name: "role_ids", value: r.id, checked: Boolean(u && u.role_ids.includes(r.id)) }), r.name))
        : h("p", { class: "hint" }, t("people.no_roles"))),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "is_admin", checked: Boolean(u && u.is_admin) }), t("people.is_admin")),
  ];
  const userBody = (data) => ({
    login: data.get("login"), display_name: data.get("display_name"),
    department_id: data.get("department_id") ? Number(data.get("department_id")) : null,
    role_ids: data.getAll("role_ids").map(Number), is_admin: data.get("is_admin") === "on",
  });
  const addUser = () => modal({
    title: t("people.add"),
    body: userFields(null),
    submit: async (data) => {
      await api("POST", "/api/v1/users", { ...userBody(data), password: data.get("password") });
      load();
    },
  });
  const editUser = (u) => modal({
    title: u.display_name,
    body: [...userFields(u), h("p", { class: "hint" }, t("people.password_hint"))],
    submit: async (data) => {
      const body = userBody(data);
      if (data.get("password")) body.password = data.get("password");
      await api("PATCH", `/api/v1/users/${u.id}`, body);
      toast(t("ok"));
      load();
    },
  });

  const addNamed = (what) => modal({
    title: t(what === "roles" ? "people.add_role" : "people.add_department"),
    body: [field(t("people.name"), h("input", { name: "name", required: true }))],
    submit: async (data) => {
      await api("POST", `/api/v1/${what}`, { name: data.get("name") });
      load();
    },
  });
  load();
}

/** The close reasons: add, rename, archive, choose the default. */
export async function reasons(page, context) {
  const list = h("tbody");
  const admin = context.me.is_admin;
  page.replaceChildren(h("div", { class: "page admin" },
    h("div", { class: "page-head" }, h("h2", {}, t("nav.reasons")),
      admin ? h("button", { type: "button", class: "primary", onclick: () => edit(null) }, t("reasons.add")) : null),
    h("table", { class: "grid" }, list)));
  const load = async () => {
    try {
      context.reasons = await api("GET", "/api/v1/close-reasons");
      list.replaceChildren(...context.reasons.map((r) => h("tr", {},
        h("td", {}, r.name, r.is_default ? h("span", { class: "badge" }, t("reasons.default")) : null),
        h("td", { class: "row-actions" }, admin ? [
          h("button", { type: "button", onclick: () => edit(r) }, t("action.rename")),
          h("button", { type: "button", onclick: () => change(r, { is_default: true }) }, t("reasons.make_default")),
          h("button", { type: "button", onclick: () => change(r, { archived: true }) }, t("reasons.archive")),
        ] : null))));
    } catch (e) {
      failed(e);
    }
  };
  const change = async (reason, body) => {
    try {
      await api("PATCH", `/api/v1/close-reasons/${reason.id}`, body);
      load();
    } catch (e) {
      failed(e);
    }
  };
  const edit = (reason) => modal({
    title: reason ? reason.name : t("reasons.add"),
    body: [field(t("people.name"), h("input", { name: "name", required: true, value: reason ? reason.name : "" }))],
    submit: async (data) => {
      if (reason) await api("PATCH", `/api/v1/close-reasons/${reason.id}`, { name: data.get("name") });
      else await api("POST", "/api/v1/close-reasons", { name: data.get("name") });
      load();
    },
  });
  load();
}
