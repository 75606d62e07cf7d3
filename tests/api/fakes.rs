//! Fake channel servers on 127.0.0.1 that speak the real wire formats of the Telegram
//! Bot API, the VK API (with Bots Long Poll), the Viber REST Bot API, the WhatsApp
//! Cloud API (research/channels.md §1.9, §2.6, §3.5, §4.4) and the MAX Bot API (under
//! `/max`, as `max-messenger/api-schema` documents it): what our channels call, with the
//! channels' own error bodies. Every request is recorded; send calls follow a
//! schedule of answers (ok, 500, 429, blocked) so retries can be tested.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

/// A valid 1×1 PNG (one blue pixel), served as every media file.
pub const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xd0, 0xcb, 0xbe, 0xf8,
    0x1f, 0x00, 0x04, 0x9f, 0x02, 0x6a, 0xe7, 0x71, 0x4e, 0x50, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// The size of the big media file the fake serves for a file id or path with `big` in it
/// (larger than the full-disk test's file size limit).
pub const BIG_FILE_BYTES: usize = 256 * 1024;

/// A PNG followed by padding up to [`BIG_FILE_BYTES`] (readers stop at the PNG's end).
pub fn big_file() -> Vec<u8> {
    let mut bytes = PNG.to_vec();
    bytes.resize(BIG_FILE_BYTES, 0);
    bytes
}

/// What a send call answers next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Ok,
    ServerError,
    /// The channel's rate limit, with its `retry_after` in seconds.
    RateLimited(u64),
    /// The person blocked the bot (Telegram 403, VK 901, Viber status 6, WhatsApp 131047).
    Blocked,
    /// HTTP 200 with a body that is not the API's JSON (a proxy's error page).
    Garbage,
    /// The channel holds the request this long without acting on it, then answers 504
    /// (longer than the client's timeout: the client has given up by then). The message
    /// never reached the chat.
    Hang(Duration),
    /// The channel delivers the message to the chat but its answer comes only after this
    /// long (the client has given up): a retry is the sender's only way to know.
    LateOk(Duration),
}

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// The query string as sent (MAX names the recipient and the message there).
    pub query: String,
    pub body: Value,
    pub at: Instant,
}

#[derive(Default)]
struct State {
    base: Mutex<String>,
    requests: Mutex<Vec<Recorded>>,
    schedule: Mutex<VecDeque<Answer>>,
    /// The send calls that reached the chat (answered `Ok`, on time or late); a VK send
    /// repeating a `random_id` already delivered is not delivered again, as on VK.
    delivered: Mutex<Vec<Value>>,
    /// Telegram updates (by update_id) or VK long-poll events waiting to be fetched.
    updates: Mutex<Vec<Value>>,
    /// Serve the pending updates this many more times whatever the offset says (a
    /// poller that died before acknowledging).
    ignore_offset: AtomicUsize,
    polls_in_flight: AtomicUsize,
    most_polls_in_flight: AtomicUsize,
    conflicts: AtomicUsize,
    poll_generation: AtomicUsize,
    next_id: AtomicI64,
}

pub struct FakeChannel {
    pub url: String,
    state: Arc<State>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for FakeChannel {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

impl FakeChannel {
    pub async fn start() -> FakeChannel {
        let state = Arc::new(State {
            next_id: AtomicI64::new(1000),
            ..State::default()
        });
        let shared = web::Data::from(Arc::clone(&state));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .app_data(web::PayloadConfig::new(10 * 1024 * 1024))
                .default_service(web::to(handle))
        })
        .workers(2)
        .bind("127.0.0.1:0")
        .expect("bind the fake channel");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        let url = format!("http://127.0.0.1:{port}");
        *state.base.lock().unwrap() = url.clone();
        FakeChannel { url, state, handle }
    }

    /// The answers of the next send calls, in order (then `Ok`).
    pub fn schedule(&self, answers: &[Answer]) {
        self.state.schedule.lock().unwrap().extend(answers);
    }

    /// Queues a Telegram update or a VK long-poll event for the pollers.
    pub fn push_update(&self, update: Value) {
        self.state.updates.lock().unwrap().push(update);
    }

    pub fn ignore_offset(&self, times: usize) {
        self.state.ignore_offset.store(times, Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The bodies of the send calls whose message reached the chat, in order.
    pub fn delivered(&self) -> Vec<Value> {
        self.state.delivered.lock().unwrap().clone()
    }

    /// The recorded calls whose path ends with `suffix` (case-insensitive).
    pub fn calls(&self, suffix: &str) -> Vec<Recorded> {
        let suffix = suffix.to_ascii_lowercase();
        self.requests()
            .into_iter()
            .filter(|r| r.path.to_ascii_lowercase().ends_with(&suffix))
            .collect()
    }

    /// Waits until at least `n` calls end with `suffix`.
    pub async fn wait_calls(&self, suffix: &str, n: usize, wait: Duration) -> Vec<Recorded> {
        let deadline = Instant::now() + wait;
        loop {
            let calls = self.calls(suffix);
            if calls.len() >= n || Instant::now() > deadline {
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The most getUpdates calls that were ever open at once, and how many arrived
    /// while another was open (Telegram then ends the older one with a 409).
    pub fn poll_concurrency(&self) -> (usize, usize) {
        (
            self.state.most_polls_in_flight.load(Ordering::SeqCst),
            self.state.conflicts.load(Ordering::SeqCst),
        )
    }
}

fn body_of(request: &HttpRequest, bytes: &[u8]) -> Value {
    let content_type = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/x-www-form-urlencoded") {
        let pairs: Vec<(String, String)> =
            serde_urlencoded_pairs(std::str::from_utf8(bytes).unwrap_or(""));
        Value::Object(
            pairs
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
        )
    } else if content_type.starts_with("multipart/form-data") {
        // Multipart uploads are kept as text so tests can look for names and captions.
        Value::String(String::from_utf8_lossy(bytes).into_owned())
    } else {
        serde_json::from_slice(bytes).unwrap_or(Value::Null)
    }
}

fn serde_urlencoded_pairs(raw: &str) -> Vec<(String, String)> {
    web::Query::<Vec<(String, String)>>::from_query(raw)
        .map(web::Query::into_inner)
        .unwrap_or_default()
}

async fn handle(state: web::Data<State>, request: HttpRequest, bytes: web::Bytes) -> HttpResponse {
    let path = request.path().to_owned();
    // The browser tests read what the fake received: `GET /__calls`.
    if path == "/__calls" {
        let calls: Vec<Value> = state
            .requests
            .lock()
            .unwrap()
            .iter()
            .map(|r| json!({"method": r.method, "path": r.path, "query": r.query, "body": r.body}))
            .collect();
        return HttpResponse::Ok().json(calls);
    }
    // ... and make the next send refused as if the person blocked the bot:
    // `POST /__block_next`.
    if path == "/__block_next" {
        state.schedule.lock().unwrap().push_back(Answer::Blocked);
        return HttpResponse::Ok().json(json!({"ok": true}));
    }
    let body = body_of(&request, &bytes);
    state.requests.lock().unwrap().push(Recorded {
        method: request.method().to_string(),
        path: path.clone(),
        query: request.query_string().to_owned(),
        body: body.clone(),
        at: Instant::now(),
    });
    let lower = path.to_ascii_lowercase();
    if is_send(&lower) {
        let front = state.schedule.lock().unwrap().front().copied();
        match front {
            Some(Answer::Hang(hold)) => {
                state.schedule.lock().unwrap().pop_front();
                actix_web::rt::time::sleep(hold).await;
                return HttpResponse::GatewayTimeout().finish();
            }
            Some(Answer::LateOk(hold)) => {
                state.schedule.lock().unwrap().pop_front();
                actix_web::rt::time::sleep(hold).await;
                // Delivered now: whatever was scheduled meanwhile stays next.
                state.schedule.lock().unwrap().push_front(Answer::Ok);
            }
            _ => {}
        }
    }
    if lower.starts_with("/media/") || lower.starts_with("/file/") {
        if lower.contains("big") {
            return HttpResponse::Ok()
                .content_type("image/png")
                .body(big_file());
        }
        return HttpResponse::Ok().content_type("image/png").body(PNG);
    }
    if lower.starts_with("/max/") || lower.starts_with("/max-upload/") {
        return max(&state, &request, &lower, &body).await;
    }
    if lower.starts_with("/bot") {
        return telegram(&state, &request, &lower, &body).await;
    }
    if lower.starts_with("/method/") {
        return vk(&state, &lower, &body);
    }
    if lower == "/upload/photo" {
        return HttpResponse::Ok()
            .json(json!({"server": 8, "photo": "[{\"photo\":\"x\"}]", "hash": "h1"}));
    }
    if lower == "/upload/doc" {
        return HttpResponse::Ok().json(json!({"file": "f1"}));
    }
    if lower == "/lp" {
        return vk_long_poll(&state, &request).await;
    }
    if lower.starts_with("/pa/") {
        return viber(&state, &lower, &body);
    }
    whatsapp(&state, &request, &lower, &body)
}

/// The send calls of the four channels (the ones that follow the schedule).
fn is_send(path: &str) -> bool {
    path.ends_with("/sendmessage")
        || path == "/method/messages.send"
        || path == "/pa/send_message"
        || (path.ends_with("/messages") && !path.starts_with("/bot") && !path.starts_with("/max"))
        || path == "/max/messages"
}

/// The next scheduled answer of a send call with `body`; an `Ok` records the delivery.
fn next_answer(state: &State, body: &Value) -> Answer {
    let answer = state
        .schedule
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Answer::Ok);
    if answer == Answer::Ok {
        let mut delivered = state.delivered.lock().unwrap();
        let repeat = body.get("random_id").is_some()
            && delivered
                .iter()
                .any(|d| d["random_id"] == body["random_id"]);
        if !repeat {
            delivered.push(body.clone());
        }
    }
    answer
}

fn next_id(state: &State) -> i64 {
    state.next_id.fetch_add(1, Ordering::SeqCst)
}

async fn telegram(state: &State, request: &HttpRequest, path: &str, body: &Value) -> HttpResponse {
    // A token Telegram no longer knows (revoked in @BotFather).
    if path.starts_with("/bot666:") {
        return HttpResponse::Unauthorized()
            .json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"}));
    }
    let method = path.rsplit('/').next().unwrap_or("");
    let ok = |result: Value| HttpResponse::Ok().json(json!({"ok": true, "result": result}));
    match method {
        "getme" => ok(
            json!({"id": 42, "is_bot": true, "first_name": "Test Bot", "username": "test_bot", "can_connect_to_business": false, "has_main_web_app": false, "can_join_groups": false, "can_read_all_group_messages": false, "supports_inline_queries": false}),
        ),
        "setwebhook" | "deletewebhook" => ok(json!(true)),
        // As Telegram: a message too old (here: one whose new text asks for it) cannot
        // be edited.
        "editmessagetext" if body["text"].as_str().is_some_and(|t| t.contains("refuse-me")) => {
            HttpResponse::BadRequest().json(json!({"ok": false, "error_code": 400,
                "description": "Bad Request: message can't be edited"}))
        }
        "editmessagetext" => ok(json!({
            "message_id": body["message_id"], "date": 1_700_000_000, "edit_date": 1_700_000_100,
            "chat": {"id": body["chat_id"], "type": "private", "first_name": "Client"},
            "text": body["text"]
        })),
        "deletemessage" | "setmessagereaction" => ok(json!(true)),
        "getfile" if body["file_id"].as_str().is_some_and(|id| id.contains("big")) => ok(json!({
            "file_id": body["file_id"], "file_unique_id": "ub", "file_size": BIG_FILE_BYTES,
            "file_path": "photos/big_1.png"
        })),
        "getfile" => ok(json!({
            "file_id": body["file_id"], "file_unique_id": "u", "file_size": PNG.len(),
            "file_path": "photos/file_1.png"
        })),
        "sendphoto" | "senddocument" => ok(json!({
            "message_id": next_id(state), "date": 1_700_000_000,
            "chat": {"id": 1, "type": "private", "first_name": "Client"}
        })),
                "sendmessage" => match next_answer(state, body) {
            // Hang and LateOk were dealt with in `handle`; a late answer is an Ok.
            Answer::Ok | Answer::Hang(_) | Answer::LateOk(_) => {
                let chat = body["chat_id"].as_i64().unwrap_or(0);
                ok(json!({
                    "message_id": next_id(state), "date": 1_700_000_000,
                    "chat": {"id": chat, "type": "private", "first_name": "Client"},
                    "text": body["text"]
                }))
            }
            Answer::ServerError => HttpResponse::InternalServerError().json(
                json!({"ok": false, "error_code": 500, "description": "Internal Server Error"}),
            ),
            Answer::RateLimited(secs) => HttpResponse::TooManyRequests().json(json!({
                "ok": false, "error_code": 429,
                "description": format!("Too Many Requests: retry after {secs}"),
                "parameters": {"retry_after": secs}
            })),
            Answer::Blocked => HttpResponse::Forbidden().json(json!({
                "ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"
            })),
            Answer::Garbage => HttpResponse::Ok().content_type("text/html").body("<html>Bad gateway</html>"),
        },
        "getupdates" => {
            let offset = body["offset"].as_i64().unwrap_or(0);
            let timeout = body["timeout"].as_u64().unwrap_or(0).min(5);
            let now_in_flight = state.polls_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            state
                .most_polls_in_flight
                .fetch_max(now_in_flight, Ordering::SeqCst);
            // As on Telegram, a newer getUpdates ends the one still waiting (409).
            let generation = state.poll_generation.fetch_add(1, Ordering::SeqCst) + 1;
            if now_in_flight > 1 {
                state.conflicts.fetch_add(1, Ordering::SeqCst);
            }
            let deadline = Instant::now() + Duration::from_secs(timeout);
            let answer = loop {
                if state.poll_generation.load(Ordering::SeqCst) != generation {
                    break HttpResponse::Conflict().json(json!({
                        "ok": false, "error_code": 409,
                        "description": "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
                    }));
                }
                let replay = state.ignore_offset.load(Ordering::SeqCst) > 0;
                let pending: Vec<Value> = {
                    let mut updates = state.updates.lock().unwrap();
                    if !replay {
                        // The offset acknowledges every update below it.
                        updates.retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
                    }
                    updates.clone()
                };
                if !pending.is_empty() || Instant::now() >= deadline {
                    if replay && !pending.is_empty() {
                        state.ignore_offset.fetch_sub(1, Ordering::SeqCst);
                    }
                    break ok(Value::Array(pending));
                }
                actix_web::rt::time::sleep(Duration::from_millis(20)).await;
            };
            let _ = request;
            state.polls_in_flight.fetch_sub(1, Ordering::SeqCst);
            answer
        }
        _ => HttpResponse::NotFound()
            .json(json!({"ok": false, "error_code": 404, "description": "Not Found"})),
    }
}

fn vk(state: &State, path: &str, body: &Value) -> HttpResponse {
    let method = path.trim_start_matches("/method/");
    if body["access_token"] == "bad" {
        return HttpResponse::Ok().json(json!({"error": {"error_code": 5, "error_msg": "User authorization failed: invalid access_token (4)."}}));
    }
    match method {
        "groups.getbyid" => HttpResponse::Ok().json(json!({"response": {"groups": [{"id": 4242, "name": "Тестовое сообщество"}], "profiles": []}})),
        "groups.getlongpollserver" => {
            let base = state.base.lock().unwrap().clone();
            HttpResponse::Ok().json(json!({"response": {"key": "k1", "server": format!("{base}/lp"), "ts": "1"}}))
        }
        "photos.getmessagesuploadserver" | "docs.getmessagesuploadserver" => {
            let base = state.base.lock().unwrap().clone();
            let kind = if method.starts_with("photos") { "photo" } else { "doc" };
            HttpResponse::Ok().json(json!({"response": {"upload_url": format!("{base}/upload/{kind}")}}))
        }
        "photos.savemessagesphoto" => HttpResponse::Ok().json(json!({"response": [{"id": 5, "owner_id": -4242, "access_key": "k5"}]})),
        "docs.save" => HttpResponse::Ok().json(json!({"response": {"type": "doc", "doc": {"id": 6, "owner_id": -4242}}})),
        "messages.getconversationsbyid" => {
            let peer: i64 = body["peer_ids"].as_str().and_then(|p| p.parse().ok()).unwrap_or(0);
            HttpResponse::Ok().json(json!({"response": {"count": 1, "items": [{
                "peer": {"id": peer, "type": "chat", "local_id": peer - 2_000_000_000},
                "chat_settings": {"title": format!("Беседа {}", peer - 2_000_000_000), "members_count": 5, "state": "in"}
            }]}}))
        }
        "messages.edit" => HttpResponse::Ok().json(json!({"response": 1})),
        "messages.delete" => {
            let id = body["message_ids"].as_str().unwrap_or("0").to_owned();
            HttpResponse::Ok().json(json!({"response": {id: 1}}))
        }
        "users.get" =>  HttpResponse::Ok().json(json!({"response": [{"id": 1, "first_name": "Иван", "last_name": "Петров", "screen_name": "ivan"}]})),
        "messages.send" => match next_answer(state, body) {
            Answer::Ok | Answer::Hang(_) | Answer::LateOk(_) => HttpResponse::Ok().json(json!({"response": next_id(state)})),
            Answer::ServerError => HttpResponse::InternalServerError().body("<html>502</html>"),
            Answer::RateLimited(_) => HttpResponse::Ok().json(json!({"error": {"error_code": 6, "error_msg": "Too many requests per second"}})),
            Answer::Blocked => HttpResponse::Ok().json(json!({"error": {"error_code": 901, "error_msg": "Can't send messages for users without permission"}})),
            Answer::Garbage => HttpResponse::Ok().content_type("text/html").body("<html>Bad gateway</html>"),
        },
        _ => HttpResponse::Ok().json(json!({"error": {"error_code": 3, "error_msg": "Unknown method passed"}})),
    }
}

async fn vk_long_poll(state: &State, request: &HttpRequest) -> HttpResponse {
    let query = serde_urlencoded_pairs(request.query_string());
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if get("key") != "k1" {
        return HttpResponse::Ok().json(json!({"failed": 2}));
    }
    let ts: usize = get("ts").parse().unwrap_or(1);
    let wait = get("wait").parse::<u64>().unwrap_or(0).min(5);
    let deadline = Instant::now() + Duration::from_secs(wait);
    loop {
        // Event n (1-based) is returned for ts <= n; the new ts is the count + 1.
        let events: Vec<Value> = state.updates.lock().unwrap().clone();
        if events.len() >= ts || Instant::now() >= deadline {
            let fresh: Vec<Value> = events.iter().skip(ts.saturating_sub(1)).cloned().collect();
            return HttpResponse::Ok()
                .json(json!({"ts": (events.len() + 1).max(ts).to_string(), "updates": fresh}));
        }
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

fn viber(state: &State, path: &str, body: &Value) -> HttpResponse {
    match path.trim_start_matches("/pa/") {
        "get_account_info" => HttpResponse::Ok().json(json!({"status": 0, "status_message": "ok", "id": "pa:1", "name": "Test Viber bot"})),
        "set_webhook" => HttpResponse::Ok().json(json!({"status": 0, "status_message": "ok", "event_types": ["delivered", "seen"]})),
        "send_message" => match next_answer(state, body) {
            // Tokens above 2^53: they must survive as 64-bit integers.
            Answer::Ok | Answer::Hang(_) | Answer::LateOk(_) => HttpResponse::Ok().json(json!({"status": 0, "status_message": "ok", "message_token": 5_741_311_803_571_721_000_i64 + next_id(state), "chat_hostname": "SN-CHAT-05_"})),
            Answer::ServerError => HttpResponse::InternalServerError().finish(),
            Answer::RateLimited(_) => HttpResponse::Ok().json(json!({"status": 12, "status_message": "Too many requests"})),
            Answer::Blocked => HttpResponse::Ok().json(json!({"status": 6, "status_message": "receiverNotSubscribed"})),
            Answer::Garbage => HttpResponse::Ok().content_type("text/html").body("<html>Bad gateway</html>"),
        },
        _ => HttpResponse::Ok().json(json!({"status": 3, "status_message": "badData"})),
    }
}

fn whatsapp(state: &State, request: &HttpRequest, path: &str, body: &Value) -> HttpResponse {
    let authorized = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some("Bearer wa-token");
    if !authorized {
        return HttpResponse::Unauthorized().json(json!({"error": {"message": "Invalid OAuth access token.", "type": "OAuthException", "code": 190}}));
    }
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        [_version, _number, "media"] => {
            HttpResponse::Ok().json(json!({"id": format!("upload{}", next_id(state))}))
        }
        [_version, _number, "messages"] => match next_answer(state, body) {
            Answer::Ok | Answer::Hang(_) | Answer::LateOk(_) => HttpResponse::Ok().json(json!({
                "messaging_product": "whatsapp",
                "contacts": [{"input": "1", "wa_id": "1"}],
                "messages": [{"id": format!("wamid.OUT{}", next_id(state))}]
            })),
            Answer::ServerError => HttpResponse::InternalServerError()
                .json(json!({"error": {"message": "An unknown error occurred", "code": 1}})),
            Answer::RateLimited(_) => HttpResponse::BadRequest()
                .json(json!({"error": {"message": "(#130429) Rate limit hit", "code": 130429}})),
            Answer::Blocked => HttpResponse::BadRequest().json(
                json!({"error": {"message": "(#131047) Re-engagement message", "code": 131047}}),
            ),
            Answer::Garbage => HttpResponse::Ok()
                .content_type("text/html")
                .body("<html>Bad gateway</html>"),
        },
        [_version, id]
            if request.method() == actix_web::http::Method::GET && id.starts_with("media") =>
        {
            let base = state.base.lock().unwrap().clone();
            HttpResponse::Ok().json(json!({"messaging_product": "whatsapp", "url": format!("{base}/media/{id}"), "mime_type": "image/png", "id": id}))
        }
        [_version, _number] => HttpResponse::Ok().json(
            json!({"display_phone_number": "15550783881", "verified_name": "Test Shop", "id": "1"}),
        ),
        _ => HttpResponse::NotFound()
            .json(json!({"error": {"message": "Unknown path", "code": 100}})),
    }
}

/// The MAX Bot API: the token bare in `Authorization`; errors as `{"code", "message"}`.
async fn max(state: &State, request: &HttpRequest, path: &str, body: &Value) -> HttpResponse {
    use actix_web::http::Method;
    let query = serde_urlencoded_pairs(request.query_string());
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let error = |status: actix_web::http::StatusCode, code: &str, message: &str| {
        HttpResponse::build(status).json(json!({"code": code, "message": message}))
    };
    let base = state.base.lock().unwrap().clone();
    // The upload servers take the file in the `data` field, without the token.
    if let Some(rest) = path.strip_prefix("/max-upload/") {
        let n = next_id(state);
        let has_data = body.as_str().is_some_and(|b| b.contains("name=\"data\""));
        if !has_data {
            return HttpResponse::BadRequest().body("no data field");
        }
        return if rest.starts_with("image") {
            HttpResponse::Ok()
                .json(json!({"photos": {format!("p{n}"): {"token": format!("img{n}")}}}))
        } else {
            HttpResponse::Ok().json(json!({"token": format!("file{n}")}))
        };
    }
    let token = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if token != Some("max-token") {
        return error(
            actix_web::http::StatusCode::UNAUTHORIZED,
            "verify.token",
            "Invalid access_token",
        );
    }
    let method = request.method().clone();
    let success = || HttpResponse::Ok().json(json!({"success": true}));
    match (method, path.trim_start_matches("/max")) {
        (Method::GET, "/me") => HttpResponse::Ok().json(json!({
            "user_id": 9000, "first_name": "Магазин", "username": "shop_bot", "is_bot": true,
            "last_activity_time": 1_780_000_000_000_i64, "name": "Магазин"
        })),
        (Method::GET, "/subscriptions") => HttpResponse::Ok().json(json!({"subscriptions": [
            {"url": "https://old.example/hooks", "time": 1_780_000_000_000_i64, "update_types": null}
        ]})),
        (Method::POST | Method::DELETE, "/subscriptions") => success(),
        (Method::POST, "/uploads") => {
            let kind = param("type").unwrap_or_default();
            if !["image", "video", "audio", "file"].contains(&kind.as_str()) {
                return error(actix_web::http::StatusCode::BAD_REQUEST, "proto.payload", "unknown type");
            }
            HttpResponse::Ok().json(json!({"url": format!("{base}/max-upload/{kind}/{}", next_id(state))}))
        }
        (Method::PUT | Method::DELETE, "/messages") if param("message_id").is_some() => success(),
        (Method::POST, "/messages") => {
            if param("user_id").is_none() == param("chat_id").is_none() {
                return error(actix_web::http::StatusCode::BAD_REQUEST, "proto.payload", "user_id or chat_id");
            }
            if body["text"].as_str().is_some_and(|t| t.chars().count() > 4000) {
                return error(actix_web::http::StatusCode::BAD_REQUEST, "proto.payload", "text: at most 4000 characters");
            }
            match next_answer(state, body) {
                Answer::Ok | Answer::Hang(_) | Answer::LateOk(_) => {
                    let n = next_id(state);
                    HttpResponse::Ok().json(json!({"message": {
                        "sender": {"user_id": 9000, "first_name": "Магазин", "is_bot": true},
                        "recipient": {"chat_id": 77, "chat_type": "dialog",
                                      "user_id": param("user_id").and_then(|u| u.parse::<i64>().ok())},
                        "timestamp": 1_780_000_000_000_i64,
                        "body": {"mid": format!("mid.out{n}"), "seq": n, "text": body["text"]}
                    }}))
                }
                Answer::ServerError => error(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
                Answer::RateLimited(secs) => HttpResponse::TooManyRequests()
                    .insert_header(("Retry-After", secs.to_string()))
                    .json(json!({"code": "too.many.requests", "message": "Too many requests"})),
                Answer::Blocked => error(actix_web::http::StatusCode::FORBIDDEN, "chat.denied", "error.dialog.suspended"),
                Answer::Garbage => HttpResponse::Ok().content_type("text/html").body("<html>Bad gateway</html>"),
            }
        }
        (Method::GET, "/updates") => {
            let marker: usize = param("marker").and_then(|m| m.parse().ok()).unwrap_or(0);
            let timeout = param("timeout").and_then(|t| t.parse::<u64>().ok()).unwrap_or(0).min(5);
            let now_in_flight = state.polls_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            state.most_polls_in_flight.fetch_max(now_in_flight, Ordering::SeqCst);
            if now_in_flight > 1 {
                state.conflicts.fetch_add(1, Ordering::SeqCst);
            }
            let deadline = Instant::now() + Duration::from_secs(timeout);
            let answer = loop {
                // The marker acknowledges every update before it; a poller that died
                // before saving it is served them again.
                let replay = state.ignore_offset.load(Ordering::SeqCst) > 0;
                let all: Vec<Value> = state.updates.lock().unwrap().clone();
                let from = if replay { 0 } else { marker.min(all.len()) };
                let pending = &all[from..];
                if !pending.is_empty() || Instant::now() >= deadline {
                    if replay && !pending.is_empty() {
                        state.ignore_offset.fetch_sub(1, Ordering::SeqCst);
                    }
                    break HttpResponse::Ok().json(json!({"updates": pending, "marker": all.len()}));
                }
                actix_web::rt::time::sleep(Duration::from_millis(20)).await;
            };
            state.polls_in_flight.fetch_sub(1, Ordering::SeqCst);
            answer
        }
        _ => error(actix_web::http::StatusCode::NOT_FOUND, "not.found", "Path not found"),
    }
}
