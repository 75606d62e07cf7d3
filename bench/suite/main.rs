//! `dialogi-bench`: the benchmark suite. Each scenario starts what it needs on 127.0.0.1
//! (a private PostgreSQL, the real `dialogi` binary pinned to CPU 0, its baselines, and
//! load clients — this same binary in a client role — pinned to CPU 1), runs at least
//! twice interleaved with its baselines, stops by itself, and writes
//! `bench/results/<scenario>.md`; `report` assembles `BENCHMARKS.md` from them.
//!
//! Run everything: `bash bench/run` (README.md). One scenario:
//! `cargo bench --bench dialogi-bench -- ingest` (ingest, sse, capacity, queries, actors,
//! pacing, operators, presence, widget, soak — the soak runs once, `BENCH_SOAK_SECS` long, default 600 — and report). `BENCH_RUNS` (default 2) sets the repetitions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common.rs"]
mod common;

mod actors;
mod broadcaster;
mod capacity;
mod ingest;
mod load;
mod operators;
mod pacing;
mod presence;
mod queries;
mod report;
mod soak;
mod sse;
mod util;
mod widget;

const SCENARIOS: [&str; 10] = [
    "ingest",
    "sse",
    "capacity",
    "queries",
    "actors",
    "pacing",
    "operators",
    "presence",
    "widget",
    "soak",
];

fn main() {
    if let Ok(role) = std::env::var("BENCH_ROLE") {
        match role.as_str() {
            "sse-client" => load::sse_client(),
            "ingest-client" => load::ingest_client(),
            "broadcaster" => broadcaster::serve(),
            "actor-memory" => actors::actor_memory_role(),
            "operator-client" => operators::operator_client(),
            other => panic!("unknown BENCH_ROLE {other}"),
        }
        return;
    }
    // `cargo bench` passes `--bench`; everything else names scenarios.
    let mut wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if wanted.is_empty() || wanted.iter().any(|w| w == "all") {
        wanted = SCENARIOS.iter().map(|s| s.to_string()).collect();
        wanted.push("report".into());
    }
    let runs = common::env_number("BENCH_RUNS", 2).max(1);
    std::fs::create_dir_all(util::RESULTS).unwrap();
    for scenario in &wanted {
        let started = std::time::Instant::now();
        eprintln!("== {scenario} ({runs} runs)");
        let section = match scenario.as_str() {
            "ingest" => ingest::run(runs),
            "sse" => sse::run(runs),
            "capacity" => capacity::run(runs),
            "queries" => queries::section(runs),
            "actors" => actors::run(runs),
            "pacing" => pacing::run(runs),
            "operators" => operators::run(runs),
            "presence" => presence::run(runs),
            "widget" => widget::run(runs),
            "soak" => soak::run(runs),
            "report" => {
                report::write(&SCENARIOS);
                continue;
            }
            other => panic!("unknown scenario {other}; known: {SCENARIOS:?}, report, all"),
        };
        let path = format!("{}/{scenario}.md", util::RESULTS);
        std::fs::write(&path, &section).unwrap();
        eprintln!(
            "== {scenario} done in {:.0} s → {path}",
            started.elapsed().as_secs_f64()
        );
    }
}
