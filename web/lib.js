// Shared helpers of the web client: building elements (text always goes in as text, never
// as HTML), calling the API with the session's CSRF token, dates, and modal dialogs.

import { t, has } from "./i18n.js";

/** Builds an element: `h("button", {class: "x", onclick: f}, "text", child)`. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      node.className = value;
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else if (value === true) {
      node.setAttribute(key, "");
    } else {
      node.setAttribute(key, String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** An API failure: the HTTP status and the server's `{error, message}`. */
export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.field = field || null;
  }

  /** What to tell the user, in their language: by the field, else by the code. */
  get text() {
    if (this.field && has(`error.field.${this.field}`)) return t(`error.field.${this.field}`);
    if (this.code && has(`error.${this.code}`)) return t(`error.${this.code}`);
    return this.message;
  }
}

let csrf = null;
export function setCsrf(token) {
  csrf = token;
}

/** Calls the API; JSON in and out. Unsafe methods carry the CSRF token; `extra` adds
 * headers (an `Idempotency-Key`). */
export async function api(method, path, body, extra = {}) {
  const headers = { Accept: "application/json", ...extra };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "offline", t("error.offline"));
  }
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : await response.text();
  if (!response.ok) {
    if (response.status === 401) window.dispatchEvent(new CustomEvent("dialogi:signed-out"));
    throw new ApiError(response.status, data && data.error, data && data.message, data && data.field);
  }
  return data;
}

/**
 * As `api`, for a large body whose upload the user watches: `onProgress(fraction)` hears
 * how much of it has been sent (fetch cannot tell; XMLHttpRequest can).
 */
export function apiWithProgress(method, path, body, extra, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, path);
    xhr.withCredentials = true;
    const headers = { Accept: "application/json", "Content-Type": "application/json", ...extra };
    if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => {
      if (event.lengthComputable && event.total) onProgress(event.loaded / event.total);
    };
    xhr.onerror = () => reject(new ApiError(0, "offline", t("error.offline")));
    xhr.onload = () => {
      let data = null;
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        data = xhr.responseText;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(data);
        return;
      }
      if (xhr.status === 401) window.dispatchEvent(new CustomEvent("dialogi:signed-out"));
      reject(new ApiError(xhr.status, data && data.error, data && data.message, data && data.field));
    };
    xhr.send(JSON.stringify(body));
  });
}

/** A POST that outlives the page (sent as the tab closes); its answer is not awaited. */
export function beacon(path, body) {
  const headers = { "Content-Type": "application/json" };
  if (csrf) headers["X-CSRF-Token"] = csrf;
  fetch(path, { method: "POST", headers, credentials: "same-origin", keepalive: true, body: JSON.stringify(body) })
    .catch(() => {});
}

/** "14:05" today, "12 нояб., 14:05" otherwise. */
export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  const today = new Date();
  const sameDay = date.toDateString() === today.toDateString();
  return date.toLocaleString(document.documentElement.lang, sameDay
    ? { hour: "2-digit", minute: "2-digit" }
    : { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

/** A short notice at the bottom of the page. */
export function toast(message, kind = "info") {
  const box = $("#toasts") || document.body.appendChild(h("div", { id: "toasts", role: "status", "aria-live": "polite" }));
  const item = h("div", { class: `toast ${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 8000 : 4000);
}

/** Shows what went wrong with an API call. */
export function failed(error) {
  toast(error instanceof ApiError ? error.text : String(error), "error");
}

/**
 * A modal dialog with a form. `fields` build the body; `submit(form)` returns a promise;
 * the dialog closes when it resolves and shows the error when it rejects.
 */
export function modal({ title, body, submitLabel, submit, wide }) {
  // Focus goes back where it was when the modal closes, however it closes.
  const opener = document.activeElement;
  const error = h("p", { class: "form-error", role: "alert" });
  const submitButton = submit ? h("button", { type: "submit", class: "primary" }, submitLabel || t("save")) : null;
  const form = h("form", { class: "modal-body" }, body, error,
    h("div", { class: "modal-actions" },
      h("button", { type: "button", class: "secondary", onclick: () => close() }, submit ? t("cancel") : t("close")),
      submitButton));
  const heading = h("h2", { id: `modal-${Date.now()}` }, title);
  const dialog = h("dialog", { class: wide ? "modal wide" : "modal", "aria-labelledby": heading.id }, heading, form);
  const restore = () => {
    if (opener && opener.isConnected && !opener.disabled && typeof opener.focus === "function") {
      opener.focus();
      return;
    }
    // The button that opened it is gone or disabled now (a closed dialog's "Close"): the
    // work goes on in the list.
    const fallback = document.querySelector(".dialog-list") || document.querySelector("main");
    if (fallback) fallback.focus();
  };
  const close = () => {
    dialog.close();
    dialog.remove();
    restore();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (submitButton && submitButton.disabled) return;
    error.textContent = "";
    if (submitButton) submitButton.disabled = true;
    try {
      // A submit that answers "keep" leaves the dialog open (a search shows its results).
      const outcome = await submit(new FormData(form), form);
      if (outcome !== "keep") close();
    } catch (e) {
      error.textContent = e instanceof ApiError ? e.text : (e && e.message) || String(e);
    } finally {
      if (submitButton) submitButton.disabled = false;
    }
  });
  dialog.addEventListener("cancel", () => {
    dialog.remove();
    restore();
  });
  document.body.append(dialog);
  dialog.showModal();
  const first = form.querySelector("input:not([type=hidden]), select, textarea");
  if (first) first.focus();
  return { dialog, close };
}

/** A labelled form field. */
export function field(label, control) {
  return h("label", { class: "field" }, h("span", {}, label), control);
}

/** Reads a File as base64 (without the data: prefix). */
export function base64Of(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}
