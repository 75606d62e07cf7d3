use super::*;
use crate::channels::Update;
use crate::domain::content::Content;

fn max(secret: &str) -> Max {
    Max::new(Credentials {
        token: "max-token".into(),
        mode: Some("webhook".into()),
        webhook_secret: Some(secret.into()),
        public_url: None,
        api_url: None,
        timeout_secs: None,
    })
    .expect("a MAX channel")
}

fn request(secret: Option<&str>, body: &Value) -> WebhookRequest {
    WebhookRequest {
        headers: secret
            .map(|s| vec![(SECRET_HEADER.to_owned(), s.to_owned())])
            .unwrap_or_default(),
        body: body.to_string().into_bytes(),
        ..WebhookRequest::default()
    }
}

fn created(chat_type: &str, chat_id: i64, mid: &str, body: Value) -> Value {
    json!({
        "update_type": "message_created",
        "timestamp": 1_780_000_000_000_i64,
        "message": {
            "sender": {"user_id": 501, "first_name": "Анна", "last_name": "Петрова",
                       "username": "anna_p", "is_bot": false},
            "recipient": {"chat_id": chat_id, "chat_type": chat_type, "user_id": 9000},
            "timestamp": 1_780_000_000_000_i64,
            "body": {"mid": mid, "seq": 1, "text": body["text"], "attachments": body["attachments"]}
        }
    })
}

#[test]
fn r39_max_refuses_a_wrong_or_missing_secret_before_parsing() {
    let channel = max("max-secret_1");
    let update = created("dialog", 77, "mid.1", json!({"text": "Привет"}));
    assert!(matches!(
        channel.webhook(&request(Some("wrong"), &update)),
        Err(WebhookError::Forbidden)
    ));
    assert!(matches!(
        channel.webhook(&request(None, &update)),
        Err(WebhookError::Forbidden)
    ));
    let garbage = WebhookRequest {
        body: b"not json".to_vec(),
        ..request(Some("wrong"), &update)
    };
    assert!(matches!(
        channel.webhook(&garbage),
        Err(WebhookError::Forbidden)
    ));
    let delivery = channel
        .webhook(&request(Some("max-secret_1"), &update))
        .expect("the right secret");
    let Some(Update::Message(message)) = delivery.updates.first() else {
        panic!("a message: {:?}", delivery.updates);
    };
    assert_eq!(message.sender.external_id, "501");
    assert_eq!(message.sender.display_name, "Анна Петрова");
    assert_eq!(message.sender.username.as_deref(), Some("anna_p"));
    assert_eq!(message.channel_message_id, "mid.1");
    assert_eq!(message.text, "Привет");
    assert!(message.author.is_none());
}

#[test]
fn r39_max_a_group_chat_is_one_interlocutor_whose_messages_name_their_author() {
    let update = created(
        "chat",
        -7080,
        "mid.2",
        json!({"text": "Всем привет", "attachments": [
            {"type": "image", "payload": {"photo_id": 5, "token": "t5", "url": "https://i.oneme.ru/5"}},
            {"type": "file", "payload": {"url": "https://fd.oneme.ru/6", "token": "t6"}, "filename": "счёт.pdf", "size": 1234}
        ]}),
    );
    let Some(Update::Message(message)) = translate(&update) else {
        panic!("a message");
    };
    assert_eq!(message.sender.external_id, "chat:-7080");
    assert_eq!(message.author.expect("an author").external_id, "501");
    assert_eq!(message.attachments.len(), 2);
    assert_eq!(message.attachments[0].kind, "image");
    assert_eq!(message.attachments[1].file_name, "счёт.pdf");
    assert_eq!(message.attachments[1].size_bytes, Some(1234));
    assert_eq!(recipient_param("chat:-7080"), ("chat_id", "-7080".into()));
    assert_eq!(recipient_param("501"), ("user_id", "501".into()));
}

#[test]
fn r48_max_places_contacts_replies_forwards_and_unknown_kinds() {
    let place = created(
        "dialog",
        1,
        "mid.3",
        json!({"attachments": [{"type": "location", "latitude": 55.75, "longitude": 37.61}]}),
    );
    let Some(Update::Message(message)) = translate(&place) else {
        panic!("a message");
    };
    assert!(matches!(
        message.extras.content,
        Some(Content::Location { latitude, .. }) if (latitude - 55.75).abs() < 1e-9
    ));
    let card = created(
        "dialog",
        1,
        "mid.4",
        json!({"attachments": [{"type": "contact", "payload": {
            "vcf_info": "BEGIN:VCARD\nFN:Борис\nTEL;TYPE=CELL:+79990001122\nEND:VCARD"}}]}),
    );
    let Some(Update::Message(message)) = translate(&card) else {
        panic!("a message");
    };
    assert_eq!(
        message.extras.content,
        Some(Content::Contact {
            name: "Борис".into(),
            phones: vec!["+79990001122".into()],
            emails: vec![],
        })
    );
    let mut reply = created("dialog", 1, "mid.5", json!({"text": "Да"}));
    reply["message"]["link"] =
        json!({"type": "reply", "message": {"mid": "mid.0", "seq": 0, "text": "Оплатили?"}});
    let Some(Update::Message(message)) = translate(&reply) else {
        panic!("a message");
    };
    assert_eq!(message.extras.quote.expect("a quote").text, "Оплатили?");
    let mut forward = created("dialog", 1, "mid.6", json!({}));
    forward["message"]["link"] = json!({"type": "forward",
        "sender": {"user_id": 7, "first_name": "Глеб", "is_bot": false},
        "message": {"mid": "mid.x", "seq": 0, "text": "Адрес склада"}});
    let Some(Update::Message(message)) = translate(&forward) else {
        panic!("a message");
    };
    assert_eq!(message.extras.forwarded.len(), 1);
    assert!(message.extras.content.is_none());
    let odd = created(
        "dialog",
        1,
        "mid.7",
        json!({"attachments": [{"type": "inline_keyboard", "payload": {"buttons": []}}]}),
    );
    let Some(Update::Message(message)) = translate(&odd) else {
        panic!("a message");
    };
    assert_eq!(
        message.extras.content,
        Some(Content::Unsupported {
            platform_kind: "inline_keyboard".into()
        })
    );
}

#[test]
fn r39_max_stop_start_edit_and_remove_are_understood_and_told_apart_on_redelivery() {
    let stopped = json!({"update_type": "bot_stopped", "timestamp": 5, "chat_id": 77,
        "user": {"user_id": 501, "first_name": "Анна", "is_bot": false}});
    assert!(
        matches!(translate(&stopped), Some(Update::Blocked { external_id }) if external_id == "501")
    );
    let mut started = stopped.clone();
    started["update_type"] = json!("bot_started");
    assert!(matches!(
        translate(&started),
        Some(Update::Unblocked { .. })
    ));
    assert_ne!(receipt(&stopped), receipt(&started));
    let edited = json!({"update_type": "message_edited", "timestamp": 6,
        "message": {"body": {"mid": "mid.1", "seq": 1, "text": "Исправила"},
                    "recipient": {"chat_id": 77, "chat_type": "dialog"}, "timestamp": 1}});
    assert!(matches!(translate(&edited), Some(Update::Edited { text, .. }) if text == "Исправила"));
    assert_eq!(
        receipt(&edited).as_deref(),
        Some("max:message_edited:mid.1:6")
    );
    let removed = json!({"update_type": "message_removed", "timestamp": 7,
        "message_id": "mid.1", "chat_id": 77, "user_id": 501});
    assert!(
        matches!(translate(&removed), Some(Update::Deleted { channel_message_id, .. }) if channel_message_id == "mid.1")
    );
    let joined = json!({"update_type": "user_added", "timestamp": 8, "chat_id": -1,
        "user": {"user_id": 3, "first_name": "Ира", "is_bot": false}, "is_channel": false});
    assert!(translate(&joined).is_none());
}

#[test]
fn r39_max_a_long_reply_goes_out_in_parts_of_at_most_4000_characters() {
    assert!(text_parts("").is_empty());
    assert_eq!(text_parts("Привет"), ["Привет"]);
    let long = format!("{} {}", "а".repeat(3000), "б".repeat(3000));
    let parts = text_parts(&long);
    assert_eq!(parts, ["а".repeat(3000), "б".repeat(3000)]);
    let unbroken = "в".repeat(9000);
    let parts = text_parts(&unbroken);
    assert_eq!(parts.len(), 3);
    assert!(parts.iter().all(|p| p.chars().count() <= MAX_TEXT_CHARS));
    assert_eq!(parts.concat(), unbroken);
}
