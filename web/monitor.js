// Dialogi dashboard: live figures from GET /api/v1/monitor/events (SSE). Every text goes
// in through textContent; nothing from the server is ever parsed as HTML.

const english = (navigator.language || "").toLowerCase().startsWith("en");
const TEXT = {
  title: "Dialog monitor", offline: "offline", online: "live", login: "Login", password: "Password",
  signin: "Sign in", new: "New", accepted: "In work", returned: "Returned", closed: "Closed",
  unanswered: "Waiting for an answer", oldest: "Longest wait", in: "Inbound per minute",
  out: "Outbound per minute", subscribers: "SSE subscribers", spark: "Messages per minute: inbound and outbound",
  "by-account": "By account", account: "Account", changes: "Status changes",
};
const RU = { offline: "нет связи", online: "на связи" };
const STATUS = english
  ? { new: "new", accepted: "accepted", returned: "returned", closed: "closed" }
  : { new: "новый", accepted: "принят", returned: "возвращён", closed: "закрыт" };

if (english) {
  document.documentElement.lang = "en";
  for (const node of document.querySelectorAll("[data-text]")) {
    const text = TEXT[node.dataset.text];
    if (text) node.textContent = text;
  }
}
const say = (key) => (english ? TEXT[key] : RU[key]) || key;

const $ = (id) => document.getElementById(id);
const accountNames = new Map();
const history = { in: [], out: [] };
const HISTORY = 60;

function setState(online) {
  const state = $("state");
  state.className = "state " + (online ? "online" : "offline");
  state.textContent = say(online ? "online" : "offline");
}

function duration(seconds) {
  if (seconds == null) return "–";
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(s).padStart(2, "0");
}

function sparkline() {
  const canvas = $("spark");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const max = Math.max(1, ...history.in, ...history.out);
  const draw = (series, color) => {
    ctx.strokeStyle = color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    series.forEach((v, i) => {
      const x = (i / (HISTORY - 1)) * canvas.width;
      const y = canvas.height - 4 - (v / max) * (canvas.height - 8);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  };
  draw(history.in, "#2e6bd1");
  draw(history.out, "#2e8b57");
}

function showFigures(f) {
  const total = { new: 0, accepted: 0, returned: 0, closed: 0 };
  const byAccount = new Map();
  for (const row of f.dialogs || []) {
    total[row.status] = (total[row.status] || 0) + row.count;
    if (!byAccount.has(row.account_id)) byAccount.set(row.account_id, { new: 0, accepted: 0, returned: 0, closed: 0 });
    byAccount.get(row.account_id)[row.status] = row.count;
  }
  $("v-new").textContent = total.new;
  $("v-accepted").textContent = total.accepted;
  $("v-returned").textContent = total.returned;
  $("v-unanswered").textContent = f.unanswered;
  $("v-oldest").textContent = duration(f.oldest_waiting_seconds);
  $("v-in").textContent = f.messages_in_last_minute;
  $("v-out").textContent = f.messages_out_last_minute;
  $("v-subscribers").textContent = f.sse_subscribers;

  const body = $("accounts").tBodies[0];
  body.replaceChildren();
  for (const [id, counts] of byAccount) {
    const tr = document.createElement("tr");
    for (const value of [accountNames.get(id) || "#" + id, counts.new, counts.accepted, counts.returned, counts.closed]) {
      const td = document.createElement("td");
      td.textContent = value;
      tr.append(td);
    }
    body.append(tr);
  }
  for (const [key, value] of [["in", f.messages_in_last_minute], ["out", f.messages_out_last_minute]]) {
    history[key].push(value);
    if (history[key].length > HISTORY) history[key].shift();
  }
  sparkline();
}

function showChange(change) {
  const item = document.createElement("li");
  const account = accountNames.get(change.account_id) || "#" + change.account_id;
  item.textContent = new Date().toLocaleTimeString() + " · " + account + " · #" + change.dialog_id + " → " + (STATUS[change.status] || change.status);
  const list = $("changes");
  list.prepend(item);
  while (list.children.length > 50) list.lastChild.remove();
}

async function loadAccounts() {
  const response = await fetch("/api/v1/accounts");
  if (!response.ok) return;
  for (const account of await response.json()) accountNames.set(account.id, account.name);
}

function watch() {
  $("signin").hidden = true;
  $("board").hidden = false;
  loadAccounts();
  const source = new EventSource("/api/v1/monitor/events");
  source.onopen = () => setState(true);
  source.onerror = () => setState(false);
  source.addEventListener("figures", (e) => showFigures(JSON.parse(e.data)));
  source.addEventListener("status", (e) => showChange(JSON.parse(e.data)));
}

async function start() {
  const me = await fetch("/api/v1/me");
  if (me.ok) return watch();
  const form = $("signin");
  form.hidden = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const response = await fetch("/api/v1/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ login: data.get("login"), password: data.get("password") }),
    });
    if (response.ok) return watch();
    const body = await response.json().catch(() => ({}));
    $("signin-error").textContent = body.message || response.statusText;
  });
}

start();
