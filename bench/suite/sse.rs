//! SSE delivery: 10,000 subscribers in a separate client process, 10 events/s each, on
//! three servers in turn, each pinned to CPU 0 — the minimal actix broadcaster (the
//! floor), Dialogi (an operator's authenticated stream, events from signed Telegram
//! webhooks: each message gives a `message` and a `dialog` event, so 5 messages/s make
//! 10 events/s), and nginx with the Nchan module (the real peer).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::env_number;
use crate::ingest::Setup;
use crate::load::telegram_update;
use crate::util::{
    self, CLIENT_CORE, Proc, Role, SERVER_CORE, cpu_seconds, epoch_micros, http, rss_kib,
    runs_cell, verdict,
};

const EVENTS_PER_SECOND: u64 = 10;
const WINDOW: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Server {
    Floor,
    Dialogi,
    Nchan,
}

impl Server {
    fn name(self) -> &'static str {
        match self {
            Server::Floor => "minimal actix broadcaster",
            Server::Dialogi => "Dialogi",
            Server::Nchan => "nginx + Nchan",
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Measured {
    pub connected: f64,
    pub delivered_per_s: f64,
    pub offered_per_s: f64,
    pub cpu_us_per_delivery: f64,
    pub cpu_cores: f64,
    pub kib_per_connection: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub ended: f64,
}

/// A running server under test: its processes (CPU is summed over them, memory read
/// from the last) and how to publish one event.
struct Running {
    procs: Vec<Proc>,
    pids: Vec<u32>,
    port: u16,
    path: String,
    auth: String,
    publish: Box<dyn FnMut(u64)>,
    _setup: Option<Setup>,
}

fn start(server: Server) -> Running {
    match server {
        Server::Floor => {
            let port = util::free_port();
            let role = Role::start(
                "broadcaster",
                SERVER_CORE,
                &[("BENCH_PORT", port.to_string())],
            );
            let deadline = Instant::now() + Duration::from_secs(20);
            while http(port, "POST", "/pub", &[], "warm").0 != 202 {
                assert!(Instant::now() < deadline, "the broadcaster did not start");
                std::thread::sleep(Duration::from_millis(50));
            }
            let pid = role.proc.pid;
            Running {
                procs: vec![role.proc],
                pids: vec![pid],
                port,
                path: "/sub".into(),
                auth: String::new(),
                publish: Box::new(move |_| publish_marked(port)),
                _setup: None,
            }
        }
        Server::Nchan => {
            let port = util::free_port();
            let dir = std::env::temp_dir()
                .join(format!("dialogi-bench-nchan-{}-{port}", std::process::id()));
            std::fs::create_dir_all(dir.join("tmp")).unwrap();
            std::fs::write(dir.join("nginx.conf"), nchan_conf(&dir, port)).unwrap();
            let child = Command::new("taskset")
                .args(["-c", SERVER_CORE, "nginx", "-c"])
                .arg(dir.join("nginx.conf"))
                .arg("-p")
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("nginx with libnginx-mod-nchan (bench/run installs them)");
            let master = child.id();
            let deadline = Instant::now() + Duration::from_secs(20);
            while http(port, "POST", "/pub", &[], "warm").0 == 0 {
                assert!(Instant::now() < deadline, "nginx did not start");
                std::thread::sleep(Duration::from_millis(50));
            }
            let worker: u32 = String::from_utf8_lossy(
                &Command::new("pgrep")
                    .args(["-P", &master.to_string()])
                    .output()
                    .unwrap()
                    .stdout,
            )
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the nginx worker");
            Running {
                procs: vec![Proc {
                    child,
                    pid: master,
                    folder: Some(dir),
                }],
                pids: vec![master, worker],
                port,
                path: "/sub".into(),
                auth: String::new(),
                publish: Box::new(move |_| publish_marked(port)),
                _setup: None,
            }
        }
        Server::Dialogi => {
            let setup = Setup::new("sse");
            let (proc, port) = util::start_dialogi(
                &setup.url,
                &[
                    "--workers",
                    "1",
                    "--max-streams",
                    "15000",
                    "--stream-queue",
                    "512",
                ],
            );
            let hook = setup.hook.clone();
            // One message per interlocutor first, so counters settle before measuring.
            for chat in 0..5 {
                let body = telegram_update(chat + 1, 7_000 + chat, epoch_micros());
                crate::ingest::post_update(port, &hook, &body);
            }
            let pid = proc.pid;
            let mut n = 100;
            Running {
                procs: vec![proc],
                pids: vec![pid],
                port,
                path: "/api/v1/events".into(),
                auth: format!("Bearer {}", setup.token),
                publish: Box::new(move |_| {
                    n += 1;
                    let body = telegram_update(n, 7_000 + n % 5, epoch_micros());
                    crate::ingest::post_update(port, &hook, &body);
                }),
                _setup: Some(setup),
            }
        }
    }
}

/// Publishes one event carrying its send time to a baseline's `/pub`: ~100 bytes, or
/// `BENCH_SSE_EVENT_BYTES` (to compare at the size of Dialogi's frames, which carry the
/// dialog's row and the whole message).
fn publish_marked(port: u16) {
    let padding = env_number("BENCH_SSE_EVENT_BYTES", 100).saturating_sub(20);
    let body = format!("ts={}; {}", epoch_micros(), "x".repeat(padding));
    http(port, "POST", "/pub", &[], &body);
}

fn nchan_conf(dir: &std::path::Path, port: u16) -> String {
    let d = dir.display();
    format!(
        r#"load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 19000;
pid {d}/nginx.pid;
lock_file {d}/nginx.lock;
error_log {d}/error.log warn;
events {{ worker_connections 18000; }}
http {{
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /sub {{
            nchan_subscriber eventsource;
            nchan_channel_id bench;
            nchan_subscriber_first_message newest;
            nchan_subscriber_timeout 0;
            nchan_message_buffer_length 10;
            nchan_message_timeout 10s;
        }}
        location = /pub {{
            nchan_publisher;
            nchan_channel_id bench;
            nchan_message_buffer_length 10;
            nchan_message_timeout 10s;
        }}
    }}
}}
"#
    )
}

fn measure(server: Server, connections: usize) -> Measured {
    let mut running = start(server);
    std::thread::sleep(Duration::from_millis(500));
    let memory_pid = *running.pids.last().unwrap();
    let idle = rss_kib(memory_pid);
    let mut client = Role::start(
        "sse-client",
        CLIENT_CORE,
        &[
            ("BENCH_PORT", running.port.to_string()),
            ("BENCH_PATH", running.path.clone()),
            ("BENCH_AUTH", running.auth.clone()),
            ("BENCH_CONNECTIONS", connections.to_string()),
            ("BENCH_RAMP", "500".into()),
        ],
    );
    let ready: Value =
        serde_json::from_str(&client.expect("ready", Duration::from_secs(150))).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let connected = ready["connected"].as_f64().unwrap_or(0.0);
    let held = rss_kib(memory_pid);
    // Messages per second that give EVENTS_PER_SECOND events to each subscriber.
    let per_publish = if server == Server::Dialogi { 2 } else { 1 };
    let publishes = EVENTS_PER_SECOND / per_publish;
    let cpu = |pids: &[u32]| pids.iter().map(|p| cpu_seconds(*p)).sum::<f64>();
    let cpu_before = cpu(&running.pids);
    client.say("go");
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / publishes as f64);
    let mut next = started;
    let mut k = 0;
    while started.elapsed() < WINDOW {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        (running.publish)(k);
        k += 1;
        next += interval;
    }
    // The last event's fan-out.
    std::thread::sleep(Duration::from_millis(300));
    client.say("stop");
    let cpu_used = cpu(&running.pids) - cpu_before;
    let done: Value =
        serde_json::from_str(&client.expect("done", Duration::from_secs(30))).unwrap();
    client.say("exit");
    let seconds = done["seconds"].as_f64().unwrap_or(1.0);
    let events = done["events"].as_f64().unwrap_or(0.0);
    let measured = Measured {
        connected,
        delivered_per_s: events / seconds,
        offered_per_s: connected * (k * per_publish) as f64 / seconds,
        cpu_us_per_delivery: cpu_used / events.max(1.0) * 1e6,
        cpu_cores: cpu_used / seconds,
        kib_per_connection: (held - idle) / connected.max(1.0),
        p50_ms: done["p50_ms"].as_f64().unwrap_or(f64::NAN),
        p99_ms: done["p99_ms"].as_f64().unwrap_or(f64::NAN),
        ended: done["ended"].as_f64().unwrap_or(0.0),
    };
    eprintln!("   {}: {measured:?}", server.name());
    client.proc.stop();
    for proc in running.procs.drain(..) {
        proc.stop();
    }
    measured
}

pub fn run(runs: usize) -> String {
    let connections = env_number("BENCH_SSE_CONNECTIONS", 10_000);
    let servers = [Server::Floor, Server::Dialogi, Server::Nchan];
    let mut all: Vec<Vec<Measured>> = vec![Vec::new(); servers.len()];
    for run in 0..runs {
        for (i, server) in servers.iter().enumerate() {
            eprintln!("-- sse run {} of {runs}: {}", run + 1, server.name());
            all[i].push(measure(*server, connections));
            std::thread::sleep(Duration::from_secs(2));
        }
    }
    let column = |i: usize, f: fn(&Measured) -> f64| -> Vec<f64> { all[i].iter().map(f).collect() };
    let mut out = format!(
        "## SSE delivery\n\n{connections} subscribers held by a separate raw-TCP client process (CPU 1), \
         {EVENTS_PER_SECOND} events/s each for {} s; each server alone on CPU 0, one worker. Dialogi's \
         subscribers are an operator's authenticated streams (`/api/v1/events`, an administrator's API token); \
         its events come from signed Telegram webhooks (5 messages/s, a `message` and a `dialog` event each). \
         Latency is from the publisher's timestamp to the client reading the event, on every ~97th event. \
         Runs are interleaved: floor, Dialogi, Nchan, then again.\n\n\
         | server | connected | delivered/s | offered/s | CPU µs per delivery | server cores | KiB per connection | p50 ms | p99 ms | streams ended early |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
        WINDOW.as_secs()
    );
    for (i, server) in servers.iter().enumerate() {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            server.name(),
            runs_cell(&column(i, |m| m.connected), 0),
            runs_cell(&column(i, |m| m.delivered_per_s), 0),
            runs_cell(&column(i, |m| m.offered_per_s), 0),
            runs_cell(&column(i, |m| m.cpu_us_per_delivery), 2),
            runs_cell(&column(i, |m| m.cpu_cores), 2),
            runs_cell(&column(i, |m| m.kib_per_connection), 1),
            runs_cell(&column(i, |m| m.p50_ms), 1),
            runs_cell(&column(i, |m| m.p99_ms), 1),
            runs_cell(&column(i, |m| m.ended), 0),
        ));
    }
    let med = |i: usize, f: fn(&Measured) -> f64| util::median(&column(i, f));
    let cpu_ratio = med(1, |m| m.cpu_us_per_delivery) / med(0, |m| m.cpu_us_per_delivery);
    let mem_ratio = med(1, |m| m.kib_per_connection) / med(0, |m| m.kib_per_connection);
    let p99_ratio = med(1, |m| m.p99_ms) / med(0, |m| m.p99_ms);
    // Deliveries per CPU-second: "at equal CPU".
    let per_cpu = |i: usize| 1e6 / med(i, |m| m.cpu_us_per_delivery);
    let nchan_ratio = per_cpu(1) / per_cpu(2);
    let delivered = med(1, |m| m.delivered_per_s) / med(1, |m| m.offered_per_s);
    out.push_str(&format!(
        "\n| target | measured (medians) | verdict |\n|---|---|---|\n\
         | Dialogi CPU per delivery ≤ 1.2 × the floor | {cpu_ratio:.2}× | {} |\n\
         | Dialogi memory per connection ≤ 1.3 × the floor | {mem_ratio:.2}× | {} |\n\
         | Dialogi fan-out p99 ≤ 1.2 × the floor | {p99_ratio:.2}× | {} |\n\
         | Dialogi deliveries per CPU-second ≥ 1.0 × Nchan | {nchan_ratio:.2}× | {} |\n\
         | Dialogi delivered ≥ 0.99 × offered | {delivered:.3} | {} |\n",
        verdict(cpu_ratio <= 1.2),
        verdict(mem_ratio <= 1.3),
        verdict(p99_ratio <= 1.2),
        verdict(nchan_ratio >= 1.0),
        verdict(delivered >= 0.99),
    ));
    out
}
