//! Telegram through teloxide: its `Update` types parse what Telegram sends (webhook or
//! `getUpdates`), its `Bot` makes the calls. Our own `getUpdates` loop acknowledges an
//! offset only after the updates are committed (teloxide's listener acknowledges on
//! receipt); our own route checks the webhook secret in constant time.
//!
//! Ids: a message is `"{chat_id}:{message_id}"` (unique per bot), the interlocutor is the
//! chat id.

use std::time::Duration;

use chrono::Utc;
use reqwest::Url;
use serde_json::{Value, json};
use teloxide::payloads::{
    GetUpdatesSetters, SendDocumentSetters, SendPhotoSetters, SetMessageReactionSetters,
    SetWebhookSetters,
};
use teloxide::requests::Requester;
use teloxide::types::{
    AllowedUpdate, ChatId, FileId, InputFile, Message, MessageId, MessageOrigin, ReactionType,
    Update, UpdateKind,
};
use teloxide::{ApiError, Bot, RequestError};

use super::net::{self, Downloaded};
use super::{
    Channel, ChannelError, Delivery, MediaRef, Outgoing, PollBatch, PollState, SendOutcome,
    Update as Happened, WebhookError, WebhookRequest,
};
use crate::actors::Inbound;
use crate::db::clients::Sender;
use crate::db::dialogs::NewAttachment;
use crate::domain::content::{Content, Extras, Forward, Quote};
use crate::security::secrets_equal;

/// The hosts this platform's clients connect to by default (the Bot API and its file downloads); the
/// administrator's `outbound_hosts` setting replaces them (R47).
pub const TELEGRAM_HOSTS: &[&str] = &["api.telegram.org"];

const DEFAULT_API: &str = "https://api.telegram.org";
pub const SECRET_HEADER: &str = "X-Telegram-Bot-Api-Secret-Token";

pub type Credentials = super::BotCredentials;

pub struct Telegram {
    /// Every call but getUpdates: one call may take `timeout_secs` (default 20 s).
    bot: Bot,
    /// getUpdates only: its client's timeout outlasts a long poll's wait.
    poller: Bot,
    api: Url,
    http: reqwest::Client,
    credentials: Credentials,
}

impl Telegram {
    pub fn new(credentials: Credentials) -> Result<Self, ChannelError> {
        let api = net::base_url(credentials.api_url.as_deref(), DEFAULT_API)?;
        // A send that hangs is given up after the call timeout, not after a long poll's.
        let http = net::client(
            net::call_timeout(credentials.timeout_secs),
            &api,
            TELEGRAM_HOSTS,
        )?;
        let bot =
            Bot::with_client(credentials.token.clone(), http.clone()).set_api_url(api.clone());
        // The poller's timeout must outlast a long poll's wait.
        let poller = Bot::with_client(
            credentials.token.clone(),
            net::client(
                net::CALL_TIMEOUT + Duration::from_secs(30),
                &api,
                TELEGRAM_HOSTS,
            )?,
        )
        .set_api_url(api.clone());
        Ok(Self {
            bot,
            poller,
            api,
            http,
            credentials,
        })
    }

    fn webhook_mode(&self) -> bool {
        self.credentials.mode.as_deref() != Some("polling")
    }
}

impl Channel for Telegram {
    fn webhook(&self, request: &WebhookRequest) -> Result<Delivery, WebhookError> {
        let expected = self.credentials.webhook_secret.as_deref().unwrap_or("");
        let got = request.header(SECRET_HEADER).unwrap_or("");
        if expected.is_empty() || !secrets_equal(got.as_bytes(), expected.as_bytes()) {
            return Err(WebhookError::Forbidden);
        }
        let update: Update = serde_json::from_slice(&request.body)
            .map_err(|e| WebhookError::Malformed(format!("not a Telegram update: {e}")))?;
        Ok(Delivery {
            receipt: None,
            updates: translate(update).into_iter().collect(),
            answer: String::new(),
            raw: String::new(),
        })
    }

    fn polls(&self) -> bool {
        !self.webhook_mode()
    }

    async fn poll(&self, state: &PollState, wait: Duration) -> Result<PollBatch, ChannelError> {
        let offset = state.get("offset").and_then(Value::as_i64).unwrap_or(0);
        let updates = self
            .poller
            .get_updates()
            .offset(i32::try_from(offset).unwrap_or(0))
            .allowed_updates(WANTED_UPDATES)
            .timeout(u32::try_from(wait.as_secs()).unwrap_or(25))
            .limit(100)
            .await
            .map_err(request_error)?;
        let mut next = offset;
        let deliveries = updates
            .into_iter()
            .map(|update| {
                next = next.max(i64::from(update.id.0) + 1);
                Delivery {
                    receipt: None,
                    raw: serde_json::to_string(&update).unwrap_or_default(),
                    updates: translate(update).into_iter().collect(),
                    answer: String::new(),
                }
            })
            .collect();
        Ok(PollBatch {
            deliveries,
            next_state: json!({ "offset": next }),
        })
    }

    async fn send(&self, outgoing: &Outgoing) -> SendOutcome {
        let Ok(chat) = outgoing.recipient.parse::<i64>() else {
            return SendOutcome::Failed {
                reason: "the Telegram chat id is not a number".into(),
                recipient_gone: false,
            };
        };
        let chat = ChatId(chat);
        let text = outgoing.text.trim();
        // The text rides as the first file's caption when it fits (1024 characters).
        let caption_fits = text.chars().count() <= 1024;
        let mut caption = (caption_fits && !text.is_empty()).then(|| text.to_owned());
        let mut last = None;
        for file in &outgoing.files {
            let input = InputFile::memory(file.bytes.clone()).file_name(file.file_name.clone());
            let sent = if file.kind == "image" {
                let mut request = self.bot.send_photo(chat, input);
                if let Some(caption) = caption.take() {
                    request = request.caption(caption);
                }
                request.await
            } else {
                let mut request = self.bot.send_document(chat, input);
                if let Some(caption) = caption.take() {
                    request = request.caption(caption);
                }
                request.await
            };
            match sent {
                Ok(message) => last = Some(message_key(&message)),
                Err(error) => return send_failure(error),
            }
        }
        if outgoing.files.is_empty() || (!text.is_empty() && !caption_fits) {
            match self.bot.send_message(chat, text).await {
                Ok(message) => last = Some(message_key(&message)),
                Err(error) => return send_failure(error),
            }
        }
        SendOutcome::Sent {
            channel_message_id: last,
        }
    }

    async fn check(&self) -> Result<String, ChannelError> {
        let me = self.bot.get_me().await.map_err(request_error)?;
        Ok(format!(
            "Telegram bot @{} ({})",
            me.username.clone().unwrap_or_default(),
            me.first_name
        ))
    }

    async fn edit(
        &self,
        _recipient: &str,
        channel_message_id: &str,
        text: &str,
    ) -> Result<(), ChannelError> {
        let (chat, id) = chat_and_message(channel_message_id)?;
        self.bot
            .edit_message_text(chat, id, text)
            .await
            .map(drop)
            .map_err(request_error)
    }

    async fn react(
        &self,
        _recipient: &str,
        channel_message_id: &str,
        emoji: Option<&str>,
    ) -> Result<(), ChannelError> {
        let (chat, id) = chat_and_message(channel_message_id)?;
        let reaction: Vec<ReactionType> = emoji
            .map(|emoji| ReactionType::Emoji {
                emoji: emoji.to_owned(),
            })
            .into_iter()
            .collect();
        self.bot
            .set_message_reaction(chat, id)
            .reaction(reaction)
            .await
            .map(drop)
            .map_err(request_error)
    }

    async fn delete(&self, _recipient: &str, channel_message_id: &str) -> Result<(), ChannelError> {
        let (chat, id) = chat_and_message(channel_message_id)?;
        self.bot
            .delete_message(chat, id)
            .await
            .map(drop)
            .map_err(request_error)
    }

    async fn register_webhook(&self, account_id: i64) -> Result<(), ChannelError> {
        if !self.webhook_mode() {
            // Polling and a webhook exclude each other: make sure none is set.
            self.bot.delete_webhook().await.map_err(request_error)?;
            return Ok(());
        }
        let (Some(public), Some(secret)) = (
            self.credentials.public_url.as_deref(),
            self.credentials.webhook_secret.as_deref(),
        ) else {
            return Ok(());
        };
        let url = Url::parse(&format!(
            "{}/hooks/telegram/{account_id}",
            public.trim_end_matches('/')
        ))
        .map_err(|e| ChannelError::Unsupported(format!("public_url: {e}")))?;
        self.bot
            .set_webhook(url)
            .secret_token(secret.to_owned())
            .allowed_updates(WANTED_UPDATES)
            .await
            .map_err(request_error)?;
        Ok(())
    }

    async fn download(&self, media: &MediaRef) -> Result<Downloaded, ChannelError> {
        let file_id = media
            .channel_file_id
            .clone()
            .ok_or_else(|| ChannelError::Unsupported("no Telegram file id".into()))?;
        let file = self
            .bot
            .get_file(FileId(file_id))
            .await
            .map_err(request_error)?;
        if u64::from(file.meta.size) > net::MAX_MEDIA_BYTES {
            return Err(ChannelError::TooLarge(net::MAX_MEDIA_BYTES));
        }
        let mut url = self.api.clone();
        url.path_segments_mut()
            .map_err(|()| ChannelError::Unsupported("api_url cannot be a base".into()))?
            .pop_if_empty()
            .extend(["file", &format!("bot{}", self.credentials.token)])
            .extend(file.path.split('/'));
        net::download(&self.http, url, None).await
    }

    fn dialog_link(&self, _external_id: &str, username: Option<&str>) -> Option<String> {
        // A bot's private chat has no web page; the person's profile is the nearest.
        username
            .filter(|u| !u.is_empty())
            .map(|u| format!("https://t.me/{u}"))
    }

    fn pacing(&self, recipient: &str) -> (Duration, Duration) {
        // About one message a second per chat, 20 a minute per group (negative ids),
        // 30 a second per bot.
        let per_chat = if recipient.starts_with('-') {
            Duration::from_secs(3)
        } else {
            Duration::from_millis(1000)
        };
        (per_chat, Duration::from_millis(34))
    }
}

/// The updates we ask Telegram for: reactions are sent only to a bot that asks.
const WANTED_UPDATES: [AllowedUpdate; 4] = [
    AllowedUpdate::Message,
    AllowedUpdate::EditedMessage,
    AllowedUpdate::MessageReaction,
    AllowedUpdate::MyChatMember,
];

/// What an update means for us; kinds we do not handle become nothing (acknowledged).
fn translate(update: Update) -> Option<Happened> {
    match update.kind {
        UpdateKind::Message(message) => Some(Happened::Message(inbound(&message))),
        UpdateKind::EditedMessage(message) => Some(Happened::Edited {
            channel_message_id: message_key(&message),
            text: body(&message),
            edited_at: message.edit_date().copied().unwrap_or_else(Utc::now),
        }),
        // A reaction to one of the chat's messages (the client's or ours): the first emoji
        // it holds now, or none when it was taken back.
        UpdateKind::MessageReaction(reaction) => Some(Happened::Reaction {
            channel_message_id: format!("{}:{}", reaction.chat.id.0, reaction.message_id.0),
            emoji: reaction.new_reaction.iter().find_map(|r| match r {
                ReactionType::Emoji { emoji } => Some(emoji.clone()),
                _ => None,
            }),
        }),
        UpdateKind::MyChatMember(change) => {
            let external_id = change.chat.id.0.to_string();
            if change.new_chat_member.is_banned() || change.new_chat_member.is_left() {
                Some(Happened::Blocked { external_id })
            } else if change.new_chat_member.is_present() {
                Some(Happened::Unblocked { external_id })
            } else {
                None
            }
        }
        _ => None,
    }
}

fn message_key(message: &Message) -> String {
    format!("{}:{}", message.chat.id.0, message.id.0)
}

/// The chat and message of a key made by [`message_key`].
fn chat_and_message(key: &str) -> Result<(ChatId, MessageId), ChannelError> {
    key.split_once(':')
        .and_then(|(chat, id)| Some((ChatId(chat.parse().ok()?), MessageId(id.parse().ok()?))))
        .ok_or_else(|| ChannelError::Unsupported("not a Telegram message of ours".into()))
}

fn body(message: &Message) -> String {
    message
        .text()
        .or(message.caption())
        .unwrap_or_default()
        .to_owned()
}

fn inbound(message: &Message) -> Inbound {
    let from = message.from.as_ref();
    // A group, a supergroup or a channel is the dialog's interlocutor, named after its
    // title; each message names the member who wrote it (R48).
    let shared = !message.chat.is_private();
    let display_name = match from {
        Some(user) if !shared => user.full_name(),
        _ => message
            .chat
            .title()
            .or(message.chat.first_name())
            .unwrap_or_default()
            .to_owned(),
    };
    let author = from.filter(|_| shared).map(|user| Sender {
        external_id: user.id.0.to_string(),
        display_name: user.full_name(),
        username: user.username.clone(),
    });
    let username = if shared {
        message.chat.username().map(str::to_owned)
    } else {
        from.and_then(|u| u.username.clone())
            .or_else(|| message.chat.username().map(str::to_owned))
    };
    let mut attachments = Vec::new();
    // Sizes come smallest first: the last is the full picture.
    if let Some(photo) = message.photo().and_then(|sizes| sizes.last()) {
        attachments.push(NewAttachment {
            kind: "image".into(),
            file_name: format!("photo-{}.jpg", message.id.0),
            mime_type: Some("image/jpeg".into()),
            size_bytes: Some(i64::from(photo.file.size)),
            channel_file_id: Some(photo.file.id.0.clone()),
            url: None,
            storage_path: None,
        });
    }
    if let Some(document) = message.document() {
        attachments.push(NewAttachment {
            kind: "file".into(),
            file_name: document.file_name.clone().unwrap_or_else(|| "file".into()),
            mime_type: document.mime_type.as_ref().map(ToString::to_string),
            size_bytes: Some(i64::from(document.file.size)),
            channel_file_id: Some(document.file.id.0.clone()),
            url: None,
            storage_path: None,
        });
    }
    // A voice note, a song, a video: with the name and type the sender's app gave, where
    // Telegram passes them on.
    fn mime(m: Option<&impl ToString>) -> Option<String> {
        m.map(ToString::to_string)
    }
    for (kind, meta, name, mime_type) in [
        (
            "audio",
            message.voice().map(|v| &v.file),
            "voice.ogg".to_owned(),
            message.voice().and_then(|v| mime(v.mime_type.as_ref())),
        ),
        (
            "audio",
            message.audio().map(|a| &a.file),
            message
                .audio()
                .and_then(|a| a.file_name.clone())
                .unwrap_or_else(|| "audio".to_owned()),
            message.audio().and_then(|a| mime(a.mime_type.as_ref())),
        ),
        (
            "video",
            message.video().map(|v| &v.file),
            message
                .video()
                .and_then(|v| v.file_name.clone())
                .unwrap_or_else(|| "video.mp4".to_owned()),
            message.video().and_then(|v| mime(v.mime_type.as_ref())),
        ),
    ] {
        if let Some(meta) = meta {
            attachments.push(NewAttachment {
                kind: kind.into(),
                file_name: name,
                mime_type,
                size_bytes: Some(i64::from(meta.size)),
                channel_file_id: Some(meta.id.0.clone()),
                url: None,
                storage_path: None,
            });
        }
    }
    Inbound {
        sender: Sender {
            external_id: message.chat.id.0.to_string(),
            display_name,
            username,
        },
        channel_message_id: message_key(message),
        text: body(message),
        sent_at: Some(message.date),
        attachments,
        author,
        extras: Box::new(extras(message)),
    }
}

/// The Bot API's names of a message's content, for one Dialogi does not show yet.
const CONTENT_FIELDS: [&str; 14] = [
    "animation",
    "video_note",
    "game",
    "story",
    "invoice",
    "checklist",
    "giveaway",
    "paid_media",
    "successful_payment",
    "new_chat_members",
    "left_chat_member",
    "pinned_message",
    "new_chat_title",
    "new_chat_photo",
];

fn platform_kind(message: &Message) -> String {
    let raw = serde_json::to_value(message).unwrap_or_default();
    CONTENT_FIELDS
        .iter()
        .find(|field| raw.get(**field).is_some())
        .map_or_else(|| "unknown".to_owned(), |field| (*field).to_owned())
}

fn has_files(message: &Message) -> bool {
    message.photo().is_some()
        || message.document().is_some()
        || message.voice().is_some()
        || message.audio().is_some()
        || message.video().is_some()
}

/// What the message holds besides text and files (R48), and the message it answers.
fn extras(message: &Message) -> Extras {
    let location = |l: &teloxide::types::Location, title: Option<&str>, address: Option<&str>| {
        Content::Location {
            latitude: l.latitude,
            longitude: l.longitude,
            title: title.map(str::to_owned),
            address: address.map(str::to_owned),
        }
    };
    let content = if let Some(venue) = message.venue() {
        Some(location(
            &venue.location,
            Some(&venue.title),
            Some(&venue.address),
        ))
    } else if let Some(place) = message.location() {
        Some(location(place, None, None))
    } else if let Some(contact) = message.contact() {
        let name = [
            Some(contact.first_name.as_str()),
            contact.last_name.as_deref(),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        Some(Content::Contact {
            name,
            phones: vec![contact.phone_number.clone()],
            emails: Vec::new(),
        })
    } else if let Some(sticker) = message.sticker() {
        Some(Content::Sticker {
            emoji: sticker.emoji.clone(),
        })
    } else if let Some(poll) = message.poll() {
        Some(Content::Poll {
            question: poll.question.clone(),
            options: poll.options.iter().map(|o| o.text.clone()).collect(),
        })
    } else if let Some(dice) = message.dice() {
        Some(Content::Dice {
            emoji: serde_json::to_value(dice.emoji)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "🎲".to_owned()),
            value: i64::from(dice.value),
        })
    } else if body(message).trim().is_empty() && !has_files(message) {
        // Nothing we know: say what it was rather than store an empty bubble.
        Some(Content::Unsupported {
            platform_kind: platform_kind(message),
        })
    } else {
        None
    };
    let quote = message.reply_to_message().map(|quoted| {
        let author = quoted.from.as_ref().map(|user| user.full_name());
        let text = quoted.text().or(quoted.caption()).unwrap_or_default();
        let text = if text.trim().is_empty() {
            extras(quoted)
                .content
                .map(|c| c.summary())
                .unwrap_or_default()
        } else {
            text.to_owned()
        };
        Quote::new(author, &text)
    });
    // A forwarded message: its text is this message's; who wrote it first, as Telegram
    // tells (a user, a hidden user's name, a chat or a channel).
    let forwarded = message
        .forward_origin()
        .map(|origin| {
            let from = match origin {
                MessageOrigin::User { sender_user, .. } => Some(sender_user.full_name()),
                MessageOrigin::HiddenUser {
                    sender_user_name, ..
                } => Some(sender_user_name.clone()),
                MessageOrigin::Chat { sender_chat, .. } => sender_chat.title().map(str::to_owned),
                MessageOrigin::Channel { chat, .. } => chat.title().map(str::to_owned),
            };
            vec![Forward::new(from, "")]
        })
        .unwrap_or_default();
    Extras {
        content,
        quote,
        forwarded,
        ..Extras::default()
    }
}

/// What a failed Telegram call means for the outbox.
fn send_failure(error: RequestError) -> SendOutcome {
    match error {
        RequestError::RetryAfter(seconds) => SendOutcome::Retry {
            after: Some(seconds.duration()),
            reason: "Telegram: too many requests".into(),
        },
        RequestError::Api(
            error @ (ApiError::BotBlocked
            | ApiError::UserDeactivated
            | ApiError::CantInitiateConversation
            | ApiError::ChatNotFound),
        ) => SendOutcome::Failed {
            reason: format!("Telegram: {error}"),
            recipient_gone: true,
        },
        RequestError::Api(ApiError::Unknown(text)) if looks_temporary(&text) => {
            SendOutcome::Retry {
                after: None,
                reason: format!("Telegram: {text}"),
            }
        }
        RequestError::Api(error) => SendOutcome::Failed {
            reason: format!("Telegram: {error}"),
            recipient_gone: false,
        },
        RequestError::MigrateToChatId(_) => SendOutcome::Failed {
            reason: "Telegram: the group moved to a supergroup".into(),
            recipient_gone: true,
        },
        RequestError::Network(error) => net::retry_on(&error),
        error => SendOutcome::Retry {
            after: None,
            reason: format!("Telegram: {}", safe_text(&error)),
        },
    }
}

/// A Telegram error as text an administrator may read: no URL (it holds the token).
fn safe_text(error: &RequestError) -> String {
    match error {
        RequestError::Network(e) => net::without_url(e),
        RequestError::InvalidJson { .. } => "an answer that is not the Bot API's JSON".into(),
        other => other.to_string(),
    }
}

fn request_error(error: RequestError) -> ChannelError {
    match error {
        RequestError::RetryAfter(seconds) => ChannelError::RetryAfter(seconds.duration()),
        RequestError::Api(ApiError::InvalidToken) => {
            ChannelError::Auth("Telegram: the bot token is not valid".into())
        }
        RequestError::Api(ApiError::Unknown(text)) if text.contains("Unauthorized") => {
            ChannelError::Auth(format!("Telegram: {text}"))
        }
        RequestError::Api(error) => ChannelError::Api(format!("Telegram: {error}")),
        RequestError::Network(e) => ChannelError::Network(net::without_url(&e)),
        other => ChannelError::Api(format!("Telegram: {}", safe_text(&other))),
    }
}

fn looks_temporary(text: &str) -> bool {
    text.contains("Internal Server Error")
        || text.contains("Bad Gateway")
        || text.contains("Too Many")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn telegram(secret: &str) -> Telegram {
        Telegram::new(Credentials {
            token: "123:ABC".into(),
            mode: Some("webhook".into()),
            webhook_secret: Some(secret.into()),
            public_url: None,
            api_url: Some("http://127.0.0.1:9".into()),
            timeout_secs: None,
        })
        .unwrap()
    }

    fn request(secret: &str, body: &str) -> WebhookRequest {
        WebhookRequest {
            headers: vec![(SECRET_HEADER.into(), secret.into())],
            body: body.as_bytes().to_vec(),
            ..WebhookRequest::default()
        }
    }

    #[test]
    fn r1_telegram_photo_with_caption_takes_the_largest_size() {
        let body = r#"{"update_id":10002,"message":{"message_id":6,"date":1700000002,"chat":{"id":123456789,"type":"private","first_name":"Ivan"},"from":{"id":123456789,"is_bot":false,"first_name":"Ivan"},"photo":[{"file_id":"AgAC-s","file_unique_id":"u1","file_size":1200,"width":90,"height":90},{"file_id":"AgAC-b","file_unique_id":"u2","file_size":45000,"width":800,"height":800}],"caption":"see photo"}}"#;
        let delivery = telegram("s").webhook(&request("s", body)).unwrap();
        let [Happened::Message(message)] = delivery.updates.as_slice() else {
            panic!("one message expected: {:?}", delivery.updates);
        };
        assert_eq!(message.channel_message_id, "123456789:6");
        assert_eq!(message.text, "see photo");
        assert_eq!(message.attachments.len(), 1);
        assert_eq!(
            message.attachments[0].channel_file_id.as_deref(),
            Some("AgAC-b")
        );
    }

    #[test]
    fn r1_telegram_refuses_a_wrong_or_missing_secret() {
        let body = r#"{"update_id":1,"message":{"message_id":5,"date":1700000001,"chat":{"id":1,"type":"private","first_name":"I"},"text":"x"}}"#;
        assert!(matches!(
            telegram("right").webhook(&request("wrong", body)),
            Err(WebhookError::Forbidden)
        ));
        assert!(matches!(
            telegram("").webhook(&request("", body)),
            Err(WebhookError::Forbidden)
        ));
    }

    #[test]
    fn r1_telegram_block_and_edit_are_understood() {
        let blocked = r#"{"update_id":10004,"my_chat_member":{"chat":{"id":77,"type":"private","first_name":"I"},"from":{"id":77,"is_bot":false,"first_name":"I"},"date":1700000004,"old_chat_member":{"user":{"id":1,"is_bot":true,"first_name":"Bot"},"status":"member"},"new_chat_member":{"user":{"id":1,"is_bot":true,"first_name":"Bot"},"status":"kicked","until_date":0}}}"#;
        let delivery = telegram("s").webhook(&request("s", blocked)).unwrap();
        assert!(
            matches!(&delivery.updates[..], [Happened::Blocked { external_id }] if external_id == "77")
        );
        let edited = r#"{"update_id":10005,"edited_message":{"message_id":5,"date":1700000001,"edit_date":1700000100,"chat":{"id":77,"type":"private","first_name":"I"},"text":"fixed"}}"#;
        let delivery = telegram("s").webhook(&request("s", edited)).unwrap();
        assert!(
            matches!(&delivery.updates[..], [Happened::Edited { channel_message_id, text, .. }] if channel_message_id == "77:5" && text == "fixed")
        );
    }
}
