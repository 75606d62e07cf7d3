//! Actors and races: the memory a live dialog actor costs (10k and 100k of them, in a fresh
//! process, each having handled one read mark); 1,000 dialogs
//! each accepted by 20 operators at once over HTTP (exactly one winner each); and one
//! hot dialog flooded while 1,000 others carry normal load (isolation).

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use futures_util::StreamExt;
use serde_json::Value;

use crate::ingest::{Load, Setup};
use crate::util::{self, CLIENT_CORE, Role, quantile, rss_kib, runs_cell, verdict};
use dialogi::actors::{Engine, MarkRead};

/// `count` open dialogs of the account, one interlocutor each.
fn fill_dialogs(setup: &Setup, count: usize) {
    let account = setup.account_id;
    setup
        .cluster
        .connect()
        .batch_execute(&format!(
            "INSERT INTO interlocutors (account_id, external_id, display_name)
             SELECT {account}, 'race' || i, 'Собеседник ' || i FROM generate_series(1, {count}) AS i;
             INSERT INTO dialogs (account_id, interlocutor_id, status, last_message_at, last_message_preview)
             SELECT {account}, id, 'new', now(), 'Здравствуйте' FROM interlocutors WHERE external_id LIKE 'race%';
             ANALYZE;"
        ))
        .unwrap();
}

/// KiB per live dialog actor at 10k and at 100k actors, measured in a fresh process each
/// run (memory a previous run freed would otherwise be reused and hide the cost).
fn actor_memory() -> (f64, f64) {
    let role = Role::start("actor-memory", CLIENT_CORE, &[]);
    let line = role.expect("memory", Duration::from_secs(600));
    let mut numbers = line
        .split_whitespace()
        .filter_map(|n| n.parse::<f64>().ok());
    (
        numbers.next().unwrap_or(f64::NAN),
        numbers.next().unwrap_or(f64::NAN),
    )
}

/// The `actor-memory` role: prints `memory <KiB at 10k> <KiB at 100k>`.
pub fn actor_memory_role() {
    let (at_10k, at_100k) = measure_actor_memory();
    println!("memory {at_10k} {at_100k}");
}

fn measure_actor_memory() -> (f64, f64) {
    let setup = Setup::new("actors");
    fill_dialogs(&setup, 100_000);
    let ids: Vec<i64> = {
        use dialogi::db::schema::dialogs;
        use diesel::prelude::*;
        dialogs::table
            .select(dialogs::id)
            .order(dialogs::id)
            .load(&mut setup.cluster.connect())
            .unwrap()
    };
    let pool = dialogi::db::build_pool(&setup.url, 16);
    let user_id = 1;
    actix::System::new().block_on(async move {
        let engine = Engine::new(pool, actix::Arbiter::current());
        let wake = |ids: Vec<i64>| {
            let engine = engine.clone();
            async move {
                futures_util::stream::iter(ids)
                    .map(|id| {
                        let engine = engine.clone();
                        async move {
                            engine
                                .mark_read(
                                    id,
                                    MarkRead {
                                        user_id,
                                        up_to: None,
                                    },
                                )
                                .await
                                .unwrap();
                        }
                    })
                    .buffer_unordered(32)
                    .collect::<Vec<()>>()
                    .await;
            }
        };
        // Warm the pool and the allocator first.
        wake(ids[..500].to_vec()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let base = rss_kib(std::process::id());
        wake(ids[500..10_500].to_vec()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let at_10k = rss_kib(std::process::id());
        wake(ids[10_500..].to_vec()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let at_100k = rss_kib(std::process::id());
        let (live, _) = engine.registry().counts();
        eprintln!("   {live} dialog actors live; RSS {base} → {at_10k} → {at_100k} KiB");
        (
            (at_10k - base) / 10_000.0,
            // From 10k to 100k: past what the allocator had kept from loading the ids.
            (at_100k - at_10k) / (ids.len() - 10_500) as f64,
        )
    })
}

/// Dialogs raced before the timed race, on the same connections: it opens them, reads
/// each token once, and warms the server's and PostgreSQL's caches.
const WARM_UP_DIALOGS: i64 = 50;

/// Every dialog in `ids` accepted by every token at once, 5 dialogs at a time: per dialog,
/// each attempt's (ms, status) and how many won.
async fn race_over(
    http: &reqwest::Client,
    base: &str,
    tokens: &[String],
    ids: std::ops::RangeInclusive<i64>,
) -> Vec<(Vec<(f64, u16)>, usize)> {
    futures_util::stream::iter(ids)
        .map(|id| async move {
            let attempts = tokens.iter().map(|token| {
                let request = http
                    .post(format!("{base}/{id}/accept"))
                    .bearer_auth(token)
                    .send();
                async move {
                    let started = Instant::now();
                    let status = request.await.map(|r| r.status().as_u16()).unwrap_or(0);
                    (started.elapsed().as_secs_f64() * 1000.0, status)
                }
            });
            let answers = futures_util::future::join_all(attempts).await;
            let won = answers.iter().filter(|(_, s)| *s == 200).count();
            (answers, won)
        })
        .buffer_unordered(5)
        .collect()
        .await
}

/// The accept race's outcome: p50 and p99 (ms), dialogs with exactly one winner and
/// dialogs accepted in the database (of 1,000), and the warm-up race's p99.
struct Race {
    p50: f64,
    p99: f64,
    exactly_one: usize,
    accepted: usize,
    warm_up_p99: f64,
}

/// 1,000 dialogs × 20 operators accepting at once: latency, winners per dialog. Timed
/// after a warm-up race over 50 other dialogs.
fn accept_race() -> Race {
    let setup = Setup::new("race");
    fill_dialogs(&setup, 1_000 + WARM_UP_DIALOGS as usize);
    let tokens: Vec<String> = (0..20)
        .map(|i| setup.operator_token(&format!("op{i}")))
        .collect();
    let (server, port) = util::start_dialogi(&setup.url, &[]);
    // The clients run on their own core, apart from the server's.
    util::pin_this_thread(CLIENT_CORE);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(200)
        .build()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}/api/v1/dialogs");
    let mut warm_up: Vec<f64> = runtime
        .block_on(race_over(
            &http,
            &base,
            &tokens,
            1001..=1000 + WARM_UP_DIALOGS,
        ))
        .into_iter()
        .flat_map(|(answers, _)| answers.into_iter().map(|(ms, _)| ms))
        .collect();
    let (began, server_cpu, own_cpu) = (
        Instant::now(),
        util::cpu_seconds(server.pid),
        util::cpu_seconds(std::process::id()),
    );
    let (latencies, winners) = runtime.block_on(async {
        let results = race_over(&http, &base, &tokens, 1..=1000).await;
        let mut all = Vec::new();
        let mut winners = Vec::new();
        for (ms, won) in results {
            all.extend(ms);
            winners.push(won);
        }
        (all, winners)
    });
    eprintln!(
        "   race {:.2} s: server {:.2} CPU s, client {:.2} CPU s",
        began.elapsed().as_secs_f64(),
        util::cpu_seconds(server.pid) - server_cpu,
        util::cpu_seconds(std::process::id()) - own_cpu
    );
    server.stop();
    let (mut won, mut refused): (Vec<f64>, Vec<f64>) = (Vec::new(), Vec::new());
    for (ms, status) in &latencies {
        if *status == 200 {
            won.push(*ms)
        } else {
            refused.push(*ms)
        }
    }
    eprintln!(
        "   winners p50 {:.1} p99 {:.1} ms; refused p50 {:.1} p99 {:.1} ms",
        quantile(&mut won, 0.5),
        quantile(&mut won, 0.99),
        quantile(&mut refused, 0.5),
        quantile(&mut refused, 0.99)
    );
    let mut latencies: Vec<f64> = latencies.into_iter().map(|(ms, _)| ms).collect();
    let exactly_one = winners.iter().filter(|w| **w == 1).count();
    let accepted_in_db = setup.count(
        "SELECT count(*) AS n FROM dialogs WHERE id <= 1000 AND status = 'accepted' AND responsible_user_id IS NOT NULL",
    ) as usize;
    let warm_up_p99 = quantile(&mut warm_up, 0.99);
    eprintln!(
        "   exactly one winner: {exactly_one} of 1000; accepted in the database: {accepted_in_db}; \
         warm-up race p99 {warm_up_p99:.1} ms"
    );
    Race {
        p50: quantile(&mut latencies, 0.5),
        p99: quantile(&mut latencies, 0.99),
        exactly_one,
        accepted: accepted_in_db,
        warm_up_p99,
    }
}

/// Others' p99 (ms) to 200 without and with a flooded dialog, and the hot dialog's rate.
fn isolation() -> (f64, f64, f64) {
    let setup = Setup::new("hot");
    let (server, port) = util::start_dialogi(&setup.url, &[]);
    let client =
        |rates: &str, chats: u64, chat_base: u64, first_update: i64, connections: usize| {
            Load {
                rates,
                step_seconds: 8,
                connections,
                chats,
                chat_base,
                first_update,
            }
            .start(&setup, port)
        };
    let step = |role: &Role| -> Value {
        serde_json::from_str(&role.expect("step", Duration::from_secs(120))).unwrap()
    };
    // Warm-up: every normal dialog opens.
    let warm = client("250", 1000, 2_000_000, 1, 40);
    step(&warm);
    // Normal load alone, then with the flood.
    let normal = client("100,100", 1000, 2_000_000, 100_000, 40);
    let alone = step(&normal);
    let hot = client("1000", 1, 3_000_000, 10_000_000, 8);
    let together = step(&normal);
    let flood = step(&hot);
    server.stop();
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    eprintln!("   alone {alone}\n   together {together}\n   flood {flood}");
    (
        f(&alone, "ack_p99_ms"),
        f(&together, "ack_p99_ms"),
        f(&flood, "achieved_per_s"),
    )
}

pub fn run(runs: usize) -> String {
    let mut memory = Vec::new();
    let mut races = Vec::new();
    let mut hot = Vec::new();
    // `BENCH_ACTORS=race` (or `memory`, `isolation`, comma-separated) runs only those
    // parts, to look at one closely; the report then shows NaN for the others.
    let parts = std::env::var("BENCH_ACTORS").unwrap_or_else(|_| "memory,race,isolation".into());
    let wanted = |part: &str| parts.split(',').any(|p| p.trim() == part);
    for i in 0..runs {
        eprintln!("-- actors run {} of {runs}", i + 1);
        if wanted("memory") {
            memory.push(actor_memory());
        }
        if wanted("race") {
            // On a thread of its own: the race pins its client thread to the clients' core.
            races.push(std::thread::spawn(accept_race).join().unwrap());
        }
        if wanted("isolation") {
            hot.push(isolation());
        }
    }
    let at_10k: Vec<f64> = memory.iter().map(|m| m.0).collect();
    let at_100k: Vec<f64> = memory.iter().map(|m| m.1).collect();
    let race_p50: Vec<f64> = races.iter().map(|r| r.p50).collect();
    let race_p99: Vec<f64> = races.iter().map(|r| r.p99).collect();
    let warm_up_p99: Vec<f64> = races.iter().map(|r| r.warm_up_p99).collect();
    let alone: Vec<f64> = hot.iter().map(|h| h.0).collect();
    let together: Vec<f64> = hot.iter().map(|h| h.1).collect();
    let flood: Vec<f64> = hot.iter().map(|h| h.2).collect();
    let kib = util::median(&at_100k);
    let row = std::mem::size_of::<dialogi::db::dialogs::DialogRow>();
    let p99 = util::median(&race_p99);
    let ratio = util::median(&together) / util::median(&alone);
    let one_winner = races
        .iter()
        .all(|r| r.exactly_one == 1000 && r.accepted == 1000);
    format!(
        "## Actors and races\n\nMemory: 100,000 open dialogs in a private PostgreSQL; a fresh process (each run) starts each \
         dialog's actor by moving a read mark through it (a read mark does not make it keep the row), 32 at a time, and reads its own RSS \
         after 10,000 and after 100,000 (after a warm-up of 500). Race: 1,000 new dialogs, 20 operators (API tokens) \
         accepting each at once over HTTP, 5 dialogs at a time, against the server on CPU 0, timed after the same race over \
         50 other dialogs (it opens the connections, reads each token once, and warms the caches; its p99 is shown apart). Isolation: 1,000 \
         interlocutors at 100 msg/s in all, 8 s alone, then 8 s while one more interlocutor floods its dialog \
         (offered 1,000 msg/s on 8 connections).\n\n\
         | figure | runs (median) |\n|---|---|\n\
         | KiB per live dialog actor, first 10k (memory freed by loading the ids is reused first) | {} |\n\
         | KiB per live dialog actor, from 10k to 100k | {} |\n\
         | an actor that caches its dialog's row after a command adds | {row} B + the row's texts |\n\
         | accept race p50 / p99 ms | {} / {} |\n\
         | the warm-up race's p99 (new connections, cold caches), ms | {} |\n\
         | dialogs with exactly one winner / accepted in the database (of 1,000) | {} |\n\
         | others' p99 to 200 alone / with the flood, ms | {} / {} |\n\
         | the flooded dialog's acknowledged rate, msg/s | {} |\n\
         \n| target | measured (medians) | verdict |\n|---|---|---|\n\
         | dialog actor ≤ 2 KiB (100k ≤ 200 MB) | {kib:.2} KiB | {} |\n\
         | accept race p99 ≤ 20 ms, exactly one winner | {p99:.1} ms, {} | {} |\n\
         | others' p99 with a flooded dialog ≤ 2 × alone | {ratio:.2}× | {} |\n",
        runs_cell(&at_10k, 2),
        runs_cell(&at_100k, 2),
        runs_cell(&race_p50, 1),
        runs_cell(&race_p99, 1),
        runs_cell(&warm_up_p99, 1),
        races
            .iter()
            .map(|r| format!("{} / {}", r.exactly_one, r.accepted))
            .collect::<Vec<_>>()
            .join("; "),
        runs_cell(&alone, 1),
        runs_cell(&together, 1),
        runs_cell(&flood, 0),
        verdict(kib <= 2.0),
        if one_winner {
            "one winner each"
        } else {
            "not one winner each"
        },
        verdict(p99 <= 20.0 && one_winner),
        verdict(ratio <= 2.0),
    )
}
