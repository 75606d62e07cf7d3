//! Operators at work: 500 operator clients that behave as the web client does, while
//! inbound messages arrive at 50/s across 500 interlocutors (signed Telegram webhooks).
//!
//! Each client (this binary in the `operator-client` role, on CPU 1) holds one SSE stream
//! with its own operator's API token and has one dialog "open". It makes exactly the REST
//! calls the web client makes per event (`web/workstation.js` and `web/dialog.js`): none
//! for `dialog`, `delivery`, `read` and `counters` events (they are applied to the store),
//! and one `POST /dialogs/{id}/read` when a `message` from the client arrives into the
//! dialog it has open. A real Chromium page (`bench/operators-page.mjs`, also on CPU 1)
//! is signed in as one of the operators and times each event until its row shows the new
//! preview. The server is the real `dialogi` binary on CPU 0.
//!
//! Reported: server CPU per inbound message and in cores, REST requests per operator per
//! event (and GETs, which the client never makes), event → client p50/p99, event →
//! rendered p50/p99.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::common::{env_number, issue_token};
use crate::ingest::{Setup, post_update};
use crate::load::telegram_update;
use crate::util::{
    self, CLIENT_CORE, Role, cpu_seconds, epoch_micros, quantile, runs_cell, verdict,
};
use dialogi::domain::people::Scope;

const MESSAGES_PER_SECOND: u64 = 50;
const WINDOW: Duration = Duration::from_secs(20);
const FIRST_CHAT: u64 = 50_000;

#[derive(Debug, Default, Clone)]
struct Measured {
    operators: f64,
    messages: f64,
    server_cpu_ms_per_message: f64,
    server_cores: f64,
    events_per_operator: f64,
    requests_per_operator_event: f64,
    gets: f64,
    client_p50_ms: f64,
    client_p99_ms: f64,
    rendered_p50_ms: f64,
    rendered_p99_ms: f64,
}

/// The operators: users with a role that may answer on the account, a token each.
pub fn operators(setup: &Setup, count: usize) -> Vec<String> {
    setup.sql("INSERT INTO roles (name, description) VALUES ('Операторы', 'bench')");
    setup.sql(&format!(
        "INSERT INTO account_grants (account_id, role_id, can_view, can_send) \
         SELECT {}, id, true, true FROM roles WHERE name = 'Операторы'",
        setup.account_id
    ));
    // One password hash for all (Argon2 500 times would take a minute): `bench-password`.
    let mut conn = setup.cluster.connect();
    let first = crate::common::insert_user(&mut conn, "op1", "Оператор 1", false);
    setup.sql(&format!(
        "INSERT INTO users (login, display_name, password_hash, is_admin, locale) \
         SELECT 'op' || g, 'Оператор ' || g, (SELECT password_hash FROM users WHERE id = {}), false, 'ru' \
         FROM generate_series(2, {count}) g",
        first.id
    ));
    setup.sql(
        "INSERT INTO user_roles (user_id, role_id) SELECT u.id, r.id FROM users u, roles r \
         WHERE u.login LIKE 'op%' AND r.name = 'Операторы'",
    );
    let mut tokens = Vec::with_capacity(count);
    for n in 1..=count {
        let user = dialogi::db::users::find_by_login(&mut conn, &format!("op{n}"))
            .unwrap()
            .expect("the operator");
        tokens.push(issue_token(&mut conn, &user, &[Scope::Read, Scope::Write]));
    }
    tokens
}

/// Starts the `operator-client` role on CPU 1 for these tokens and dialogs and waits
/// until its streams are open; returns it with what it said when ready.
pub fn start_operator_client(port: u16, tokens: &[String], dialogs: &[String]) -> (Role, Value) {
    let client = Role::start(
        "operator-client",
        CLIENT_CORE,
        &[
            ("BENCH_PORT", port.to_string()),
            ("BENCH_TOKENS", tokens.join(",")),
            ("BENCH_DIALOGS", dialogs.join(",")),
        ],
    );
    let ready: Value =
        serde_json::from_str(&client.expect("ready", Duration::from_secs(120))).unwrap();
    (client, ready)
}

fn measure(count: usize) -> Measured {
    let setup = Setup::new("operators");
    let tokens = operators(&setup, count);
    let (server, port) = util::start_dialogi(&setup.url, &["--workers", "1"]);
    let dialogs = open_dialogs(&setup, port, count);
    let (mut client, ready) = start_operator_client(port, &tokens, &dialogs);
    let mut page = start_page(port);
    std::thread::sleep(Duration::from_secs(2));
    let cpu_before = cpu_seconds(server.pid);
    client.say("go");
    if let Some(page) = page.as_mut() {
        page.say("go");
    }
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / MESSAGES_PER_SECOND as f64);
    let mut next = started;
    let mut sent = 0u64;
    while started.elapsed() < WINDOW {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        let chat = FIRST_CHAT + sent % count as u64;
        let body = telegram_update(10_000 + sent, chat, epoch_micros());
        post_update(port, &setup.hook, &body);
        sent += 1;
        next += interval;
    }
    std::thread::sleep(Duration::from_millis(500));
    let cpu_used = cpu_seconds(server.pid) - cpu_before;
    let seconds = started.elapsed().as_secs_f64();
    client.say("stop");
    let done: Value =
        serde_json::from_str(&client.expect("done", Duration::from_secs(60))).unwrap();
    client.say("exit");
    let rendered: Value = page
        .as_mut()
        .map(|page| {
            page.say("stop");
            serde_json::from_str(&page.expect("done", Duration::from_secs(30)))
                .unwrap_or(Value::Null)
        })
        .unwrap_or(Value::Null);
    let events = done["events"].as_f64().unwrap_or(0.0);
    let operators = ready["connected"].as_f64().unwrap_or(0.0);
    let measured = Measured {
        operators,
        messages: sent as f64,
        server_cpu_ms_per_message: cpu_used / sent.max(1) as f64 * 1e3,
        server_cores: cpu_used / seconds,
        events_per_operator: events / operators.max(1.0),
        requests_per_operator_event: done["requests"].as_f64().unwrap_or(0.0) / events.max(1.0),
        gets: done["gets"].as_f64().unwrap_or(0.0),
        client_p50_ms: done["p50_ms"].as_f64().unwrap_or(f64::NAN),
        client_p99_ms: done["p99_ms"].as_f64().unwrap_or(f64::NAN),
        rendered_p50_ms: rendered["p50_ms"].as_f64().unwrap_or(f64::NAN),
        rendered_p99_ms: rendered["p99_ms"].as_f64().unwrap_or(f64::NAN),
    };
    eprintln!("   operators: {measured:?}");
    if let Some(page) = page {
        page.proc.stop();
    }
    client.proc.stop();
    server.stop();
    measured
}

/// One dialog per interlocutor, opened by signed webhooks: each operator has one open.
pub fn open_dialogs(setup: &Setup, port: u16, count: usize) -> Vec<String> {
    for chat in 0..count as u64 {
        let body = telegram_update(chat + 1, FIRST_CHAT + chat, epoch_micros());
        post_update(port, &setup.hook, &body);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while setup.count("SELECT count(*) AS n FROM dialogs") < count as i64 {
        assert!(Instant::now() < deadline, "the dialogs were not opened");
        std::thread::sleep(Duration::from_millis(100));
    }
    (0..count as u64)
        .map(|chat| {
            setup
                .count(&format!(
                    "SELECT d.id AS n FROM dialogs d JOIN interlocutors i ON i.id = d.interlocutor_id \
                     WHERE i.external_id = '{}'",
                    FIRST_CHAT + chat
                ))
                .to_string()
        })
        .collect()
}

/// The Chromium page, signed in as `op1`, on the clients' core; `None` (reported as not
/// measured) when Node.js, playwright-core or Chromium is missing.
fn start_page(port: u16) -> Option<Role> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/operators-page.mjs");
    let chromium = std::env::var("DIALOGI_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let child = Command::new("taskset")
        .args(["-c", CLIENT_CORE, "node", script])
        .env("APP_URL", format!("http://127.0.0.1:{port}"))
        .env("LOGIN", "op1")
        .env("PASSWORD", "bench-password")
        .env("CHROMIUM", chromium)
        .env(
            "PLAYWRIGHT",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/e2e/node_modules/playwright-core/index.mjs"
            ),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .ok()?;
    let page = Role::steer(child);
    page.expect("ready", Duration::from_secs(60));
    Some(page)
}

pub fn run(runs: usize) -> String {
    let count = env_number("BENCH_OPERATORS", 500);
    let all: Vec<Measured> = (0..runs)
        .map(|run| {
            eprintln!("-- operators run {} of {runs}", run + 1);
            measure(count)
        })
        .collect();
    let column = |f: fn(&Measured) -> f64| -> Vec<f64> { all.iter().map(f).collect() };
    let med = |f: fn(&Measured) -> f64| util::median(&column(f));
    let mut out = format!(
        "## Operators at work\n\n{count} operator clients (one SSE stream each with their own token, one dialog \
         open, and exactly the REST calls the web client makes per event: a read mark when a client's message \
         arrives into the open dialog, nothing else) on CPU 1, while {MESSAGES_PER_SECOND} inbound messages/s \
         arrive by signed Telegram webhooks across {count} interlocutors for {} s; the server on CPU 0, one \
         worker. A Chromium page signed in as one of the operators times each event until its list row shows \
         it (`bench/operators-page.mjs`).\n\n\
         | operators | messages | server ms CPU per message | server cores | events per operator | REST requests per operator per event | GETs | event → client p50 ms | p99 ms | event → rendered p50 ms | p99 ms |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
        WINDOW.as_secs()
    );
    out.push_str(&format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        runs_cell(&column(|m| m.operators), 0),
        runs_cell(&column(|m| m.messages), 0),
        runs_cell(&column(|m| m.server_cpu_ms_per_message), 2),
        runs_cell(&column(|m| m.server_cores), 2),
        runs_cell(&column(|m| m.events_per_operator), 0),
        runs_cell(&column(|m| m.requests_per_operator_event), 4),
        runs_cell(&column(|m| m.gets), 0),
        runs_cell(&column(|m| m.client_p50_ms), 1),
        runs_cell(&column(|m| m.client_p99_ms), 1),
        runs_cell(&column(|m| m.rendered_p50_ms), 1),
        runs_cell(&column(|m| m.rendered_p99_ms), 1),
    ));
    let requests = med(|m| m.requests_per_operator_event);
    let gets = med(|m| m.gets);
    let cores = med(|m| m.server_cores);
    let rendered = med(|m| m.rendered_p99_ms);
    out.push_str(&format!(
        "\n| target | measured (medians) | verdict |\n|---|---|---|\n\
         | no list, detail or message request caused by an event | {gets:.0} GETs | {} |\n\
         | REST requests per operator per event ≈ 0 (only the open dialog's read mark) | {requests:.4} | {} |\n\
         | server ≤ 1 core | {cores:.2} cores | {} |\n\
         | event → rendered p99 ≤ 250 ms | {rendered:.0} ms | {} |\n",
        verdict(gets == 0.0),
        verdict(requests < 0.01),
        verdict(cores <= 1.0),
        if rendered.is_nan() { "not measured (no Chromium)" } else { verdict(rendered <= 250.0) },
    ));
    out
}

/// `operator-client`: BENCH_PORT, BENCH_TOKENS and BENCH_DIALOGS (comma-separated, one
/// open dialog per token). Prints `ready {…}` once every stream answered; `go` starts
/// counting; `stop` prints `done {…}`.
pub fn operator_client() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let port: u16 = std::env::var("BENCH_PORT").unwrap().parse().unwrap();
        let tokens: Vec<String> = std::env::var("BENCH_TOKENS")
            .unwrap()
            .split(',')
            .map(str::to_owned)
            .collect();
        let dialogs: Vec<i64> = std::env::var("BENCH_DIALOGS")
            .unwrap()
            .split(',')
            .map(|d| d.parse().unwrap())
            .collect();
        let tally = Arc::new(Tally::default());
        let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            let mut line = String::new();
            while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
                let _ = lines_tx.send(line.trim().to_owned());
                line.clear();
            }
        });
        for (token, dialog) in tokens.into_iter().zip(dialogs) {
            let tally = Arc::clone(&tally);
            tokio::spawn(async move { operator(port, token, dialog, tally).await });
        }
        let deadline = Instant::now() + Duration::from_secs(90);
        while (tally.connected.load(Ordering::Relaxed) as usize)
            < std::env::var("BENCH_TOKENS").unwrap().split(',').count()
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!(
            "ready {}",
            json!({"connected": tally.connected.load(Ordering::Relaxed)})
        );
        while let Some(line) = lines.recv().await {
            match line.as_str() {
                "go" => tally.measuring.store(1, Ordering::Relaxed),
                // The presence scenario: when each sender's changes were sent (R46).
                sent if sent.starts_with("sent ") => {
                    *tally.sent.lock().unwrap() =
                        serde_json::from_str(&sent[5..]).unwrap_or_default();
                }
                "stop" => {
                    tally.measuring.store(0, Ordering::Relaxed);
                    let mut latencies = tally.latencies.lock().unwrap().clone();
                    let mut presence = presence_latencies(&tally);
                    println!(
                        "done {}",
                        json!({
                            "events": tally.events.load(Ordering::Relaxed),
                            "requests": tally.requests.load(Ordering::Relaxed),
                            "gets": 0,
                            "p50_ms": quantile(&mut latencies, 0.5),
                            "p99_ms": quantile(&mut latencies, 0.99),
                            "presence_frames": tally.presence.lock().unwrap().len(),
                            "presence_timed": presence.len(),
                            "presence_p50_ms": quantile(&mut presence, 0.5),
                            "presence_p99_ms": quantile(&mut presence, 0.99),
                        })
                    );
                }
                "exit" => std::process::exit(0),
                _ => {}
            }
        }
    });
}

#[derive(Default)]
struct Tally {
    connected: AtomicU64,
    measuring: AtomicU64,
    events: AtomicU64,
    requests: AtomicU64,
    latencies: std::sync::Mutex<Vec<f64>>,
    /// Presence frames received: (sender's user id, the how-manyth change of that sender
    /// this stream saw, when, epoch µs).
    presence: std::sync::Mutex<Vec<(i64, usize, i64)>>,
    /// When each sender's changes were sent, epoch µs, in order (user id → times).
    sent: std::sync::Mutex<std::collections::HashMap<i64, Vec<i64>>>,
}

/// Each presence frame's delay after its change was sent. A stream that saw more changes
/// of a sender than were sent (none should) is not timed past them.
fn presence_latencies(tally: &Tally) -> Vec<f64> {
    let sent = tally.sent.lock().unwrap();
    tally
        .presence
        .lock()
        .unwrap()
        .iter()
        .filter_map(|&(user, nth, at)| {
            let sent_at = *sent.get(&user)?.get(nth)?;
            Some((at - sent_at) as f64 / 1000.0)
        })
        .collect()
}

/// One operator: the stream, and the read mark the web client posts for a message from
/// the client into its open dialog.
async fn operator(port: u16, token: String, open: i64, tally: Arc<Tally>) {
    let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let request = format!(
        "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).await.is_err() {
        return;
    }
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    // The response head.
    loop {
        line.clear();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
    }
    tally.connected.fetch_add(1, Ordering::Relaxed);
    let (mut event, mut data) = (String::new(), String::new());
    // How many presence changes of each sender this stream saw.
    let mut seen: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    loop {
        line.clear();
        match reader.read_line(&mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        // Chunked transfer: the size lines are not SSE lines.
        let text = line.trim_end();
        if let Some(name) = text.strip_prefix("event: ") {
            event = name.to_owned();
        } else if let Some(payload) = text.strip_prefix("data: ") {
            data = payload.to_owned();
        } else if text.is_empty() && !event.is_empty() {
            if tally.measuring.load(Ordering::Relaxed) == 1 {
                tally.events.fetch_add(1, Ordering::Relaxed);
                if event == "message" {
                    on_message(port, &token, open, &data, &tally).await;
                } else if event == "presence" {
                    let at = epoch_micros();
                    let user = serde_json::from_str::<Value>(&data)
                        .ok()
                        .and_then(|v| v["user_id"].as_i64())
                        .unwrap_or(0);
                    let nth = seen.entry(user).or_default();
                    tally.presence.lock().unwrap().push((user, *nth, at));
                    *nth += 1;
                }
            }
            event.clear();
            data.clear();
        }
    }
}

async fn on_message(port: u16, token: &str, open: i64, data: &str, tally: &Tally) {
    let Ok(value) = serde_json::from_str::<Value>(data) else {
        return;
    };
    let preview = value["preview"].as_str().unwrap_or("");
    if let Some(ts) = preview
        .strip_prefix("ts=")
        .and_then(|rest| rest.split(';').next())
        .and_then(|ts| ts.parse::<i64>().ok())
    {
        tally
            .latencies
            .lock()
            .unwrap()
            .push((epoch_micros() - ts) as f64 / 1000.0);
    }
    if value["direction"] == "in" && value["dialog_id"].as_i64() == Some(open) {
        // What `DialogPane.markRead` sends for the open dialog.
        let message = value["message_id"].as_i64().unwrap_or(0);
        let body = json!({"up_to_message_id": message}).to_string();
        tally.requests.fetch_add(1, Ordering::Relaxed);
        let auth = format!("Bearer {token}");
        let path = format!("/api/v1/dialogs/{open}/read");
        // Not awaited: the stream goes on reading while the mark is posted.
        drop(tokio::task::spawn_blocking(move || {
            let headers = [
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/json"),
            ];
            util::http(port, "POST", &path, &headers, &body)
        }));
    }
}
