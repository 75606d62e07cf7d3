// Notifications that cannot be missed (R45): a sound and a desktop notification, each
// chosen by the user per kind — a new dialog in my accounts, a new message in a dialog I
// took, a dialog handed to me or my role, a mention, a task given to me. The browser is
// asked once, at the first sign-in; the unread count also shows on the tab's icon.

import { h, toast, modal, api } from "./lib.js";
import { t } from "./i18n.js";

export const KINDS = ["new", "message", "redirect", "mention", "task"];
const PREFS = "dialogi.notify.prefs";
const ASKED = "dialogi.notify.asked";

/** {kind: {sound, desktop}}; everything on until the user says otherwise. */
export function prefs() {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(PREFS) || "{}") || {};
  } catch {
    saved = {};
  }
  // The switch of earlier versions ("dialogi.notify" off) turned everything off.
  const off = localStorage.getItem("dialogi.notify") === "off";
  return Object.fromEntries(KINDS.map((k) => [k, { sound: !off, desktop: !off, ...(saved[k] || {}) }]));
}

function save(value) {
  localStorage.setItem(PREFS, JSON.stringify(value));
  localStorage.removeItem("dialogi.notify");
}

/** Tells the user of `kind`, as they chose: a tone, a desktop notice; with `withToast`
 * also a toast (what the list does not show by itself). */
export function notify(kind, text, body = "", tag = "", withToast = false) {
  if (withToast) toast(text);
  const chosen = prefs()[kind] || {};
  if (chosen.sound) beep();
  if (chosen.desktop && "Notification" in window && Notification.permission === "granted") {
    try {
      new Notification(text, { body, tag: tag || undefined });
    } catch {
      // A browser that only notifies through a service worker: the toast said it.
    }
  }
}

/** At the first sign-in: one question, with the button the browser requires. */
export function askOnce(place) {
  if (localStorage.getItem(ASKED) || !("Notification" in window) || Notification.permission !== "default") return;
  // The workstation is built again on each return to it: one question is enough.
  if (place.querySelector(":scope > .notify-ask")) return;
  const bar = h("div", { class: "notify-ask", role: "region", "aria-label": t("notify.title") },
    h("span", {}, t("notify.ask")),
    h("button", { type: "button", class: "primary", onclick: async () => {
      localStorage.setItem(ASKED, "1");
      await Notification.requestPermission();
      subscribePush();
      bar.remove();
    } }, t("notify.allow")),
    h("button", { type: "button", class: "link", onclick: () => { localStorage.setItem(ASKED, "1"); bar.remove(); } }, t("notify.later")));
  place.prepend(bar);
}

/** The per-kind choices, in a modal. */
export function settings() {
  const current = prefs();
  const box = (kind, what) => h("input", { type: "checkbox", name: `${kind}.${what}`, checked: current[kind][what],
    "aria-label": `${t(`notify.kind.${kind}`)}: ${t(`notify.${what}`)}` });
  const denied = "Notification" in window && Notification.permission === "denied";
  modal({
    title: t("notify.title"),
    body: [
      h("table", { class: "grid notify-prefs" },
        h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, t("notify.sound")), h("th", {}, t("notify.desktop")))),
        h("tbody", {}, KINDS.map((kind) => h("tr", {}, h("td", {}, t(`notify.kind.${kind}`)),
          h("td", {}, box(kind, "sound")), h("td", {}, box(kind, "desktop")))))),
      denied ? h("p", { class: "hint" }, t("notify.denied")) : null,
    ],
    submit: async (data) => {
      save(Object.fromEntries(KINDS.map((k) => [k, { sound: data.get(`${k}.sound`) === "on", desktop: data.get(`${k}.desktop`) === "on" }])));
      if ("Notification" in window && Notification.permission === "default"
        && KINDS.some((k) => data.get(`${k}.desktop`) === "on")) {
        await Notification.requestPermission();
        subscribePush();
      }
      toast(t("ok"));
    },
  });
}

/** A short, quiet tone. */
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
    // No audio: the toast and the notification are enough.
  }
}

let plainIcon = null;
/** The unread count on the tab's icon (and nothing when there is none). */
export function badge(count) {
  const link = document.querySelector('link[rel="icon"]');
  if (!link) return;
  plainIcon = plainIcon || link.href;
  if (!count) {
    link.href = plainIcon;
    return;
  }
  const image = new Image();
  image.onload = () => {
    const canvas = document.createElement("canvas");
    canvas.width = 64;
    canvas.height = 64;
    const g = canvas.getContext("2d");
    g.drawImage(image, 0, 0, 64, 64);
    g.fillStyle = "#b3261e";
    g.beginPath();
    g.arc(44, 20, 20, 0, 2 * Math.PI);
    g.fill();
    g.fillStyle = "#fff";
    g.font = "bold 26px sans-serif";
    g.textAlign = "center";
    g.textBaseline = "middle";
    g.fillText(count > 99 ? "99" : String(count), 44, 21);
    link.href = canvas.toDataURL("image/png");
  };
  image.src = plainIcon;
}

/**
 * Web push (R45): with the permission given, this browser subscribes with its push
 * service under the server's key and hands the endpoint to the server, which then wakes
 * the service worker even with every tab closed. Where there is no push service (a
 * private window, a browser without one) the open tab's notifications still work.
 */
export async function subscribePush() {
  if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)
    || Notification.permission !== "granted") return;
  try {
    const registration = await navigator.serviceWorker.ready;
    let subscription = await registration.pushManager.getSubscription();
    if (!subscription) {
      const { public_key: key } = await api("GET", "/api/v1/push/key");
      const raw = atob(key.replace(/-/g, "+").replace(/_/g, "/"));
      subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true, applicationServerKey: Uint8Array.from(raw, (c) => c.charCodeAt(0)) });
    }
    await api("PUT", "/api/v1/push/subscription", { endpoint: subscription.endpoint });
  } catch {
    // No push service here: said nowhere, the open tab notifies as before.
  }
}

/** Signing out: this browser stops being pushed to for the user leaving it. */
export async function unsubscribePush() {
  try {
    if (!("serviceWorker" in navigator)) return;
    const registration = await navigator.serviceWorker.getRegistration();
    const subscription = registration && await registration.pushManager.getSubscription();
    if (subscription) await api("DELETE", "/api/v1/push/subscription", { endpoint: subscription.endpoint });
  } catch {
    // Not subscribed, or already forgotten.
  }
}
