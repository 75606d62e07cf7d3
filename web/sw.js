// Dialogi's service worker: the workstation installs as an app and opens without a
// network. The page and its files are fetched from the server first (a new version shows
// at once) and kept; when the server cannot be reached the kept copy is used, and the
// page then says it is offline. The API and the event stream are never cached.

const CACHE = "dialogi-shell-v6";
const SHELL = ["/", "/manifest.webmanifest", "/assets/app.css", "/assets/app.js", "/assets/lib.js",
  "/assets/i18n.js", "/assets/i18n-ru.js", "/assets/i18n-en.js", "/assets/api.js", "/assets/store.js",
  "/assets/list.js", "/assets/dialog.js", "/assets/messages.js", "/assets/composer.js", "/assets/modals.js",
  "/assets/workstation.js", "/assets/notify.js", "/assets/presence.js", "/assets/panel.js", "/assets/pages.js", "/assets/admin.js", "/assets/crm.js", "/assets/icon-192.png"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((keys) => Promise.all(keys.filter((key) => key !== CACHE).map((key) => caches.delete(key))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  const shell = url.pathname === "/" || url.pathname.startsWith("/assets/") || url.pathname === "/manifest.webmanifest";
  if (!shell) return;
  event.respondWith(fetch(event.request).then((response) => {
    if (response.ok) {
      const copy = response.clone();
      caches.open(CACHE).then((cache) => cache.put(event.request, copy));
    }
    return response;
  }).catch(() => caches.match(event.request, { ignoreSearch: true })
    .then((kept) => kept || caches.match("/"))));
});

// R45: a push from the server carries nothing; the worker reads what is new from the API
// (the session's cookie goes with it) and says it, so a closed tab still notifies.
const RU = (self.navigator.language || "ru").toLowerCase().startsWith("ru");
const SAY = RU
  ? { mention: "Вас упомянули", task: "Новая задача", other: "Для вас есть новое в Dialogi", open: "Откройте рабочее место" }
  : { mention: "You were mentioned", task: "A new task", other: "Something new for you in Dialogi", open: "Open the workstation" };

async function whatIsNew() {
  try {
    const response = await fetch("/api/v1/my-work", { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!response.ok) return { title: SAY.other, body: SAY.open, url: "/" };
    const work = await response.json();
    const mention = (work.mentions || [])[0];
    if (mention) {
      return { title: SAY.mention, body: `${mention.author_name}: ${mention.text}`, url: `/#/dialogs/${mention.dialog_id}`, tag: `mention-${mention.message_id}` };
    }
    const task = [...(work.tasks || [])].sort((a, b) => b.id - a.id)[0];
    if (task) return { title: SAY.task, body: task.title, url: task.dialog_id ? `/#/dialogs/${task.dialog_id}` : "/#/work", tag: `task-${task.id}` };
  } catch {
    // Offline or signed out: say that there is something, without what.
  }
  return { title: SAY.other, body: SAY.open, url: "/" };
}

self.addEventListener("push", (event) => {
  event.waitUntil((async () => {
    // An open, visible workstation has said it already (sound, notification, toast).
    const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    if (open.some((client) => client.visibilityState === "visible")) return;
    const news = await whatIsNew();
    await self.registration.showNotification(news.title, { body: news.body, tag: news.tag || "dialogi", data: { url: news.url }, icon: "/assets/icon-192.png" });
  })());
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = (event.notification.data && event.notification.data.url) || "/";
  event.waitUntil((async () => {
    const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    const client = open[0];
    if (client) {
      await client.focus();
      if ("navigate" in client) await client.navigate(url);
      return;
    }
    await self.clients.openWindow(url);
  })());
});
