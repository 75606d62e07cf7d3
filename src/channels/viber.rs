//! Viber REST Bot API: callbacks signed with `X-Viber-Content-Signature` (HMAC-SHA256 of
//! the raw body with the auth token), `send_message`, delivery states by `message_token`.
//!
//! Ids: a message is its `message_token` (a 64-bit integer, never read through f64), the
//! interlocutor is the per-bot user id.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Value, json};

use super::net::{self, Downloaded};
use super::{
    Channel, ChannelError, Delivery, DeliveryState, MediaRef, Outgoing, SendOutcome, Update,
    WebhookError, WebhookRequest,
};
use crate::actors::Inbound;
use crate::db::clients::Sender;
use crate::db::dialogs::NewAttachment;
use crate::domain::content::{Content, Extras};

/// The hosts this platform's clients connect to by default (the REST API and the media CDN); the
/// administrator's `outbound_hosts` setting replaces them (R47).
pub const VIBER_HOSTS: &[&str] = &["chatapi.viber.com", "*.viber.com"];

const DEFAULT_API: &str = "https://chatapi.viber.com/pa";
pub const SIGNATURE_HEADER: &str = "X-Viber-Content-Signature";

#[derive(Debug, Clone, Deserialize)]
pub struct Credentials {
    pub auth_token: String,
    #[serde(default)]
    pub public_url: Option<String>,
    #[serde(default)]
    pub api_url: Option<String>,
    /// Seconds one API call may take (default 20).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// The name our messages are sent under (Viber requires one, ≤ 28 characters).
    #[serde(default)]
    pub sender_name: Option<String>,
}

pub struct Viber {
    api: Url,
    http: reqwest::Client,
    credentials: Credentials,
}

impl Viber {
    pub fn new(credentials: Credentials) -> Result<Self, ChannelError> {
        let api = net::base_url(credentials.api_url.as_deref(), DEFAULT_API)?;
        Ok(Self {
            http: net::client(
                net::call_timeout(credentials.timeout_secs),
                &api,
                VIBER_HOSTS,
            )?,
            api,
            credentials,
        })
    }

    async fn call(&self, endpoint: &str, body: &Value) -> Result<Value, reqwest::Error> {
        self.http
            .post(format!(
                "{}/{endpoint}",
                self.api.as_str().trim_end_matches('/')
            ))
            .header("X-Viber-Auth-Token", &self.credentials.auth_token)
            .json(body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }
}

impl Viber {
    /// The public address Viber fetches an outbound file from, signed with the token.
    fn media_url(&self, attachment_id: i64) -> Option<String> {
        let public = self.credentials.public_url.as_deref()?;
        Some(format!(
            "{}/hooks/viber/media/{attachment_id}?sig={}",
            public.trim_end_matches('/'),
            media_signature(&self.credentials.auth_token, attachment_id)
        ))
    }

    /// Sends one message (`content` holds its type and fields); its token on success.
    async fn send_one(
        &self,
        outgoing: &Outgoing,
        mut content: Value,
    ) -> Result<Option<String>, SendOutcome> {
        let name: String = self
            .credentials
            .sender_name
            .as_deref()
            .unwrap_or("Support")
            .chars()
            .take(28)
            .collect();
        content["receiver"] = json!(outgoing.recipient);
        content["min_api_version"] = json!(1);
        content["sender"] = json!({"name": name});
        content["tracking_data"] = json!(outgoing.delivery_key);
        let answer = self
            .call("send_message", &content)
            .await
            .map_err(|e| net::retry_on(&e))?;
        let reason = format!(
            "Viber status {}: {}",
            answer["status"],
            answer["status_message"].as_str().unwrap_or("")
        );
        match answer["status"].as_i64() {
            Some(0) => Ok(token(&answer["message_token"])),
            Some(5..=7) => Err(SendOutcome::Failed {
                reason,
                recipient_gone: true,
            }),
            Some(12) => Err(SendOutcome::Retry {
                after: Some(Duration::from_secs(60)),
                reason,
            }),
            _ => Err(SendOutcome::Failed {
                reason,
                recipient_gone: false,
            }),
        }
    }
}

/// The signature of a public media link: HMAC-SHA256 of `media:{id}` with the token.
pub fn media_signature(auth_token: &str, attachment_id: i64) -> String {
    net::hmac_hex(
        auth_token.as_bytes(),
        format!("media:{attachment_id}").as_bytes(),
    )
}

/// Whether `signature` is the one of this attachment under this token.
pub fn media_signature_matches(auth_token: &str, attachment_id: i64, signature: &str) -> bool {
    net::hmac_matches(
        auth_token.as_bytes(),
        format!("media:{attachment_id}").as_bytes(),
        signature,
    )
}

/// A 64-bit token as text, whether JSON gave it as a number or a string.
fn token(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .map(|n| n.to_string())
            .or_else(|| n.as_i64().map(|n| n.to_string())),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn millis(value: &Value) -> Option<DateTime<Utc>> {
    value
        .as_i64()
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
}

impl Channel for Viber {
    fn webhook(&self, request: &WebhookRequest) -> Result<Delivery, WebhookError> {
        let signature = request
            .header(SIGNATURE_HEADER)
            .or_else(|| request.query("sig"))
            .unwrap_or("");
        if !net::hmac_matches(
            self.credentials.auth_token.as_bytes(),
            &request.body,
            signature,
        ) {
            return Err(WebhookError::Forbidden);
        }
        let event: Value = serde_json::from_slice(&request.body)
            .map_err(|e| WebhookError::Malformed(format!("not a Viber callback: {e}")))?;
        Ok(Delivery {
            receipt: None,
            updates: translate(&event).into_iter().collect(),
            answer: String::new(),
            raw: String::new(),
        })
    }

    async fn send(&self, outgoing: &Outgoing) -> SendOutcome {
        let text = outgoing.text.trim();
        // A picture's text is at most 120 characters; longer text goes on its own.
        let caption_fits = text.chars().count() <= 120;
        let mut caption = (caption_fits && !text.is_empty()).then(|| text.to_owned());
        let mut last = None;
        for file in &outgoing.files {
            // Viber has no upload: it fetches the file from a public URL of ours.
            let Some(media) = self.media_url(file.attachment_id) else {
                return SendOutcome::Failed {
                    reason: "Viber fetches files from a public address: set the account's \
                             public_url to send files"
                        .into(),
                    recipient_gone: false,
                };
            };
            let body = if file.kind == "image" {
                json!({"type": "picture", "text": caption.take().unwrap_or_default(), "media": media})
            } else {
                json!({"type": "file", "media": media, "size": file.bytes.len(), "file_name": file.file_name})
            };
            match self.send_one(outgoing, body).await {
                Ok(token) => last = token,
                Err(outcome) => return outcome,
            }
        }
        if outgoing.files.is_empty() || (!text.is_empty() && !caption_fits) {
            match self
                .send_one(outgoing, json!({"type": "text", "text": text}))
                .await
            {
                Ok(token) => last = token,
                Err(outcome) => return outcome,
            }
        }
        SendOutcome::Sent {
            channel_message_id: last,
        }
    }

    async fn check(&self) -> Result<String, ChannelError> {
        let answer = self
            .call("get_account_info", &json!({}))
            .await
            .map_err(|e| ChannelError::Network(net::without_url(&e)))?;
        match answer["status"].as_i64() {
            Some(0) => Ok(format!(
                "Viber bot «{}»",
                answer["name"].as_str().unwrap_or("?")
            )),
            Some(2) => Err(ChannelError::Auth(
                "Viber: the auth token is not valid".into(),
            )),
            _ => Err(ChannelError::Api(format!(
                "Viber status {}: {}",
                answer["status"],
                answer["status_message"].as_str().unwrap_or("")
            ))),
        }
    }

    async fn register_webhook(&self, account_id: i64) -> Result<(), ChannelError> {
        let Some(public) = self.credentials.public_url.as_deref() else {
            return Ok(());
        };
        let body = json!({
            "url": format!("{}/hooks/viber/{account_id}", public.trim_end_matches('/')),
            "event_types": ["delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"],
            "send_name": true,
        });
        let answer = self
            .call("set_webhook", &body)
            .await
            .map_err(|e| ChannelError::Network(net::without_url(&e)))?;
        match answer["status"].as_i64() {
            Some(0) => Ok(()),
            _ => Err(ChannelError::Api(format!(
                "Viber set_webhook: {}",
                answer["status_message"].as_str().unwrap_or("refused")
            ))),
        }
    }

    async fn download(&self, media: &MediaRef) -> Result<Downloaded, ChannelError> {
        net::download_link(
            &self.http,
            media.url.as_deref(),
            &self.api,
            VIBER_HOSTS,
            "Viber",
        )
        .await
    }

    fn dialog_link(&self, _external_id: &str, _username: Option<&str>) -> Option<String> {
        None
    }

    fn pacing(&self, _recipient: &str) -> (Duration, Duration) {
        (Duration::ZERO, Duration::from_millis(10))
    }
}

fn translate(event: &Value) -> Option<Update> {
    let delivery = |state| {
        Some(Update::Delivery {
            channel_message_id: token(&event["message_token"])?,
            delivery_key: None,
            state,
            error: event["desc"].as_str().map(str::to_owned),
        })
    };
    match event["event"].as_str()? {
        "message" => Some(Update::Message(inbound(event)?)),
        "subscribed" => Some(Update::Unblocked {
            external_id: event["user"]["id"].as_str()?.to_owned(),
        }),
        "unsubscribed" => Some(Update::Blocked {
            external_id: event["user_id"].as_str()?.to_owned(),
        }),
        "delivered" => delivery(DeliveryState::Delivered),
        "seen" => delivery(DeliveryState::Read),
        "failed" => delivery(DeliveryState::Failed),
        _ => None,
    }
}

fn inbound(event: &Value) -> Option<Inbound> {
    let sender = &event["sender"];
    let message = &event["message"];
    let media = |kind: &str, default_name: &str| NewAttachment {
        kind: kind.into(),
        file_name: message["file_name"]
            .as_str()
            .unwrap_or(default_name)
            .to_owned(),
        mime_type: None,
        size_bytes: message["size"].as_i64(),
        channel_file_id: None,
        url: message["media"].as_str().map(str::to_owned),
        storage_path: None,
    };
    let text = message["text"].as_str().unwrap_or("").to_owned();
    let kind = message["type"].as_str().unwrap_or("text");
    let mut content = None;
    let attachments = match kind {
        "picture" => vec![media("image", "photo.jpg")],
        "video" => vec![media("video", "video.mp4")],
        "file" => vec![media("file", "file")],
        "sticker" => vec![media("image", "sticker.png")],
        "url" => vec![NewAttachment {
            kind: "link".into(),
            file_name: String::new(),
            mime_type: None,
            size_bytes: None,
            channel_file_id: None,
            url: message["media"].as_str().map(str::to_owned),
            storage_path: None,
        }],
        "contact" => {
            let card = &message["contact"];
            content = Some(Content::Contact {
                name: card["name"].as_str().unwrap_or_default().to_owned(),
                phones: card["phone_number"]
                    .as_str()
                    .map(str::to_owned)
                    .into_iter()
                    .collect(),
                emails: Vec::new(),
            });
            Vec::new()
        }
        "location" => {
            content = Some(Content::Location {
                latitude: message["location"]["lat"].as_f64()?,
                longitude: message["location"]["lon"].as_f64()?,
                title: None,
                address: None,
            });
            Vec::new()
        }
        _ => Vec::new(),
    };
    if kind == "sticker" {
        content = Some(Content::Sticker { emoji: None });
    } else if content.is_none() && text.trim().is_empty() && attachments.is_empty() {
        // Nothing we know: say what it was rather than store an empty bubble.
        content = Some(Content::Unsupported {
            platform_kind: kind.to_owned(),
        });
    }
    Some(Inbound {
        sender: Sender {
            external_id: sender["id"].as_str()?.to_owned(),
            display_name: sender["name"].as_str().unwrap_or("").to_owned(),
            username: None,
        },
        channel_message_id: token(&event["message_token"])?,
        text,
        sent_at: millis(&event["timestamp"]),
        attachments,
        author: None,
        extras: Box::new(Extras {
            content,
            ..Extras::default()
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r1_viber_signed_message_keeps_the_64_bit_token() {
        let viber = Viber::new(Credentials {
            auth_token: "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9".into(),
            public_url: None,
            api_url: None,
            timeout_secs: None,
            sender_name: None,
        })
        .unwrap();
        let body = br#"{"event":"message","timestamp":1457764197627,"message_token":4912661846655238145,"sender":{"id":"01234567890A=","name":"John McClane","avatar":"http://avatar.example.com","country":"UK","language":"en","api_version":1},"message":{"type":"text","text":"a message to the service","tracking_data":"tracking data"},"chat_hostname":"SN-CHAT-01_","silent":false}"#;
        let request = WebhookRequest {
            headers: vec![(
                SIGNATURE_HEADER.into(),
                "201236dd51d2452aa358b265177bdef584d5a3b1e006dcddf6f126916eebbd69".into(),
            )],
            body: body.to_vec(),
            ..WebhookRequest::default()
        };
        let delivery = viber.webhook(&request).unwrap();
        let [Update::Message(message)] = delivery.updates.as_slice() else {
            panic!("one message expected");
        };
        assert_eq!(message.channel_message_id, "4912661846655238145");
        assert_eq!(message.sender.display_name, "John McClane");
        let mut forged = request.clone();
        forged.body[20] ^= 1;
        assert!(matches!(
            viber.webhook(&forged),
            Err(WebhookError::Forbidden)
        ));
    }
}
