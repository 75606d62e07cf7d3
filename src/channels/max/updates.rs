//! MAX's updates in the channel-neutral shape: a message (with its files, place, card,
//! sticker, quote or forward), an edit, a deletion, a stop or start of the bot; and the
//! key that tells a redelivered update.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use super::CHAT;
use crate::actors::Inbound;
use crate::channels::Update;
use crate::db::clients::Sender;
use crate::db::dialogs::NewAttachment;
use crate::domain::content::{Content, Extras, Forward, Quote};

/// The deduplication key of an update: a webhook may be delivered again, and MAX gives
/// updates no id of their own. A message's is its `mid`; others are told apart by who,
/// where and when.
pub(super) fn receipt(update: &Value) -> Option<String> {
    let kind = update["update_type"].as_str()?;
    let timestamp = update["timestamp"].as_i64().unwrap_or(0);
    let subject = match kind {
        "message_created" | "message_edited" => {
            update["message"]["body"]["mid"].as_str().map(str::to_owned)
        }
        "message_removed" => update["message_id"].as_str().map(str::to_owned),
        _ => Some(format!(
            "{}/{}",
            update["chat_id"], update["user"]["user_id"]
        )),
    }?;
    Some(format!("max:{kind}:{subject}:{timestamp}"))
}

fn millis(ms: Option<i64>) -> Option<DateTime<Utc>> {
    ms.and_then(|ms| Utc.timestamp_millis_opt(ms).single())
}

/// A person's name as MAX gives it: first and last name, else the (older) `name`.
pub(super) fn person_name(user: &Value) -> String {
    let full = format!(
        "{} {}",
        user["first_name"].as_str().unwrap_or_default(),
        user["last_name"].as_str().unwrap_or_default()
    );
    let full = full.trim();
    if full.is_empty() {
        user["name"].as_str().unwrap_or_default().trim().to_owned()
    } else {
        full.to_owned()
    }
}

fn sender_of(user: &Value) -> Option<Sender> {
    Some(Sender {
        external_id: user["user_id"].as_i64()?.to_string(),
        display_name: person_name(user),
        username: user["username"]
            .as_str()
            .filter(|u| !u.is_empty())
            .map(str::to_owned),
    })
}

pub(super) fn translate(update: &Value) -> Option<Update> {
    let at = millis(update["timestamp"].as_i64()).unwrap_or_else(Utc::now);
    match update["update_type"].as_str()? {
        "message_created" => Some(Update::Message(inbound(&update["message"])?)),
        "message_edited" => {
            let body = &update["message"]["body"];
            Some(Update::Edited {
                channel_message_id: body["mid"].as_str()?.to_owned(),
                text: body["text"].as_str().unwrap_or_default().to_owned(),
                edited_at: at,
            })
        }
        "message_removed" => Some(Update::Deleted {
            channel_message_id: update["message_id"].as_str()?.to_owned(),
            deleted_at: at,
        }),
        "bot_stopped" => Some(Update::Blocked {
            external_id: update["user"]["user_id"].as_i64()?.to_string(),
        }),
        "bot_started" => Some(Update::Unblocked {
            external_id: update["user"]["user_id"].as_i64()?.to_string(),
        }),
        _ => None,
    }
}

fn inbound(message: &Value) -> Option<Inbound> {
    let person = sender_of(&message["sender"])?;
    // Another bot's message (or our own, echoed) is not a client's.
    if message["sender"]["is_bot"] == true {
        return None;
    }
    let body = &message["body"];
    let group = message["recipient"]["chat_type"]
        .as_str()
        .is_some_and(|kind| kind != "dialog");
    let (sender, author) = if group {
        let chat = message["recipient"]["chat_id"].as_i64()?;
        let conversation = Sender {
            external_id: format!("{CHAT}{chat}"),
            display_name: String::new(),
            username: None,
        };
        (conversation, Some(person))
    } else {
        (person, None)
    };
    let items = body["attachments"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let attachments: Vec<NewAttachment> = items.iter().filter_map(attachment).collect();
    let text = body["text"].as_str().unwrap_or_default().to_owned();
    let bare = text.trim().is_empty() && attachments.is_empty();
    let link = &message["link"];
    let linked_words = |linked: &Value| {
        let words = linked["text"].as_str().unwrap_or_default();
        if words.trim().is_empty() {
            let items = linked["attachments"]
                .as_array()
                .map_or(&[][..], Vec::as_slice);
            content_of(items, true)
                .map(|c| c.summary())
                .unwrap_or_else(|| if items.is_empty() { "" } else { "📎" }.to_owned())
        } else {
            words.to_owned()
        }
    };
    let (quote, forwarded) = match link["type"].as_str() {
        Some("reply") => (
            Some(Quote::new(
                link.get("sender")
                    .map(person_name)
                    .filter(|n| !n.is_empty()),
                &linked_words(&link["message"]),
            )),
            Vec::new(),
        ),
        Some("forward") => (
            None,
            vec![Forward::new(
                link.get("sender").map(person_name),
                &linked_words(&link["message"]),
            )],
        ),
        _ => (None, Vec::new()),
    };
    // A forward carries its words in the link: the message itself may have none.
    let bare = bare && forwarded.is_empty();
    Some(Inbound {
        sender,
        channel_message_id: body["mid"].as_str()?.to_owned(),
        text,
        sent_at: millis(message["timestamp"].as_i64()),
        attachments,
        author,
        extras: Box::new(Extras {
            content: content_of(items, bare),
            quote,
            forwarded,
            ..Extras::default()
        }),
    })
}

/// What a message holds besides text and files (R48): a place, a contact card, a
/// sticker; when `bare` (no text, no file) and nothing else is known, the kind MAX named.
fn content_of(items: &[Value], bare: bool) -> Option<Content> {
    for item in items {
        match item["type"].as_str().unwrap_or_default() {
            "location" => {
                return Some(Content::Location {
                    latitude: item["latitude"].as_f64()?,
                    longitude: item["longitude"].as_f64()?,
                    title: None,
                    address: None,
                });
            }
            "contact" => {
                let payload = &item["payload"];
                let card = payload["vcf_info"].as_str().unwrap_or_default();
                let profile = payload
                    .get("max_info")
                    .filter(|p| p.is_object())
                    .or_else(|| payload.get("tam_info").filter(|p| p.is_object()));
                let name = vcard_field(card, "FN")
                    .or_else(|| profile.map(person_name).filter(|n| !n.is_empty()))
                    .unwrap_or_default();
                return Some(Content::Contact {
                    name,
                    phones: vcard_values(card, "TEL"),
                    emails: vcard_values(card, "EMAIL"),
                });
            }
            "sticker" => return Some(Content::Sticker { emoji: None }),
            _ => {}
        }
    }
    if !bare {
        return None;
    }
    let kind = items
        .first()
        .and_then(|item| item["type"].as_str())
        .unwrap_or("unknown");
    Some(Content::Unsupported {
        platform_kind: kind.to_owned(),
    })
}

/// The first value of a vCard property (`FN:Анна Петрова`).
fn vcard_field(card: &str, property: &str) -> Option<String> {
    vcard_values(card, property).into_iter().next()
}

/// Every value of a vCard property, whatever its parameters (`TEL;TYPE=CELL:+7…`).
fn vcard_values(card: &str, property: &str) -> Vec<String> {
    card.lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            let name = name.split(';').next()?.trim();
            (name.eq_ignore_ascii_case(property) && !value.trim().is_empty())
                .then(|| value.trim().to_owned())
        })
        .collect()
}

fn attachment(item: &Value) -> Option<NewAttachment> {
    let payload = &item["payload"];
    let url = payload["url"].as_str().map(str::to_owned);
    let file = |kind: &str, file_name: String, mime: Option<&str>| NewAttachment {
        kind: kind.into(),
        file_name,
        mime_type: mime.map(str::to_owned),
        size_bytes: None,
        channel_file_id: payload["token"].as_str().map(str::to_owned),
        url: url.clone(),
        storage_path: None,
    };
    match item["type"].as_str()? {
        "image" => Some(file(
            "image",
            format!("photo{}.jpg", payload["photo_id"].as_i64().unwrap_or(0)),
            Some("image/jpeg"),
        )),
        "file" => Some(NewAttachment {
            size_bytes: item["size"].as_i64(),
            ..file(
                "file",
                item["filename"].as_str().unwrap_or("file").to_owned(),
                None,
            )
        }),
        "audio" => Some(file("audio", "audio.mp3".into(), None)),
        "video" => Some(file("video", "video.mp4".into(), None)),
        "sticker" => Some(file("image", "sticker.png".into(), None)),
        "share" => url.map(|url| NewAttachment {
            kind: "link".into(),
            file_name: item["title"]
                .as_str()
                .filter(|t| !t.trim().is_empty())
                .unwrap_or(&url)
                .chars()
                .take(200)
                .collect(),
            mime_type: None,
            size_bytes: None,
            channel_file_id: None,
            url: Some(url.clone()),
            storage_path: None,
        }),
        _ => None,
    }
}
