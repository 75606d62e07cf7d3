//! What the scenarios share: processes pinned to a core, their CPU, memory and files
//! from `/proc`, the real `dialogi` server, and small statistics.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const RESULTS: &str = "bench/results";
/// The server's core and the load clients' core.
pub const SERVER_CORE: &str = "0";
pub const CLIENT_CORE: &str = "1";

/// CPU seconds (user + system, all threads) a process has used.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0.0)
}

/// Open files of a process.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Pins the calling thread (not its process) to `core`, as `taskset` pins a process.
pub fn pin_this_thread(core: &str) {
    let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
    let tid = link.file_name().expect("a thread id").to_owned();
    let pinned = Command::new("taskset")
        .args(["-p", "-c", core])
        .arg(tid)
        .stdout(Stdio::null())
        .status()
        .expect("taskset");
    assert!(pinned.success(), "taskset could not pin the client thread");
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `p` quantile (0..=1) of `values`, which it sorts.
pub fn quantile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let index = ((values.len() as f64 - 1.0) * p).round() as usize;
    values[index.min(values.len() - 1)]
}

/// The median; of an even count, the mean of the middle two.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(|a, b| a.total_cmp(b));
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// "met" or "missed", bold, for the targets tables.
pub fn verdict(met: bool) -> &'static str {
    if met { "**met**" } else { "**missed**" }
}

/// Runs, one number each, then their median: `a / b / c (median m)`.
pub fn runs_cell(values: &[f64], digits: usize) -> String {
    let each: Vec<String> = values.iter().map(|v| format!("{v:.digits$}")).collect();
    if values.len() > 1 {
        format!("{} (median {:.digits$})", each.join(" / "), median(values))
    } else {
        each.join("")
    }
}

/// A blocking HTTP/1.1 request on a fresh connection; the status and the body.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    stream.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    if stream.write_all(request.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// A process the scenario started, and the folder it works in; killed, and the folder
/// removed, when dropped.
pub struct Proc {
    pub child: Child,
    pub pid: u32,
    pub folder: Option<PathBuf>,
}

impl Proc {
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        self.end();
        if let Some(folder) = self.folder.take() {
            let _ = std::fs::remove_dir_all(folder);
        }
    }

    fn end(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .arg(self.pid.to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The real server binary (this build's, or `BENCH_DIALOGI` to compare another build),
/// pinned to the server's core, on `database_url`.
pub fn start_dialogi(database_url: &str, extra: &[&str]) -> (Proc, u16) {
    let binary =
        std::env::var("BENCH_DIALOGI").unwrap_or_else(|_| env!("CARGO_BIN_EXE_dialogi").into());
    let port = free_port();
    let data =
        std::env::temp_dir().join(format!("dialogi-bench-data-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&data).unwrap();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new("taskset")
        .args(["-c", SERVER_CORE, &binary])
        .args(["--listen", &listen, "--data-dir"])
        .arg(&data)
        .args(extra)
        .env("DATABASE_URL", database_url)
        // The load clients open their thousands of streams with a handful of credentials:
        // the per-user and per-credential caps stay out of the way (`extra` may set them).
        .env("DIALOGI_MAX_STREAMS_PER_USER", "1000000")
        .env("DIALOGI_MAX_STREAMS_PER_TOKEN", "1000000")
        // As nginx's `access_log off` for Nchan: no line per request.
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the dialogi binary");
    let pid = child.id();
    let server = Proc {
        child,
        pid,
        folder: Some(data),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while http(port, "GET", "/readyz", &[], "").0 != 200 {
        assert!(Instant::now() < deadline, "dialogi did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    (server, port)
}

/// This binary in a client role, pinned to the clients' core: its stdin to steer it,
/// its stdout lines as they come.
pub struct Role {
    pub proc: Proc,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Role {
    pub fn start(role: &str, core: &str, env: &[(&str, String)]) -> Role {
        let mut command = Command::new("taskset");
        command
            .args(["-c", core])
            .arg(std::env::current_exe().unwrap())
            .env("BENCH_ROLE", role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        Role::steer(command.spawn().expect("start a client role"))
    }

    /// Any child started with piped stdin and stdout (a Node.js script, say), steered
    /// like a client role.
    pub fn steer(mut child: Child) -> Role {
        let stdout = child.stdout.take().unwrap();
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let pid = child.id();
        Role {
            proc: Proc {
                child,
                pid,
                folder: None,
            },
            stdin,
            lines,
        }
    }

    /// The next line that starts with `prefix`, without it.
    pub fn expect(&self, prefix: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no '{prefix}' line from the client in {within:?}"));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_owned();
            }
        }
    }

    pub fn say(&mut self, line: &str) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = writeln!(stdin, "{line}");
            let _ = stdin.flush();
        }
    }
}

/// Microseconds since the epoch: the one clock server, publisher and client share.
pub fn epoch_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Versions and machine facts for the report.
pub fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "not found".into())
}
