//! The peak memory of `User.find_each` over U users: the growth of a child process's peak
//! RSS, against a child scanning the current `users` tree raw with `record::decode_user`.

use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use sessionctl::clock::ManualClock;
use sessionctl::demo::{self, Plan};
use sessionctl::store::{CACHE_CAPACITY, record};

use crate::build::dir_size;
use crate::raw::{self, Trees};
use crate::report::{MIB, Row, seconds};
use crate::{Bench, evaluator, open_registry};

impl Bench {
    /// `User.find_each(|u| n += 1)` over U users: the growth of the peak RSS of a child
    /// process, against a raw scan of `users` in another.
    pub fn memory(&mut self, dir: &Path) -> Row {
        let users = self.options.memory_users;
        let registry = open_registry(dir, &self.clock, false);
        let started = Instant::now();
        demo::build(
            &registry,
            Plan {
                users,
                sessions_per_user: 0,
                seed: 2,
                heavy_users: 0,
            },
        )
        .expect("build");
        println!(
            "built {users} users without sessions for find_each in {:.1} s ({:.0} MiB)",
            started.elapsed().as_secs_f64(),
            dir_size(dir) as f64 / MIB
        );
        registry.close().expect("close the store");
        // The raw child last: its open changes sled's files, and nothing reads them after it.
        let ours = child(&["ours"], dir, users);
        let raw = child(&["raw"], dir, users);
        self.notes.push(format!(
            "find_each memory: growth of VmHWM (peak RSS) in a child process across the \
             evaluation of `let n = 0; User.find_each(|u| n += 1); n`, read after opening the \
             database and building the engine (ours: {:.0} -> {:.0} MiB, {}), against a child \
             scanning the current users tree raw with record::decode_user (sled cache {} MiB, as ours; \
             {:.0} -> {:.0} MiB, {})",
            ours.before,
            ours.after,
            seconds(ours.time),
            CACHE_CAPACITY >> 20,
            raw.before,
            raw.after,
            seconds(raw.time)
        ));
        let (grew, raw_grew) = (ours.after - ours.before, raw.after - raw.before);
        Row {
            operation: "User.find_each peak RSS growth",
            ours: format!("+{grew:.1} MiB ({users} users)"),
            raw: format!("+{raw_grew:.1} MiB (raw scan)"),
            ratio: grew / raw_grew.max(0.1),
            target: "growth < 64 MB",
            pass: Some(grew * MIB < 64e6),
        }
    }
}

struct ChildReport {
    before: f64,
    after: f64,
    time: Duration,
}

/// Runs this bench again as `--child-rss SIDE DIR` and reads its report.
fn child(side: &[&str], dir: &Path, users: u64) -> ChildReport {
    let output = Command::new(std::env::current_exe().expect("current exe"))
        .arg("--child-rss")
        .args(side)
        .arg(dir)
        .output()
        .expect("run the child");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let fields: Vec<f64> = text
        .split_whitespace()
        .map(|f| f.parse().expect("a number"))
        .collect();
    assert_eq!(
        fields[2] as u64, users,
        "the child counted a different number of users"
    );
    ChildReport {
        before: fields[0] / 1024.0,
        after: fields[1] / 1024.0,
        time: Duration::from_secs_f64(fields[3]),
    }
}

/// In the child: prints `VmHWM` (KiB) before and after the scan, the count and the time.
pub fn child_rss(side: &str, dir: &Path) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let (before, count, time) = if side == "ours" {
        let registry = Rc::new(open_registry(dir, &clock, false));
        let mut evaluator = evaluator(registry);
        let _ = evaluator.eval("warm-up", "1").expect("eval");
        let before = vm_hwm_kib();
        let started = Instant::now();
        let n = evaluator
            .eval("bench", "let n = 0; User.find_each(|u| n += 1); n")
            .expect("eval")
            .as_int()
            .expect("int");
        (before, n as u64, started.elapsed())
    } else {
        let db = raw::open(dir);
        let users = Trees::current(&db).users;
        let before = vm_hwm_kib();
        let started = Instant::now();
        let mut count = 0u64;
        for entry in &users {
            let (key, value) = entry.expect("entry");
            let id = record::decode_id(&key, "user").expect("a user key");
            black_box(record::decode_user(id, &value).expect("decode"));
            count += 1;
        }
        (before, count, started.elapsed())
    };
    let after = vm_hwm_kib();
    println!("{before} {after} {count} {}", time.as_secs_f64());
}

fn vm_hwm_kib() -> u64 {
    fs::read_to_string("/proc/self/status")
        .expect("/proc/self/status")
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}
