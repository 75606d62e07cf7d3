//! Soak: the server under everything at once for a bounded time — inbound webhooks,
//! operators accepting and replying over REST (the replies go to a fake Bot API), and
//! 1,000 SSE subscribers — sampling its memory and open files every 10 s. Passes when
//! memory is flat after the first minute, files do not grow, and nothing failed.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::web;
use diesel::RunQueryDsl;
use serde_json::{Value, json};

use crate::common::env_number;
use crate::ingest::{Load, Setup};
use crate::pacing::{Calls, start_fake};
use crate::util::{self, CLIENT_CORE, Role, fd_count, http, rss_kib, verdict};

const SUBSCRIBERS: usize = 1_000;
const INBOUND_PER_SECOND: u64 = 50;

pub fn run(_runs: usize) -> String {
    let seconds = env_number("BENCH_SOAK_SECS", 600) as u64;
    let calls = web::Data::new(Mutex::new(Calls::default()));
    let fake = start_fake(calls.clone());
    let setup = Setup::new("soak");
    setup.bot_api_at(fake);
    let token = setup.operator_token("soaker");
    let (server, port) = util::start_dialogi(&setup.url, &[]);
    let mut subscribers = Role::start(
        "sse-client",
        CLIENT_CORE,
        &[
            ("BENCH_PORT", port.to_string()),
            ("BENCH_PATH", "/api/v1/events".into()),
            ("BENCH_AUTH", format!("Bearer {}", setup.token)),
            ("BENCH_CONNECTIONS", SUBSCRIBERS.to_string()),
            ("BENCH_RAMP", "200".into()),
        ],
    );
    let ready: Value =
        serde_json::from_str(&subscribers.expect("ready", Duration::from_secs(120))).unwrap();
    subscribers.say("go");
    let rates = INBOUND_PER_SECOND.to_string();
    let inbound = Load {
        rates: &rates,
        step_seconds: seconds,
        connections: 8,
        chats: 500,
        chat_base: 1_000_000,
        first_update: 1,
    }
    .start(&setup, port);
    // Operators: every 200 ms accept a dialog and reply in it.
    let stop = AtomicBool::new(false);
    let (operations, failures) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let mut samples: Vec<(f64, f64, usize)> = Vec::new();
    let started = Instant::now();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            #[derive(diesel::QueryableByName)]
            struct Id {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                id: i64,
            }
            let auth = format!("Bearer {token}");
            let headers = [
                ("Authorization", auth.as_str()),
                ("Content-Type", "application/json"),
            ];
            let mut k = 0usize;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(200));
                let ids: Vec<Id> = diesel::sql_query(
                    "SELECT id FROM dialogs WHERE status <> 'closed' ORDER BY random() LIMIT 1",
                )
                .load(&mut setup.cluster.connect())
                .unwrap_or_default();
                let Some(dialog) = ids.first() else { continue };
                k += 1;
                let accept = http(
                    port,
                    "POST",
                    &format!("/api/v1/dialogs/{}/accept", dialog.id),
                    &headers,
                    "",
                )
                .0;
                let body = json!({"text": format!("Ответ оператора {k}")}).to_string();
                let reply = http(
                    port,
                    "POST",
                    &format!("/api/v1/dialogs/{}/messages", dialog.id),
                    &headers,
                    &body,
                )
                .0;
                operations.fetch_add(2, Ordering::Relaxed);
                // 409: another operator's dialog (none here) — anything but 2xx is a failure.
                failures.fetch_add(
                    usize::from(!(200..300).contains(&accept)) + usize::from(reply != 201),
                    Ordering::Relaxed,
                );
            }
        });
        while started.elapsed() < Duration::from_secs(seconds) {
            std::thread::sleep(Duration::from_secs(10));
            let sample = (
                started.elapsed().as_secs_f64(),
                rss_kib(server.pid) / 1024.0,
                fd_count(server.pid),
            );
            eprintln!(
                "   soak {:.0} s: RSS {:.1} MiB, {} files",
                sample.0, sample.1, sample.2
            );
            samples.push(sample);
        }
        stop.store(true, Ordering::Relaxed);
    });
    let step: Value =
        serde_json::from_str(&inbound.expect("step", Duration::from_secs(120))).unwrap();
    subscribers.say("stop");
    let done: Value =
        serde_json::from_str(&subscribers.expect("done", Duration::from_secs(30))).unwrap();
    subscribers.say("exit");
    // Replies still queued go out at the bot's pace.
    let queued = setup.count("SELECT count(*) AS n FROM messages WHERE direction = 'out'");
    let deadline = Instant::now() + Duration::from_secs(60);
    while (calls.lock().unwrap().sent.len() as i64) < queued && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    let sent_replies = calls.lock().unwrap().sent.len() as i64;
    server.stop();
    let stored = setup.count("SELECT count(*) AS n FROM messages WHERE direction = 'in'");
    let acked = step["acked"].as_i64().unwrap_or(0);
    // Flat: from the first minute's sample to the end.
    let base = samples
        .iter()
        .find(|s| s.0 >= 60.0)
        .or(samples.first())
        .copied()
        .unwrap_or((0.0, 0.0, 0));
    let last = samples.last().copied().unwrap_or(base);
    let peak = samples.iter().map(|s| s.1).fold(0.0, f64::max);
    let growth = last.1 - base.1;
    let flat = growth <= (base.1 * 0.1).max(16.0);
    let files_flat = last.2 <= base.2 + 10;
    let failed = failures.load(Ordering::Relaxed) as i64 + step["failed"].as_i64().unwrap_or(0);
    let ended = done["ended"].as_i64().unwrap_or(-1);
    let ok = failed == 0 && ended == 0 && acked == stored && sent_replies == queued;
    let trail: Vec<String> = samples
        .iter()
        .map(|s| format!("{:.0} s: {:.1} MiB, {} files", s.0, s.1, s.2))
        .collect();
    format!(
        "## Soak\n\nOne run of {seconds} s: {SUBSCRIBERS} operator SSE streams ({} connected), inbound Telegram \
         webhooks at {INBOUND_PER_SECOND} msg/s from 500 interlocutors, and an operator accepting a random open \
         dialog and replying in it every 200 ms (replies go to a fake Bot API). The server's memory and open files \
         are sampled every 10 s.\n\n\
         | figure | value |\n|---|---|\n\
         | inbound sent / acknowledged / stored | {} / {acked} / {stored} |\n\
         | operator requests / failed | {} / {} |\n\
         | replies queued / sent to the channel | {queued} / {sent_replies} |\n\
         | SSE events delivered / streams ended early | {} / {ended} |\n\
         | RSS after 1 min / at the end / peak, MiB | {:.1} / {:.1} / {peak:.1} |\n\
         | open files after 1 min / at the end | {} / {} |\n\n\
         <details><summary>samples</summary>\n\n{}\n\n</details>\n\n\
         | target | measured | verdict |\n|---|---|---|\n\
         | memory flat (growth ≤ 10% or 16 MiB after the first minute) | {growth:+.1} MiB | {} |\n\
         | no file-descriptor growth | {:+} | {} |\n\
         | no error, nothing lost | {failed} failed, {} lost, {ended} streams ended | {} |\n",
        ready["connected"],
        step["offered"],
        operations.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
        done["events"],
        base.1,
        last.1,
        base.2,
        last.2,
        trail.join("; "),
        verdict(flat),
        last.2 as i64 - base.2 as i64,
        verdict(files_flat),
        acked - stored,
        verdict(ok),
    )
}
