//! VK community messages: the Callback API (confirmation handshake, `secret` in the body,
//! answer `ok`, `event_id` as the delivery's id) and the Bots Long Poll API (`failed`
//! 1/2/3), `messages.send` with a `random_id` derived from the installation's secret and
//! the outbox row, so a retry is never delivered twice and another installation's reply
//! is never taken for a repeat.
//!
//! Ids: a message is its VK id (unique per community) in a private chat, and
//! `{peer_id}_{conversation_message_id}` in a group conversation (where VK sends `id: 0`).
//! The interlocutor is the `peer_id`: a person, or a conversation named after its title,
//! whose messages each carry their author (`from_id`). Names come from `users.get`,
//! `groups.getById` and `messages.getConversationsById`, remembered per account.
//!
//! VK reports no delivery to a device; `message_read` (the person read the chat up to a
//! message) marks our messages there read.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Value, json};

use super::net::{self, Downloaded};
use super::{
    Channel, ChannelError, Delivery, MediaRef, Outgoing, OutgoingFile, PollBatch, PollState,
    SendOutcome, Update, WebhookError, WebhookRequest,
};
use crate::actors::Inbound;
use crate::db::clients::Sender;
use crate::db::dialogs::NewAttachment;
use crate::domain::content::{Content, Extras, Forward, Quote};
use crate::security::secrets_equal;

/// The hosts this platform's clients connect to by default (the API, the long poll server and the CDNs of photos, documents, audio and video); the
/// administrator's `outbound_hosts` setting replaces them (R47).
pub const VK_HOSTS: &[&str] = &[
    "api.vk.com",
    "*.vk.com",
    "*.userapi.com",
    "*.vkuser.net",
    "*.vk-cdn.net",
    "*.vkuseraudio.net",
    "*.vkuservideo.net",
    "*.mycdn.me",
];

const DEFAULT_API: &str = "https://api.vk.com/method";
const DEFAULT_VERSION: &str = "5.199";

#[derive(Debug, Clone, Deserialize)]
pub struct Credentials {
    pub group_id: Value,
    pub access_token: String,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default)]
    pub confirmation: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub api_url: Option<String>,
    /// Seconds one API call may take (default 20).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

pub struct Vk {
    group_id: i64,
    api: Url,
    /// Long-poll waits ride on this client; every other call has `call_timeout`.
    http: reqwest::Client,
    call_timeout: Duration,
    credentials: Credentials,
    /// Names already looked up: (name, screen name) by peer or author id.
    names: std::sync::Mutex<std::collections::HashMap<String, (String, Option<String>)>>,
}

/// The most names remembered per account; beyond it the memory starts afresh.
const NAMES_KEPT: usize = 10_000;

impl Vk {
    pub fn new(credentials: Credentials) -> Result<Self, ChannelError> {
        let group_id = match &credentials.group_id {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|id| *id > 0)
        .ok_or_else(|| ChannelError::Unsupported("group_id: a positive number".into()))?;
        let api = net::base_url(credentials.api_url.as_deref(), DEFAULT_API)?;
        Ok(Self {
            group_id,
            http: net::client(net::CALL_TIMEOUT + Duration::from_secs(30), &api, VK_HOSTS)?,
            api,
            call_timeout: net::call_timeout(credentials.timeout_secs),
            credentials,
            names: std::sync::Mutex::default(),
        })
    }

    fn version(&self) -> &str {
        self.credentials
            .api_version
            .as_deref()
            .unwrap_or(DEFAULT_VERSION)
    }

    /// Calls an API method; `Ok(response)` or the VK error as (code, text).
    async fn call(&self, method: &str, params: &[(&str, String)]) -> Result<Value, VkFailure> {
        let url = format!("{}/{method}", self.api.as_str().trim_end_matches('/'));
        let mut form: Vec<(&str, String)> = params.to_vec();
        form.push(("access_token", self.credentials.access_token.clone()));
        form.push(("v", self.version().to_owned()));
        let response = self
            .http
            .post(url)
            .form(&form)
            .timeout(self.call_timeout)
            .send()
            .await
            .map_err(VkFailure::Transport)?;
        let status = response.status();
        let body: Value = response.json().await.map_err(VkFailure::Transport)?;
        if let Some(error) = body.get("error") {
            return Err(VkFailure::Api {
                code: error["error_code"].as_i64().unwrap_or(0),
                text: error["error_msg"].as_str().unwrap_or("").to_owned(),
            });
        }
        match body.get("response") {
            Some(response) => Ok(response.clone()),
            None => Err(VkFailure::Api {
                code: 0,
                text: format!("an answer without `response` (HTTP {status})"),
            }),
        }
    }

    /// Uploads a file for a message to `peer` and returns its `attachment` reference
    /// (`photo{owner}_{id}_{key}` or `doc{owner}_{id}`).
    async fn upload(&self, file: &OutgoingFile, peer: &str) -> Result<String, VkFailure> {
        let image = file.kind == "image";
        let server = if image {
            self.call(
                "photos.getMessagesUploadServer",
                &[("peer_id", peer.to_owned())],
            )
            .await?
        } else {
            self.call(
                "docs.getMessagesUploadServer",
                &[("type", "doc".into()), ("peer_id", peer.to_owned())],
            )
            .await?
        };
        let upload_url = server["upload_url"].as_str().unwrap_or("").to_owned();
        let part =
            reqwest::multipart::Part::bytes(file.bytes.clone()).file_name(file.file_name.clone());
        let form = reqwest::multipart::Form::new().part(if image { "photo" } else { "file" }, part);
        let uploaded: Value = self
            .http
            .post(upload_url)
            .multipart(form)
            .timeout(self.call_timeout)
            .send()
            .await
            .map_err(VkFailure::Transport)?
            .json()
            .await
            .map_err(VkFailure::Transport)?;
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if image {
            let saved = self
                .call(
                    "photos.saveMessagesPhoto",
                    &[
                        ("photo", text(&uploaded["photo"])),
                        ("server", text(&uploaded["server"])),
                        ("hash", text(&uploaded["hash"])),
                    ],
                )
                .await?;
            let photo = &saved[0];
            let key = photo["access_key"]
                .as_str()
                .map(|k| format!("_{k}"))
                .unwrap_or_default();
            Ok(format!("photo{}_{}{key}", photo["owner_id"], photo["id"]))
        } else {
            let saved = self
                .call(
                    "docs.save",
                    &[
                        ("file", text(&uploaded["file"])),
                        ("title", file.file_name.clone()),
                    ],
                )
                .await?;
            let doc = &saved["doc"];
            Ok(format!("doc{}_{}", doc["owner_id"], doc["id"]))
        }
    }

    /// The envelopes of a callback or a long-poll batch, turned into a delivery.
    fn delivery(&self, envelope: &Value) -> Delivery {
        Delivery {
            receipt: envelope["event_id"].as_str().map(|id| format!("vk:{id}")),
            updates: translate(envelope).into_iter().collect(),
            answer: "ok".into(),
            raw: without_secret(envelope),
        }
    }

    async fn long_poll_server(&self) -> Result<(String, String, String), ChannelError> {
        let answer = self
            .call(
                "groups.getLongPollServer",
                &[("group_id", self.group_id.to_string())],
            )
            .await
            .map_err(VkFailure::into_channel_error)?;
        let text = |v: &Value| match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        Ok((
            text(&answer["server"]),
            text(&answer["key"]),
            text(&answer["ts"]),
        ))
    }
}

enum VkFailure {
    Transport(reqwest::Error),
    Api { code: i64, text: String },
}

impl VkFailure {
    fn into_send_outcome(self) -> SendOutcome {
        match self {
            VkFailure::Transport(error) => net::retry_on(&error),
            VkFailure::Api { code, text } => {
                let reason = format!("VK error {code}: {text}");
                match code {
                    6 | 10 => SendOutcome::Retry {
                        after: Some(Duration::from_secs(1)),
                        reason,
                    },
                    9 | 14 => SendOutcome::Retry {
                        after: Some(Duration::from_secs(60)),
                        reason,
                    },
                    7 | 18 | 900 | 901 | 902 | 915 | 916 => SendOutcome::Failed {
                        reason,
                        recipient_gone: true,
                    },
                    _ => SendOutcome::Failed {
                        reason,
                        recipient_gone: false,
                    },
                }
            }
        }
    }

    fn into_channel_error(self) -> ChannelError {
        match self {
            VkFailure::Transport(e) => ChannelError::Network(net::without_url(&e)),
            VkFailure::Api {
                code: 5 | 27 | 28,
                text,
            } => ChannelError::Auth(format!("VK error 5: {text}")),
            VkFailure::Api { code, text } => ChannelError::Api(format!("VK error {code}: {text}")),
        }
    }
}

impl Channel for Vk {
    fn webhook(&self, request: &WebhookRequest) -> Result<Delivery, WebhookError> {
        let envelope: Value = serde_json::from_slice(&request.body)
            .map_err(|e| WebhookError::Malformed(format!("not a VK callback: {e}")))?;
        let expected = self.credentials.secret.as_deref().unwrap_or("");
        let got = envelope["secret"].as_str().unwrap_or("");
        if expected.is_empty() || !secrets_equal(got.as_bytes(), expected.as_bytes()) {
            return Err(WebhookError::Forbidden);
        }
        if envelope["group_id"].as_i64() != Some(self.group_id) {
            return Err(WebhookError::Forbidden);
        }
        if envelope["type"] == "confirmation" {
            let code = self
                .credentials
                .confirmation
                .clone()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    WebhookError::Malformed(
                        "no confirmation string is configured for this account".into(),
                    )
                })?;
            return Ok(Delivery {
                receipt: None,
                updates: Vec::new(),
                answer: code,
                raw: String::new(),
            });
        }
        Ok(self.delivery(&envelope))
    }

    fn polls(&self) -> bool {
        self.credentials.mode.as_deref() == Some("longpoll")
    }

    async fn poll(&self, state: &PollState, wait: Duration) -> Result<PollBatch, ChannelError> {
        let field = |name: &str| state[name].as_str().unwrap_or("").to_owned();
        let (mut server, mut key, mut ts) = (field("server"), field("key"), field("ts"));
        if server.is_empty() || key.is_empty() {
            let (s, k, t) = self.long_poll_server().await?;
            server = s;
            key = k;
            if ts.is_empty() {
                ts = t;
            }
        }
        let mut url = Url::parse(&server)
            .map_err(|e| ChannelError::Api(format!("VK long-poll server: {e}")))?;
        url.query_pairs_mut()
            .append_pair("act", "a_check")
            .append_pair("key", &key)
            .append_pair("ts", &ts)
            .append_pair("wait", &wait.as_secs().to_string());
        let answer: Value = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| ChannelError::Network(net::without_url(&e)))?
            .json()
            .await
            .map_err(|e| ChannelError::Network(net::without_url(&e)))?;
        let number_or_text = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let state =
            |server: &str, key: &str, ts: &str| json!({"server": server, "key": key, "ts": ts});
        match answer["failed"].as_i64() {
            // History outdated: go on from the given ts (some events may be lost).
            Some(1) => {
                let ts = number_or_text(&answer["ts"]).unwrap_or(ts);
                Ok(PollBatch {
                    deliveries: Vec::new(),
                    next_state: state(&server, &key, &ts),
                })
            }
            // The key expired: a new key, the same ts.
            Some(2) => Ok(PollBatch {
                deliveries: Vec::new(),
                next_state: state("", "", &ts),
            }),
            // Information lost: a new key and ts.
            Some(_) => Ok(PollBatch {
                deliveries: Vec::new(),
                next_state: state("", "", ""),
            }),
            None => {
                let next_ts = number_or_text(&answer["ts"]).unwrap_or(ts);
                let deliveries = answer["updates"]
                    .as_array()
                    .map(|updates| updates.iter().map(|u| self.delivery(u)).collect())
                    .unwrap_or_default();
                Ok(PollBatch {
                    deliveries,
                    next_state: state(&server, &key, &next_ts),
                })
            }
        }
    }

    async fn send(&self, outgoing: &Outgoing) -> SendOutcome {
        // The same reply always carries the same random_id: VK drops a repeat.
        let random_id = outgoing.random_id;
        let mut attachments = Vec::with_capacity(outgoing.files.len());
        for file in &outgoing.files {
            match self.upload(file, &outgoing.recipient).await {
                Ok(attachment) => attachments.push(attachment),
                Err(failure) => return failure.into_send_outcome(),
            }
        }
        let mut params = vec![
            ("peer_id", outgoing.recipient.clone()),
            ("random_id", random_id.to_string()),
            ("message", outgoing.text.clone()),
        ];
        if !attachments.is_empty() {
            params.push(("attachment", attachments.join(",")));
        }
        match self.call("messages.send", &params).await {
            Ok(id) => SendOutcome::Sent {
                channel_message_id: id.as_i64().map(|id| id.to_string()),
            },
            Err(failure) => failure.into_send_outcome(),
        }
    }

    async fn edit(
        &self,
        recipient: &str,
        channel_message_id: &str,
        text: &str,
    ) -> Result<(), ChannelError> {
        self.call(
            "messages.edit",
            &[
                ("peer_id", recipient.to_owned()),
                ("message_id", our_message_id(channel_message_id)?),
                ("message", text.to_owned()),
                ("group_id", self.group_id.to_string()),
            ],
        )
        .await
        .map(drop)
        .map_err(VkFailure::into_channel_error)
    }

    async fn delete(&self, recipient: &str, channel_message_id: &str) -> Result<(), ChannelError> {
        self.call(
            "messages.delete",
            &[
                ("peer_id", recipient.to_owned()),
                ("message_ids", our_message_id(channel_message_id)?),
                ("delete_for_all", "1".to_owned()),
                ("group_id", self.group_id.to_string()),
            ],
        )
        .await
        .map(drop)
        .map_err(VkFailure::into_channel_error)
    }

    async fn check(&self) -> Result<String, ChannelError> {
        let answer = self
            .call("groups.getById", &[("group_id", self.group_id.to_string())])
            .await
            .map_err(VkFailure::into_channel_error)?;
        let group = answer["groups"]
            .get(0)
            .or_else(|| answer.get(0))
            .cloned()
            .unwrap_or_default();
        Ok(format!(
            "VK community «{}» (id {})",
            group["name"].as_str().unwrap_or("?"),
            self.group_id
        ))
    }

    async fn download(&self, media: &MediaRef) -> Result<Downloaded, ChannelError> {
        net::download_link(&self.http, media.url.as_deref(), &self.api, VK_HOSTS, "VK").await
    }

    fn dialog_link(&self, external_id: &str, _username: Option<&str>) -> Option<String> {
        Some(format!(
            "https://vk.com/gim{}?sel={external_id}",
            self.group_id
        ))
    }

    fn pacing(&self, _recipient: &str) -> (Duration, Duration) {
        // 20 requests a second per community token.
        (Duration::ZERO, Duration::from_millis(50))
    }

    async fn lookup_name(&self, external_id: &str) -> Option<(String, Option<String>)> {
        if let Some(known) = self.remembered(external_id) {
            return Some(known);
        }
        let id: i64 = external_id.parse().ok()?;
        let found = if id >= CONVERSATION_PEERS {
            let answer = self
                .call(
                    "messages.getConversationsById",
                    &[
                        ("peer_ids", external_id.to_owned()),
                        ("group_id", self.group_id.to_string()),
                    ],
                )
                .await
                .ok()?;
            let title = answer["items"][0]["chat_settings"]["title"].as_str()?;
            (title.trim().to_owned(), None)
        } else if id < 0 {
            let answer = self
                .call("groups.getById", &[("group_id", (-id).to_string())])
                .await
                .ok()?;
            let group = answer["groups"].get(0).or_else(|| answer.get(0))?;
            (
                group["name"].as_str()?.trim().to_owned(),
                group["screen_name"].as_str().map(str::to_owned),
            )
        } else {
            let answer = self
                .call(
                    "users.get",
                    &[
                        ("user_ids", external_id.to_owned()),
                        ("fields", "screen_name".into()),
                    ],
                )
                .await
                .ok()?;
            let user = answer.get(0)?;
            let name = format!(
                "{} {}",
                user["first_name"].as_str().unwrap_or(""),
                user["last_name"].as_str().unwrap_or("")
            );
            (
                name.trim().to_owned(),
                user["screen_name"].as_str().map(str::to_owned),
            )
        };
        if found.0.is_empty() {
            return None;
        }
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if names.len() >= NAMES_KEPT {
            names.clear();
        }
        names.insert(external_id.to_owned(), found.clone());
        Some(found)
    }
}

impl Vk {
    fn remembered(&self, external_id: &str) -> Option<(String, Option<String>)> {
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        names.get(external_id).cloned()
    }
}

fn unix(seconds: Option<i64>) -> Option<DateTime<Utc>> {
    seconds.and_then(|s| Utc.timestamp_opt(s, 0).single())
}

fn translate(envelope: &Value) -> Option<Update> {
    let object = &envelope["object"];
    match envelope["type"].as_str()? {
        "message_new" => {
            let message = object.get("message").unwrap_or(object);
            Some(Update::Message(inbound(message)?))
        }
        // What a community administrator typed in VK itself (our own sends come back as
        // this too: the service tells them apart by id and random_id).
        "message_reply" => {
            let reply = inbound(object)?;
            Some(Update::TypedOutside {
                external_id: reply.sender.external_id,
                channel_message_id: reply.channel_message_id,
                text: reply.text,
                sent_at: reply.sent_at,
                attachments: reply.attachments,
                random_id: object["random_id"].as_i64().filter(|id| *id != 0),
                platform: "vk",
            })
        }
        "message_edit" => Some(Update::Edited {
            channel_message_id: message_key(object)?,
            text: object["text"].as_str().unwrap_or("").to_owned(),
            edited_at: unix(object["update_time"].as_i64()).unwrap_or_else(Utc::now),
        }),
        // Reading in a private chat; a conversation's reads are its members' own.
        "message_read" => {
            let peer = object["peer_id"]
                .as_i64()
                .filter(|p| *p < CONVERSATION_PEERS)?;
            Some(Update::ReadUpTo {
                external_id: peer.to_string(),
                up_to: object["read_message_id"].as_i64()?,
            })
        }
        "message_allow" => Some(Update::Unblocked {
            external_id: object["user_id"].as_i64()?.to_string(),
        }),
        "message_deny" => Some(Update::Blocked {
            external_id: object["user_id"].as_i64()?.to_string(),
        }),
        _ => None,
    }
}

/// The VK id of a message we sent (`messages.send` answers it).
fn our_message_id(channel_message_id: &str) -> Result<String, ChannelError> {
    channel_message_id
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .map(|id| id.to_string())
        .ok_or_else(|| ChannelError::Unsupported("not a VK message of ours".into()))
}

/// Peer ids from here on are group conversations (2000000000 + the chat's number).
const CONVERSATION_PEERS: i64 = 2_000_000_000;

/// A message's key within the community: its VK id in a private chat. In a group
/// conversation VK sends `id: 0`, so there the key is the conversation and the
/// message's number in it (`conversation_message_id`), as `{peer_id}_{number}`.
fn message_key(message: &Value) -> Option<String> {
    let peer = message["peer_id"].as_i64()?;
    let id = message["id"].as_i64().unwrap_or(0);
    if peer >= CONVERSATION_PEERS || id == 0 {
        let number = message["conversation_message_id"].as_i64()?;
        Some(format!("{peer}_{number}"))
    } else {
        Some(id.to_string())
    }
}

fn inbound(message: &Value) -> Option<Inbound> {
    let peer = message["peer_id"].as_i64()?;
    let from = message["from_id"].as_i64().unwrap_or(peer);
    let attachments: Vec<NewAttachment> = items_of(message).iter().filter_map(attachment).collect();
    let text = message["text"].as_str().unwrap_or("").to_owned();
    let content = content_of(message, text.trim().is_empty() && attachments.is_empty());
    let quote = message
        .get("reply_message")
        .filter(|quoted| quoted.is_object())
        .map(|quoted| {
            let words = quoted["text"].as_str().unwrap_or_default();
            let words = if words.trim().is_empty() {
                content_of(quoted, true)
                    .map(|c| c.summary())
                    .unwrap_or_default()
            } else {
                words.to_owned()
            };
            Quote::new(None, &words)
        });
    // VK does not send names: the service asks for them (`lookup_name`).
    let nameless = |id: i64| Sender {
        external_id: id.to_string(),
        display_name: String::new(),
        username: None,
    };
    Some(Inbound {
        // The dialog is with the conversation; each message names its author.
        sender: nameless(peer),
        channel_message_id: message_key(message)?,
        text,
        sent_at: unix(message["date"].as_i64()),
        attachments,
        author: (peer >= CONVERSATION_PEERS).then(|| nameless(from)),
        extras: Box::new(Extras {
            content,
            quote,
            forwarded: forwarded(message),
            ..Extras::default()
        }),
    })
}

/// The messages forwarded with this one (`fwd_messages`), each with its text or, when it
/// has none, what it holds; the author as VK names them (`id…`: VK sends ids, not names).
fn forwarded(message: &Value) -> Vec<Forward> {
    message["fwd_messages"]
        .as_array()
        .map_or(&[][..], Vec::as_slice)
        .iter()
        .take(Forward::MAX)
        .map(|item| {
            let words = item["text"].as_str().unwrap_or_default();
            let words = if words.trim().is_empty() {
                let files = items_of(item).len();
                content_of(item, true)
                    .map(|c| c.summary())
                    .unwrap_or_else(|| {
                        if files > 0 {
                            "📎".to_owned()
                        } else {
                            String::new()
                        }
                    })
            } else {
                words.to_owned()
            };
            let from = item["from_id"].as_i64().map(|id| {
                if id < 0 {
                    format!("club{}", -id)
                } else {
                    format!("id{id}")
                }
            });
            Forward::new(from, &words)
        })
        .collect()
}

/// A message's attachments as VK lists them.
fn items_of(message: &Value) -> &[Value] {
    message["attachments"].as_array().map_or(&[], Vec::as_slice)
}

/// What a message holds besides text and files (R48): its place (`geo`), or the first
/// attachment that is a sticker or a poll; when `bare` (no text, no file) and nothing
/// else is known, the kind VK named.
fn content_of(message: &Value, bare: bool) -> Option<Content> {
    let items = items_of(message);
    if let Some(geo) = message.get("geo").filter(|g| g.is_object()) {
        let place = &geo["place"];
        let words = |field: &str| {
            place[field]
                .as_str()
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned)
        };
        let address = [words("city"), words("country")]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ");
        return Some(Content::Location {
            latitude: geo["coordinates"]["latitude"].as_f64()?,
            longitude: geo["coordinates"]["longitude"].as_f64()?,
            title: words("title"),
            address: (!address.is_empty()).then_some(address),
        });
    }
    for item in items {
        match item["type"].as_str().unwrap_or_default() {
            "sticker" => return Some(Content::Sticker { emoji: None }),
            "poll" => {
                let poll = &item["poll"];
                return Some(Content::Poll {
                    question: poll["question"].as_str().unwrap_or_default().to_owned(),
                    options: poll["answers"]
                        .as_array()
                        .map(|answers| {
                            answers
                                .iter()
                                .filter_map(|a| a["text"].as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default(),
                });
            }
            _ => {}
        }
    }
    if !bare {
        return None;
    }
    let kind = items
        .first()
        .and_then(|item| item["type"].as_str())
        .or_else(|| {
            message["fwd_messages"]
                .as_array()
                .filter(|f| !f.is_empty())
                .map(|_| "fwd_messages")
        })
        .unwrap_or("unknown");
    Some(Content::Unsupported {
        platform_kind: kind.to_owned(),
    })
}

fn attachment(item: &Value) -> Option<NewAttachment> {
    match item["type"].as_str()? {
        "photo" => {
            let best = item["photo"]["sizes"].as_array()?.iter().max_by_key(|s| {
                s["width"].as_i64().unwrap_or(0) * s["height"].as_i64().unwrap_or(0)
            })?;
            Some(NewAttachment {
                kind: "image".into(),
                file_name: format!("photo{}.jpg", item["photo"]["id"].as_i64().unwrap_or(0)),
                mime_type: Some("image/jpeg".into()),
                size_bytes: None,
                channel_file_id: None,
                url: best["url"].as_str().map(str::to_owned),
                storage_path: None,
            })
        }
        "doc" => Some(NewAttachment {
            kind: "file".into(),
            file_name: item["doc"]["title"].as_str().unwrap_or("file").to_owned(),
            mime_type: None,
            size_bytes: item["doc"]["size"].as_i64(),
            channel_file_id: None,
            url: item["doc"]["url"].as_str().map(str::to_owned),
            storage_path: None,
        }),
        "audio_message" => Some(NewAttachment {
            kind: "audio".into(),
            file_name: "voice.mp3".into(),
            mime_type: Some("audio/mpeg".into()),
            size_bytes: None,
            channel_file_id: None,
            url: item["audio_message"]["link_mp3"]
                .as_str()
                .map(str::to_owned),
            storage_path: None,
        }),
        "sticker" | "graffiti" => {
            let url = if item["type"] == "sticker" {
                item["sticker"]["images"]
                    .as_array()?
                    .iter()
                    .max_by_key(|i| i["width"].as_i64().unwrap_or(0))?["url"]
                    .as_str()
            } else {
                item["graffiti"]["url"].as_str()
            };
            Some(NewAttachment {
                kind: "image".into(),
                file_name: format!("{}.png", item["type"].as_str().unwrap_or("image")),
                mime_type: Some("image/png".into()),
                size_bytes: None,
                channel_file_id: None,
                url: url.map(str::to_owned),
                storage_path: None,
            })
        }
        // A video or a wall post lives on VK: a link to it.
        "video" | "wall" => {
            let kind = item["type"].as_str()?;
            let object = &item[kind];
            let owner = object["owner_id"].as_i64().or(object["from_id"].as_i64())?;
            let id = object["id"].as_i64()?;
            let title = object["title"]
                .as_str()
                .or(object["text"].as_str())
                .map(|t| t.chars().take(200).collect::<String>())
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| format!("{kind}{owner}_{id}"));
            Some(NewAttachment {
                kind: "link".into(),
                file_name: title,
                mime_type: None,
                size_bytes: None,
                channel_file_id: None,
                url: Some(format!("https://vk.com/{kind}{owner}_{id}")),
                storage_path: None,
            })
        }
        "link" => Some(NewAttachment {
            kind: "link".into(),
            file_name: item["link"]["title"].as_str().unwrap_or("").to_owned(),
            mime_type: None,
            size_bytes: None,
            channel_file_id: None,
            url: item["link"]["url"].as_str().map(str::to_owned),
            storage_path: None,
        }),
        _ => None,
    }
}

/// An envelope as text for the failed-updates log, without the Callback API's secret.
fn without_secret(envelope: &Value) -> String {
    let mut copy = envelope.clone();
    if let Some(object) = copy.as_object_mut() {
        object.remove("secret");
    }
    copy.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vk() -> Vk {
        Vk::new(Credentials {
            group_id: json!(202308925),
            access_token: "t".into(),
            secret: Some("s3cret".into()),
            confirmation: Some("abc123".into()),
            mode: None,
            api_version: None,
            api_url: None,
            timeout_secs: None,
        })
        .unwrap()
    }

    fn post(body: &str) -> WebhookRequest {
        WebhookRequest {
            body: body.as_bytes().to_vec(),
            ..WebhookRequest::default()
        }
    }

    #[test]
    fn r1_vk_confirmation_secret_and_message() {
        let confirm = vk()
            .webhook(&post(
                r#"{"type":"confirmation","group_id":202308925,"secret":"s3cret"}"#,
            ))
            .unwrap();
        assert_eq!(confirm.answer, "abc123");
        assert!(matches!(
            vk().webhook(&post(
                r#"{"type":"confirmation","group_id":202308925,"secret":"nope"}"#
            )),
            Err(WebhookError::Forbidden)
        ));
        let body = r#"{"type":"message_new","object":{"message":{"date":1612685621,"from_id":326596496,"id":9,"out":0,"peer_id":326596496,"text":"Добрый день!","conversation_message_id":9,"attachments":[{"type":"photo","photo":{"id":1,"sizes":[{"type":"m","url":"https://a/m.jpg","width":60,"height":130},{"type":"r","url":"https://a/r.jpg","width":510,"height":1106}]}}]}},"group_id":202308925,"event_id":"810c3002e50fb85d205fdbbfa23c03a7dd05706b","v":"5.199","secret":"s3cret"}"#;
        let delivery = vk().webhook(&post(body)).unwrap();
        assert_eq!(delivery.answer, "ok");
        assert_eq!(
            delivery.receipt.as_deref(),
            Some("vk:810c3002e50fb85d205fdbbfa23c03a7dd05706b")
        );
        let [Update::Message(message)] = delivery.updates.as_slice() else {
            panic!("one message expected");
        };
        assert_eq!(message.sender.external_id, "326596496");
        assert_eq!(
            message.attachments[0].url.as_deref(),
            Some("https://a/r.jpg")
        );
        assert_eq!(
            vk().dialog_link("326596496", None).as_deref(),
            Some("https://vk.com/gim202308925?sel=326596496")
        );
    }

    #[test]
    fn r44_vk_message_read_is_reading_up_to_a_message_in_a_private_chat_only() {
        let read = |peer: i64| {
            let body = format!(
                r#"{{"type":"message_read","object":{{"from_id":{peer},"peer_id":{peer},"read_message_id":41}},"group_id":202308925,"event_id":"e{peer}","v":"5.199","secret":"s3cret"}}"#
            );
            vk().webhook(&post(&body)).unwrap().updates
        };
        let private = read(326596496);
        let [Update::ReadUpTo { external_id, up_to }] = private.as_slice() else {
            panic!("one read expected: {private:?}");
        };
        assert_eq!((external_id.as_str(), *up_to), ("326596496", 41));
        assert!(read(2_000_000_001).is_empty(), "a conversation's reading");
    }
}
