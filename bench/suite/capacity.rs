//! Capacity and failure mode: 25,000 SSE connections attempted against one server whose
//! cap is 15,000 (two client processes, since each process may hold 20,000 files): the
//! first fills the server to its cap, the second's 10,000 must then get a fast 503 while
//! `/readyz` and REST keep answering, and the server's open files stay below the process
//! limit.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::ingest::Setup;
use crate::util::{self, CLIENT_CORE, Role, fd_count, http, quantile, runs_cell, verdict};

const CAP: usize = 15_000;

/// Health latencies, REST latencies (ms) and failed probes.
type Probes = (Vec<f64>, Vec<f64>, usize);
const ATTEMPTS: usize = 25_000;

#[derive(Debug, Clone, Default)]
struct Run {
    accepted: f64,
    refused: f64,
    errors: f64,
    refusal_p50: f64,
    refusal_p99: f64,
    ready_p99: f64,
    rest_p99: f64,
    probe_failures: f64,
    fds: f64,
}

fn one_run() -> Run {
    let setup = Setup::new("capacity");
    let cap = CAP.to_string();
    let (server, port) = util::start_dialogi(&setup.url, &["--max-streams", &cap]);
    let auth = format!("Bearer {}", setup.token);
    let client = |source: &str, connections: usize| {
        Role::start(
            "sse-client",
            CLIENT_CORE,
            &[
                ("BENCH_PORT", port.to_string()),
                ("BENCH_PATH", "/api/v1/events".into()),
                ("BENCH_AUTH", auth.clone()),
                ("BENCH_CONNECTIONS", connections.to_string()),
                ("BENCH_RAMP", "500".into()),
                ("BENCH_SOURCE", source.into()),
            ],
        )
    };
    let mut first = client("127.0.0.1", CAP);
    let a: Value = serde_json::from_str(&first.expect("ready", Duration::from_secs(150))).unwrap();
    // At the cap now: probes of health and REST while the rest knock, each on a fresh
    // connection.
    let stop = Arc::new(AtomicBool::new(false));
    let probes: Arc<Mutex<Probes>> = Arc::default();
    let prober = {
        let (stop, probes, auth) = (Arc::clone(&stop), Arc::clone(&probes), auth.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let ready = http(port, "GET", "/readyz", &[], "").0;
                let ready_ms = started.elapsed().as_secs_f64() * 1000.0;
                let started = Instant::now();
                let rest = http(
                    port,
                    "GET",
                    "/api/v1/dialogs?section=all",
                    &[("Authorization", &auth)],
                    "",
                )
                .0;
                let rest_ms = started.elapsed().as_secs_f64() * 1000.0;
                let mut p = probes.lock().unwrap();
                p.0.push(ready_ms);
                p.1.push(rest_ms);
                p.2 += usize::from(ready != 200) + usize::from(rest != 200);
                drop(p);
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let mut second = client("127.0.0.2", ATTEMPTS - CAP);
    let b: Value = serde_json::from_str(&second.expect("ready", Duration::from_secs(150))).unwrap();
    let fds = fd_count(server.pid) as f64;
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    prober.join().unwrap();
    let (mut ready, mut rest, failures) = probes.lock().unwrap().clone();
    let n = |v: &Value, k: &str| v[k].as_f64().unwrap_or(0.0);
    eprintln!("   first client {a}\n   second client {b}\n   server files {fds}");
    let run = Run {
        accepted: n(&a, "connected") + n(&b, "connected"),
        refused: n(&a, "refused") + n(&b, "refused"),
        errors: n(&a, "errors") + n(&b, "errors"),
        refusal_p50: n(&b, "refusal_p50_ms"),
        refusal_p99: n(&b, "refusal_p99_ms"),
        ready_p99: quantile(&mut ready, 0.99),
        rest_p99: quantile(&mut rest, 0.99),
        probe_failures: failures as f64,
        fds,
    };
    first.say("exit");
    second.say("exit");
    first.proc.stop();
    second.proc.stop();
    server.stop();
    run
}

pub fn run(runs: usize) -> String {
    let all: Vec<Run> = (0..runs)
        .map(|i| {
            eprintln!("-- capacity run {} of {runs}", i + 1);
            one_run()
        })
        .collect();
    let col = |f: fn(&Run) -> f64| -> Vec<f64> { all.iter().map(f).collect() };
    let accepted = util::median(&col(|r| r.accepted));
    let refusal = util::median(&col(|r| r.refusal_p99));
    let probes = util::median(&col(|r| r.ready_p99.max(r.rest_p99)));
    let fds = util::median(&col(|r| r.fds));
    let failures: f64 = col(|r| r.probe_failures).iter().sum();
    format!(
        "## Capacity and failure mode\n\n{ATTEMPTS} operator SSE connections attempted against one server \
         (`--max-streams {CAP}`) by two client processes on CPU 1: the first opens {CAP} from 127.0.0.1, then the second \
         tries {} more from 127.0.0.2 (500 connects in flight each); once the server is at its cap, `/readyz` and \
         `GET /api/v1/dialogs` are probed every 100 ms on fresh connections.\n\n\
         | figure | runs (median) |\n|---|---|\n\
         | streams accepted | {} |\n| refused with 503 | {} |\n| connection errors | {} |\n\
         | 503 answer p50, ms (request sent → status read) | {} |\n| 503 answer p99, ms | {} |\n| `/readyz` p99 ms | {} |\n| REST list p99 ms | {} |\n\
         | probes that failed | {} |\n| server open files at the peak | {} |\n\
         \n| target | measured (medians) | verdict |\n|---|---|---|\n\
         | streams beyond the cap get a fast 503 (p99 ≤ 50 ms) | {refusal:.1} ms, {accepted:.0} accepted | {} |\n\
         | health and REST keep answering (p99 ≤ 50 ms, none failed) | {probes:.1} ms, {failures:.0} failed | {} |\n\
         | server files ≤ 16,000 | {fds:.0} | {} |\n",
        ATTEMPTS - CAP,
        runs_cell(&col(|r| r.accepted), 0),
        runs_cell(&col(|r| r.refused), 0),
        runs_cell(&col(|r| r.errors), 0),
        runs_cell(&col(|r| r.refusal_p50), 1),
        runs_cell(&col(|r| r.refusal_p99), 1),
        runs_cell(&col(|r| r.ready_p99), 1),
        runs_cell(&col(|r| r.rest_p99), 1),
        runs_cell(&col(|r| r.probe_failures), 0),
        runs_cell(&col(|r| r.fds), 0),
        verdict(refusal <= 50.0 && (accepted as usize) <= CAP),
        verdict(probes <= 50.0 && failures == 0.0),
        verdict(fds <= 16_000.0),
    )
}
