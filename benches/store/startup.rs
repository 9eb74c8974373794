//! Process start-up: `sessionctl -e 1` against a bare `sled::open` of the same data in a
//! child process, the interactive console to its prompt in a pseudo-terminal, and the in-use
//! error of a second process.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use expectrl::Session;

use crate::report::{Row, median, seconds};
use crate::{Bench, STARTUP_RUNS, raw};

/// The console's prompt (`PROMPT` in `src/console/mod.rs`).
const PROMPT: &[u8] = b"sessionctl> ";

impl Bench {
    /// `sessionctl --db DIR -e 1`, the whole process, against a child process of this bench
    /// that opens a copy of the same directory with sled and drops it (`--child-open COPY`).
    /// Returns the row and the median start-up, for the console row's target.
    pub fn startup(&mut self, dir: &Path, copy: &Path, sessions: u64) -> (Row, Duration) {
        let binary = sessionctl_binary();
        let run = || {
            let (time, output) = eval_one(&binary, dir);
            assert!(
                output.status.success() && String::from_utf8_lossy(&output.stdout).trim() == "1",
                "sessionctl -e 1 failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            time
        };
        let open = || {
            let started = Instant::now();
            let status = Command::new(std::env::current_exe().expect("current exe"))
                .arg("--child-open")
                .arg(copy)
                .stdin(Stdio::null())
                .status()
                .expect("run the child");
            let time = started.elapsed();
            assert!(status.success(), "--child-open failed");
            time
        };
        // The destroy rows just wrote and dropped gigabytes of copies: let the kernel finish
        // writing them back first, so that neither side is timed against that flush.
        let synced = sync();
        // One of each unmeasured, for the file cache; then alternate.
        run();
        open();
        let (mut ours, mut theirs) = (vec![], vec![]);
        for _ in 0..STARTUP_RUNS {
            ours.push(run());
            theirs.push(open());
        }
        let (ours, theirs) = (median(ours), median(theirs));
        let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
        self.notes.push(format!(
            "start-up: median of {STARTUP_RUNS} runs of `{} --db DIR --color never -e 1` (spawn \
             to exit, {sessions} sessions), against the median of {STARTUP_RUNS} runs of a child \
             process (this bench, `--child-open COPY`) that opens a copy of the same directory \
             with sled (sessionctl's cache size) and drops it, spawn to exit; alternated, after \
             one unmeasured run of each; {}",
            binary.display(),
            synced_note(synced)
        ));
        let row = Row {
            operation: "-e 1 start-up (process)",
            ours: seconds(ours),
            raw: format!("{} (child sled::open)", seconds(theirs)),
            ratio,
            target: "time <= 1.0x",
            pass: Some(ratio <= 1.0),
        };
        (row, ours)
    }

    /// `sessionctl --db DIR console` in a pseudo-terminal, spawn to its prompt, against the
    /// `-e 1` start-up `eval`.
    pub fn console(&mut self, dir: &Path, eval: Duration, sessions: u64) -> Row {
        let history = tempfile::NamedTempFile::new().expect("history file");
        let synced = sync();
        child_to_prompt(dir, history.path());
        let ours = median(
            (0..STARTUP_RUNS)
                .map(|_| child_to_prompt(dir, history.path()))
                .collect(),
        );
        let ratio = ours.as_secs_f64() / eval.as_secs_f64();
        self.notes.push(format!(
            "console: median of {STARTUP_RUNS} runs of `sessionctl --db DIR console` in a \
             pseudo-terminal (NO_COLOR=1, SESSIONCTL_HISTORY a temporary file), spawn until the \
             prompt `sessionctl> ` is read, then `exit`, timed inside a small child process of \
             this bench (`--child-console`: expectrl forks its caller, and forking this large \
             process costs what `-e 1`'s posix_spawn does not); after one unmeasured run; against the \
             `-e 1` start-up's median; the banner counts the live sessions, reading all \
             {sessions}; {}",
            synced_note(synced)
        ));
        Row {
            operation: "console to its prompt (PTY)",
            ours: seconds(ours),
            raw: format!("{} (-e 1 start-up)", seconds(eval)),
            ratio,
            target: "time <= 1.5x",
            pass: Some(ratio <= 1.5),
        }
    }
}

/// Runs `sync`, so that earlier writes are flushed before a process start-up is timed.
fn sync() -> bool {
    Command::new("sync").status().is_ok_and(|s| s.success())
}

fn synced_note(synced: bool) -> &'static str {
    if synced {
        "after `sync` (the harness's earlier writes flushed first)"
    } else {
        "`sync` failed: the harness's earlier writes may still be flushing"
    }
}

/// [`to_prompt`] in a child process of this bench (`--child-console DIR HISTORY`), which
/// prints the time in nanoseconds. `expectrl` forks its caller to set up the terminal, and
/// forking this process (its address space grown by the earlier rows) costs tens of
/// milliseconds that a `posix_spawn` of `-e 1` does not; the small child forks cheaply.
fn child_to_prompt(dir: &Path, history: &Path) -> Duration {
    let output = Command::new(std::env::current_exe().expect("current exe"))
        .arg("--child-console")
        .arg(dir)
        .arg(history)
        .stdin(Stdio::null())
        .output()
        .expect("run the console child");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the console child failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Duration::from_nanos(
        text.trim()
            .parse()
            .expect("the console child prints nanoseconds"),
    )
}

/// In the child: one console to its prompt, its time printed in nanoseconds.
pub fn child_console(dir: &Path, history: &Path) {
    println!(
        "{}",
        to_prompt(&sessionctl_binary(), dir, history).as_nanos()
    );
}

/// One console in a pseudo-terminal: the time from spawning it to reading its prompt. Then
/// leaves with `exit` and waits for it to end.
fn to_prompt(binary: &Path, dir: &Path, history: &Path) -> Duration {
    let mut command = Command::new(binary);
    command
        .env_remove("SESSIONCTL_DB")
        .env("NO_COLOR", "1")
        .env("TERM", "xterm-256color")
        .env("SESSIONCTL_HISTORY", history)
        .arg("--db")
        .arg(dir)
        .arg("console");
    let started = Instant::now();
    let mut session = Session::spawn(command).expect("spawn the console in a pty");
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    // Blocking reads: a polling loop would take a core from the console on this machine.
    while !seen.windows(PROMPT.len()).any(|w| w == PROMPT) {
        let n = session.read(&mut buf).expect("read the console");
        assert!(
            n > 0,
            "the console ended before its prompt: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    let time = started.elapsed();
    session.write_all(b"exit\r").expect("write to the pty");
    session.flush().expect("flush the pty");
    // Until the end of its output (EOF or EIO once it has exited), then its status.
    while session.read(&mut buf).is_ok_and(|n| n > 0) {}
    let status = session.get_process().wait().expect("wait for the console");
    assert!(
        matches!(status, expectrl::WaitStatus::Exited(_, 0)),
        "the console did not exit cleanly: {status:?}"
    );
    time
}

/// In the child: opens the sled files at `dir` as sessionctl does (its cache size) and drops
/// them.
pub fn child_open(dir: &Path) {
    drop(raw::open(dir));
}

impl Bench {
    /// A second process on a database this process holds: how long until `sessionctl -e 1`
    /// exits with the in-use error (the issue asks for within a second), against the same
    /// command on the free database. `dir` is a copy of its own: the holder is a raw open,
    /// which changes sled's files.
    pub fn in_use(&mut self, dir: &Path) -> Row {
        let binary = sessionctl_binary();
        let run = |code: i32| {
            let (time, output) = eval_one(&binary, dir);
            assert_eq!(output.status.code(), Some(code), "{output:?}");
            if code == 2 {
                assert!(String::from_utf8_lossy(&output.stderr).contains("is in use"));
            }
            time
        };
        let free = median((0..5).map(|_| run(0)).collect());
        let holder = raw::open(dir);
        let held = median((0..5).map(|_| run(2)).collect());
        drop(holder);
        self.notes.push(
            "in use: median of 5 runs of `sessionctl --db DIR -e 1` while this process holds \
             DIR (exit 2, `database … is in use by another process`), against 5 on the free \
             database (exit 0); opening waits up to 500 ms for a lock being released"
                .to_owned(),
        );
        Row {
            operation: "in-use error, second process",
            ours: seconds(held),
            raw: format!("{} (free, exit 0)", seconds(free)),
            ratio: held.as_secs_f64() / free.as_secs_f64(),
            target: "< 1 s",
            pass: Some(held < Duration::from_secs(1)),
        }
    }
}

/// The `sessionctl` binary cargo built for the bench.
fn sessionctl_binary() -> PathBuf {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_sessionctl"));
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --release` (cargo bench builds it)",
        binary.display()
    );
    binary
}

/// Runs `sessionctl --db DIR --color never -e 1`, spawn to exit: how long it took and what it
/// printed.
fn eval_one(binary: &Path, dir: &Path) -> (Duration, std::process::Output) {
    let started = Instant::now();
    let output = Command::new(binary)
        .arg("--db")
        .arg(dir)
        .args(["--color", "never", "-e", "1"])
        .stdin(Stdio::null())
        .output()
        .expect("run sessionctl");
    (started.elapsed(), output)
}
