// Dialogi's service worker: the workstation installs as an app and opens without a
// network. The page and its files are fetched from the server first (a new version shows
// at once) and kept; when the server cannot be reached the kept copy is used, and the
// page then says it is offline. The API and the event stream are never cached.

const CACHE = "dialogi-shell-v4";
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
