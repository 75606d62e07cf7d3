//! MAX bots (R39), VK's messenger, through its Bot API (`platform-api2.max.ru`, the
//! `max-messenger/api-schema` OpenAPI document): the token in the `Authorization` header
//! (a bare token, no `Bearer`), inbound by a webhook subscription whose secret comes back
//! in `X-Max-Bot-Api-Secret` (checked in constant time before anything is parsed) or by
//! long polling `GET /updates` with its `marker` (saved after the commit, like Telegram's
//! offset), outbound `POST /messages` with files through `POST /uploads`, and our own
//! messages edited (`PUT /messages`) and deleted (`DELETE /messages`).
//!
//! Ids: a message is its `body.mid`. The interlocutor of a one-to-one dialog is the
//! person (`sender.user_id`, answered with `?user_id=`); a group chat is one interlocutor
//! named `chat:{chat_id}` (answered with `?chat_id=`) whose messages each carry their
//! author. `recipient.user_id` of an inbound message is the bot itself, never the person.
//!
//! MAX reports no delivery or reading of a message; `bot_stopped` (the person stopped or
//! deleted the bot) blocks the interlocutor and `bot_started` unblocks them. Members
//! joining or leaving a group (`user_added`, `user_removed`) are acknowledged and not
//! stored: a group's dialog is its messages.

use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};

use super::net::{self, Downloaded};
use super::{
    Channel, ChannelError, Delivery, MediaRef, Outgoing, OutgoingFile, PollBatch, PollState,
    SendOutcome, WebhookError, WebhookRequest,
};
use crate::security::secrets_equal;

use self::updates::{person_name, receipt, translate};

/// The hosts this platform's clients connect to by default: the API, the upload servers
/// (`iu`/`fu.oneme.ru` for pictures and files, `vu.okcdn.ru` for video) and the media
/// CDNs; the administrator's `outbound_hosts` setting replaces them (R47).
pub const MAX_HOSTS: &[&str] = &[
    "platform-api2.max.ru",
    "*.max.ru",
    "*.oneme.ru",
    "*.okcdn.ru",
    "*.mycdn.me",
];

const DEFAULT_API: &str = "https://platform-api2.max.ru";
pub const SECRET_HEADER: &str = "X-Max-Bot-Api-Secret";
/// The longest text of one MAX message; a longer reply goes out in parts.
pub const MAX_TEXT_CHARS: usize = 4000;
/// The updates we subscribe to and poll for.
const WANTED_UPDATES: [&str; 7] = [
    "message_created",
    "message_edited",
    "message_removed",
    "bot_started",
    "bot_stopped",
    "user_added",
    "user_removed",
];
/// How often a message whose file MAX is still processing (`attachment.not.ready`) is
/// sent again at once, with pauses growing from this one, before the outbox retries.
const NOT_READY_TRIES: u32 = 3;
const NOT_READY_PAUSE: Duration = Duration::from_millis(500);
/// The prefix of a group chat's interlocutor id.
const CHAT: &str = "chat:";

pub type Credentials = crate::channels::BotCredentials;

pub struct Max {
    api: Url,
    /// Long-poll waits ride on this client; every other call has `call_timeout`.
    http: reqwest::Client,
    call_timeout: Duration,
    credentials: Credentials,
}

/// A MAX call that did not succeed: the transport, or MAX's answer with its status and
/// error body (`{"code", "message"}`).
enum MaxFailure {
    Transport(reqwest::Error),
    Api {
        status: StatusCode,
        code: String,
        message: String,
        retry_after: Option<Duration>,
    },
}

impl Max {
    pub fn new(credentials: Credentials) -> Result<Self, ChannelError> {
        let api = net::base_url(credentials.api_url.as_deref(), DEFAULT_API)?;
        Ok(Self {
            http: net::client(
                net::CALL_TIMEOUT + Duration::from_secs(100),
                &api,
                MAX_HOSTS,
            )?,
            api,
            call_timeout: net::call_timeout(credentials.timeout_secs),
            credentials,
        })
    }

    fn webhook_mode(&self) -> bool {
        self.credentials.mode.as_deref() != Some("polling")
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Url {
        let mut url = self.api.clone();
        url.set_path(&format!(
            "{}/{}",
            self.api.path().trim_end_matches('/'),
            path.trim_start_matches('/')
        ));
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Calls the API with the token; the JSON answer, or why not.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, MaxFailure> {
        let mut request = self
            .http
            .request(method, self.url(path, query))
            .header(reqwest::header::AUTHORIZATION, &self.credentials.token)
            .timeout(timeout);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(MaxFailure::Transport)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = response.text().await.map_err(MaxFailure::Transport)?;
        let answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() && answer.is_object() {
            return Ok(answer);
        }
        let field = |name: &str| answer[name].as_str().unwrap_or_default().to_owned();
        Err(MaxFailure::Api {
            status,
            code: field("code"),
            message: if answer.is_object() {
                field("message")
            } else {
                "an answer that is not the Bot API's JSON".into()
            },
            retry_after,
        })
    }

    /// Uploads one file and returns its attachment for a message.
    async fn upload(&self, file: &OutgoingFile) -> Result<Value, MaxFailure> {
        let kind = if file.kind == "image" {
            "image"
        } else {
            "file"
        };
        let endpoint = self
            .call(
                Method::POST,
                "uploads",
                &[("type", kind.to_owned())],
                None,
                self.call_timeout,
            )
            .await?;
        let target = endpoint["url"]
            .as_str()
            .and_then(|u| Url::parse(u).ok())
            .ok_or_else(|| MaxFailure::Api {
                status: StatusCode::OK,
                code: "upload.url".into(),
                message: "POST /uploads named no upload address".into(),
                retry_after: None,
            })?;
        let part =
            reqwest::multipart::Part::bytes(file.bytes.clone()).file_name(file.file_name.clone());
        // The upload server needs no token: it is not sent there.
        let uploaded: Value = self
            .http
            .post(target)
            .multipart(reqwest::multipart::Form::new().part("data", part))
            .timeout(self.call_timeout.max(Duration::from_secs(60)))
            .send()
            .await
            .map_err(MaxFailure::Transport)?
            .error_for_status()
            .map_err(MaxFailure::Transport)?
            .json()
            .await
            .map_err(MaxFailure::Transport)?;
        let payload = if kind == "image" {
            json!({ "photos": uploaded["photos"] })
        } else {
            json!({ "token": uploaded["token"] })
        };
        Ok(json!({ "type": kind, "payload": payload }))
    }

    /// Sends one message, again at once while MAX is still processing its file.
    async fn post_message(&self, recipient: &str, body: &Value) -> Result<String, MaxFailure> {
        let target = recipient_param(recipient);
        let mut pause = NOT_READY_PAUSE;
        let mut tries = 0;
        loop {
            match self
                .call(
                    Method::POST,
                    "messages",
                    std::slice::from_ref(&target),
                    Some(body),
                    self.call_timeout,
                )
                .await
            {
                Ok(answer) => {
                    return Ok(answer["message"]["body"]["mid"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned());
                }
                Err(MaxFailure::Api { code, .. })
                    if code == "attachment.not.ready" && tries < NOT_READY_TRIES =>
                {
                    tries += 1;
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                Err(failure) => return Err(failure),
            }
        }
    }

    /// The updates of a webhook body or a poll, as a delivery each.
    fn delivery(update: &Value) -> Delivery {
        Delivery {
            receipt: receipt(update),
            updates: translate(update).into_iter().collect(),
            answer: String::new(),
            raw: update.to_string(),
        }
    }
}

/// `("user_id", id)` for a person, `("chat_id", id)` for a group chat.
fn recipient_param(recipient: &str) -> (&'static str, String) {
    match recipient.strip_prefix(CHAT) {
        Some(chat) => ("chat_id", chat.to_owned()),
        None => ("user_id", recipient.to_owned()),
    }
}

impl MaxFailure {
    fn describe(&self) -> String {
        match self {
            MaxFailure::Transport(error) => net::without_url(error),
            MaxFailure::Api {
                status,
                code,
                message,
                ..
            } => format!("MAX {}: {code} {message}", status.as_u16())
                .trim()
                .to_owned(),
        }
    }

    fn into_send_outcome(self) -> SendOutcome {
        let reason = self.describe();
        match self {
            MaxFailure::Transport(error) => net::retry_on(&error),
            MaxFailure::Api {
                status,
                retry_after,
                code,
                ..
            } => {
                if status == StatusCode::TOO_MANY_REQUESTS {
                    SendOutcome::Retry {
                        after: Some(retry_after.unwrap_or(Duration::from_secs(1))),
                        reason,
                    }
                } else if status.is_server_error()
                    || code == "attachment.not.ready"
                    || (status.is_success() && code.is_empty())
                {
                    SendOutcome::Retry {
                        after: retry_after,
                        reason,
                    }
                } else {
                    // 403 `chat.denied`: the person stopped the bot (or it may not write
                    // to the chat any more).
                    SendOutcome::Failed {
                        reason,
                        recipient_gone: status == StatusCode::FORBIDDEN,
                    }
                }
            }
        }
    }

    fn into_channel_error(self) -> ChannelError {
        let text = self.describe();
        match self {
            MaxFailure::Transport(_) => ChannelError::Network(text),
            MaxFailure::Api {
                status: StatusCode::UNAUTHORIZED,
                ..
            } => ChannelError::Auth(text),
            MaxFailure::Api {
                status: StatusCode::TOO_MANY_REQUESTS,
                retry_after,
                ..
            } => ChannelError::RetryAfter(retry_after.unwrap_or(Duration::from_secs(1))),
            MaxFailure::Api { .. } => ChannelError::Api(text),
        }
    }
}

impl Channel for Max {
    fn webhook(&self, request: &WebhookRequest) -> Result<Delivery, WebhookError> {
        let expected = self.credentials.webhook_secret.as_deref().unwrap_or("");
        let got = request.header(SECRET_HEADER).unwrap_or("");
        if expected.is_empty() || !secrets_equal(got.as_bytes(), expected.as_bytes()) {
            return Err(WebhookError::Forbidden);
        }
        let update: Value = serde_json::from_slice(&request.body)
            .map_err(|e| WebhookError::Malformed(format!("not a MAX update: {e}")))?;
        if !update["update_type"].is_string() {
            return Err(WebhookError::Malformed(
                "not a MAX update: no `update_type`".into(),
            ));
        }
        Ok(Self::delivery(&update))
    }

    fn polls(&self) -> bool {
        !self.webhook_mode()
    }

    async fn poll(&self, state: &PollState, wait: Duration) -> Result<PollBatch, ChannelError> {
        let marker = state.get("marker").and_then(Value::as_i64);
        let mut query = vec![
            ("limit", "100".to_owned()),
            ("timeout", wait.as_secs().min(90).to_string()),
            ("types", WANTED_UPDATES.join(",")),
        ];
        if let Some(marker) = marker {
            query.push(("marker", marker.to_string()));
        }
        let answer = self
            .call(
                Method::GET,
                "updates",
                &query,
                None,
                wait + self.call_timeout,
            )
            .await
            .map_err(MaxFailure::into_channel_error)?;
        let deliveries = answer["updates"]
            .as_array()
            .map(|updates| updates.iter().map(Self::delivery).collect())
            .unwrap_or_default();
        let next = answer["marker"].as_i64().or(marker);
        Ok(PollBatch {
            deliveries,
            next_state: match next {
                Some(marker) => json!({ "marker": marker }),
                None => json!({}),
            },
        })
    }

    async fn send(&self, outgoing: &Outgoing) -> SendOutcome {
        // Pictures ride with the text; a file must be a message's only attachment, so
        // each goes first in a message of its own.
        let mut pictures = Vec::new();
        let mut last_mid = None;
        for file in &outgoing.files {
            let attachment = match self.upload(file).await {
                Ok(attachment) => attachment,
                Err(failure) => return failure.into_send_outcome(),
            };
            if file.kind == "image" {
                pictures.push(attachment);
                continue;
            }
            let body = json!({ "attachments": [attachment] });
            match self.post_message(&outgoing.recipient, &body).await {
                Ok(mid) => last_mid = Some(mid),
                Err(failure) => return failure.into_send_outcome(),
            }
        }
        let parts = text_parts(&outgoing.text);
        let count = parts.len();
        for (i, part) in parts.into_iter().enumerate() {
            let mut body = json!({ "text": part });
            // The pictures go with the last part of the text.
            if i + 1 == count && !pictures.is_empty() {
                body["attachments"] = Value::Array(std::mem::take(&mut pictures));
            }
            match self.post_message(&outgoing.recipient, &body).await {
                Ok(mid) => last_mid = Some(mid),
                Err(failure) => return failure.into_send_outcome(),
            }
        }
        if !pictures.is_empty() {
            let body = json!({ "attachments": pictures });
            match self.post_message(&outgoing.recipient, &body).await {
                Ok(mid) => last_mid = Some(mid),
                Err(failure) => return failure.into_send_outcome(),
            }
        }
        SendOutcome::Sent {
            channel_message_id: last_mid.filter(|mid| !mid.is_empty()),
        }
    }

    async fn check(&self) -> Result<String, ChannelError> {
        let me = self
            .call(Method::GET, "me", &[], None, self.call_timeout)
            .await
            .map_err(MaxFailure::into_channel_error)?;
        let name = person_name(&me);
        Ok(match me["username"].as_str() {
            Some(username) => format!("MAX bot «{name}» (@{username})"),
            None => format!("MAX bot «{name}» (id {})", me["user_id"]),
        })
    }

    async fn register_webhook(&self, account_id: i64) -> Result<(), ChannelError> {
        if !self.webhook_mode() {
            // A subscription stops long polling: none may be left.
            let listed = self
                .call(Method::GET, "subscriptions", &[], None, self.call_timeout)
                .await
                .map_err(MaxFailure::into_channel_error)?;
            for url in listed["subscriptions"]
                .as_array()
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .filter_map(|s| s["url"].as_str())
            {
                self.call(
                    Method::DELETE,
                    "subscriptions",
                    &[("url", url.to_owned())],
                    None,
                    self.call_timeout,
                )
                .await
                .map_err(MaxFailure::into_channel_error)?;
            }
            return Ok(());
        }
        let (Some(public), Some(secret)) = (
            self.credentials.public_url.as_deref(),
            self.credentials.webhook_secret.as_deref(),
        ) else {
            return Ok(());
        };
        let url = format!("{}/hooks/max/{account_id}", public.trim_end_matches('/'));
        let answer = self
            .call(
                Method::POST,
                "subscriptions",
                &[],
                Some(&json!({ "url": url, "update_types": WANTED_UPDATES, "secret": secret })),
                self.call_timeout,
            )
            .await
            .map_err(MaxFailure::into_channel_error)?;
        if answer["success"] == false {
            return Err(ChannelError::Api(format!(
                "MAX refused the subscription: {}",
                answer["message"].as_str().unwrap_or("no reason given")
            )));
        }
        Ok(())
    }

    async fn download(&self, media: &MediaRef) -> Result<Downloaded, ChannelError> {
        // Media links are the CDN's own: the bot's token is never sent there.
        net::download_link(
            &self.http,
            media.url.as_deref(),
            &self.api,
            MAX_HOSTS,
            "MAX",
        )
        .await
    }

    fn dialog_link(&self, external_id: &str, username: Option<&str>) -> Option<String> {
        // A bot's dialog has no web page; a person's public name is the nearest.
        if external_id.starts_with(CHAT) {
            return None;
        }
        username
            .filter(|u| !u.is_empty())
            .map(|u| format!("https://max.ru/{u}"))
    }

    fn pacing(&self, _recipient: &str) -> (Duration, Duration) {
        // Two messages a second per chat, 30 requests a second per bot.
        (Duration::from_millis(500), Duration::from_millis(34))
    }

    async fn edit(
        &self,
        _recipient: &str,
        channel_message_id: &str,
        text: &str,
    ) -> Result<(), ChannelError> {
        // Without `attachments` the message keeps its own.
        let answer = self
            .call(
                Method::PUT,
                "messages",
                &[("message_id", channel_message_id.to_owned())],
                Some(&json!({ "text": text })),
                self.call_timeout,
            )
            .await
            .map_err(MaxFailure::into_channel_error)?;
        succeeded(&answer)
    }

    async fn delete(&self, _recipient: &str, channel_message_id: &str) -> Result<(), ChannelError> {
        let answer = self
            .call(
                Method::DELETE,
                "messages",
                &[("message_id", channel_message_id.to_owned())],
                None,
                self.call_timeout,
            )
            .await
            .map_err(MaxFailure::into_channel_error)?;
        succeeded(&answer)
    }
}

/// `{"success": true}`, or MAX's reason why not.
fn succeeded(answer: &Value) -> Result<(), ChannelError> {
    if answer["success"] == false {
        return Err(ChannelError::Api(format!(
            "MAX: {}",
            answer["message"].as_str().unwrap_or("refused")
        )));
    }
    Ok(())
}

/// A text cut into parts MAX takes (at most [`MAX_TEXT_CHARS`] each, at a line break or
/// a space where there is one); no part for an empty text.
fn text_parts(text: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = text.trim_end();
    while !rest.is_empty() {
        if rest.chars().count() <= MAX_TEXT_CHARS {
            parts.push(rest.to_owned());
            break;
        }
        let limit = rest
            .char_indices()
            .nth(MAX_TEXT_CHARS)
            .map_or(rest.len(), |(at, _)| at);
        let head = &rest[..limit];
        let cut = head
            .rfind('\n')
            .or_else(|| head.rfind(' '))
            .filter(|at| *at > limit / 2)
            .unwrap_or(limit);
        parts.push(rest[..cut].trim_end().to_owned());
        rest = rest[cut..].trim_start();
    }
    parts
}

#[cfg(test)]
mod tests;
mod updates;
