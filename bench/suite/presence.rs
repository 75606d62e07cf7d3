//! R46 presence under load: 500 operators' streams (the `operator-client` role of the
//! operators scenario, on CPU 1, one SSE stream each with its own token) all allowed to
//! see one account, while 50 of them claim `typing` and `left` in turn on their open
//! dialog — 50 presence changes a second for 20 s, each a `POST /presence` — and the
//! server (the real binary, CPU 0, one worker) tells every other stream.
//!
//! Reported: changes sent, presence frames received and per change (streams − 1 when
//! every stream got every change), server CPU in cores and in µs per frame delivered
//! (constant when fan-out costs O(1) per change per stream), and change → stream
//! p50/p99 (from the sender's clock before its POST to the stream's reading the frame;
//! both on this machine's clock).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::env_number;
use crate::ingest::Setup;
use crate::operators::{open_dialogs, operators, start_operator_client};
use crate::util::{self, cpu_seconds, epoch_micros, runs_cell, verdict};

const SENDERS: usize = 50;
const CHANGES_PER_SECOND: u64 = 50;
const WINDOW: Duration = Duration::from_secs(20);

#[derive(Debug, Default, Clone)]
struct Measured {
    streams: f64,
    changes: f64,
    refused: f64,
    frames: f64,
    frames_per_change: f64,
    server_cores: f64,
    server_cpu_us_per_frame: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn measure(count: usize) -> Measured {
    let setup = Setup::new("presence");
    let tokens = operators(&setup, count);
    let (server, port) = util::start_dialogi(&setup.url, &["--workers", "1"]);
    let dialogs = open_dialogs(&setup, port, count);
    let (mut client, ready) = start_operator_client(port, &tokens, &dialogs);
    let senders = SENDERS.min(count);
    let user_ids: Vec<i64> = (1..=senders)
        .map(|n| setup.count(&format!("SELECT id AS n FROM users WHERE login = 'op{n}'")))
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let cpu_before = cpu_seconds(server.pid);
    client.say("go");
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / CHANGES_PER_SECOND as f64);
    let mut next = started;
    let mut sent: HashMap<i64, Vec<i64>> = HashMap::new();
    let (mut changes, mut refused) = (0usize, 0usize);
    while started.elapsed() < WINDOW {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        let sender = changes % senders;
        let claim = if (changes / senders).is_multiple_of(2) {
            "typing"
        } else {
            "left"
        };
        let body = json!({"dialog_id": dialogs[sender].parse::<i64>().unwrap(), "claim": claim})
            .to_string();
        let auth = format!("Bearer {}", tokens[sender]);
        let at = epoch_micros();
        let headers = [
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ];
        let (status, _) = util::http(port, "POST", "/api/v1/presence", &headers, &body);
        if status == 204 {
            sent.entry(user_ids[sender]).or_default().push(at);
        } else {
            refused += 1;
        }
        changes += 1;
        next += interval;
    }
    std::thread::sleep(Duration::from_secs(1));
    let cpu_used = cpu_seconds(server.pid) - cpu_before;
    let seconds = started.elapsed().as_secs_f64();
    client.say(&format!("sent {}", json!(sent)));
    client.say("stop");
    let done: Value =
        serde_json::from_str(&client.expect("done", Duration::from_secs(60))).unwrap();
    client.say("exit");
    let frames = done["presence_frames"].as_f64().unwrap_or(0.0);
    let measured = Measured {
        streams: ready["connected"].as_f64().unwrap_or(0.0),
        changes: changes as f64,
        refused: refused as f64,
        frames,
        frames_per_change: frames / (changes - refused).max(1) as f64,
        server_cores: cpu_used / seconds,
        server_cpu_us_per_frame: cpu_used / frames.max(1.0) * 1e6,
        p50_ms: done["presence_p50_ms"].as_f64().unwrap_or(f64::NAN),
        p99_ms: done["presence_p99_ms"].as_f64().unwrap_or(f64::NAN),
    };
    eprintln!("   presence: {measured:?}");
    client.proc.stop();
    server.stop();
    measured
}

pub fn run(runs: usize) -> String {
    let count = env_number("BENCH_OPERATORS", 500);
    let all: Vec<Measured> = (0..runs)
        .map(|run| {
            eprintln!("-- presence run {} of {runs}", run + 1);
            measure(count)
        })
        .collect();
    let column = |f: fn(&Measured) -> f64| -> Vec<f64> { all.iter().map(f).collect() };
    let med = |f: fn(&Measured) -> f64| util::median(&column(f));
    let mut out = format!(
        "## Presence\n\n{count} operators' SSE streams (one token each, all seeing one account) on CPU 1; {SENDERS} of \
         them say `typing` and `left` in turn on their open dialog, {CHANGES_PER_SECOND} presence changes/s for {} s \
         (`POST /presence`, each a NOTIFY through PostgreSQL and back to the pump); the server on CPU 0, one worker. \
         Latency: from before the sender's POST to the frame read by each other stream.\n\n\
         | streams | changes | refused | presence frames | frames per change | server cores | server µs CPU per frame | change → stream p50 ms | p99 ms |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        WINDOW.as_secs()
    );
    out.push_str(&format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
        runs_cell(&column(|m| m.streams), 0),
        runs_cell(&column(|m| m.changes), 0),
        runs_cell(&column(|m| m.refused), 0),
        runs_cell(&column(|m| m.frames), 0),
        runs_cell(&column(|m| m.frames_per_change), 1),
        runs_cell(&column(|m| m.server_cores), 2),
        runs_cell(&column(|m| m.server_cpu_us_per_frame), 2),
        runs_cell(&column(|m| m.p50_ms), 1),
        runs_cell(&column(|m| m.p99_ms), 1),
    ));
    let per_change = med(|m| m.frames_per_change);
    let streams = med(|m| m.streams);
    let cores = med(|m| m.server_cores);
    let p99 = med(|m| m.p99_ms);
    out.push_str(&format!(
        "\n| target | measured (medians) | verdict |\n|---|---|---|\n\
         | every other stream gets every change (frames per change = streams − 1) | {per_change:.1} of {:.0} | {} |\n\
         | server ≤ 1 core | {cores:.2} cores | {} |\n\
         | change → stream p99 ≤ 250 ms | {p99:.0} ms | {} |\n",
        streams - 1.0,
        verdict(per_change >= streams - 1.5),
        verdict(cores <= 1.0),
        verdict(p99 <= 250.0),
    ));
    out
}
