// The pages around the workstation: "my work" (tasks and the dialogs one is responsible
// for, R6/R27/R28) and the analysis of close reasons with its chart (R35).

import { h, api, when, failed, toast } from "./lib.js";
import { t, lang } from "./i18n.js";

/** "My work": the caller's open tasks and their dialogs; it follows the live stream. */
export async function myWork(page) {
  const tasks = h("ul", { class: "tasks" });
  const dialogs = h("ul", { class: "dialog-list" });
  const mentions = h("ul", { class: "mentions" });
  const mentionsSection = h("section", { hidden: true }, h("h2", {}, t("work.mentions")), mentions);
  page.replaceChildren(h("div", { class: "page work" },
    mentionsSection,
    h("section", {}, h("h2", {}, t("work.tasks")), tasks),
    h("section", {}, h("h2", {}, t("work.dialogs")), dialogs)));
  const load = async () => {
    if (!page.contains(tasks)) {
      window.removeEventListener("dialogi:live", onLive);
      return;
    }
    try {
      const work = await api("GET", "/api/v1/my-work");
      // Each task says what it is about (R28): the client, the dialog (which it opens),
      // who set it, when it is due and what is to be done.
      const about = new Map((work.task_context || []).map((c) => [c.task_id, c]));
      tasks.replaceChildren(...(work.tasks.length ? work.tasks.map((task) => {
        const c = about.get(task.id) || {};
        const overdue = task.due_at && Date.parse(task.due_at) < Date.now();
        return h("li", { class: "task" },
          h("div", { class: "head" },
            h("span", { class: "title", dir: "auto" }, task.title),
            task.due_at ? h("time", { datetime: task.due_at, class: overdue ? "overdue" : "" },
              `${t("work.due")} ${new Date(task.due_at).toLocaleString(lang, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" })}`) : null),
          task.description ? h("p", { class: "description", dir: "auto" }, task.description) : null,
          h("div", { class: "meta" },
            c.client_name ? h("span", { dir: "auto" }, `${t("work.client")}: ${c.client_name}`) : null,
            task.dialog_id ? h("a", { href: `#/dialogs/${task.dialog_id}` }, c.dialog_title || t("work.dialog")) : null,
            c.author_name ? h("span", {}, `${t("work.author")}: ${c.author_name}`) : null),
          h("button", { type: "button", class: "secondary", onclick: () => done(task.id) }, t("work.done")));
      }) : [h("li", { class: "empty" }, t("work.empty"))]));
      // Notes that mention me, until I open their dialog (R42).
      mentionsSection.hidden = !(work.mentions || []).length;
      mentions.replaceChildren(...(work.mentions || []).map((m) => h("li", { class: "mention" },
        h("a", { href: `#/dialogs/${m.dialog_id}` }, m.dialog_title || t("work.dialog")),
        ` · ${m.author_name} · ${when(m.at)}`,
        h("p", { class: "description", dir: "auto" }, m.text))));
      dialogs.replaceChildren(...work.dialogs.map((d) => h("li", { class: `dialog-item${d.unread ? " unread" : ""}` },
        h("a", { href: `#/dialogs/${d.id}` }, `${d.interlocutor.name} · ${d.account.name} · ${d.title}`),
        h("div", { class: "preview" }, d.last_message_preview))));
    } catch (e) {
      failed(e);
    }
  };
  const done = async (id) => {
    try {
      await api("PATCH", `/api/v1/tasks/${id}`, { status: "done" });
      toast(t("ok"));
      load();
    } catch (e) {
      failed(e);
    }
  };
  let timer = null;
  const onLive = ({ detail }) => {
    if (!["task", "dialog", "mention"].includes(detail.type)) return;
    clearTimeout(timer);
    timer = setTimeout(load, 300);
  };
  window.addEventListener("dialogi:live", onLive);
  load();
}

/** The analysis of close reasons: filters, a bar chart, tables, CSV. */
export async function report(page, context) {
  const form = h("form", { class: "report-filters" },
    h("label", { class: "field" }, h("span", {}, t("report.from")), h("input", { type: "date", name: "from" })),
    h("label", { class: "field" }, h("span", {}, t("report.to")), h("input", { type: "date", name: "to" })),
    h("label", { class: "field" }, h("span", {}, t("filter.account")), h("select", { name: "account_id" },
      h("option", { value: "" }, t("filter.account")), context.accounts.map((a) => h("option", { value: a.id }, a.name)))),
    h("label", { class: "field" }, h("span", {}, t("report.user")), h("select", { name: "user_id" },
      h("option", { value: "" }, t("report.everyone")), context.users.map((u) => h("option", { value: u.id }, u.display_name)))),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "leads_only" }), t("report.leads")),
    h("button", { type: "submit", class: "primary" }, t("ok")));
  const csv = h("a", { class: "secondary button", href: "/api/v1/reports/close-reasons?format=csv", download: "close-reasons.csv" }, t("report.csv"));
  const output = h("div", { class: "report-output" });
  page.replaceChildren(h("div", { class: "page report" }, h("h2", {}, t("nav.report")), form, csv, output));
  const query = () => {
    const data = new FormData(form);
    const params = new URLSearchParams({ period: "month" });
    if (data.get("from")) params.set("from", new Date(String(data.get("from"))).toISOString());
    if (data.get("to")) params.set("to", new Date(String(data.get("to"))).toISOString());
    if (data.get("account_id")) params.set("account_id", String(data.get("account_id")));
    if (data.get("user_id")) params.set("user_id", String(data.get("user_id")));
    if (data.get("leads_only")) params.set("leads_only", "true");
    return params;
  };
  const load = async () => {
    const params = query();
    csv.href = `/api/v1/reports/close-reasons?${params}&format=csv`;
    try {
      const result = await api("GET", `/api/v1/reports/close-reasons?${params}`);
      if (!result.total) {
        output.replaceChildren(h("p", { class: "placeholder" }, t("report.empty")));
        return;
      }
      output.replaceChildren(
        h("p", { class: "total" }, t("report.total", { n: result.total })),
        chart(result.rows),
        table(result.rows),
        group(t("report.by_account"), result.by_account),
        group(t("report.by_user"), result.by_user),
        group(t("report.by_period"), result.by_period.map((g) => ({ ...g, name: month(g.name) }))));
    } catch (e) {
      failed(e);
    }
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  load();
}

/** A period's start ("2026-12-01") as its month in the user's language ("декабрь 2026 г."). */
function month(start) {
  const date = new Date(`${start}T00:00:00Z`);
  if (Number.isNaN(date.getTime())) return start;
  return new Intl.DateTimeFormat(lang, { month: "long", year: "numeric", timeZone: "UTC" }).format(date);
}

const percent = (share) => `${(share * 100).toFixed(1)}%`;

function chart(rows) {
  return h("div", { class: "chart", role: "img", "aria-label": t("nav.report") }, rows.map((row) => {
    const bar = h("span", { class: "bar" });
    bar.style.width = percent(row.share);
    return h("div", { class: "chart-row" }, h("span", { class: "label" }, row.reason), h("span", { class: "track" }, bar),
      h("span", { class: "value" }, `${row.count} · ${percent(row.share)}`));
  }));
}

function table(rows) {
  return h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, t("report.reason")), h("th", {}, t("report.count")), h("th", {}, t("report.share")))),
    h("tbody", {}, rows.map((row) => h("tr", {}, h("td", {}, row.reason), h("td", {}, row.count), h("td", {}, percent(row.share))))));
}

function group(title, groups) {
  return h("details", {}, h("summary", {}, title),
    h("table", {}, h("tbody", {}, groups.map((g) => h("tr", {},
      h("th", {}, g.name), h("td", {}, g.count), h("td", {}, percent(g.share)),
      h("td", {}, g.reasons.map((r) => `${r.reason}: ${r.count}`).join(", ")))))));
}
