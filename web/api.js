// The workstation's calls to the REST API, one function per endpoint (API.md). Each
// returns the parsed answer or throws an ApiError whose `text` is in the user's language.

import { api, apiWithProgress } from "./lib.js";

const dialog = (id, rest = "") => `/api/v1/dialogs/${id}${rest}`;

/** A page of the dialog list: `params` are the list's query (section, filters, cursor). */
export const listDialogs = (params) => api("GET", `/api/v1/dialogs?${new URLSearchParams(params)}`);
export const counters = () => api("GET", "/api/v1/dialogs/counters");
export const getDialog = (id) => api("GET", dialog(id));
/** A page of a dialog's messages, oldest first; `before` is the previous page's cursor. */
export const listMessages = (id, before, limit = 50) =>
  api("GET", dialog(id, `/messages?${new URLSearchParams(before ? { limit, before } : { limit })}`));
/** A reply; `key` is its Idempotency-Key, the same on every retry of this reply. */
export const reply = (id, body, key) => api("POST", dialog(id, "/messages"), body, { "Idempotency-Key": key });
/** A reply with files, its upload reported to `onProgress(fraction)`. */
export const replyWithFiles = (id, body, key, onProgress) =>
  apiWithProgress("POST", dialog(id, "/messages"), body, { "Idempotency-Key": key }, onProgress);
export const editMessage = (id, messageId, text) => api("PATCH", dialog(id, `/messages/${messageId}`), { text });
export const react = (id, messageId, emoji) => api("PUT", dialog(id, `/messages/${messageId}/reaction`), { emoji });
export const deleteMessage = (id, messageId) => api("DELETE", dialog(id, `/messages/${messageId}`));
/** Sends a failed reply again (R44): the same message, a new attempt. */
export const retryMessage = (id, messageId) => api("POST", dialog(id, `/messages/${messageId}/retry`), {});
export const markRead = (id, upTo) => api("POST", dialog(id, "/read"), { up_to_message_id: upTo });
export const accept = (id) => api("POST", dialog(id, "/accept"), {});
export const closeDialog = (id, body) => api("POST", dialog(id, "/close"), body);
export const redirect = (id, body) => api("POST", dialog(id, "/redirect"), body);
export const rename = (id, title) => api("PATCH", dialog(id), { title });
export const acceptLead = (id, body) => api("POST", dialog(id, "/lead"), body);
export const linkInterest = (id, interestId) => api("PUT", dialog(id, "/interest"), { interest_id: interestId });
export const createTask = (id, body) => api("POST", dialog(id, "/tasks"), body);
export const redirectTargets = (id) => api("GET", dialog(id, "/redirect-targets"));
/** A note for colleagues (R42); `key` is its Idempotency-Key, as for a reply. */
export const addNote = (id, text, key) => api("POST", dialog(id, "/notes"), { text }, { "Idempotency-Key": key });
export const viewers = (id) => api("GET", dialog(id, "/viewers"));
/** Quick replies usable in an account's dialogs (R41), the most used first. */
export const quickReplies = (accountId) => api("GET", `/api/v1/quick-replies?account_id=${accountId}`);
export const quickReplyUsed = (id) => api("POST", `/api/v1/quick-replies/${id}/use`, {});
export const siteLink = (id) => api("GET", dialog(id, "/site-link"));
export const fetchAccount = (accountId) => api("POST", `/api/v1/accounts/${accountId}/fetch`, {});
export const clientDialogs = (clientId) => api("GET", `/api/v1/clients/${clientId}/dialogs`);
export const clientDialogMessages = (clientId, dialogId, before) =>
  api("GET", `/api/v1/clients/${clientId}/dialogs/${dialogId}/messages?limit=100${before ? `&before=${before}` : ""}`);
export const clientMessages = (clientId, q) =>
  api("GET", `/api/v1/clients/${clientId}/messages?${new URLSearchParams({ q })}`);
export const clientAttachments = (clientId, kind) =>
  api("GET", `/api/v1/clients/${clientId}/attachments${kind ? `?kind=${kind}` : ""}`);
export const activeInterests = (clientId) =>
  api("GET", `/api/v1/interests?${new URLSearchParams({ client_id: clientId, status: "active" })}`);
export const listUsers = () => api("GET", "/api/v1/users?limit=200");
/** Who views or types where, and who is online, away or offline (R46). */
export const presence = () => api("GET", "/api/v1/presence");
