//! WhatsApp Cloud API: the GET verification challenge, notifications signed with
//! `X-Hub-Signature-256` (HMAC-SHA256 of the raw body with the app secret), messages and
//! delivery statuses, `POST /{phone_number_id}/messages`, media fetched with the bearer
//! token from the host the API names, and the 24-hour customer service window.
//!
//! Ids: a message is its `wamid`, the interlocutor is the `wa_id`. Our outbox key travels
//! as `biz_opaque_callback_data` and comes back with the statuses.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Value, json};

use super::net::{self, Downloaded};
use super::{
    Channel, ChannelError, Delivery, DeliveryState, MediaRef, Outgoing, OutgoingFile, SendOutcome,
    Update, WebhookError, WebhookRequest,
};
use crate::actors::Inbound;
use crate::db::clients::Sender;
use crate::db::dialogs::NewAttachment;
use crate::domain::content::{Content, Extras};
use crate::security::secrets_equal;

/// The hosts this platform's clients connect to by default (the Graph API and the media CDNs); the
/// administrator's `outbound_hosts` setting replaces them (R47).
pub const WHATSAPP_HOSTS: &[&str] = &["graph.facebook.com", "*.fbsbx.com", "*.whatsapp.net"];

const DEFAULT_API: &str = "https://graph.facebook.com";
const DEFAULT_VERSION: &str = "v23.0";
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
/// Free-form messages are allowed this long after the client's last message.
pub const SERVICE_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

#[derive(Debug, Clone, Deserialize)]
pub struct Credentials {
    pub phone_number_id: Value,
    pub access_token: String,
    pub app_secret: String,
    pub verify_token: String,
    #[serde(default)]
    pub api_url: Option<String>,
    /// Seconds one API call may take (default 20).
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    #[serde(default)]
    pub api_version: Option<String>,
}

pub struct WhatsApp {
    phone_number_id: String,
    api: Url,
    http: reqwest::Client,
    credentials: Credentials,
}

impl WhatsApp {
    pub fn new(credentials: Credentials) -> Result<Self, ChannelError> {
        let phone_number_id = match &credentials.phone_number_id {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        };
        if phone_number_id.is_empty() || !phone_number_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(ChannelError::Unsupported(
                "phone_number_id: the digits of the number's id".into(),
            ));
        }
        let api = net::base_url(credentials.api_url.as_deref(), DEFAULT_API)?;
        Ok(Self {
            phone_number_id,
            http: net::client(
                net::call_timeout(credentials.timeout_secs),
                &api,
                WHATSAPP_HOSTS,
            )?,
            api,
            credentials,
        })
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/{}/{path}",
            self.api.as_str().trim_end_matches('/'),
            self.credentials
                .api_version
                .as_deref()
                .unwrap_or(DEFAULT_VERSION)
        )
    }

    /// Whether the bearer token may go to `url`: the API's own host or Meta's media hosts.
    fn trusted_media_host(&self, url: &Url) -> bool {
        let host = url.host_str().unwrap_or("");
        host == self.api.host_str().unwrap_or("-")
            || (url.scheme() == "https"
                && [".fbsbx.com", ".facebook.com", ".whatsapp.net"]
                    .iter()
                    .any(|suffix| host.ends_with(suffix)))
    }
}

impl WhatsApp {
    /// Uploads a file to the number's media store; its id goes into the message.
    async fn upload(&self, file: &OutgoingFile) -> Result<String, SendOutcome> {
        let mime = file
            .mime_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into());
        let part = reqwest::multipart::Part::bytes(file.bytes.clone())
            .file_name(file.file_name.clone())
            .mime_str(&mime)
            .map_err(|e| SendOutcome::Failed {
                reason: format!("WhatsApp: the file's type is not valid: {e}"),
                recipient_gone: false,
            })?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime.clone())
            .part("file", part);
        let response = self
            .http
            .post(self.url(&format!("{}/media", self.phone_number_id)))
            .bearer_auth(&self.credentials.access_token)
            .multipart(form)
            .send()
            .await
            .map_err(|e| net::retry_on(&e))?;
        let status = response.status();
        let answer: Value = response.json().await.map_err(|e| net::retry_on(&e))?;
        match answer["id"].as_str() {
            Some(id) if status.is_success() => Ok(id.to_owned()),
            _ => Err(classify(status, &answer)),
        }
    }

    /// Posts one message; the `wamid` on success.
    async fn post_message(&self, body: &Value) -> Result<Option<String>, SendOutcome> {
        let response = self
            .http
            .post(self.url(&format!("{}/messages", self.phone_number_id)))
            .bearer_auth(&self.credentials.access_token)
            .json(body)
            .send()
            .await
            .map_err(|e| net::retry_on(&e))?;
        let status = response.status();
        let answer: Value = response.json().await.map_err(|e| net::retry_on(&e))?;
        if status.is_success() {
            Ok(answer["messages"][0]["id"].as_str().map(str::to_owned))
        } else {
            Err(classify(status, &answer))
        }
    }
}

/// What a Graph API error means for the outbox.
fn classify(status: reqwest::StatusCode, answer: &Value) -> SendOutcome {
    let (code, text) = graph_error(answer);
    let reason = format!("WhatsApp error {code}: {text}");
    match code {
        // Throughput, pair rate and app rate limits: not sent, try later.
        4 | 80007 | 130429 | 131056 => SendOutcome::Retry {
            after: Some(Duration::from_secs(10)),
            reason,
        },
        131047 => SendOutcome::Failed {
            reason: format!("{reason} (the 24-hour window has closed)"),
            recipient_gone: false,
        },
        _ if status.is_server_error() => SendOutcome::Retry {
            after: None,
            reason,
        },
        _ => SendOutcome::Failed {
            reason,
            recipient_gone: false,
        },
    }
}

fn graph_error(body: &Value) -> (i64, String) {
    let error = &body["error"];
    (
        error["code"].as_i64().unwrap_or(0),
        error["message"].as_str().unwrap_or("").to_owned(),
    )
}

impl Channel for WhatsApp {
    fn webhook(&self, request: &WebhookRequest) -> Result<Delivery, WebhookError> {
        if request.method_get {
            let token = request.query("hub.verify_token").unwrap_or("");
            if request.query("hub.mode") != Some("subscribe")
                || !secrets_equal(token.as_bytes(), self.credentials.verify_token.as_bytes())
            {
                return Err(WebhookError::Forbidden);
            }
            return Ok(Delivery {
                receipt: None,
                updates: Vec::new(),
                answer: request.query("hub.challenge").unwrap_or("").to_owned(),
                raw: String::new(),
            });
        }
        let signature = request
            .header(SIGNATURE_HEADER)
            .and_then(|s| s.strip_prefix("sha256="))
            .unwrap_or("");
        if !net::hmac_matches(
            self.credentials.app_secret.as_bytes(),
            &request.body,
            signature,
        ) {
            return Err(WebhookError::Forbidden);
        }
        let notification: Value = serde_json::from_slice(&request.body)
            .map_err(|e| WebhookError::Malformed(format!("not a WhatsApp notification: {e}")))?;
        Ok(Delivery {
            receipt: None,
            updates: translate(&notification, &self.phone_number_id),
            answer: String::new(),
            raw: String::new(),
        })
    }

    async fn send(&self, outgoing: &Outgoing) -> SendOutcome {
        let window_open = outgoing
            .last_inbound_at
            .is_some_and(|at| Utc::now() - at < SERVICE_WINDOW);
        if !window_open {
            return SendOutcome::Failed {
                reason: "WhatsApp: more than 24 hours have passed since the client last wrote, \
                         so free text can no longer be sent; the client has to write first"
                    .into(),
                recipient_gone: false,
            };
        }
        let text = outgoing.text.trim();
        let caption_fits = text.chars().count() <= 1024;
        let mut caption = (caption_fits && !text.is_empty()).then(|| text.to_owned());
        let mut last = None;
        for file in &outgoing.files {
            let media_id = match self.upload(file).await {
                Ok(id) => id,
                Err(outcome) => return outcome,
            };
            let kind = if file.kind == "image" {
                "image"
            } else {
                "document"
            };
            let mut media = json!({"id": media_id});
            if let Some(caption) = caption.take() {
                media["caption"] = json!(caption);
            }
            if kind == "document" {
                media["filename"] = json!(file.file_name);
            }
            let mut body = json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": outgoing.recipient,
                "type": kind,
                "biz_opaque_callback_data": outgoing.delivery_key,
            });
            body[kind] = media;
            match self.post_message(&body).await {
                Ok(id) => last = id,
                Err(outcome) => return outcome,
            }
        }
        if outgoing.files.is_empty() || (!text.is_empty() && !caption_fits) {
            let body = json!({
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": outgoing.recipient,
                "type": "text",
                "text": {"preview_url": false, "body": text},
                "biz_opaque_callback_data": outgoing.delivery_key,
            });
            match self.post_message(&body).await {
                Ok(id) => last = id,
                Err(outcome) => return outcome,
            }
        }
        SendOutcome::Sent {
            channel_message_id: last,
        }
    }

    async fn react(
        &self,
        recipient: &str,
        channel_message_id: &str,
        emoji: Option<&str>,
    ) -> Result<(), ChannelError> {
        // An empty emoji takes the reaction back.
        let body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": recipient,
            "type": "reaction",
            "reaction": {"message_id": channel_message_id, "emoji": emoji.unwrap_or("")},
        });
        match self.post_message(&body).await {
            Ok(_) => Ok(()),
            Err(SendOutcome::Failed { reason, .. } | SendOutcome::Retry { reason, .. }) => {
                Err(ChannelError::Api(reason))
            }
            Err(SendOutcome::Sent { .. }) => Ok(()),
        }
    }

    async fn check(&self) -> Result<String, ChannelError> {
        let response = self
            .http
            .get(self.url(&self.phone_number_id))
            .query(&[("fields", "display_phone_number,verified_name")])
            .bearer_auth(&self.credentials.access_token)
            .send()
            .await
            .map_err(|e| ChannelError::Network(net::without_url(&e)))?;
        let status = response.status();
        let answer: Value = response
            .json()
            .await
            .map_err(|e| ChannelError::Network(net::without_url(&e)))?;
        if status.is_success() {
            return Ok(format!(
                "WhatsApp number {} ({})",
                answer["display_phone_number"].as_str().unwrap_or("?"),
                answer["verified_name"].as_str().unwrap_or("?")
            ));
        }
        let (code, text) = graph_error(&answer);
        if code == 190 || status == reqwest::StatusCode::UNAUTHORIZED {
            Err(ChannelError::Auth(format!("WhatsApp error {code}: {text}")))
        } else {
            Err(ChannelError::Api(format!("WhatsApp error {code}: {text}")))
        }
    }

    async fn download(&self, media: &MediaRef) -> Result<Downloaded, ChannelError> {
        let id = media
            .channel_file_id
            .as_deref()
            .filter(|id| id.chars().all(|c| c.is_ascii_alphanumeric()))
            .ok_or_else(|| ChannelError::Unsupported("no WhatsApp media id".into()))?;
        let answer: Value = self
            .http
            .get(self.url(id))
            .bearer_auth(&self.credentials.access_token)
            .send()
            .await
            .map_err(|e| ChannelError::Network(net::without_url(&e)))?
            .json()
            .await
            .map_err(|e| ChannelError::Network(net::without_url(&e)))?;
        let url = answer["url"]
            .as_str()
            .and_then(|u| Url::parse(u).ok())
            .filter(|u| self.trusted_media_host(u))
            .ok_or_else(|| ChannelError::Api("WhatsApp gave no usable media URL".into()))?;
        let mut file = net::download(&self.http, url, Some(&self.credentials.access_token)).await?;
        if file.mime_type.is_none() {
            file.mime_type = answer["mime_type"].as_str().map(str::to_owned);
        }
        Ok(file)
    }

    fn dialog_link(&self, _external_id: &str, _username: Option<&str>) -> Option<String> {
        // Cloud API threads have no web inbox (wa.me opens the clicker's own WhatsApp).
        None
    }

    fn pacing(&self, _recipient: &str) -> (Duration, Duration) {
        // 80 messages a second per number.
        (Duration::ZERO, Duration::from_millis(13))
    }
}

fn seconds(value: &Value) -> Option<DateTime<Utc>> {
    let s = value.as_str()?.parse::<i64>().ok()?;
    Utc.timestamp_opt(s, 0).single()
}

fn translate(notification: &Value, phone_number_id: &str) -> Vec<Update> {
    let mut updates = Vec::new();
    let entries = notification["entry"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for entry in &entries {
        for change in entry["changes"].as_array().into_iter().flatten() {
            let value = &change["value"];
            // One app may serve several numbers: keep only ours.
            if value["metadata"]["phone_number_id"].as_str() != Some(phone_number_id) {
                continue;
            }
            let names: HashMap<&str, &str> = value["contacts"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| Some((c["wa_id"].as_str()?, c["profile"]["name"].as_str()?)))
                .collect();
            for message in value["messages"].as_array().into_iter().flatten() {
                // A reaction belongs to the message it reacts to; an empty emoji takes it back.
                if message["type"] == "reaction" {
                    if let Some(target) = message["reaction"]["message_id"].as_str() {
                        updates.push(Update::Reaction {
                            channel_message_id: target.to_owned(),
                            emoji: message["reaction"]["emoji"]
                                .as_str()
                                .filter(|e| !e.is_empty())
                                .map(str::to_owned),
                        });
                    }
                    continue;
                }
                // An edit or a deletion changes the message it names, by its wamid.
                let original = |field: &str| {
                    message[field]["original_message_id"]
                        .as_str()
                        .map(str::to_owned)
                };
                let at = message["timestamp"]
                    .as_str()
                    .and_then(|t| t.parse::<i64>().ok())
                    .and_then(|t| Utc.timestamp_opt(t, 0).single())
                    .unwrap_or_else(Utc::now);
                match message["type"].as_str() {
                    Some("edit") => {
                        if let Some(channel_message_id) = original("edit") {
                            let edited = &message["edit"]["message"];
                            let text = edited["text"]["body"]
                                .as_str()
                                .or(edited[edited["type"].as_str().unwrap_or("text")]["caption"]
                                    .as_str())
                                .unwrap_or("")
                                .to_owned();
                            updates.push(Update::Edited {
                                channel_message_id,
                                text,
                                edited_at: at,
                            });
                        }
                        continue;
                    }
                    Some("revoke") => {
                        if let Some(channel_message_id) = original("revoke") {
                            updates.push(Update::Deleted {
                                channel_message_id,
                                deleted_at: at,
                            });
                        }
                        continue;
                    }
                    _ => {}
                }
                if let Some(inbound) = inbound(message, &names) {
                    updates.push(Update::Message(inbound));
                }
            }
            for status in value["statuses"].as_array().into_iter().flatten() {
                let state = match status["status"].as_str() {
                    Some("sent") => DeliveryState::Sent,
                    Some("delivered") => DeliveryState::Delivered,
                    Some("read") => DeliveryState::Read,
                    Some("failed") => DeliveryState::Failed,
                    _ => continue,
                };
                let Some(id) = status["id"].as_str() else {
                    continue;
                };
                let error = status["errors"].get(0).map(|e| {
                    format!(
                        "WhatsApp error {}: {}",
                        e["code"],
                        e["message"].as_str().or(e["title"].as_str()).unwrap_or("")
                    )
                });
                updates.push(Update::Delivery {
                    channel_message_id: id.to_owned(),
                    delivery_key: status["biz_opaque_callback_data"]
                        .as_str()
                        .map(str::to_owned),
                    state,
                    error,
                });
            }
        }
    }
    updates
}

fn inbound(message: &Value, names: &HashMap<&str, &str>) -> Option<Inbound> {
    let from = message["from"].as_str()?;
    let kind = message["type"].as_str().unwrap_or("text");
    let media = |kind_of: &str, field: &str, default_name: &str| NewAttachment {
        kind: kind_of.into(),
        file_name: message[field]["filename"]
            .as_str()
            .unwrap_or(default_name)
            .to_owned(),
        mime_type: message[field]["mime_type"].as_str().map(str::to_owned),
        size_bytes: None,
        channel_file_id: message[field]["id"].as_str().map(str::to_owned),
        url: None,
        storage_path: None,
    };
    let (text, attachments) = match kind {
        "text" => (message["text"]["body"].as_str().unwrap_or(""), Vec::new()),
        "image" => (
            message["image"]["caption"].as_str().unwrap_or(""),
            vec![media("image", "image", "photo.jpg")],
        ),
        "document" => (
            message["document"]["caption"].as_str().unwrap_or(""),
            vec![media("file", "document", "file")],
        ),
        "audio" => ("", vec![media("audio", "audio", "audio.ogg")]),
        "video" => (
            message["video"]["caption"].as_str().unwrap_or(""),
            vec![media("video", "video", "video.mp4")],
        ),
        "sticker" => ("", vec![media("image", "sticker", "sticker.webp")]),
        "button" => (message["button"]["text"].as_str().unwrap_or(""), Vec::new()),
        "interactive" => (
            message["interactive"]["button_reply"]["title"]
                .as_str()
                .or(message["interactive"]["list_reply"]["title"].as_str())
                .unwrap_or(""),
            Vec::new(),
        ),
        _ => ("", Vec::new()),
    };
    let content = match kind {
        "location" => {
            let place = &message["location"];
            let words = |field: &str| place[field].as_str().map(str::to_owned);
            Some(Content::Location {
                latitude: place["latitude"].as_f64()?,
                longitude: place["longitude"].as_f64()?,
                title: words("name"),
                address: words("address"),
            })
        }
        "contacts" => message["contacts"].get(0).map(|card| {
            let all = |list: &str, field: &str| {
                card[list]
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .filter_map(|item| item[field].as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            Content::Contact {
                name: card["name"]["formatted_name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                phones: all("phones", "phone"),
                emails: all("emails", "email"),
            }
        }),
        "sticker" => Some(Content::Sticker { emoji: None }),
        // Nothing we know: say what it was rather than store an empty bubble.
        _ if text.is_empty() && attachments.is_empty() => Some(Content::Unsupported {
            platform_kind: kind.to_owned(),
        }),
        _ => None,
    };
    let text = text.to_owned();
    Some(Inbound {
        sender: Sender {
            external_id: from.to_owned(),
            display_name: names.get(from).copied().unwrap_or("").to_owned(),
            username: None,
        },
        channel_message_id: message["id"].as_str()?.to_owned(),
        text,
        sent_at: seconds(&message["timestamp"]),
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

    fn whatsapp() -> WhatsApp {
        WhatsApp::new(Credentials {
            phone_number_id: json!("106540352242922"),
            access_token: "t".into(),
            app_secret: "test_app_secret".into(),
            verify_token: "v".into(),
            api_url: None,
            timeout_secs: None,
            api_version: None,
        })
        .unwrap()
    }

    #[test]
    fn r1_whatsapp_signature_vector_and_text_message() {
        let body = r#"{"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550783881","phone_number_id":"106540352242922"},"contacts":[{"profile":{"name":"Sheena Nelson"},"wa_id":"16505551234"}],"messages":[{"from":"16505551234","id":"wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=","timestamp":"1739321024","type":"text","text":{"body":"Does it come in another color?"}}]},"field":"messages"}]}]}"#;
        let request = WebhookRequest {
            headers: vec![(
                SIGNATURE_HEADER.into(),
                "sha256=6b1fcc680621f56a38c8cb3b4e320bda79f2ab8db097d676cc71d613a5c683ea".into(),
            )],
            body: body.as_bytes().to_vec(),
            ..WebhookRequest::default()
        };
        let delivery = whatsapp().webhook(&request).unwrap();
        let [Update::Message(message)] = delivery.updates.as_slice() else {
            panic!("one message expected");
        };
        assert_eq!(message.sender.display_name, "Sheena Nelson");
        assert_eq!(message.text, "Does it come in another color?");
    }

    #[test]
    fn r1_whatsapp_verification_challenge() {
        let get = |token: &str| WebhookRequest {
            method_get: true,
            query: vec![
                ("hub.mode".into(), "subscribe".into()),
                ("hub.verify_token".into(), token.into()),
                ("hub.challenge".into(), "1158201444".into()),
            ],
            ..WebhookRequest::default()
        };
        assert_eq!(whatsapp().webhook(&get("v")).unwrap().answer, "1158201444");
        assert!(matches!(
            whatsapp().webhook(&get("x")),
            Err(WebhookError::Forbidden)
        ));
    }
}
