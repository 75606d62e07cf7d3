//! Many concurrent SSE subscribers on one server process: 10,000 streams held open by a
//! separate client process (each process may hold 20,000 files here), the server's memory
//! per subscriber, and how long one event takes to reach all of them.
//!
//! Run: `cargo bench --bench subscribers` (`BENCH_SUBSCRIBERS`, default 10,000;
//! `BENCH_ROUNDS`, default 10). The bench re-runs itself as the client
//! (`BENCH_ROLE=client`). Writes `bench/results/subscribers.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::env_number;
use dialogi::actors::Inbound;
use dialogi::config::{Config, SecretString};
use dialogi::db::clients::Sender;
use dialogi::startup::Application;

fn epoch_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn rss_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    if std::env::var("BENCH_ROLE").as_deref() == Ok("client") {
        client::run();
        return;
    }
    let subscribers = env_number("BENCH_SUBSCRIBERS", 10_000);
    let rounds = env_number("BENCH_ROUNDS", 10);
    let bench = common::BenchDb::start("subscribers");
    let system = actix_web::rt::System::new();
    let lines = system.block_on(async {
        let config = Config {
            listen: "127.0.0.1:0".into(),
            database_url: Some(SecretString::new(bench.url.clone())),
            db_pool_size: 8,
            workers: Some(2),
            max_streams: subscribers + 100,
            max_streams_per_user: usize::MAX,
            max_streams_per_token: usize::MAX,
            ..Config::default()
        };
        let app = Application::build(config, dialogi::db::build_pool(&bench.url, 8)).unwrap();
        let base = format!("http://127.0.0.1:{}", app.port());
        let engine = app.engine();
        actix_web::rt::spawn(app.run_until_stopped());
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = rss_kib();

        let mut child = Command::new(std::env::current_exe().unwrap())
            .env("BENCH_ROLE", "client")
            .env("BENCH_URL", &base)
            .env("BENCH_TOKEN", &bench.token)
            .env("BENCH_SUBSCRIBERS", subscribers.to_string())
            .env("BENCH_ROUNDS", rounds.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = rx.recv().await.expect("the client reports");
        assert!(ready.starts_with("ready"), "{ready}");
        tokio::time::sleep(Duration::from_secs(2)).await;
        let after = rss_kib();
        let per_subscriber = (after - before) as f64 * 1024.0 / subscribers as f64;
        eprintln!("{subscribers} subscribers: server RSS {before} → {after} KiB, {per_subscriber:.0} B each");

        let mut medians = Vec::new();
        let mut p99s = Vec::new();
        let mut lasts = Vec::new();
        for round in 0..rounds {
            let sent = epoch_micros();
            engine
                .inbound(
                    bench.account_id,
                    Inbound {
                        sender: Sender {
                            external_id: "7".into(),
                            display_name: "Bench".into(),
                            username: None,
                        },
                        channel_message_id: format!("fan:{round}"),
                        text: format!("marker-{round}"),
                        sent_at: None,
                        attachments: Vec::new(),
                        author: None,
                        extras: Default::default(),
                    },
                )
                .await
                .unwrap();
            let line = rx.recv().await.expect("the round's arrival times");
            // "round <k> <count> <p50 epoch µs> <p99 epoch µs> <last epoch µs>"
            let fields: Vec<i64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
            let ms = |at: i64| (at - sent) as f64 / 1000.0;
            eprintln!(
                "round {round}: {} got it; p50 {:.1} ms, p99 {:.1} ms, last {:.1} ms",
                fields[1],
                ms(fields[2]),
                ms(fields[3]),
                ms(fields[4])
            );
            medians.push(ms(fields[2]));
            p99s.push(ms(fields[3]));
            lasts.push(ms(fields[4]));
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        let median = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        };
        vec![
            format!("| subscribers held open | {subscribers} |"),
            format!("| server memory per subscriber (RSS delta / subscribers) | {:.1} KiB |", per_subscriber / 1024.0),
            format!("| fan-out p50 (median of {rounds} rounds) | {:.1} ms |", median(&mut medians)),
            format!("| fan-out p99 (median of {rounds} rounds) | {:.1} ms |", median(&mut p99s)),
            format!("| fan-out, last subscriber (median of {rounds} rounds) | {:.1} ms |", median(&mut lasts)),
        ]
    });
    drop(bench);
    let out = format!(
        "## Concurrent subscribers\n\nOne server process (2 HTTP workers) holding SSE streams opened by a separate client \
         process on loopback; one inbound message per round, timed from the hand-over to the account actor until each \
         subscriber parsed it.\n\n| figure | value |\n|---|---|\n{}\n",
        lines.join("\n")
    );
    std::fs::create_dir_all("bench/results").ok();
    std::fs::write("bench/results/subscribers.md", &out).unwrap();
    println!("{out}");
}

mod client {
    //! The client process: opens the streams, then reports when every subscriber has seen
    //! each round's marker.

    use std::time::Duration;

    use eventsource_stream::Eventsource;
    use futures_util::StreamExt;
    use tokio::sync::mpsc;

    use super::{env_number, epoch_micros};

    pub fn run() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let base = std::env::var("BENCH_URL").unwrap();
            let token = std::env::var("BENCH_TOKEN").unwrap();
            let subscribers = env_number("BENCH_SUBSCRIBERS", 10_000);
            let rounds = env_number("BENCH_ROUNDS", 10);
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            let (arrivals_tx, mut arrivals) = mpsc::unbounded_channel::<(usize, i64)>();
            let (ready_tx, mut ready) = mpsc::unbounded_channel::<()>();
            for batch in 0..subscribers.div_ceil(500) {
                for _ in 0..500.min(subscribers - batch * 500) {
                    let (http, base, token) = (http.clone(), base.clone(), token.clone());
                    let (arrivals_tx, ready_tx) = (arrivals_tx.clone(), ready_tx.clone());
                    tokio::spawn(async move {
                        let response = http
                            .get(format!("{base}/api/v1/events"))
                            .bearer_auth(&token)
                            .send()
                            .await
                            .unwrap();
                        let mut events = response.bytes_stream().eventsource();
                        let _ = events.next().await;
                        let _ = ready_tx.send(());
                        while let Some(Ok(event)) = events.next().await {
                            if event.event != "message" {
                                continue;
                            }
                            if let Some(round) = event
                                .data
                                .split("marker-")
                                .nth(1)
                                .and_then(|rest| rest.split('"').next())
                                .and_then(|n| n.parse::<usize>().ok())
                            {
                                let _ = arrivals_tx.send((round, epoch_micros()));
                            }
                        }
                    });
                }
                // Let a batch connect before the next, so connects do not storm.
                for _ in 0..500.min(subscribers - batch * 500) {
                    ready.recv().await.unwrap();
                }
            }
            println!("ready {subscribers}");
            for round in 0..rounds {
                let mut times = Vec::with_capacity(subscribers);
                while times.len() < subscribers {
                    match tokio::time::timeout(Duration::from_secs(60), arrivals.recv()).await {
                        Ok(Some((r, at))) if r == round => times.push(at),
                        Ok(Some(_)) => {}
                        _ => break,
                    }
                }
                times.sort_unstable();
                let at = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
                println!(
                    "round {round} {} {} {} {}",
                    times.len(),
                    at(0.5),
                    at(0.99),
                    at(1.0)
                );
            }
        });
    }
}
