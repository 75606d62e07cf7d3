//! R40, the website chat under load: 2,000 visitors' streams held open on one process
//! (`GET /widget/{id}/events`, each with its own visitor's token and the site's `Origin`)
//! while the operators work as in the operators scenario — 200 operator streams (the
//! `operator-client` role, CPU 1), 50 inbound messages/s by signed Telegram webhooks —
//! and operators answer 10 visitors a second on the website account.
//!
//! Each run measures the operators twice, for the same window: without visitors, then
//! with the 2,000 streams open; the operators' event → client latency should not move.
//! Reported as well: the visitors' streams connected, the answers each visitor got and
//! answer → visitor p50/p99 (from before the operator's POST to the visitor's stream
//! reading it), server CPU and resident memory with the streams open, and the widget's
//! size as it is served (plain and gzipped).

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::env_number;
use crate::ingest::{Setup, post_update};
use crate::load::telegram_update;
use crate::operators::{open_dialogs, operators, start_operator_client};
use crate::util::{self, cpu_seconds, epoch_micros, quantile, rss_kib, runs_cell, verdict};

const SITE: &str = "http://shop.bench";
const OPERATORS: usize = 200;
const MESSAGES_PER_SECOND: u64 = 50;
const ANSWERS_PER_SECOND: u64 = 10;
/// Visitors who wrote, whom the operators answer in turn.
const WRITERS: usize = 50;
const WINDOW: Duration = Duration::from_secs(15);

#[derive(Debug, Default, Clone)]
struct Measured {
    visitors: f64,
    operators: f64,
    alone_p50_ms: f64,
    alone_p99_ms: f64,
    with_p50_ms: f64,
    with_p99_ms: f64,
    answers: f64,
    answers_received: f64,
    answer_p50_ms: f64,
    answer_p99_ms: f64,
    server_cores: f64,
    server_rss_mib: f64,
}

/// The widget as served: (bytes, gzipped bytes).
fn widget_size() -> (usize, usize) {
    let body = include_bytes!("../../web/widget.js");
    let mut gz = std::process::Command::new("gzip")
        .args(["-9", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip");
    gz.stdin.take().unwrap().write_all(body).unwrap();
    let out = gz.wait_with_output().unwrap();
    (body.len(), out.stdout.len())
}

/// The operators for one window: their client started, `ready`, inbound messages sent,
/// `done`; their event → client (p50, p99).
fn operators_window(
    setup: &Setup,
    port: u16,
    tokens: &[String],
    dialogs: &[String],
    first_update: u64,
    during: impl Fn(Duration),
) -> (f64, f64, f64) {
    let (mut client, ready) = start_operator_client(port, tokens, dialogs);
    std::thread::sleep(Duration::from_secs(1));
    client.say("go");
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / MESSAGES_PER_SECOND as f64);
    let mut next = started;
    let mut sent = 0u64;
    while started.elapsed() < WINDOW {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        let chat = 50_000 + sent % tokens.len() as u64;
        let body = telegram_update(first_update + sent, chat, epoch_micros());
        post_update(port, &setup.hook, &body);
        during(started.elapsed());
        sent += 1;
        next += interval;
    }
    std::thread::sleep(Duration::from_millis(500));
    client.say("stop");
    let done: Value =
        serde_json::from_str(&client.expect("done", Duration::from_secs(60))).unwrap();
    client.say("exit");
    client.proc.stop();
    (
        ready["connected"].as_f64().unwrap_or(0.0),
        done["p50_ms"].as_f64().unwrap_or(f64::NAN),
        done["p99_ms"].as_f64().unwrap_or(f64::NAN),
    )
}

/// What the visitors' streams saw.
#[derive(Default)]
struct Seen {
    connected: AtomicUsize,
    answers: AtomicUsize,
    latencies_ms: Mutex<Vec<f64>>,
}

/// Opens one stream per token and reads them until `stop`; answers carry the operator's
/// clock (`bench <epoch µs>`).
fn hold_streams(
    port: u16,
    widget: String,
    tokens: Vec<String>,
    seen: Arc<Seen>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            use eventsource_stream::Eventsource;
            use futures_util::StreamExt;
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            let url = format!("http://127.0.0.1:{port}/widget/{widget}/events");
            let mut tasks = Vec::new();
            for token in tokens {
                let (http, url, seen, stop) = (
                    http.clone(),
                    url.clone(),
                    Arc::clone(&seen),
                    Arc::clone(&stop),
                );
                tasks.push(tokio::spawn(async move {
                    let Ok(response) = http
                        .get(&url)
                        .header("origin", SITE)
                        .bearer_auth(&token)
                        .send()
                        .await
                    else {
                        return;
                    };
                    if !response.status().is_success() {
                        return;
                    }
                    seen.connected.fetch_add(1, Ordering::Relaxed);
                    let mut events = response.bytes_stream().eventsource();
                    while !stop.load(Ordering::Relaxed) {
                        let next =
                            tokio::time::timeout(Duration::from_millis(500), events.next()).await;
                        let Ok(Some(Ok(event))) = next else {
                            if matches!(next, Ok(None) | Ok(Some(Err(_)))) {
                                return;
                            }
                            continue;
                        };
                        if event.event != "message" {
                            continue;
                        }
                        let body: Value = serde_json::from_str(&event.data).unwrap_or_default();
                        let Some(sent) = body["text"]
                            .as_str()
                            .and_then(|t| t.strip_prefix("bench "))
                            .and_then(|t| t.parse::<i64>().ok())
                        else {
                            continue;
                        };
                        seen.answers.fetch_add(1, Ordering::Relaxed);
                        let ms = (epoch_micros() - sent) as f64 / 1000.0;
                        seen.latencies_ms.lock().unwrap().push(ms);
                    }
                }));
                // A few hundred connections a second, as visitors arrive.
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
            for task in tasks {
                let _ = task.await;
            }
        });
    })
}

fn measure(visitors: usize) -> Measured {
    let setup = Setup::new("widget");
    let tokens = operators(&setup, OPERATORS);
    let mut conn = setup.cluster.connect();
    let secret = dialogi::db::settings::installation_secret(&mut conn).unwrap();
    let admin = setup.operator_token("bench-answers");
    let web = setup.count(&format!(
        "INSERT INTO channel_accounts (kind, name, credentials) VALUES ('web', 'Сайт', \
         '{{\"allowed_origins\": \"{SITE}\"}}') RETURNING id AS n"
    ));
    let widget = dialogi::domain::widget::widget_id(&secret, web);
    let (server, port) = util::start_dialogi(
        &setup.url,
        &["--workers", "1", "--widget-requests-per-minute", "1000000"],
    );
    let dialogs = open_dialogs(&setup, port, OPERATORS);

    // The visitors introduce themselves; the first ones write, opening a dialog each.
    let origin = [("Origin", SITE), ("Content-Type", "application/json")];
    let mut visitor_tokens = Vec::with_capacity(visitors);
    for n in 0..visitors {
        let body = json!({"name": format!("Посетитель {n}")}).to_string();
        let (status, answer) = util::http(
            port,
            "POST",
            &format!("/widget/{widget}/visitors"),
            &origin,
            &body,
        );
        assert_eq!(status, 201, "a visitor: {answer}");
        let answer: Value = serde_json::from_str(&answer).unwrap();
        visitor_tokens.push(answer["token"].as_str().unwrap().to_owned());
    }
    for (n, token) in visitor_tokens.iter().take(WRITERS).enumerate() {
        let auth = format!("Bearer {token}");
        let key = format!("first-{n}");
        let headers = [
            ("Origin", SITE),
            ("Content-Type", "application/json"),
            ("Authorization", auth.as_str()),
            ("Idempotency-Key", key.as_str()),
        ];
        let (status, answer) = util::http(
            port,
            "POST",
            &format!("/widget/{widget}/messages"),
            &headers,
            r#"{"text": "Здравствуйте!"}"#,
        );
        assert_eq!(status, 201, "a visitor's message: {answer}");
    }
    let web_dialogs: Vec<i64> = (0..WRITERS)
        .map(|n| {
            setup.count(&format!(
                "SELECT d.id AS n FROM dialogs d WHERE d.account_id = {web} ORDER BY d.id OFFSET {n} LIMIT 1"
            ))
        })
        .collect();

    // The operators alone.
    let (operators_connected, alone_p50, alone_p99) =
        operators_window(&setup, port, &tokens, &dialogs, 100_000, |_| {});

    // The visitors' streams open, then the operators again, answering visitors too.
    let seen = Arc::new(Seen::default());
    let stop = Arc::new(AtomicBool::new(false));
    let streams = hold_streams(
        port,
        widget.clone(),
        visitor_tokens,
        Arc::clone(&seen),
        Arc::clone(&stop),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.connected.load(Ordering::Relaxed) < visitors && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    let rss = rss_kib(server.pid) / 1024.0;
    let cpu_before = cpu_seconds(server.pid);
    let started = Instant::now();
    let answers = AtomicUsize::new(0);
    let auth = format!("Bearer {admin}");
    let (_, with_p50, with_p99) =
        operators_window(&setup, port, &tokens, &dialogs, 200_000, |elapsed| {
            // Answers at their own pace, between inbound messages.
            let due = (elapsed.as_secs_f64() * ANSWERS_PER_SECOND as f64) as usize;
            while answers.load(Ordering::Relaxed) < due {
                let n = answers.fetch_add(1, Ordering::Relaxed);
                let dialog = web_dialogs[n % web_dialogs.len()];
                let body = json!({"text": format!("bench {}", epoch_micros())}).to_string();
                let headers = [
                    ("Authorization", auth.as_str()),
                    ("Content-Type", "application/json"),
                ];
                util::http(
                    port,
                    "POST",
                    &format!("/api/v1/dialogs/{dialog}/messages"),
                    &headers,
                    &body,
                );
            }
        });
    std::thread::sleep(Duration::from_secs(1));
    let cpu_used = cpu_seconds(server.pid) - cpu_before;
    let seconds = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let _ = streams.join();
    let mut latencies = seen.latencies_ms.lock().unwrap().clone();
    let measured = Measured {
        visitors: seen.connected.load(Ordering::Relaxed) as f64,
        operators: operators_connected,
        alone_p50_ms: alone_p50,
        alone_p99_ms: alone_p99,
        with_p50_ms: with_p50,
        with_p99_ms: with_p99,
        answers: answers.load(Ordering::Relaxed) as f64,
        answers_received: seen.answers.load(Ordering::Relaxed) as f64,
        answer_p50_ms: quantile(&mut latencies, 0.5),
        answer_p99_ms: quantile(&mut latencies, 0.99),
        server_cores: cpu_used / seconds,
        server_rss_mib: rss,
    };
    eprintln!("   widget: {measured:?}");
    server.stop();
    measured
}

pub fn run(runs: usize) -> String {
    let visitors = env_number("BENCH_VISITORS", 2000);
    let all: Vec<Measured> = (0..runs)
        .map(|run| {
            eprintln!("-- widget run {} of {runs}", run + 1);
            measure(visitors)
        })
        .collect();
    let column = |f: fn(&Measured) -> f64| -> Vec<f64> { all.iter().map(f).collect() };
    let med = |f: fn(&Measured) -> f64| util::median(&column(f));
    let (plain, gzipped) = widget_size();
    let mut out = format!(
        "## Website chat\n\nThe widget as served: {plain} bytes, {gzipped} bytes gzipped (`web/widget.js`, \
         no framework; target ≤ 30 KB gzipped).\n\n\
         {visitors} website visitors' SSE streams (each its own token and the site's `Origin`; held by the bench \
         process) on one server (CPU 0, one worker), while {OPERATORS} operators' streams (CPU 1) get \
         {MESSAGES_PER_SECOND} inbound messages/s for {} s — first without the visitors, then with their streams \
         open and operators answering {ANSWERS_PER_SECOND} of the visitors a second ({WRITERS} who wrote). \
         Answer → visitor: from before the operator's POST to the visitor's stream reading it.\n\n\
         | visitors' streams | operators | operators alone p50 ms | p99 ms | with visitors p50 ms | p99 ms | answers | received | answer → visitor p50 ms | p99 ms | server cores | server RSS MiB |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
        WINDOW.as_secs()
    );
    out.push_str(&format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        runs_cell(&column(|m| m.visitors), 0),
        runs_cell(&column(|m| m.operators), 0),
        runs_cell(&column(|m| m.alone_p50_ms), 1),
        runs_cell(&column(|m| m.alone_p99_ms), 1),
        runs_cell(&column(|m| m.with_p50_ms), 1),
        runs_cell(&column(|m| m.with_p99_ms), 1),
        runs_cell(&column(|m| m.answers), 0),
        runs_cell(&column(|m| m.answers_received), 0),
        runs_cell(&column(|m| m.answer_p50_ms), 1),
        runs_cell(&column(|m| m.answer_p99_ms), 1),
        runs_cell(&column(|m| m.server_cores), 2),
        runs_cell(&column(|m| m.server_rss_mib), 0),
    ));
    let connected = med(|m| m.visitors);
    let alone = med(|m| m.alone_p99_ms);
    let with = med(|m| m.with_p99_ms);
    let received = med(|m| m.answers_received) / med(|m| m.answers).max(1.0);
    out.push_str(&format!(
        "\n| target | measured (medians) | verdict |\n|---|---|---|\n\
         | widget ≤ 30 KB gzipped | {:.1} KB | {} |\n\
         | {visitors} visitors' streams held on one process | {connected:.0} | {} |\n\
         | operators unaffected: p99 with visitors ≤ 1.5 × alone + 20 ms | {with:.0} ms vs {alone:.0} ms | {} |\n\
         | every answer reaches its visitor | {:.0} % | {} |\n",
        gzipped as f64 / 1024.0,
        verdict(gzipped <= 30 * 1024),
        verdict(connected >= visitors as f64),
        verdict(with <= alone * 1.5 + 20.0),
        received * 100.0,
        verdict(received >= 0.999),
    ));
    out
}
