//! Event delivery latency: from handing an inbound message to the account actor until a
//! subscriber's SSE stream shows it, (a) on the same server process and (b) on another
//! process on the same database (through LISTEN/NOTIFY), and (c) fanned out to many
//! subscribers at once. Two servers run in this process on their own pools, registries and
//! pumps; only the database is shared, as between two real processes.
//!
//! Run: `cargo bench --bench sse` (about a minute). `BENCH_SAMPLES` (default 200) and
//! `BENCH_SUBSCRIBERS` (default 500) change the sizes. Writes `bench/results/sse.md`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common.rs"]
mod common;

use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures_util::StreamExt;

use common::{env_number, percentile_ms};
use dialogi::actors::{Engine, Inbound};
use dialogi::config::{Config, SecretString};
use dialogi::db;
use dialogi::db::clients::Sender;
use dialogi::startup::Application;

struct Server {
    base: String,
    engine: Engine,
}

fn server(url: &str, max_streams: usize) -> Server {
    let config = Config {
        listen: "127.0.0.1:0".into(),
        database_url: Some(SecretString::new(url)),
        db_pool_size: 8,
        workers: Some(2),
        max_streams,
        login_attempts_per_ip: 100_000,
        max_streams_per_user: usize::MAX,
        max_streams_per_token: usize::MAX,
        ..Config::default()
    };
    let app = Application::build(config, db::build_pool(url, 8)).unwrap();
    let server = Server {
        base: format!("http://127.0.0.1:{}", app.port()),
        engine: app.engine(),
    };
    actix_web::rt::spawn(app.run_until_stopped());
    server
}

type Events = std::pin::Pin<
    Box<
        dyn futures_util::Stream<
                Item = Result<
                    eventsource_stream::Event,
                    eventsource_stream::EventStreamError<reqwest::Error>,
                >,
            >,
    >,
>;

async fn subscribe(client: &reqwest::Client, base: &str, token: &str) -> Events {
    let response = client
        .get(format!("{base}/api/v1/events"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let mut events: Events = Box::pin(response.bytes_stream().eventsource());
    // The opening counters.
    events.next().await;
    events
}

async fn wait_for(events: &mut Events, marker: &str) {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("an event within 10 s")
            .expect("the stream goes on")
            .expect("a well-formed event");
        if event.event == "message" && event.data.contains(marker) {
            return;
        }
    }
}

fn inbound(marker: &str, n: usize) -> Inbound {
    Inbound {
        sender: Sender {
            external_id: format!("{}", n % 50),
            display_name: "Bench".into(),
            username: None,
        },
        channel_message_id: format!("bench:{marker}"),
        text: marker.to_owned(),
        sent_at: None,
        attachments: Vec::new(),
        author: None,
        extras: Default::default(),
    }
}

fn main() {
    let samples = env_number("BENCH_SAMPLES", 200);
    let subscribers = env_number("BENCH_SUBSCRIBERS", 500);
    let bench = common::BenchDb::start("sse");
    let (url, token) = (bench.url.clone(), bench.token.clone());
    let system = actix_web::rt::System::new();
    let lines = system.block_on(async {
        let writer = server(&url, subscribers + 10);
        let other = server(&url, subscribers + 10);
        let client = reqwest::Client::new();
        let mut lines = Vec::new();
        for (name, base) in [("same process", &writer.base), ("another process", &other.base)] {
            let mut events = subscribe(&client, base, &token).await;
            let mut times = Vec::with_capacity(samples);
            for n in 0..samples {
                let marker = format!("{}-{n}", name.replace(' ', "_"));
                let started = Instant::now();
                writer.engine.inbound(bench.account_id, inbound(&marker, n)).await.unwrap();
                wait_for(&mut events, &marker).await;
                times.push(started.elapsed());
            }
            times.sort();
            eprintln!("{name}: p50 {:.2} ms, p99 {:.2} ms", percentile_ms(&times, 0.5), percentile_ms(&times, 0.99));
            lines.push(format!(
                "| inbound → SSE, {name} | {samples} | {:.2} | {:.2} |",
                percentile_ms(&times, 0.5),
                percentile_ms(&times, 0.99)
            ));
        }

        // Fan-out: one message, every subscriber; the time until the last one has it.
        let mut streams = Vec::with_capacity(subscribers);
        for _ in 0..subscribers {
            streams.push(subscribe(&client, &writer.base, &token).await);
        }
        let mut times = Vec::new();
        for round in 0..5 {
            let marker = format!("fanout-{round}");
            let started = Instant::now();
            writer.engine.inbound(bench.account_id, inbound(&marker, round)).await.unwrap();
            let waits = streams.iter_mut().map(|events| {
                let marker = marker.clone();
                async move {
                    wait_for(events, &marker).await;
                    started.elapsed()
                }
            });
            let mut arrived = futures_util::future::join_all(waits).await;
            arrived.sort();
            times.push((arrived[arrived.len() / 2], arrived[arrived.len() - 1]));
        }
        times.sort();
        let (median, last) = times[times.len() / 2];
        eprintln!(
            "fan-out to {subscribers}: median subscriber {:.2} ms, last subscriber {:.2} ms",
            median.as_secs_f64() * 1000.0,
            last.as_secs_f64() * 1000.0
        );
        lines.push(format!(
            "| inbound → SSE, fan-out to {subscribers} subscribers (median round of 5): median subscriber / last subscriber | 5 | {:.2} | {:.2} |",
            median.as_secs_f64() * 1000.0,
            last.as_secs_f64() * 1000.0
        ));
        lines
    });
    drop(bench);
    let out = format!(
        "## Event delivery\n\nFrom handing an inbound message to the account actor (its commit included) until an \
         SSE subscriber has parsed the event; two servers on one database in one process, clients on loopback.\n\n\
         | path | samples | p50 ms | p99 ms |\n|---|---|---|---|\n{}\n",
        lines.join("\n")
    );
    std::fs::create_dir_all("bench/results").ok();
    std::fs::write("bench/results/sse.md", &out).unwrap();
    println!("{out}");
}
