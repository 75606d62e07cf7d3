//! Assembles `BENCHMARKS.md` from the scenarios' results: the machine, the versions, a
//! summary of every target, then each scenario's section with every run.

use crate::util::{RESULTS, command_line};

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_owned())
        .unwrap_or_default();
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse::<f64>().ok())
        .map(|kib| format!("{:.0} GiB", kib / 1024.0 / 1024.0))
        .unwrap_or_default();
    let nginx = std::process::Command::new("nginx")
        .arg("-v")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_owned())
        .unwrap_or_else(|| "not found".into());
    let nchan = command_line(
        "dpkg-query",
        &["-W", "-f", "${Version}", "libnginx-mod-nchan"],
    );
    format!(
        "| | |\n|---|---|\n| date | {} |\n| CPU | {cores} × {model} |\n| memory | {memory} |\n| kernel | {} |\n\
         | dialogi | {} (release build) |\n| rustc | {} |\n| PostgreSQL | {} |\n| nginx | {nginx}, libnginx-mod-nchan {nchan} |\n",
        command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        command_line("uname", &["-r"]),
        env!("CARGO_PKG_VERSION"),
        command_line("rustc", &["--version"]),
        command_line("/usr/lib/postgresql/15/bin/postgres", &["--version"]),
    )
}

pub fn write(scenarios: &[&str]) {
    let sections: Vec<(String, String)> = scenarios
        .iter()
        .filter_map(|s| {
            std::fs::read_to_string(format!("{RESULTS}/{s}.md"))
                .ok()
                .map(|text| (s.to_string(), text))
        })
        .collect();
    let mut summary =
        String::from("| scenario | target | measured | verdict |\n|---|---|---|---|\n");
    for (name, text) in &sections {
        for line in text.lines() {
            if line.starts_with("| ") && (line.contains("**met**") || line.contains("**missed**")) {
                // target | … | measured | verdict: the first cell and the last two.
                let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
                if let [target, .., measured, verdict] = cells.as_slice() {
                    summary.push_str(&format!("| {name} | {target} | {measured} | {verdict} |\n"));
                }
            }
        }
    }
    let missing: Vec<&&str> = scenarios
        .iter()
        .filter(|s| !sections.iter().any(|(n, _)| n == *s))
        .collect();
    let mut out = format!(
        "# Benchmarks\n\nWritten by `bash bench/run` (the suite in `bench/suite/`, see README.md); every scenario ran \
         at least twice, interleaved with its baselines, in one session on this machine, which is shared and noisy: \
         compare ratios within a run, not absolute numbers across runs. Server on CPU 0, load clients on CPU 1.\n\n\
         {}\n## Targets\n\n{summary}\n",
        machine()
    );
    // What limits the missed targets: written by hand from profiles and these runs.
    if let Ok(limits) = std::fs::read_to_string("bench/limits.md") {
        out.push_str(&limits);
        out.push('\n');
    }
    if !missing.is_empty() {
        out.push_str(&format!("Not run in this report: {missing:?}.\n\n"));
    }
    for (_, text) in &sections {
        out.push_str(text);
        out.push('\n');
    }
    std::fs::write("BENCHMARKS.md", out).unwrap();
    eprintln!("BENCHMARKS.md written from {} sections", sections.len());
}
