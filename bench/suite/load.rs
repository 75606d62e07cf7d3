//! The load clients: this binary in a client role, pinned to the clients' core, steered
//! through stdin and reporting on stdout (one line per phase).
//!
//! `sse-client` holds many raw-TCP SSE streams (no parser: it counts `data:` lines and
//! reads the `ts=<epoch µs>` marker of every ~97th event, like the Node client of
//! research/performance-anchors.md). `ingest-client` posts signed Telegram updates on an
//! absolute schedule at rising rates while one SSE stream times their arrival.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::env_number;
use crate::util::{epoch_micros, quantile};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_default()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The `ts=<digits>` marker nearest the end of `bytes`.
fn last_marker(bytes: &[u8]) -> Option<i64> {
    let at = bytes.windows(3).rposition(|w| w == b"ts=")?;
    let digits: Vec<u8> = bytes[at + 3..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .copied()
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| *w == needle)
        .count()
}

/// Lines from stdin, as the orchestrator's commands.
fn commands() -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
            let _ = tx.send(line.trim().to_owned());
            line.clear();
        }
        let _ = tx.send("exit".into());
    });
    rx
}

async fn wait_for(commands: &mut tokio::sync::mpsc::UnboundedReceiver<String>, word: &str) {
    while let Some(line) = commands.recv().await {
        if line == word || line == "exit" {
            return;
        }
    }
}

async fn connect(port: u16, source: Option<std::net::IpAddr>) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = source {
        // Ports still in TIME_WAIT from an earlier run may be bound again; without this,
        // finding a free port becomes the client's own bottleneck.
        socket.set_reuseaddr(true)?;
        // The port is then chosen by connect() for this 4-tuple, instead of by bind()
        // searching the range for a port free towards every destination: with tens of
        // thousands of connections that search kept the clients' core at 100% while the
        // server's sat at 15%, and the answer times measured the client.
        nix::sys::socket::setsockopt(
            &socket,
            nix::sys::socket::sockopt::IpBindAddressNoPort,
            &true,
        )
        .map_err(std::io::Error::from)?;
        socket.bind((ip, 0).into())?;
    }
    socket.connect(([127, 0, 0, 1], port).into()).await
}

#[derive(Default)]
struct SseTally {
    connected: AtomicUsize,
    refused: AtomicUsize,
    errors: AtomicUsize,
    ended: AtomicUsize,
    events: AtomicU64,
    seen: AtomicU64,
    measuring: AtomicBool,
    latencies: Mutex<Vec<f64>>,
    refusals: Mutex<Vec<f64>>,
    statuses: Mutex<std::collections::BTreeMap<u16, usize>>,
    /// Why connections failed, and how many each.
    failures: Mutex<std::collections::BTreeMap<String, usize>>,
}

impl SseTally {
    fn failed(&self, why: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        *self.failures.lock().unwrap().entry(why).or_default() += 1;
    }
}

/// One stream: the request, the status, then counting until the server ends it.
async fn sse_stream(
    tally: Arc<SseTally>,
    port: u16,
    source: Option<std::net::IpAddr>,
    request: Arc<String>,
    ramp_slot: tokio::sync::OwnedSemaphorePermit,
) {
    let mut stream = match connect(port, source).await {
        Ok(stream) => stream,
        Err(error) => return tally.failed(format!("connect: {}", error.kind())),
    };
    // The server's answer time: from the request, once connected.
    let started = Instant::now();
    if let Err(error) = stream.write_all(request.as_bytes()).await {
        return tally.failed(format!("write: {}", error.kind()));
    }
    let mut buffer = vec![0u8; 16 * 1024];
    let mut head = Vec::new();
    // The status line and headers.
    loop {
        match stream.read(&mut buffer).await {
            Ok(0) => return tally.failed("closed before the status".into()),
            Err(error) => return tally.failed(format!("read: {}", error.kind())),
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let status: u16 = std::str::from_utf8(&head)
        .ok()
        .and_then(|h| h.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    *tally.statuses.lock().unwrap().entry(status).or_default() += 1;
    // Answered: the next connect may start.
    drop(ramp_slot);
    if status != 200 {
        tally.refused.fetch_add(1, Ordering::Relaxed);
        tally
            .refusals
            .lock()
            .unwrap()
            .push(started.elapsed().as_secs_f64() * 1000.0);
        return;
    }
    tally.connected.fetch_add(1, Ordering::Relaxed);
    loop {
        let n = match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !tally.measuring.load(Ordering::Relaxed) {
            continue;
        }
        let chunk = &buffer[..n];
        let events = count(chunk, b"data:") as u64;
        if events == 0 {
            continue;
        }
        let before = tally.events.fetch_add(events, Ordering::Relaxed);
        // Sample about every 97th event.
        if (before + events) / 97 != before / 97
            && let Some(ts) = last_marker(chunk)
        {
            let ms = (epoch_micros() - ts) as f64 / 1000.0;
            tally.latencies.lock().unwrap().push(ms);
            tally.seen.fetch_add(1, Ordering::Relaxed);
        }
    }
    if tally.measuring.load(Ordering::Relaxed) {
        tally.ended.fetch_add(1, Ordering::Relaxed);
    }
    tally.connected.fetch_sub(1, Ordering::Relaxed);
}

/// `sse-client`: BENCH_PORT, BENCH_PATH, BENCH_AUTH (an Authorization value or empty),
/// BENCH_CONNECTIONS, BENCH_RAMP (connects in flight), BENCH_SOURCE (a 127.x address).
/// Prints `ready {…}` after the ramp; `go` starts counting, `stop` prints `done {…}`.
pub fn sse_client() {
    runtime().block_on(async {
        let port: u16 = env("BENCH_PORT").parse().unwrap();
        let path = env("BENCH_PATH");
        let auth = env("BENCH_AUTH");
        let connections = env_number("BENCH_CONNECTIONS", 10_000);
        let ramp = env_number("BENCH_RAMP", 500);
        let source: Option<std::net::IpAddr> = env("BENCH_SOURCE").parse().ok();
        let mut commands = commands();
        let mut request =
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n");
        if !auth.is_empty() {
            request.push_str(&format!("Authorization: {auth}\r\n"));
        }
        request.push_str("\r\n");
        let request = Arc::new(request);
        let tally = Arc::new(SseTally::default());
        let started = Instant::now();
        let gate = Arc::new(tokio::sync::Semaphore::new(ramp));
        for _ in 0..connections {
            let slot = Arc::clone(&gate).acquire_owned().await.unwrap();
            let (tally, request) = (Arc::clone(&tally), Arc::clone(&request));
            tokio::spawn(sse_stream(tally, port, source, request, slot));
        }
        // Every connect answered (or 60 s passed).
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let answered = tally.connected.load(Ordering::Relaxed)
                + tally.refused.load(Ordering::Relaxed)
                + tally.errors.load(Ordering::Relaxed);
            if answered >= connections {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let ramp_s = started.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut refusals = tally.refusals.lock().unwrap().clone();
        println!(
            "ready {}",
            json!({
                "connected": tally.connected.load(Ordering::Relaxed),
                "refused": tally.refused.load(Ordering::Relaxed),
                "errors": tally.errors.load(Ordering::Relaxed),
                "failures": *tally.failures.lock().unwrap(),
                "statuses": *tally.statuses.lock().unwrap(),
                "refusal_p50_ms": quantile(&mut refusals, 0.5),
                "refusal_p99_ms": quantile(&mut refusals, 0.99),
                "ramp_s": ramp_s,
            })
        );
        wait_for(&mut commands, "go").await;
        let window = Instant::now();
        tally.measuring.store(true, Ordering::Relaxed);
        wait_for(&mut commands, "stop").await;
        tally.measuring.store(false, Ordering::Relaxed);
        let seconds = window.elapsed().as_secs_f64();
        let mut latencies = tally.latencies.lock().unwrap().clone();
        println!(
            "done {}",
            json!({
                "events": tally.events.load(Ordering::Relaxed),
                "seconds": seconds,
                "connected": tally.connected.load(Ordering::Relaxed),
                "ended": tally.ended.load(Ordering::Relaxed),
                "samples": latencies.len(),
                "p50_ms": quantile(&mut latencies, 0.5),
                "p99_ms": quantile(&mut latencies, 0.99),
            })
        );
        wait_for(&mut commands, "exit").await;
        std::process::exit(0);
    });
}

/// One update from interlocutor `chat`, its text carrying the intended send time.
pub fn telegram_update(n: u64, chat: u64, ts: i64) -> String {
    json!({"update_id": n, "message": {"message_id": n, "date": 1_700_000_000,
        "chat": {"id": chat, "type": "private", "first_name": "Bench"},
        "from": {"id": chat, "is_bot": false, "first_name": "Bench", "last_name": format!("{chat}")},
        "text": format!("ts={ts}; Здравствуйте, сколько стоит доставка?")}})
    .to_string()
}

/// POSTs `body` on a kept-alive connection; the status (0 on a broken connection).
async fn post(
    stream: &mut Option<BufReader<TcpStream>>,
    port: u16,
    path: &str,
    secret: &str,
    body: &str,
) -> u16 {
    for _ in 0..2 {
        if stream.is_none() {
            *stream = connect(port, None).await.ok().map(BufReader::new);
        }
        let Some(conn) = stream.as_mut() else {
            return 0;
        };
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             X-Telegram-Bot-Api-Secret-Token: {secret}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if conn.get_mut().write_all(request.as_bytes()).await.is_err() {
            *stream = None;
            continue;
        }
        let mut line = String::new();
        let mut status = 0;
        let mut length = 0usize;
        let mut ok = false;
        while conn.read_line(&mut line).await.is_ok_and(|n| n > 0) {
            let text = line.trim_end();
            if status == 0 {
                status = text
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
            } else if text.is_empty() {
                ok = true;
                break;
            } else if let Some((name, value)) = text.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
            line.clear();
        }
        let mut rest = vec![0u8; length];
        if !ok || conn.read_exact(&mut rest).await.is_err() {
            *stream = None;
            if status != 0 {
                return status;
            }
            continue;
        }
        return status;
    }
    0
}

/// `ingest-client`: BENCH_PORT, BENCH_HOOK (path), BENCH_SECRET, BENCH_TOKEN (an API
/// token for the timing stream), BENCH_RATES ("250,500,…"), BENCH_STEP_SECONDS,
/// BENCH_CONNECTIONS (requests in flight, as Telegram's webhook `max_connections`),
/// BENCH_CHATS (interlocutors), BENCH_CHAT_BASE (the first one's id), BENCH_FIRST_UPDATE. Prints one `step {…}` per rate and stops rising at the
/// knee (achieved < 90% of offered, or p99 to 200 over 1 s); then `done`.
pub fn ingest_client() {
    runtime().block_on(async {
        let port: u16 = env("BENCH_PORT").parse().unwrap();
        let hook = Arc::new(env("BENCH_HOOK"));
        let secret = Arc::new(env("BENCH_SECRET"));
        let token = env("BENCH_TOKEN");
        let rates: Vec<u64> = env("BENCH_RATES").split(',').filter_map(|r| r.parse().ok()).collect();
        let step = Duration::from_secs(env_number("BENCH_STEP_SECONDS", 8) as u64);
        let in_flight = env_number("BENCH_CONNECTIONS", 40);
        let chats = env_number("BENCH_CHATS", 5000) as u64;
        let chat_base = env_number("BENCH_CHAT_BASE", 1_000_000) as u64;
        let counter = Arc::new(AtomicU64::new(env_number("BENCH_FIRST_UPDATE", 1) as u64));

        // The timing stream: message events carry the marker in their preview.
        let events: Arc<Mutex<Vec<f64>>> = Arc::default();
        {
            let events = Arc::clone(&events);
            let mut stream = connect(port, None).await.unwrap();
            let request = format!(
                "GET /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nAuthorization: Bearer {token}\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await.unwrap();
            tokio::spawn(async move {
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                let mut kind = String::new();
                while reader.read_line(&mut line).await.is_ok_and(|n| n > 0) {
                    if let Some(name) = line.strip_prefix("event: ") {
                        kind = name.trim().to_owned();
                    } else if line.starts_with("data: ")
                        && kind == "message"
                        && let Some(ts) = last_marker(line.as_bytes())
                    {
                        let ms = (epoch_micros() - ts) as f64 / 1000.0;
                        events.lock().unwrap().push(ms);
                    }
                    line.clear();
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(500)).await;

        // Connections, each kept alive, lent to one request at a time.
        let (pool_tx, pool_rx) = async_channel_pool(in_flight);
        for rate in rates {
            events.lock().unwrap().clear();
            let acks: Arc<Mutex<Vec<f64>>> = Arc::default();
            let failed = Arc::new(AtomicUsize::new(0));
            let ok = Arc::new(AtomicUsize::new(0));
            let interval = Duration::from_secs_f64(1.0 / rate as f64);
            let started = Instant::now();
            let mut next = started;
            let mut offered = 0u64;
            let mut tasks = Vec::new();
            while next.duration_since(started) < step {
                tokio::time::sleep_until(next.into()).await;
                // Intended start: queueing for a free connection counts in the latency.
                let intended = epoch_micros() - next.elapsed().as_micros() as i64;
                let at = next;
                next += interval;
                offered += 1;
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let body = telegram_update(n, chat_base + n % chats, intended);
                let (pool_tx, pool_rx) = (pool_tx.clone(), pool_rx.clone());
                let (hook, secret) = (Arc::clone(&hook), Arc::clone(&secret));
                let (acks, failed, ok) = (Arc::clone(&acks), Arc::clone(&failed), Arc::clone(&ok));
                tasks.push(tokio::spawn(async move {
                    let mut conn = pool_rx.recv().await.unwrap();
                    let status = post(&mut conn, port, &hook, &secret, &body).await;
                    let _ = pool_tx.send(conn).await;
                    if status == 200 {
                        ok.fetch_add(1, Ordering::Relaxed);
                        acks.lock().unwrap().push(at.elapsed().as_secs_f64() * 1000.0);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }));
            }
            let sent_for = started.elapsed().as_secs_f64();
            for task in tasks {
                let _ = task.await;
            }
            let elapsed = started.elapsed().as_secs_f64();
            tokio::time::sleep(Duration::from_millis(300)).await;
            let mut acks = acks.lock().unwrap().clone();
            let mut arrivals = events.lock().unwrap().clone();
            let acked = ok.load(Ordering::Relaxed);
            let achieved = acked as f64 / elapsed;
            let p99 = quantile(&mut acks, 0.99);
            println!(
                "step {}",
                json!({
                    "rate": rate,
                    "offered": offered,
                    "offered_per_s": offered as f64 / sent_for,
                    "acked": acked,
                    "failed": failed.load(Ordering::Relaxed),
                    "achieved_per_s": achieved,
                    "ack_p50_ms": quantile(&mut acks, 0.5),
                    "ack_p99_ms": p99,
                    "event_samples": arrivals.len(),
                    "event_p50_ms": quantile(&mut arrivals, 0.5),
                    "event_p99_ms": quantile(&mut arrivals, 0.99),
                })
            );
            if achieved < 0.9 * rate as f64 || p99 > 1000.0 {
                break;
            }
        }
        println!("done {}", counter.load(Ordering::Relaxed));
    });
}

type Conn = Option<BufReader<TcpStream>>;

/// A fixed set of (lazily connected) connections as a queue.
fn async_channel_pool(size: usize) -> (tokio::sync::mpsc::Sender<Conn>, SharedReceiver) {
    let (tx, rx) = tokio::sync::mpsc::channel(size);
    for _ in 0..size {
        tx.try_send(None).unwrap();
    }
    (tx, SharedReceiver(Arc::new(tokio::sync::Mutex::new(rx))))
}

#[derive(Clone)]
struct SharedReceiver(Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Conn>>>);

impl SharedReceiver {
    async fn recv(&self) -> Option<Conn> {
        self.0.lock().await.recv().await
    }
}
