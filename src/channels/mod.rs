//! The messengers: one module per channel behind one trait ([`Channel`]), the webhook
//! verification and parsing, long polling, outbound sending from the outbox, media
//! downloads, and the [`Channels`] service that runs them per account.
//!
//! Every channel type (teloxide's `Update`, VK envelopes, Viber callbacks, WhatsApp
//! notifications, MAX updates) stays inside this folder: what leaves it is an [`Update`] (handed to the
//! dialog engine or to `db`), a [`SendOutcome`] or a [`ChannelError`]. Each channel takes
//! its API base URL from the account's credentials (`api_url`), so tests point it at fake
//! servers on 127.0.0.1.
//!
//! Imports `actors`, `db` and `domain`; never `http`.

pub mod max;
mod net;
mod outbox;
pub mod push;
mod service;
pub mod telegram;
pub mod viber;
pub mod vk;
pub mod web;
pub mod whatsapp;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use self::service::{Channels, FetchReport};
use crate::actors::Inbound;
use crate::db::dialogs::NewAttachment;

/// The credentials of a bot platform that has a token, webhook or long-poll mode and a
/// webhook secret: Telegram's and MAX's, the same fields meaning the same things.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct BotCredentials {
    pub token: String,
    /// `webhook` or `polling`.
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub webhook_secret: Option<String>,
    #[serde(default)]
    pub public_url: Option<String>,
    #[serde(default)]
    pub api_url: Option<String>,
    /// Seconds one API call may take (default 20).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// A request to one of our webhook routes, as received: the raw body (signatures are
/// computed over these exact bytes), the headers that matter and the query string.
#[derive(Debug, Clone, Default)]
pub struct WebhookRequest {
    pub method_get: bool,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl WebhookRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What a verified webhook delivery carries.
#[derive(Debug, Default)]
pub struct Delivery {
    /// The channel's id of this delivery (VK `event_id`), remembered so a redelivery is
    /// acknowledged and dropped.
    pub receipt: Option<String>,
    pub updates: Vec<Update>,
    /// The body to answer with once the updates are committed (VK `ok`, a verification
    /// challenge); empty for an empty 200.
    pub answer: String,
    /// The delivery as the channel sent it (a webhook's body, one polled update), kept
    /// with an update that cannot be stored.
    pub raw: String,
}

/// One thing that happened on the channel, in the channel-neutral shape the rest of the
/// program understands.
#[derive(Debug, Clone)]
pub enum Update {
    Message(Inbound),
    /// The interlocutor edited a message: the stored one keeps its original as an edit.
    Edited {
        channel_message_id: String,
        text: String,
        edited_at: DateTime<Utc>,
    },
    /// The interlocutor deleted a message (WhatsApp `revoke`): the stored one is marked
    /// deleted, its text kept as an edit.
    Deleted {
        channel_message_id: String,
        deleted_at: DateTime<Utc>,
    },
    /// A message to the interlocutor typed outside Dialogi, on the platform itself (VK
    /// `message_reply`); ours come back this way too and are recognised and skipped.
    TypedOutside {
        external_id: String,
        channel_message_id: String,
        text: String,
        sent_at: Option<DateTime<Utc>>,
        attachments: Vec<NewAttachment>,
        /// The platform's deduplication key as sent (VK `random_id`), to recognise ours.
        random_id: Option<i64>,
        platform: &'static str,
    },
    /// The person blocked the bot, unsubscribed or denied messages: sends fail at once.
    Blocked {
        external_id: String,
    },
    /// The person subscribed or allowed messages again.
    Unblocked {
        external_id: String,
    },
    /// The interlocutor reacted to a message (by the channel's id), or took the reaction
    /// back (`None`).
    Reaction {
        channel_message_id: String,
        emoji: Option<String>,
    },
    /// The interlocutor read every message we sent them up to this one, by the channel's
    /// id (VK `message_read`: ids grow within a community, so "up to" is a comparison).
    ReadUpTo {
        external_id: String,
        up_to: i64,
    },
    /// A delivery state of one of our outbound messages.
    Delivery {
        /// The channel's id of our message (Viber `message_token`, WhatsApp `wamid`).
        channel_message_id: String,
        /// Our outbox key, where the channel echoes it (WhatsApp `biz_opaque_callback_data`).
        delivery_key: Option<String>,
        state: DeliveryState,
        error: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeliveryState {
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Sent => "sent",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Read => "read",
            DeliveryState::Failed => "failed",
        }
    }
}

/// Why a webhook delivery was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The signature or secret does not match: 401/403, nothing stored.
    #[error("the signature or secret does not match")]
    Forbidden,
    /// The body cannot be what the channel sends.
    #[error("{0}")]
    Malformed(String),
}

/// An outbound message taken from the outbox.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The outbox key, the same on every retry.
    pub delivery_key: String,
    pub outbox_id: i64,
    /// VK's `random_id` for this reply: the same on every retry, unique across
    /// installations (`domain::outbox::vk_random_id`).
    pub random_id: i32,
    /// The interlocutor's id on the channel (chat id, peer id, user id, wa_id).
    pub recipient: String,
    pub text: String,
    /// When the interlocutor last wrote (WhatsApp's 24-hour window).
    pub last_inbound_at: Option<DateTime<Utc>>,
    /// Files the operator attached, sent before the text (or with it as a caption).
    pub files: Vec<OutgoingFile>,
}

/// A file to send, read from the data folder.
#[derive(Debug, Clone)]
pub struct OutgoingFile {
    pub attachment_id: i64,
    /// `image` (sent as a picture) or `file` (a document).
    pub kind: String,
    pub file_name: String,
    pub mime_type: Option<String>,
    pub bytes: Vec<u8>,
}

/// The result of one send attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The channel accepted the message; its id links later delivery states.
    Sent { channel_message_id: Option<String> },
    /// Not sent this time (rate limit, server error, timeout): try again, after `after`
    /// when the channel says how long.
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// Will never be sent as it is (blocked, unsubscribed, outside the window, bad
    /// request). `recipient_gone` marks the interlocutor as blocked.
    Failed {
        reason: String,
        recipient_gone: bool,
    },
}

/// A channel call that failed, in words an administrator can act on.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("the channel refused the credentials: {0}")]
    Auth(String),
    #[error("the channel answered with an error: {0}")]
    Api(String),
    #[error("the channel cannot be reached: {0}")]
    Network(String),
    #[error("the channel asked to wait {0:?}")]
    RetryAfter(Duration),
    #[error("{0}")]
    Unsupported(String),
    #[error("the file is too large (over {0} bytes)")]
    TooLarge(u64),
    /// The file came, but the data folder is full or cannot be written.
    #[error("the file cannot be stored: {0}")]
    Storage(#[source] std::io::Error),
}

/// A media file referenced by a message, as the channel gave it.
#[derive(Debug, Clone)]
pub struct MediaRef {
    pub channel_file_id: Option<String>,
    pub url: Option<String>,
}

/// Where a poll stopped; saved with the account after the updates are committed.
pub type PollState = Value;

/// A batch from one poll: the updates, and the state to save once they are committed.
#[derive(Debug, Default)]
pub struct PollBatch {
    pub deliveries: Vec<Delivery>,
    pub next_state: PollState,
}

/// The channel's own words for one account: verify and parse its webhooks, poll, send,
/// check the credentials, download media, link to the dialog on the channel's site.
#[allow(async_fn_in_trait)]
pub trait Channel {
    /// Verifies a webhook delivery (before parsing anything) and parses it.
    fn webhook(&self, request: &WebhookRequest) -> Result<Delivery, WebhookError>;
    /// Whether inbound updates come from our polling (not from webhooks).
    fn polls(&self) -> bool {
        false
    }
    /// One long-poll round from `state`; `wait` is how long the channel may hold it.
    /// Channels that only call webhooks have nothing to fetch.
    async fn poll(&self, state: &PollState, _wait: Duration) -> Result<PollBatch, ChannelError> {
        Ok(PollBatch {
            deliveries: Vec::new(),
            next_state: state.clone(),
        })
    }
    async fn send(&self, outgoing: &Outgoing) -> SendOutcome;
    /// Calls the channel with the credentials; a line describing the account on success.
    async fn check(&self) -> Result<String, ChannelError>;
    /// Registers our webhook URL with the channel, where the channel does it by API (VK
    /// and WhatsApp are set up in their own settings pages).
    async fn register_webhook(&self, _account_id: i64) -> Result<(), ChannelError> {
        Ok(())
    }
    async fn download(&self, media: &MediaRef) -> Result<net::Downloaded, ChannelError>;
    /// The dialog on the channel's own site (R29), where the channel has one.
    fn dialog_link(&self, external_id: &str, username: Option<&str>) -> Option<String>;
    /// The shortest pause between two messages to `recipient`, and between any two.
    fn pacing(&self, recipient: &str) -> (Duration, Duration);
    /// The person's name and username, for channels that do not send them with messages.
    async fn lookup_name(&self, _external_id: &str) -> Option<(String, Option<String>)> {
        None
    }
    /// Changes the text of our message `channel_message_id` to `recipient`, where the
    /// platform allows it (`domain::account::edits_sent_messages`).
    async fn edit(
        &self,
        _recipient: &str,
        _channel_message_id: &str,
        _text: &str,
    ) -> Result<(), ChannelError> {
        Err(cannot_change())
    }
    /// Deletes our message for everyone, where the platform allows it.
    async fn delete(
        &self,
        _recipient: &str,
        _channel_message_id: &str,
    ) -> Result<(), ChannelError> {
        Err(cannot_change())
    }
    /// Sets our reaction on the client's message `channel_message_id` (none takes it
    /// back), where the platform lets a business react (`domain::account::reacts`).
    async fn react(
        &self,
        _recipient: &str,
        _channel_message_id: &str,
        _emoji: Option<&str>,
    ) -> Result<(), ChannelError> {
        Err(ChannelError::Unsupported(
            "this channel does not let a business react to a message".into(),
        ))
    }
}

fn cannot_change() -> ChannelError {
    ChannelError::Unsupported("this channel does not let a sent message be changed".into())
}

/// A connected account of any kind.
pub enum AnyChannel {
    Telegram(telegram::Telegram),
    Vk(vk::Vk),
    Viber(viber::Viber),
    WhatsApp(whatsapp::WhatsApp),
    Max(max::Max),
    Web(web::Web),
}

macro_rules! each {
    ($self:ident, $c:ident => $body:expr) => {
        match $self {
            AnyChannel::Telegram($c) => $body,
            AnyChannel::Vk($c) => $body,
            AnyChannel::Viber($c) => $body,
            AnyChannel::WhatsApp($c) => $body,
            AnyChannel::Max($c) => $body,
            AnyChannel::Web($c) => $body,
        }
    };
}

impl AnyChannel {
    /// Builds the channel of an account from its kind and credentials (validated when
    /// the account was saved).
    pub fn connect(kind: &str, credentials: &Value) -> Result<AnyChannel, ChannelError> {
        // serde's own message may quote a value (a secret): say only what is wrong.
        let bad = |_: serde_json::Error| {
            ChannelError::Unsupported(
                "the credentials do not fit this channel: a field is missing or is not text".into(),
            )
        };
        Ok(match kind {
            "telegram" => AnyChannel::Telegram(telegram::Telegram::new(
                serde_json::from_value(credentials.clone()).map_err(bad)?,
            )?),
            "vk" => AnyChannel::Vk(vk::Vk::new(
                serde_json::from_value(credentials.clone()).map_err(bad)?,
            )?),
            "viber" => AnyChannel::Viber(viber::Viber::new(
                serde_json::from_value(credentials.clone()).map_err(bad)?,
            )?),
            "whatsapp" => AnyChannel::WhatsApp(whatsapp::WhatsApp::new(
                serde_json::from_value(credentials.clone()).map_err(bad)?,
            )?),
            "max" => AnyChannel::Max(max::Max::new(
                serde_json::from_value(credentials.clone()).map_err(bad)?,
            )?),
            "web" => AnyChannel::Web(web::Web::new(
                serde_json::from_value(credentials.clone()).map_err(bad)?,
            )?),
            other => return Err(ChannelError::Unsupported(format!("unknown kind `{other}`"))),
        })
    }

    pub fn webhook(&self, request: &WebhookRequest) -> Result<Delivery, WebhookError> {
        each!(self, c => c.webhook(request))
    }

    pub fn polls(&self) -> bool {
        each!(self, c => c.polls())
    }

    pub async fn poll(&self, state: &PollState, wait: Duration) -> Result<PollBatch, ChannelError> {
        each!(self, c => c.poll(state, wait).await)
    }

    pub async fn send(&self, outgoing: &Outgoing) -> SendOutcome {
        each!(self, c => c.send(outgoing).await)
    }

    pub async fn check(&self) -> Result<String, ChannelError> {
        each!(self, c => c.check().await)
    }

    pub async fn register_webhook(&self, account_id: i64) -> Result<(), ChannelError> {
        each!(self, c => c.register_webhook(account_id).await)
    }

    pub async fn download(&self, media: &MediaRef) -> Result<net::Downloaded, ChannelError> {
        each!(self, c => c.download(media).await)
    }

    pub fn dialog_link(&self, external_id: &str, username: Option<&str>) -> Option<String> {
        each!(self, c => c.dialog_link(external_id, username))
    }

    pub fn pacing(&self, recipient: &str) -> (Duration, Duration) {
        each!(self, c => c.pacing(recipient))
    }

    pub async fn lookup_name(&self, external_id: &str) -> Option<(String, Option<String>)> {
        each!(self, c => c.lookup_name(external_id).await)
    }

    pub async fn edit(
        &self,
        recipient: &str,
        channel_message_id: &str,
        text: &str,
    ) -> Result<(), ChannelError> {
        each!(self, c => c.edit(recipient, channel_message_id, text).await)
    }

    pub async fn delete(
        &self,
        recipient: &str,
        channel_message_id: &str,
    ) -> Result<(), ChannelError> {
        each!(self, c => c.delete(recipient, channel_message_id).await)
    }

    pub async fn react(
        &self,
        recipient: &str,
        channel_message_id: &str,
        emoji: Option<&str>,
    ) -> Result<(), ChannelError> {
        each!(self, c => c.react(recipient, channel_message_id, emoji).await)
    }
}

pub use self::net::{Downloaded, hmac_hex, trust_extra_authorities};
