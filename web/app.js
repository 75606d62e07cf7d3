// Dialogi's web client: sign-in, the page frame, the router and the one live stream.
// Pages: the workstation (#/ and #/dialogs/{id}), "my work" (#/work), the close-reason
// analysis (#/report), channel accounts (#/accounts), people (#/people) and close reasons
// (#/reasons), rules (#/rules) and a client's card (#/clients/{id}); the dashboard is
// /monitor.

import { h, $, api, ApiError, setCsrf, failed } from "./lib.js";
import { t, switchLanguage } from "./i18n.js";
import { Workstation } from "./workstation.js";
import { PresenceReporter } from "./presence.js";
import { subscribePush, unsubscribePush } from "./notify.js";
import { myWork, report } from "./pages.js";
import { accounts, people, reasons } from "./admin.js";
import { clientCard, interestPage, replies, rules } from "./crm.js";

const root = document.getElementById("app");
let context = null;
let stream = null;
let workstation = null;
let reporter = null;

async function boot() {
  if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js").catch(() => {});
  try {
    const me = await api("GET", "/api/v1/me");
    setCsrf(me.csrf_token);
    await start(me);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return signIn();
    if (error instanceof ApiError && error.status === 0) return offline();
    root.replaceChildren(h("p", { class: "fatal" }, error.text || error.message));
  }
}

/** The page came from the kept copy and the server cannot be reached: say so, and come
 * back by itself when the network does. */
function offline() {
  root.classList.remove("booting");
  root.removeAttribute("aria-busy");
  root.replaceChildren(h("main", { class: "offline-page" },
    h("h1", {}, t("offline.title")), h("p", {}, t("offline.text"))));
  const retry = () => api("GET", "/healthz").then(() => location.reload(), () => {});
  window.addEventListener("online", retry);
  setInterval(retry, 10000);
}

function signIn() {
  if (stream) stream.close();
  stream = null;
  context = null;
  const error = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "login", "aria-label": t("login.title") },
    h("h1", {}, t("app.title")),
    h("label", { class: "field" }, h("span", {}, t("login.login")),
      h("input", { name: "login", autocomplete: "username", required: true, autofocus: true })),
    h("label", { class: "field" }, h("span", {}, t("login.password")),
      h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    error,
    h("button", { type: "submit", class: "primary" }, t("login.submit")),
    h("button", { type: "button", class: "link", onclick: switchLanguage }, t("lang")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    try {
      const session = await api("POST", "/api/v1/session", { login: data.get("login"), password: data.get("password") });
      setCsrf(session.csrf_token);
      await start(await api("GET", "/api/v1/me"));
    } catch (e) {
      error.textContent = e instanceof ApiError && e.status === 401 ? t("login.failed") : e.message;
    }
  });
  root.replaceChildren(form);
}

async function start(me) {
  const [accounts, users, roles, reasons, departments] = await Promise.all([
    api("GET", "/api/v1/accounts"),
    api("GET", "/api/v1/users?limit=200").catch(() => []),
    api("GET", "/api/v1/roles").catch(() => []),
    api("GET", "/api/v1/close-reasons").catch(() => []),
    api("GET", "/api/v1/departments").catch(() => []),
  ]);
  context = { me, accounts, users: users.items || users, roles: roles.items || roles, reasons,
    departments: departments.items || departments };
  const accountAdmin = me.is_admin || (accounts || []).some((a) => a.my_rights && a.my_rights.admin);
  const live = h("span", { class: "live offline", id: "live", title: t("live.offline") }, t("live.offline"));
  const header = h("header", { class: "top" },
    h("a", { href: "#/", class: "brand" }, t("app.title")),
    h("nav", {},
      h("a", { href: "#/", dataset: { route: "inbox" } }, t("nav.inbox")),
      h("a", { href: "#/work", dataset: { route: "work" } }, t("nav.work")),
      h("a", { href: "#/report", dataset: { route: "report" } }, t("nav.report")),
      h("a", { href: "#/replies", dataset: { route: "replies" } }, t("nav.replies")),
      // Only what the user may change (the server refuses the rest anyway).
      accountAdmin ? h("a", { href: "#/accounts", dataset: { route: "accounts" } }, t("nav.accounts")) : null,
      me.is_admin ? h("a", { href: "#/people", dataset: { route: "people" } }, t("nav.people")) : null,
      me.is_admin ? h("a", { href: "#/reasons", dataset: { route: "reasons" } }, t("nav.reasons")) : null,
      accountAdmin ? h("a", { href: "#/rules", dataset: { route: "rules" } }, t("nav.rules")) : null,
      h("a", { href: "/monitor" }, t("nav.monitor"))),
    live,
    statusButton(me),
    h("button", { type: "button", class: "link", onclick: switchLanguage }, t("lang")),
    h("button", { type: "button", class: "link", onclick: signOut }, t("nav.signout")));
  const main = h("main", { id: "page" });
  // Demo accounts: their messengers and clients are simulated by the server.
  const demo = (accounts || []).some((a) => a.demo)
    ? h("div", { class: "demo-banner", role: "note" }, t("demo.banner"))
    : null;
  root.replaceChildren(...[header, demo, main].filter(Boolean));
  // One reporter for the page's life; it says nothing while nobody is signed in.
  if (!reporter) {
    reporter = new PresenceReporter(() => context && context.me,
      (user) => window.dispatchEvent(new CustomEvent("dialogi:status", { detail: user })));
  }
  context.presence = reporter;
  // R45: this browser's push subscription, renewed at each sign-in (its user may differ).
  subscribePush();
  workstation = new Workstation(context);
  connect();
  route();
}

/**
 * The signed-in user's name with their status (R46): one press says "away", the next
 * "at work again". Colleagues see it where they choose someone.
 */
function statusButton(me) {
  const button = h("button", { type: "button", class: "who" });
  const show = (status) => {
    const away = status === "away";
    button.className = `who status ${away ? "away" : "online"}`;
    button.replaceChildren(me.display_name, h("span", { class: "status-mark" }, t(away ? "status.away" : "status.online")));
    button.title = t(away ? "status.set_online" : "status.set_away");
  };
  show(me.status);
  // Set away after idle minutes, or back, by the presence reporter.
  window.addEventListener("dialogi:status", ({ detail: user }) => {
    if (!context || user.id !== me.id) return;
    me.status = user.status;
    show(user.status);
  });
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const user = await api("PUT", "/api/v1/me/status", { status: me.status === "away" ? "online" : "away" });
      me.status = user.status;
      const known = context.users.find((u) => u.id === user.id);
      if (known) known.status = user.status;
      show(user.status);
    } catch (e) {
      failed(e);
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

async function signOut() {
  await unsubscribePush();
  try {
    await api("DELETE", "/api/v1/session");
  } catch (e) {
    failed(e);
  }
  signIn();
}

/** The one EventSource: it reconnects by itself and resumes after the last event id. */
function connect() {
  if (stream) stream.close();
  stream = new EventSource("/api/v1/events");
  const live = $("#live");
  const state = (online) => {
    if (!live) return;
    live.className = `live ${online ? "online" : "offline"}`;
    live.textContent = t(online ? "live.online" : "live.offline");
    live.title = live.textContent;
  };
  const online = (on) => window.dispatchEvent(new CustomEvent("dialogi:live", { detail: { type: "online", data: on } }));
  stream.onopen = () => {
    state(true);
    online(true);
  };
  stream.onerror = () => {
    state(false);
    online(false);
    // A closed stream (e.g. the session ended) is not retried by the browser: check why.
    if (stream.readyState === EventSource.CLOSED) {
      setTimeout(() => api("GET", "/api/v1/me").then(() => connect(), () => {}), 3000);
    }
  };
  for (const type of ["message", "dialog", "read", "counters", "delivery", "task", "mention", "presence", "resync"]) {
    stream.addEventListener(type, (event) => {
      let data = null;
      try {
        data = JSON.parse(event.data || "null");
      } catch {
        data = null;
      }
      window.dispatchEvent(new CustomEvent("dialogi:live", { detail: { type, data } }));
    });
  }
}

function route() {
  if (!context) return;
  const hash = location.hash || "#/";
  const page = $("#page");
  for (const link of document.querySelectorAll("nav a[data-route]")) link.classList.remove("active");
  const mark = (name) => {
    const link = document.querySelector(`nav a[data-route="${name}"]`);
    if (link) link.classList.add("active");
  };
  if (hash.startsWith("#/work")) {
    mark("work");
    myWork(page, context);
  } else if (hash.startsWith("#/report")) {
    mark("report");
    report(page, context);
  } else if (hash.startsWith("#/accounts")) {
    mark("accounts");
    accounts(page, context);
  } else if (hash.startsWith("#/people")) {
    mark("people");
    people(page, context);
  } else if (hash.startsWith("#/rules")) {
    mark("rules");
    rules(page, context);
  } else if (hash.match(/^#\/clients\/\d+/)) {
    clientCard(page, context, Number(hash.match(/^#\/clients\/(\d+)/)[1]));
  } else if (hash.match(/^#\/interests\/\d+/)) {
    interestPage(page, context, Number(hash.match(/^#\/interests\/(\d+)/)[1]));
  } else if (hash.startsWith("#/replies")) {
    mark("replies");
    replies(page, context);
  } else if (hash.startsWith("#/reasons")) {
    mark("reasons");
    reasons(page, context);
  } else {
    mark("inbox");
    const match = hash.match(/^#\/dialogs\/(\d+)/);
    workstation.show(page, match ? Number(match[1]) : null);
    return;
  }
  // A dialog is viewed only while the workstation shows it (R46).
  if (reporter) reporter.view(null);
}

window.addEventListener("hashchange", route);
window.addEventListener("dialogi:signed-out", () => {
  if (context) signIn();
});
boot();
