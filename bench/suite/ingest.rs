//! Inbound ingest, end to end: signed Telegram webhook updates from 5,000 interlocutors
//! at a rising rate until the knee, through the real server (CPU 0) into PostgreSQL, and
//! timed at an operator's SSE stream. Baseline in the same run on the same database:
//! pgbench with the hand-written equivalent of Dialogi's per-message write, one message
//! per transaction, at the server's pool size.

use std::process::Command;
use std::time::Duration;

use diesel::RunQueryDsl;
use serde_json::{Value, json};

use crate::common::{BenchCluster, insert_telegram_account, insert_user, issue_token};
use crate::util::{self, CLIENT_CORE, Role, runs_cell, verdict};
use dialogi::db;
use dialogi::domain::people::Scope;

pub const SECRET: &str = "bench-webhook-secret";
const POOL: &str = "16";
/// Measured 10 s windows of the latency run at half the knee, after its warm-up.
const HALF_WINDOWS: usize = 3;
/// Offered rates, msg/s: steps of 250 up to 2,500 so the knee is found to within 250.
const RATES: &str =
    "250,500,750,1000,1250,1500,1750,2000,2250,2500,3000,3500,4000,5000,6000,8000,12000";

/// A private PostgreSQL with an administrator, their API token and a Telegram account
/// in webhook mode (its API address goes nowhere: nothing is sent in these scenarios).
pub struct Setup {
    pub url: String,
    pub token: String,
    pub account_id: i64,
    pub hook: String,
    pub cluster: BenchCluster,
}

impl Setup {
    pub fn new(name: &str) -> Setup {
        let cluster = BenchCluster::start(
            name,
            &[
                ("max_connections", "200"),
                ("shared_buffers", "1GB"),
                ("max_wal_size", "8GB"),
                ("checkpoint_timeout", "30min"),
            ],
        );
        let mut conn = cluster.connect();
        // An experiment on the schema (an index option, say), run before anything else.
        if let Ok(sql) = std::env::var("BENCH_SETUP_SQL") {
            diesel::connection::SimpleConnection::batch_execute(&mut conn, &sql).unwrap();
        }
        let admin = insert_user(&mut conn, "admin", "Admin", true);
        let account = insert_telegram_account(
            &mut conn,
            json!({"token": "1:bench", "mode": "webhook", "webhook_secret": SECRET,
                   "api_url": "http://127.0.0.1:9"}),
        );
        let token = issue_token(&mut conn, &admin, &[Scope::Read]);
        Setup {
            url: cluster.url.clone(),
            token,
            account_id: account.id,
            hook: format!("/hooks/telegram/{}", account.id),
            cluster,
        }
    }

    /// An administrator `login` with a read and write API token; the token.
    pub fn operator_token(&self, login: &str) -> String {
        let mut conn = self.cluster.connect();
        let user = insert_user(&mut conn, login, login, true);
        issue_token(&mut conn, &user, &[Scope::Read, Scope::Write])
    }

    /// Points the Telegram account at a (fake) Bot API on this port.
    pub fn bot_api_at(&self, port: u16) {
        self.sql(&format!(
            "UPDATE channel_accounts SET credentials = jsonb_set(credentials, '{{api_url}}', '\"http://127.0.0.1:{port}\"')"
        ));
    }

    /// Posts one signed update to the account's webhook; the status.
    pub fn post_update(&self, port: u16, body: &str) -> u16 {
        post_update(port, &self.hook, body)
    }

    pub fn sql(&self, statement: &str) {
        diesel::sql_query(statement)
            .execute(&mut self.cluster.connect())
            .unwrap();
    }

    pub fn count(&self, query: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        diesel::sql_query(query)
            .get_result::<N>(&mut self.cluster.connect())
            .unwrap()
            .n
    }
}

/// Posts one signed Telegram update to `hook`; the status.
pub fn post_update(port: u16, hook: &str, body: &str) -> u16 {
    let headers = [
        ("X-Telegram-Bot-Api-Secret-Token", SECRET),
        ("Content-Type", "application/json"),
    ];
    crate::util::http(port, "POST", hook, &headers, body).0
}

#[derive(Debug, Default, Clone)]
struct Run {
    knee: f64,
    ceiling: f64,
    steps: Vec<Value>,
    half_ack_p50: f64,
    half_ack_p99: f64,
    half_event_p50: f64,
    half_event_p99: f64,
    half_rate: f64,
    /// POST → SSE p99 (ms) of each measured window at half the knee.
    half_event_p99s: Vec<f64>,
    acked: i64,
    stored: i64,
    pg_plain: f64,
    pg_plain_latency: f64,
    pg_locked: f64,
}

/// Signed Telegram webhooks from the `ingest-client` role (see `load::ingest_client`).
pub struct Load<'a> {
    pub rates: &'a str,
    pub step_seconds: u64,
    /// Requests in flight.
    pub connections: usize,
    pub chats: u64,
    pub chat_base: u64,
    pub first_update: i64,
}

impl Load<'_> {
    pub fn start(&self, setup: &Setup, port: u16) -> Role {
        Role::start(
            "ingest-client",
            CLIENT_CORE,
            &[
                ("BENCH_PORT", port.to_string()),
                ("BENCH_HOOK", setup.hook.clone()),
                ("BENCH_SECRET", SECRET.into()),
                ("BENCH_TOKEN", setup.token.clone()),
                ("BENCH_RATES", self.rates.into()),
                ("BENCH_STEP_SECONDS", self.step_seconds.to_string()),
                ("BENCH_CONNECTIONS", self.connections.to_string()),
                ("BENCH_CHATS", self.chats.to_string()),
                ("BENCH_CHAT_BASE", self.chat_base.to_string()),
                ("BENCH_FIRST_UPDATE", self.first_update.to_string()),
            ],
        )
    }
}

fn client(setup: &Setup, port: u16, rates: &str, seconds: u64, first: i64) -> (Vec<Value>, i64) {
    let role = Load {
        rates,
        step_seconds: seconds,
        connections: 40,
        chats: 5000,
        chat_base: 1_000_000,
        first_update: first,
    }
    .start(setup, port);
    let mut steps = Vec::new();
    loop {
        let line = role.expect("", Duration::from_secs(seconds * 4 + 60));
        if let Some(step) = line.strip_prefix("step ") {
            let step: Value = serde_json::from_str(step).unwrap();
            eprintln!("   {step}");
            steps.push(step);
        } else if let Some(next) = line.strip_prefix("done ") {
            return (steps, next.trim().parse().unwrap());
        }
    }
}

/// pgbench's tps and average latency (ms) for `script` at the pool's connection count.
fn pgbench(setup: &Setup, script: &str, dialogs: i64) -> (f64, f64) {
    let file = std::env::temp_dir().join(format!("dialogi-bench-{}.sql", std::process::id()));
    std::fs::write(&file, script).unwrap();
    setup.sql("CHECKPOINT");
    let output = Command::new("taskset")
        .args([
            "-c",
            CLIENT_CORE,
            "pgbench",
            "-n",
            "-M",
            "prepared",
            "-c",
            POOL,
            "-j",
            "2",
            "-T",
            "15",
        ])
        .arg("-D")
        .arg(format!("ndialogs={dialogs}"))
        .arg("-f")
        .arg(&file)
        .arg(&setup.url)
        .output()
        .expect("pgbench (PostgreSQL's client tools)");
    let _ = std::fs::remove_file(&file);
    let text = String::from_utf8_lossy(&output.stdout);
    let find = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().find_map(|w| w.parse::<f64>().ok()))
            .unwrap_or(f64::NAN)
    };
    let tps = find("tps =");
    eprintln!(
        "   pgbench: {tps:.0} tps{}",
        if output.status.success() {
            String::new()
        } else {
            format!(" FAILED: {}", String::from_utf8_lossy(&output.stderr))
        }
    );
    (tps, find("latency average ="))
}

/// Dialogi's write for one inbound message to an open dialog, by hand: the dedup check,
/// the message, the guarded dialog update, and its two events (`message`, `dialog`)
/// with the notification. `locked` adds the lock that keeps event ids in commit order.
fn script(account: i64, locked: bool) -> String {
    let lock = if locked {
        format!(
            "SELECT pg_advisory_xact_lock({});\n",
            db::events::APPEND_LOCK
        )
    } else {
        String::new()
    };
    format!(
        r#"\set d random(1, :ndialogs)
\set n random(1, 9000000000000)
SELECT 1 FROM messages WHERE account_id = {account} AND channel_message_id = 'pg:' || :n LIMIT 1;
BEGIN;
INSERT INTO messages (dialog_id, account_id, direction, author_user_id, text, channel_message_id, channel_sent_at, delivery, system_kind, system_data, created_at) VALUES (:d, {account}, 'in', NULL, 'ts=1; Здравствуйте, сколько стоит доставка?', 'pg:' || :n, NULL, NULL, NULL, NULL, now()) RETURNING id;
UPDATE dialogs SET status = status, version = version + 1, last_message_at = now(), last_message_preview = 'ts=1; Здравствуйте, сколько стоит доставка?', last_message_direction = 'in', last_inbound_message_id = currval('messages_id_seq') WHERE id = :d RETURNING *;
{lock}INSERT INTO events (kind, account_id, dialog_id, user_id, payload) VALUES ('message', {account}, :d, NULL, '{{"dialog_id": 1, "message_id": 1, "direction": "in", "system_kind": null, "preview": "ts=1; Здравствуйте, сколько стоит доставка?"}}'), ('dialog', {account}, :d, NULL, '{{"id": 1, "status": "new"}}') RETURNING id;
NOTIFY dialogi_events;
COMMIT;
"#
    )
}

fn one_run() -> Run {
    let setup = Setup::new("ingest");
    let (server, port) = util::start_dialogi(&setup.url, &["--db-pool-size", POOL]);
    let (steps, next) = client(&setup, port, RATES, 8, 1);
    let sustained = |s: &Value| {
        s["achieved_per_s"].as_f64().unwrap_or(0.0) >= 0.9 * s["rate"].as_f64().unwrap_or(0.0)
    };
    let knee = steps
        .iter()
        .filter(|s| sustained(s))
        .map(|s| s["achieved_per_s"].as_f64().unwrap_or(0.0))
        .fold(0.0, f64::max);
    let ceiling = steps
        .iter()
        .map(|s| s["achieved_per_s"].as_f64().unwrap_or(0.0))
        .fold(0.0, f64::max);
    let half = ((knee / 2.0).round() as i64).max(50);
    // The ramp ends in overload, with a backlog that leaves the tables to autovacuum and
    // dirty pages to write. The latency run measures steady state: it starts as the
    // pgbench baseline does, after VACUUM ANALYZE and a CHECKPOINT, and its first step
    // at the same rate is a warm-up (after a checkpoint each page's first change writes
    // the whole page to the WAL, and every interlocutor's first message after a minute
    // reads its conversation again); the next `HALF_WINDOWS` steps are measured, and each
    // figure is the median of theirs, so that one noisy 10 s on this shared machine does
    // not decide the run (every window's p99 is reported).
    setup.sql("VACUUM ANALYZE");
    setup.sql("CHECKPOINT");
    let rates = vec![half.to_string(); 1 + HALF_WINDOWS].join(",");
    let (half_steps, last) = client(&setup, port, &rates, 10, next);
    let windows = &half_steps[1.min(half_steps.len())..];
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let median_of = |k: &str| util::median(&windows.iter().map(|w| f(w, k)).collect::<Vec<_>>());
    let acked: i64 = steps
        .iter()
        .chain(half_steps.iter())
        .map(|s| s["acked"].as_i64().unwrap_or(0))
        .sum();
    server.stop();
    setup.cluster.print_statements();
    let stored = setup.count("SELECT count(*) AS n FROM messages WHERE direction = 'in'");
    eprintln!(
        "   sent {} updates, acknowledged {acked}, stored {stored}",
        last - 1
    );
    setup.sql("VACUUM ANALYZE");
    let dialogs = setup.count("SELECT max(id) AS n FROM dialogs");
    let (pg_plain, pg_plain_latency) = pgbench(&setup, &script(setup.account_id, false), dialogs);
    let (pg_locked, _) = pgbench(&setup, &script(setup.account_id, true), dialogs);
    Run {
        knee,
        ceiling,
        steps,
        half_ack_p50: median_of("ack_p50_ms"),
        half_ack_p99: median_of("ack_p99_ms"),
        half_event_p50: median_of("event_p50_ms"),
        half_event_p99: median_of("event_p99_ms"),
        half_rate: half as f64,
        half_event_p99s: windows.iter().map(|w| f(w, "event_p99_ms")).collect(),
        acked,
        stored,
        pg_plain,
        pg_plain_latency,
        pg_locked,
    }
}

pub fn run(runs: usize) -> String {
    let all: Vec<Run> = (0..runs)
        .map(|i| {
            eprintln!("-- ingest run {} of {runs}", i + 1);
            one_run()
        })
        .collect();
    let col = |f: fn(&Run) -> f64| -> Vec<f64> { all.iter().map(f).collect() };
    let mut out = String::from(
        "## Inbound ingest\n\nSigned Telegram webhook updates (text, 5,000 interlocutors, 40 connections as Telegram's \
         default `max_connections`) on an absolute schedule at rising rates, 8 s a step, until the server sustains \
         less than 90% of the offered rate or a step's p99 to 200 passes 1 s (the knee is the highest step \
         sustained at 90%); latency counts from the intended send time (queueing for a connection \
         included) to the 200 and to the `message` event on an administrator's SSE stream; the latency run at half the \
         knee starts after VACUUM ANALYZE and a CHECKPOINT, as pgbench does, and after 10 s of warm-up at the same \
         rate is measured over three windows of 10 s: its figures are the medians of the windows' (each window's \
         POST → SSE p99 is shown). Server on CPU 0 \
         (`--db-pool-size 16`), client on CPU 1, PostgreSQL on either (`synchronous_commit` on). Then, on the same \
         database, pgbench (CPU 1, 16 connections, 15 s, after CHECKPOINT) runs Dialogi's per-message write by hand: \
         the dedup check, insert message, guarded update of the dialog, insert its two events, NOTIFY — once plain and \
         once with the advisory lock Dialogi takes to keep event ids in commit order.\n\n",
    );
    out.push_str("| run | steps: offered → acknowledged msg/s (p99 to 200 ms) |\n|---|---|\n");
    for (i, run) in all.iter().enumerate() {
        let steps: Vec<String> = run
            .steps
            .iter()
            .map(|s| {
                format!(
                    "{} → {:.0} ({:.1})",
                    s["rate"],
                    s["achieved_per_s"].as_f64().unwrap_or(0.0),
                    s["ack_p99_ms"].as_f64().unwrap_or(f64::NAN)
                )
            })
            .collect();
        out.push_str(&format!("| {} | {} |\n", i + 1, steps.join(", ")));
    }
    let knee = util::median(&col(|r| r.knee));
    let pg = util::median(&col(|r| r.pg_plain));
    let ratio = knee / pg;
    let event_p99 = util::median(&col(|r| r.half_event_p99));
    out.push_str(&format!(
        "\n| figure | runs (median) |\n|---|---|\n\
         | knee: highest sustained rate, msg/s | {} |\n\
         | most acknowledged in one step, msg/s | {} |\n\
         | rate for the latency run (half the knee), msg/s | {} |\n\
         | at half the knee: POST → 200 p50, ms | {} |\n\
         | at half the knee: POST → 200 p99, ms | {} |\n\
         | at half the knee: POST → SSE `message` p50, ms | {} |\n\
         | at half the knee: POST → SSE `message` p99, ms | {} |\n\
         | at half the knee: POST → SSE `message` p99 of each 10 s window, ms | {} |\n\
         | acknowledged, each run | {} |\n\
         | stored, each run | {} |\n\
         | pgbench, Dialogi's write without the lock, tps | {} |\n\
         | pgbench average latency, ms | {} |\n\
         | pgbench, the same write with the event lock, tps | {} |\n\
         \n| target | measured (medians) | verdict |\n|---|---|---|\n\
         | ingest ≥ 1.0 × pgbench of the same write (floor 0.5×) | {ratio:.2}× ({knee:.0} / {pg:.0}) | {} |\n\
         | POST → SSE p99 ≤ 20 ms at half the knee | {event_p99:.1} ms | {} |\n\
         | nothing lost or doubled | {} | {} |\n",
        runs_cell(&col(|r| r.knee), 0),
        runs_cell(&col(|r| r.ceiling), 0),
        runs_cell(&col(|r| r.half_rate), 0),
        runs_cell(&col(|r| r.half_ack_p50), 1),
        runs_cell(&col(|r| r.half_ack_p99), 1),
        runs_cell(&col(|r| r.half_event_p50), 1),
        runs_cell(&col(|r| r.half_event_p99), 1),
        all.iter()
            .map(|r| r.half_event_p99s.iter().map(|v| format!("{v:.1}")).collect::<Vec<_>>().join(", "))
            .collect::<Vec<_>>()
            .join(" / "),
        all.iter().map(|r| r.acked.to_string()).collect::<Vec<_>>().join(" / "),
        all.iter().map(|r| r.stored.to_string()).collect::<Vec<_>>().join(" / "),
        runs_cell(&col(|r| r.pg_plain), 0),
        runs_cell(&col(|r| r.pg_plain_latency), 2),
        runs_cell(&col(|r| r.pg_locked), 0),
        if ratio >= 1.0 { "**met**" } else if ratio >= 0.5 { "**missed** (floor 0.5× met)" } else { "**missed** (below the 0.5× floor)" },
        verdict(event_p99 <= 20.0),
        if all.iter().all(|r| r.acked == r.stored) { "acknowledged = stored in every run" } else { "acknowledged ≠ stored" },
        verdict(all.iter().all(|r| r.acked == r.stored)),
    ));
    out
}
