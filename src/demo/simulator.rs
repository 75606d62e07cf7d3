//! The demo's messengers: one HTTP server on 127.0.0.1 that answers the five platforms'
//! API calls as the platforms do (same paths, same answers), for the demo accounts only.
//!
//! - Telegram Bot API: `/bot{token}/{method}` (`getMe`, `setWebhook`, `sendMessage`,
//!   `sendPhoto`, `sendDocument`, `getFile`) and `/file/bot{token}/{path}`;
//! - VK API: `/method/{name}` (`messages.send`, `users.get`, `groups.getById`,
//!   `messages.getConversationsById`, the photo and document upload flow);
//! - Viber REST API: `/pa/{name}` (`send_message`, `get_account_info`, `set_webhook`);
//! - WhatsApp Cloud API: `/{version}/{phone number id}/messages` and `/media`,
//!   `/{version}/{media id}`, and the media URL it names;
//! - MAX Bot API: `/max/{path}` (`me`, `subscriptions`, `uploads`, `messages` to send,
//!   edit and delete) and the upload addresses it names (`/max-upload/…`).
//!
//! A call is answered only when its credential (bot token, access token, auth token) is a
//! demo account's: anything else gets the platform's "unauthorized" answer and is not
//! recorded, so no real account's traffic is ever taken for a demo. Each accepted send
//! is handed to the simulated clients ([`super::clients`]) as a [`Sent`], which report
//! delivery and read states and answer through the real webhook routes.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::db::accounts::AccountRow;

/// A small PNG (a 16×16 blue square) served as every picture the demo's clients send.
pub const PICTURE: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x10, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x91, 0x68,
    0x36, 0x00, 0x00, 0x00, 0x16, 0x49, 0x44, 0x41, 0x54, 0x78, 0xDA, 0x63, 0xB0, 0x6E, 0xFA, 0x46,
    0x12, 0x62, 0x18, 0xD5, 0x30, 0xAA, 0x61, 0xF8, 0x6A, 0x00, 0x00, 0x87, 0x07, 0xB3, 0x10, 0xB6,
    0x9F, 0xFD, 0x97, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// An operator's message the simulated platform accepted.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The demo account's id in Dialogi.
    pub account_id: i64,
    /// The recipient's id on the channel (chat, peer, receiver, wa_id).
    pub recipient: String,
    pub text: String,
    /// The id the platform gave the message (Viber token, wamid, message id).
    pub channel_message_id: String,
    /// WhatsApp's `biz_opaque_callback_data`, echoed in its statuses.
    pub callback_data: Option<String>,
}

/// What the simulated platforms know: the demo accounts and where to report sends.
pub(super) struct Platforms {
    accounts: Vec<AccountRow>,
    sent: mpsc::UnboundedSender<Sent>,
    next_id: AtomicI64,
}

impl Platforms {
    pub(super) fn new(accounts: Vec<AccountRow>, sent: mpsc::UnboundedSender<Sent>) -> Self {
        // Ids unique across restarts that fit Telegram's 32-bit message ids: tens a
        // second since late 2023, larger than any of an earlier run.
        // Odd: the clients' own messages take the even ones.
        let start = (chrono::Utc::now().timestamp() - 1_700_000_000) * 10 + 1;
        Self {
            accounts,
            sent,
            next_id: AtomicI64::new(start),
        }
    }

    fn next_id(&self) -> i64 {
        self.next_id.fetch_add(2, Ordering::Relaxed)
    }

    /// The demo account of `kind` whose credential `field` is `value`.
    fn account(&self, kind: &str, field: &str, value: &str) -> Option<&AccountRow> {
        self.accounts.iter().find(|a| {
            a.kind == kind && !value.is_empty() && a.credentials[field].as_str() == Some(value)
        })
    }

    fn record(&self, sent: Sent) {
        let _ = self.sent.send(sent);
    }
}

/// Every request to the simulator: dispatched by the platform its path belongs to.
pub(super) async fn handle(
    platforms: web::Data<Arc<Platforms>>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let path = request.path().to_owned();
    let lower = path.to_ascii_lowercase();
    if let Some(rest) = path.strip_prefix("/bot") {
        return telegram(&platforms, rest, &body);
    }
    if let Some(rest) = path.strip_prefix("/file/bot") {
        let token = rest.split('/').next().unwrap_or("");
        return match platforms.account("telegram", "token", token) {
            Some(_) => picture(),
            None => HttpResponse::NotFound().finish(),
        };
    }
    if let Some(method) = lower.strip_prefix("/method/") {
        let host = request.connection_info().host().to_owned();
        return vk(&platforms, method, &form(&body), &host);
    }
    if let Some(kind) = lower.strip_prefix("/upload/") {
        return match kind {
            "photo" => HttpResponse::Ok()
                .json(json!({"server": 1, "photo": "[{\"photo\":\"demo\"}]", "hash": "demo"})),
            _ => HttpResponse::Ok().json(json!({"file": "demo"})),
        };
    }
    if let Some(method) = lower.strip_prefix("/pa/") {
        return viber(&platforms, method, &request, &body);
    }
    if let Some(rest) = lower.strip_prefix("/max-upload/") {
        // The upload address takes the file and gives the token the message names.
        return if rest.starts_with("image") {
            HttpResponse::Ok().json(json!({"photos": {"demo": {"token": "demo-photo"}}}))
        } else {
            HttpResponse::Ok().json(json!({"token": "demo-file"}))
        };
    }
    if let Some(rest) = path.strip_prefix("/max/") {
        return max(&platforms, rest, &request, &body);
    }
    if lower.starts_with("/media/") {
        return picture();
    }
    whatsapp(&platforms, &path, &request, &body)
}

fn picture() -> HttpResponse {
    HttpResponse::Ok().content_type("image/png").body(PICTURE)
}

/// A form body (VK) as a JSON object of strings.
fn form(body: &[u8]) -> Value {
    let pairs =
        web::Query::<Vec<(String, String)>>::from_query(std::str::from_utf8(body).unwrap_or(""))
            .map(web::Query::into_inner)
            .unwrap_or_default();
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect(),
    )
}

/// A field of a multipart form, read from its raw text (the sends with files).
fn multipart_field(body: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let marker = format!("name=\"{name}\"");
    let after = &text[text.find(&marker)? + marker.len()..];
    let value = &after[after.find("\r\n\r\n")? + 4..];
    Some(value[..value.find("\r\n").unwrap_or(value.len())].to_owned())
}

fn telegram(platforms: &Platforms, rest: &str, body: &[u8]) -> HttpResponse {
    let (token, method) = rest.split_once('/').unwrap_or((rest, ""));
    let ok = |result: Value| HttpResponse::Ok().json(json!({"ok": true, "result": result}));
    let Some(account) = platforms.account("telegram", "token", token) else {
        return HttpResponse::Unauthorized()
            .json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
    };
    let json_body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let field = |name: &str| -> Option<String> {
        match &json_body[name] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => {
                multipart_field(body, name).or_else(|| form(body)[name].as_str().map(str::to_owned))
            }
        }
    };
    match method.to_ascii_lowercase().as_str() {
        "getme" => ok(
            json!({"id": 7_000_001, "is_bot": true, "first_name": account.name,
            "username": "dialogi_demo_bot", "can_join_groups": false,
            "can_read_all_group_messages": false, "supports_inline_queries": false,
            "can_connect_to_business": false, "has_main_web_app": false}),
        ),
        "setwebhook" | "deletewebhook" => ok(json!(true)),
        "getfile" => ok(
            json!({"file_id": field("file_id"), "file_unique_id": "demo",
            "file_size": PICTURE.len(), "file_path": "photos/demo.png"}),
        ),
        "sendmessage" | "sendphoto" | "senddocument" => {
            let chat = field("chat_id").unwrap_or_default();
            let id = platforms.next_id();
            let text = field("text")
                .or_else(|| field("caption"))
                .unwrap_or_default();
            platforms.record(Sent {
                account_id: account.id,
                recipient: chat.clone(),
                text: text.clone(),
                channel_message_id: id.to_string(),
                callback_data: None,
            });
            let chat_id: i64 = chat.parse().unwrap_or(0);
            ok(
                json!({"message_id": id, "date": chrono::Utc::now().timestamp(),
                "chat": {"id": chat_id, "type": "private", "first_name": "Client"},
                "text": text}),
            )
        }
        _ => HttpResponse::NotFound()
            .json(json!({"ok": false, "error_code": 404, "description": "Not Found"})),
    }
}

fn vk(platforms: &Platforms, method: &str, body: &Value, host: &str) -> HttpResponse {
    let token = body["access_token"].as_str().unwrap_or("");
    let Some(account) = platforms.account("vk", "access_token", token) else {
        return HttpResponse::Ok().json(json!({"error": {"error_code": 5,
            "error_msg": "User authorization failed: invalid access_token (4)."}}));
    };
    let answer = |response: Value| HttpResponse::Ok().json(json!({ "response": response }));
    match method {
        "groups.getbyid" => answer(json!({"groups": [{"id": account.credentials["group_id"],
            "name": account.name, "screen_name": "dialogi_demo"}], "profiles": []})),
        "users.get" => {
            let id: i64 = body["user_ids"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let (first, last) = super::clients::vk_name(id);
            answer(json!([{"id": id, "first_name": first, "last_name": last,
                "screen_name": format!("id{id}")}]))
        }
        "messages.getconversationsbyid" => {
            let peer: i64 = body["peer_ids"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            answer(
                json!({"count": 1, "items": [{"peer": {"id": peer, "type": "chat",
                "local_id": peer - 2_000_000_000}, "chat_settings": {"title": "Беседа клиентов",
                "members_count": 3, "state": "in"}}]}),
            )
        }
        "messages.send" => {
            let id = platforms.next_id();
            platforms.record(Sent {
                account_id: account.id,
                recipient: body["peer_id"].as_str().unwrap_or("").to_owned(),
                text: body["message"].as_str().unwrap_or("").to_owned(),
                channel_message_id: id.to_string(),
                callback_data: None,
            });
            answer(json!(id))
        }
        "photos.getmessagesuploadserver" | "docs.getmessagesuploadserver" => {
            let kind = if method.starts_with("photos") {
                "photo"
            } else {
                "doc"
            };
            answer(json!({"upload_url": format!("http://{host}/upload/{kind}")}))
        }
        "photos.savemessagesphoto" => {
            answer(json!([{"id": platforms.next_id(), "owner_id": -1, "access_key": "demo"}]))
        }
        "docs.save" => {
            answer(json!({"type": "doc", "doc": {"id": platforms.next_id(), "owner_id": -1}}))
        }
        _ => HttpResponse::Ok()
            .json(json!({"error": {"error_code": 3, "error_msg": "Unknown method passed"}})),
    }
}

fn viber(platforms: &Platforms, method: &str, request: &HttpRequest, body: &[u8]) -> HttpResponse {
    let token = request
        .headers()
        .get("X-Viber-Auth-Token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(account) = platforms.account("viber", "auth_token", token) else {
        return HttpResponse::Ok().json(json!({"status": 2, "status_message": "invalidAuthToken"}));
    };
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match method {
        "get_account_info" => HttpResponse::Ok().json(json!({"status": 0, "status_message": "ok",
            "id": "pa:demo", "name": account.name})),
        "set_webhook" => HttpResponse::Ok().json(json!({"status": 0, "status_message": "ok",
            "event_types": ["delivered", "seen"]})),
        "send_message" => {
            let token = platforms.next_id();
            platforms.record(Sent {
                account_id: account.id,
                recipient: body["receiver"].as_str().unwrap_or("").to_owned(),
                text: body["text"].as_str().unwrap_or("").to_owned(),
                channel_message_id: token.to_string(),
                callback_data: None,
            });
            HttpResponse::Ok().json(json!({"status": 0, "status_message": "ok",
                "message_token": token, "chat_hostname": "SN-DEMO"}))
        }
        _ => HttpResponse::Ok().json(json!({"status": 3, "status_message": "badData"})),
    }
}

fn max(platforms: &Platforms, path: &str, request: &HttpRequest, body: &[u8]) -> HttpResponse {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(account) = platforms.account("max", "token", token) else {
        return HttpResponse::Unauthorized()
            .json(json!({"code": "verify.token", "message": "Invalid access_token"}));
    };
    let query = form(request.query_string().as_bytes());
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let success = || HttpResponse::Ok().json(json!({"success": true}));
    match (request.method().as_str(), path) {
        ("GET", "me") => HttpResponse::Ok().json(json!({"user_id": 9_000_000 + account.id,
            "first_name": account.name, "username": "demo_shop_bot", "is_bot": true})),
        ("GET", "subscriptions") => HttpResponse::Ok().json(json!({"subscriptions": []})),
        (_, "subscriptions") => success(),
        ("POST", "uploads") => {
            let host = request.connection_info().host().to_owned();
            let kind = query["type"].as_str().unwrap_or("file").to_owned();
            HttpResponse::Ok().json(json!({"url": format!("http://{host}/max-upload/{kind}")}))
        }
        ("PUT" | "DELETE", "messages") => success(),
        ("POST", "messages") => {
            let mid = format!("mid.demo{}", platforms.next_id());
            platforms.record(Sent {
                account_id: account.id,
                recipient: query["user_id"]
                    .as_str()
                    .map(str::to_owned)
                    .or_else(|| query["chat_id"].as_str().map(|c| format!("chat:{c}")))
                    .unwrap_or_default(),
                text: body["text"].as_str().unwrap_or("").to_owned(),
                channel_message_id: mid.clone(),
                callback_data: None,
            });
            HttpResponse::Ok().json(json!({"message": {
                "recipient": {"chat_id": 1, "chat_type": "dialog"},
                "timestamp": chrono::Utc::now().timestamp_millis(),
                "body": {"mid": mid, "seq": 1, "text": body["text"]}}}))
        }
        _ => {
            HttpResponse::NotFound().json(json!({"code": "not.found", "message": "Path not found"}))
        }
    }
}

fn whatsapp(platforms: &Platforms, path: &str, request: &HttpRequest, body: &[u8]) -> HttpResponse {
    let bearer = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let unauthorized = || {
        HttpResponse::Unauthorized()
            .json(json!({"error": {"message": "Invalid OAuth access token.",
            "type": "OAuthException", "code": 190}}))
    };
    let Some(account) = platforms.account("whatsapp", "access_token", bearer) else {
        return unauthorized();
    };
    let number = account.credentials["phone_number_id"]
        .as_str()
        .unwrap_or("");
    match parts.as_slice() {
        [_version, id, "messages"] if *id == number => {
            let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
            let wamid = format!("wamid.DEMO{}", platforms.next_id());
            let text = body["text"]["body"]
                .as_str()
                .or_else(|| body[body["type"].as_str().unwrap_or("")]["caption"].as_str())
                .unwrap_or("")
                .to_owned();
            platforms.record(Sent {
                account_id: account.id,
                recipient: body["to"].as_str().unwrap_or("").to_owned(),
                text,
                channel_message_id: wamid.clone(),
                callback_data: body["biz_opaque_callback_data"].as_str().map(str::to_owned),
            });
            HttpResponse::Ok().json(json!({"messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": wamid}]}))
        }
        [_version, id, "media"] if *id == number => {
            HttpResponse::Ok().json(json!({"id": format!("{}", platforms.next_id())}))
        }
        [_version, id] if *id == number => HttpResponse::Ok().json(json!({
            "display_phone_number": "+7 900 000-00-00", "verified_name": account.name, "id": id})),
        [_version, media] => {
            let url = format!(
                "http://{}/media/{media}.png",
                request.connection_info().host()
            );
            HttpResponse::Ok().json(json!({"messaging_product": "whatsapp", "url": url,
                "mime_type": "image/png", "id": media}))
        }
        _ => HttpResponse::NotFound()
            .json(json!({"error": {"message": "Unknown path", "code": 100}})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multipart_field_is_read_from_the_raw_form() {
        let body = b"--b\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n500013\r\n--b\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\n\xd1\x84\xd0\xbe\xd1\x82\xd0\xbe\r\n--b--\r\n";
        assert_eq!(multipart_field(body, "chat_id").as_deref(), Some("500013"));
        assert_eq!(multipart_field(body, "caption").as_deref(), Some("фото"));
        assert_eq!(multipart_field(body, "text"), None);
    }

    #[test]
    fn the_demo_picture_is_a_png() {
        assert_eq!(
            crate::domain::media::sniff_picture(PICTURE),
            Some("image/png")
        );
    }
}
