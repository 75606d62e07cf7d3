// The dialog's actions that ask something first (R22–R28, R31–R33): close with a reason,
// redirect, rename, accept a lead, link an interest, a task, search the client's
// conversations, the attachments gallery. Each calls the API and hands the answer (the
// dialog as it is now) to `done`; the modal gives focus back where it was.

import { h, when, toast, modal, field } from "./lib.js";
import { t } from "./i18n.js";
import * as api from "./api.js";

export function closeDialog(context, dialog, requireReason, done) {
  const reasons = context.reasons.filter((r) => !r.archived);
  // No reason is chosen for the operator: a required one must be picked.
  const select = h("select", { name: "reason_id", required: requireReason },
    h("option", { value: "" }, requireReason ? t("close.choose") : t("close.none")),
    reasons.map((r) => h("option", { value: r.id }, r.name)));
  modal({
    title: t("action.close"),
    submitLabel: t("action.close"),
    body: [field(t("close.reason"), select), field(t("close.comment"), h("textarea", { name: "comment", rows: "2" }))],
    submit: async (data) => {
      const body = {};
      if (data.get("reason_id")) body.reason_id = Number(data.get("reason_id"));
      else if (requireReason) throw new Error(t("error.reason_required"));
      if (data.get("comment")) body.comment = data.get("comment");
      done(await api.closeDialog(dialog.id, body));
    },
  });
}

/** A colleague's name, with "away" or "offline" beside it (R46). */
function withStatus(user) {
  const state = user.availability || (user.status === "away" ? "away" : "online");
  return state === "online" ? user.display_name : `${user.display_name} — ${t(`status.${state}`)}`;
}

/** Colleagues as they are now: their status and presence (R46) change all day. */
async function colleagues(context) {
  try {
    const [answer, presence] = await Promise.all([api.listUsers(), api.presence().catch(() => null)]);
    const users = answer.items || answer;
    if (presence) {
      const heard = new Map(presence.operators.map((o) => [o.user_id, o.availability]));
      for (const u of users) u.availability = heard.get(u.id) || "offline";
    }
    context.users = users;
  } catch {
    // The list read at sign-in will do.
  }
  return context.users;
}

export async function redirect(context, dialog, done) {
  // Only people and roles who may answer on the account (R26; the server refuses anyone
  // else), nothing chosen in advance.
  const [all, targets] = await Promise.all([colleagues(context), api.redirectTargets(dialog.id)]);
  const users = all.filter((u) => !u.disabled && targets.user_ids.includes(u.id));
  const roles = context.roles.filter((r) => targets.role_ids.includes(r.id));
  const select = h("select", { name: "to", required: true },
    h("option", { value: "" }, users.length || roles.length ? t("redirect.choose") : t("redirect.nobody")),
    users.length ? h("optgroup", { label: t("redirect.user") }, users.map((u) => h("option", { value: `user:${u.id}` }, withStatus(u)))) : null,
    roles.length ? h("optgroup", { label: t("redirect.role") }, roles.map((r) => h("option", { value: `role:${r.id}` }, r.name))) : null);
  modal({
    title: t("action.redirect"),
    submitLabel: t("action.redirect"),
    body: [field(t("redirect.to"), select), field(t("close.comment"), h("textarea", { name: "comment", rows: "2" }))],
    submit: async (data) => {
      if (!data.get("to")) throw new Error(t("redirect.choose"));
      const [kind, id] = String(data.get("to")).split(":");
      const body = kind === "user" ? { user_id: Number(id) } : { role_id: Number(id) };
      if (data.get("comment")) body.comment = data.get("comment");
      done(await api.redirect(dialog.id, body));
    },
  });
}

export function rename(dialog, done) {
  modal({
    title: t("action.rename"),
    body: [field(t("rename.title"), h("input", { name: "title", value: dialog.custom_title ? dialog.title : "", maxlength: "300" }))],
    submit: async (data) => {
      const title = String(data.get("title")).trim();
      done(await api.rename(dialog.id, title || null));
    },
  });
}

export function acceptLead(dialog, done) {
  modal({
    title: t("action.lead"),
    submitLabel: t("action.lead"),
    body: [
      field(t("lead.title"), h("input", { name: "title", required: true, maxlength: "300" })),
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
      done(await api.acceptLead(dialog.id, body));
    },
  });
}

export async function linkInterest(dialog, done) {
  const interests = await api.activeInterests(dialog.client.id);
  if (!interests.length) {
    toast(t("link.none"));
    return;
  }
  modal({
    title: t("action.link"),
    body: [field(t("link.interest"), h("select", { name: "interest_id" }, interests.map((i) =>
      h("option", { value: i.id, selected: i.id === dialog.interest_id }, i.title))))],
    submit: async (data) => done(await api.linkInterest(dialog.id, Number(data.get("interest_id")))),
  });
}

export async function task(context, dialog) {
  const me = context.me.id;
  const people = (await colleagues(context)).filter((u) => !u.disabled);
  // A searchable multi-picker: type to narrow the list, tick any number of people.
  const choices = people.map((u) => h("label", { class: "check", dataset: { name: u.display_name.toLowerCase() } },
    h("input", { type: "checkbox", name: "assignee_ids", value: u.id }), withStatus(u)));
  const chosen = h("span", { class: "hint", role: "status" });
  const filter = h("input", { type: "search", class: "people-filter", placeholder: t("task.find"), "aria-label": t("task.find") });
  filter.addEventListener("input", () => {
    const q = filter.value.trim().toLowerCase();
    for (const c of choices) c.hidden = Boolean(q) && !c.dataset.name.includes(q);
  });
  const count = () => { chosen.textContent = t("task.chosen", { n: choices.filter((c) => c.querySelector("input").checked).length }); };
  for (const c of choices) c.addEventListener("change", count);
  count();
  const assignees = h("fieldset", { class: "people" }, h("legend", {}, t("task.assignees")), filter, chosen,
    h("div", { class: "people-list" }, choices));
  const kind = h("select", { name: "kind" },
    h("option", { value: "personal" }, t("task.personal")),
    h("option", { value: "assignment" }, t("task.assignment")));
  assignees.hidden = true;
  kind.addEventListener("change", () => { assignees.hidden = kind.value !== "assignment"; });
  modal({
    title: t("action.task"),
    body: [field(t("task.kind"), kind), field(t("task.title"), h("input", { name: "title", required: true, maxlength: "300" })),
      field(t("task.description"), h("textarea", { name: "description", rows: "3", maxlength: "4000" })),
      field(t("task.due"), h("input", { name: "due", type: "datetime-local" })), assignees],
    submit: async (data) => {
      const body = { kind: data.get("kind"), title: data.get("title"), description: String(data.get("description") || "") };
      if (data.get("due")) body.due_at = new Date(String(data.get("due"))).toISOString();
      body.assignee_ids = body.kind === "assignment" ? data.getAll("assignee_ids").map(Number) : [me];
      if (!body.assignee_ids.length) throw new Error(t("task.nobody"));
      await api.createTask(dialog.id, body);
      toast(t("ok"));
    },
  });
}

export function searchClient(dialog) {
  const client = dialog.client;
  const results = h("ol", { class: "search-results", "aria-live": "polite" });
  modal({
    title: `${t("action.search")}: ${client.name}`,
    wide: true,
    submitLabel: t("search.query"),
    body: [field(t("search.query"), h("input", { name: "q", type: "search", required: true })), results],
    submit: async (data) => {
      const found = await api.clientMessages(client.id, String(data.get("q")));
      results.replaceChildren(...(found.length ? found.map((m) => h("li", {},
        h("a", { href: `#/dialogs/${m.dialog_id}` }, when(m.created_at)), " ", h("bdi", {}, m.text))) : [h("li", {}, t("search.empty"))]));
      return "keep";
    },
  });
}

export function gallery(dialog) {
  const client = dialog.client;
  const grid = h("div", { class: "gallery", "aria-live": "polite" });
  const kinds = ["", "image", "file", "link"];
  const tabs = h("div", { class: "tabs", role: "tablist" }, kinds.map((kind) =>
    h("button", { type: "button", role: "tab", "aria-selected": String(kind === ""), dataset: { kind },
      onclick: () => load(kind) }, t(`gallery.${kind || "all"}`))));
  const load = async (kind) => {
    for (const tab of tabs.children) tab.setAttribute("aria-selected", String(tab.dataset.kind === kind));
    const list = await api.clientAttachments(client.id, kind);
    // Each item says when and in which dialog it came (R32).
    const where = (a) => h("div", { class: "where" },
      h("time", { datetime: a.created_at }, new Date(a.created_at).toLocaleString(document.documentElement.lang,
        { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" })),
      " · ", h("a", { href: `#/dialogs/${a.dialog_id}` }, t("gallery.dialog", { number: a.dialog_number })));
    const safe = (url) => /^https?:\/\//i.test(url || "") || (url || "").startsWith("/");
    grid.replaceChildren(...(list.length ? list.map((a) => h("figure", { class: `item ${a.kind}` },
      a.kind === "image"
        ? h("a", { class: "thumb", href: a.url, target: "_blank", rel: "noopener noreferrer" }, h("img", { src: a.url, alt: a.file_name || t("attachment.image"), loading: "lazy" }))
        : safe(a.url)
          ? h("a", { class: "file", href: a.url, target: "_blank", rel: "noopener noreferrer" }, h("bdi", {}, a.file_name || a.url))
          : h("span", { class: "file" }, h("bdi", {}, a.file_name || a.url || "")),
      h("figcaption", {}, where(a))))
      : [h("p", { class: "empty" }, t(kind === "link" ? "gallery.noLinks" : "gallery.empty"))]));
  };
  modal({ title: t("action.gallery"), wide: true, body: [tabs, grid] });
  load("").catch(() => {});
}
