//! The result table and its units: rows, medians, rates, times, and the machine's description.

use std::fs;
use std::time::Duration;

pub const MIB: f64 = 1_048_576.0;

/// One row of the result table.
pub struct Row {
    pub operation: &'static str,
    pub ours: String,
    pub raw: String,
    /// ours / raw, in the unit the target is stated in.
    pub ratio: f64,
    pub target: &'static str,
    /// `None`: reported only.
    pub pass: Option<bool>,
}

pub fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

pub fn per_second(count: u64, time: Duration) -> f64 {
    count as f64 / time.as_secs_f64()
}

pub fn rate(count: u64, time: Duration) -> String {
    let rate = per_second(count, time);
    if rate >= 1e6 {
        format!("{:.2} M/s", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.1} k/s", rate / 1e3)
    } else {
        format!("{rate:.0} /s")
    }
}

pub fn seconds(time: Duration) -> String {
    if time.as_secs_f64() >= 1.0 {
        format!("{:.2} s", time.as_secs_f64())
    } else {
        format!("{:.1} ms", time.as_secs_f64() * 1e3)
    }
}

pub fn nproc() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

pub fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

pub fn ram() -> String {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
        })
        .map_or_else(|| "unknown".into(), |kib| format!("{:.1} GiB", kib / MIB))
}

/// Prints `rows` under a header naming the raw side `raw` (e.g. `raw sled`), and what the
/// ratios are.
pub fn print_table(rows: &[Row], raw: &str, ratios: &str) {
    println!(
        "{:<38} {:<30} {:<30} {:>8}  {:<15} result",
        "operation", "ours", raw, "ratio", "target"
    );
    println!(
        "{}",
        "-".repeat(38 + 1 + 30 + 1 + 30 + 1 + 8 + 2 + 15 + 1 + 6)
    );
    for row in rows {
        println!(
            "{:<38} {:<30} {:<30} {:>7.2}x  {:<15} {}",
            row.operation,
            row.ours,
            row.raw,
            row.ratio,
            row.target,
            match row.pass {
                None => "-",
                Some(true) => "PASS",
                Some(false) => "MISS",
            }
        );
    }
    println!("ratio: {ratios}");
}
