//! Telegram pacing against a fake Bot API on loopback: a backlog of replies to 100
//! private chats (3 each) and one group (25), queued over REST; the fake answers one
//! call with 429 `retry_after 2`. Measured: the bot's rate while the backlog lasts
//! (target ≥ 0.95 × 30 msg/s), violations of 1 msg/s per chat, 20 msg/min per group and
//! 30 msg/s per bot, and the pause after the 429.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use diesel::RunQueryDsl;
use serde_json::{Value, json};

use crate::ingest::Setup;
use crate::load::telegram_update;
use crate::util::{self, epoch_micros, http, runs_cell, verdict};

const PRIVATE: i64 = 100;
const PER_CHAT: usize = 3;
const GROUP: i64 = -100_777;
const TO_GROUP: usize = 25;
/// Replies to one private chat on top of its share.
const BUSY: usize = 10;
/// Sends before the bot's rate is timed.
const WARM: usize = 29;
/// The sendMessage call answered with 429.
const LIMITED_CALL: usize = 150;

#[derive(Default)]
pub struct Calls {
    /// (when, chat) of each accepted sendMessage.
    pub sent: Vec<(Instant, i64)>,
    calls: usize,
    limited_at: Option<Instant>,
}

async fn bot_api(
    calls: web::Data<Mutex<Calls>>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let method = request
        .path()
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_lowercase();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if method != "sendmessage" {
        return HttpResponse::Ok().json(json!({"ok": true, "result": true}));
    }
    let chat = body["chat_id"].as_i64().unwrap_or(0);
    let mut calls = calls.lock().unwrap();
    calls.calls += 1;
    if calls.calls == LIMITED_CALL {
        calls.limited_at = Some(Instant::now());
        return HttpResponse::TooManyRequests().json(json!({"ok": false, "error_code": 429,
            "description": "Too Many Requests: retry after 2", "parameters": {"retry_after": 2}}));
    }
    calls.sent.push((Instant::now(), chat));
    let id = calls.sent.len();
    HttpResponse::Ok().json(json!({"ok": true, "result": {"message_id": id, "date": 1_700_000_000,
        "chat": {"id": chat, "type": if chat < 0 { "group" } else { "private" }, "title": "Bench", "first_name": "Bench"},
        "text": body["text"]}}))
}

/// A fake Bot API on a free port, recording into `calls`.
pub fn start_fake(calls: web::Data<Mutex<Calls>>) -> u16 {
    let port = util::free_port();
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || {
                App::new()
                    .app_data(calls.clone())
                    .default_service(web::to(bot_api))
            })
            .workers(1)
            .bind(("127.0.0.1", port))
            .unwrap()
            .run()
            .await
            .unwrap();
        });
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while http(port, "POST", "/bot1:bench/getMe", &[], "{}").0 != 200 {
        assert!(Instant::now() < deadline, "the fake Bot API did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    port
}

#[derive(Debug, Clone, Default)]
struct Run {
    rate: f64,
    chat_violations: usize,
    group_violations: usize,
    bot_violations: usize,
    retry_pause: f64,
    sent: usize,
    expected: usize,
    group_21st_after: f64,
}

fn group_update(n: u64) -> String {
    json!({"update_id": n, "message": {"message_id": n, "date": 1_700_000_000,
        "chat": {"id": GROUP, "type": "group", "title": "Отдел закупок"},
        "from": {"id": 9, "is_bot": false, "first_name": "Bench"},
        "text": "Подскажите по заказу"}})
    .to_string()
}

fn one_run() -> Run {
    let calls = web::Data::new(Mutex::new(Calls::default()));
    let fake = start_fake(calls.clone());
    let setup = Setup::new("pacing");
    setup.bot_api_at(fake);
    let token = setup.operator_token("pacer");
    let (server, port) = util::start_dialogi(&setup.url, &[]);
    for chat in 0..PRIVATE {
        let body = telegram_update(chat as u64 + 1, 5_000 + chat as u64, epoch_micros());
        assert_eq!(setup.post_update(port, &body), 200);
    }
    assert_eq!(setup.post_update(port, &group_update(1_000)), 200);
    #[derive(diesel::QueryableByName)]
    struct Dialog {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        id: i64,
        #[diesel(sql_type = diesel::sql_types::Text)]
        external_id: String,
    }
    let dialogs: Vec<Dialog> = diesel::sql_query(
        "SELECT d.id, i.external_id FROM dialogs d JOIN interlocutors i ON i.id = d.interlocutor_id ORDER BY d.id",
    )
    .load(&mut setup.cluster.connect())
    .unwrap();
    let auth = format!("Bearer {token}");
    let reply = |id: i64, k: usize| {
        let body = json!({"text": format!("Ответ {k}")}).to_string();
        let status = http(
            port,
            "POST",
            &format!("/api/v1/dialogs/{id}/messages"),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            &body,
        )
        .0;
        assert_eq!(status, 201, "a reply was refused");
    };
    // The group's backlog first, then the private chats', round after round.
    let group = dialogs
        .iter()
        .find(|d| d.external_id == GROUP.to_string())
        .expect("the group's dialog");
    for k in 0..TO_GROUP {
        reply(group.id, k);
    }
    // One chat with a queue of its own, to test its 1/s.
    let busy = dialogs.iter().find(|d| d.id != group.id).unwrap().id;
    for k in 0..BUSY {
        reply(busy, 100 + k);
    }
    for k in 0..PER_CHAT {
        for dialog in dialogs.iter().filter(|d| d.id != group.id) {
            reply(dialog.id, k);
        }
    }
    let expected = PRIVATE as usize * PER_CHAT + TO_GROUP + BUSY;
    let deadline = Instant::now() + Duration::from_secs(90);
    while calls.lock().unwrap().sent.len() < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    server.stop();
    let calls = calls.lock().unwrap();
    let sent = &calls.sent;
    // The bot's rate while the private backlog lasts: from the 30th send (the first
    // replies queued are the group's and the busy chat's, which their own limits hold
    // back while the private ones are still being queued) up to the 429.
    let before: Vec<Instant> = sent
        .iter()
        .take(LIMITED_CALL - 1)
        .skip(WARM)
        .map(|(at, _)| *at)
        .collect();
    let rate = (before.len() - 1) as f64
        / before
            .last()
            .unwrap()
            .duration_since(before[0])
            .as_secs_f64();
    let mut chat_violations = 0;
    let mut last: std::collections::HashMap<i64, Instant> = Default::default();
    for (at, chat) in sent.iter().filter(|(_, c)| *c > 0) {
        if let Some(previous) = last.insert(*chat, *at)
            && at.duration_since(previous) < Duration::from_millis(990)
        {
            chat_violations += 1;
        }
    }
    let window_violations = |times: &[Instant], window: Duration, most: usize| {
        (0..times.len())
            .filter(|&i| {
                times[i..]
                    .iter()
                    .take_while(|t| t.duration_since(times[i]) < window)
                    .count()
                    > most
            })
            .count()
    };
    let group_times: Vec<Instant> = sent
        .iter()
        .filter(|(_, c)| *c == GROUP)
        .map(|(at, _)| *at)
        .collect();
    let all_times: Vec<Instant> = sent.iter().map(|(at, _)| *at).collect();
    let retry_pause = calls
        .limited_at
        .and_then(|limited| {
            all_times
                .iter()
                .find(|t| **t > limited)
                .map(|t| t.duration_since(limited).as_secs_f64())
        })
        .unwrap_or(f64::NAN);
    let run = Run {
        rate,
        chat_violations,
        group_violations: window_violations(&group_times, Duration::from_secs(60), 20),
        bot_violations: window_violations(&all_times, Duration::from_secs(1), 30),
        retry_pause,
        sent: sent.len(),
        expected,
        group_21st_after: group_times
            .get(20)
            .map(|t| t.duration_since(group_times[0]).as_secs_f64())
            .unwrap_or(f64::NAN),
    };
    eprintln!("   {run:?}");
    run
}

pub fn run(runs: usize) -> String {
    let all: Vec<Run> = (0..runs)
        .map(|i| {
            eprintln!("-- pacing run {} of {runs}", i + 1);
            one_run()
        })
        .collect();
    let col = |f: fn(&Run) -> f64| -> Vec<f64> { all.iter().map(f).collect() };
    let rate = util::median(&col(|r| r.rate));
    let violations: usize = all
        .iter()
        .map(|r| r.chat_violations + r.group_violations + r.bot_violations)
        .sum();
    let pause = col(|r| r.retry_pause)
        .into_iter()
        .fold(f64::INFINITY, f64::min);
    let complete = all.iter().all(|r| r.sent == r.expected);
    format!(
        "## Telegram pacing\n\nA fake Bot API on loopback; {} replies queued over REST ({PER_CHAT} to each of {PRIVATE} \
         private chats and {BUSY} more to one of them, {TO_GROUP} to one group), the {LIMITED_CALL}th sendMessage answered 429 `retry_after 2`.\n\n\
         | figure | runs (median) |\n|---|---|\n\
         | bot rate with a backlog (sends 30 to {}), msg/s | {} |\n\
         | sends closer than 1 s to one chat | {} |\n| windows of 60 s with over 20 sends to the group | {} |\n\
         | windows of 1 s with over 30 sends by the bot | {} |\n| pause after the 429, s | {} |\n\
         | the group's 21st message after its 1st, s | {} |\n| sent / queued | {} |\n\
         \n| target | measured | verdict |\n|---|---|---|\n\
         | ≥ 0.95 × 30 msg/s per bot with a backlog | {rate:.1} msg/s ({:.2}×) | {} |\n\
         | 0 violations of 1/s per chat, 20/min per group, 30/s per bot | {violations} | {} |\n\
         | `retry_after` honoured | shortest pause {pause:.2} s after `retry_after 2` | {} |\n\
         | every queued reply sent once | {} | {} |\n",
        PRIVATE as usize * PER_CHAT + TO_GROUP + BUSY,
        LIMITED_CALL - 1,
        runs_cell(&col(|r| r.rate), 1),
        runs_cell(&col(|r| r.chat_violations as f64), 0),
        runs_cell(&col(|r| r.group_violations as f64), 0),
        runs_cell(&col(|r| r.bot_violations as f64), 0),
        runs_cell(&col(|r| r.retry_pause), 2),
        runs_cell(&col(|r| r.group_21st_after), 1),
        all.iter()
            .map(|r| format!("{} / {}", r.sent, r.expected))
            .collect::<Vec<_>>()
            .join("; "),
        rate / 30.0,
        verdict(rate >= 28.5),
        verdict(violations == 0),
        verdict(pause >= 2.0),
        if complete { "yes" } else { "no" },
        verdict(complete),
    )
}
