//! The builder the integration tests share: a temporary database, optionally seeded, and the
//! real `sessionctl` binary pointed at it.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};

use assert_cmd::Command;

pub mod redis;
pub mod serve;

/// A temporary database for one test.
pub struct Db {
    dir: tempfile::TempDir,
}

impl Db {
    /// An empty database, made by `sessionctl init`.
    pub fn new() -> Self {
        let db = Self::missing();
        db.cmd().arg("init").assert().success();
        db
    }

    /// A database of 30 users in which about half the sessions expired long ago: stored, and
    /// hidden from every read (made by importing an export whose times were moved back).
    pub fn with_expired_sessions() -> Self {
        let source = Self::seeded(30, 3);
        let export = source.cmd().arg("export").output().expect("export").stdout;
        let mut lines = Vec::new();
        for (n, line) in String::from_utf8(export).unwrap().lines().enumerate() {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            if value["type"] == "session" && n % 2 == 0 {
                value["created_at"] = "2020-01-01T00:00:00Z".into();
                value["updated_at"] = "2020-01-02T00:00:00Z".into();
            }
            lines.push(value.to_string());
        }
        let file = source.scratch().join("aged.jsonl");
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        let db = Self::missing();
        db.cmd().arg("import").arg(&file).assert().success();
        db
    }

    /// How many sessions are stored, expired ones included (read directly).
    pub fn stored_sessions(&self) -> u64 {
        let store =
            sessionctl::store::open(&self.path(), sessionctl::store::Mode::Read).expect("open");
        store.session_count().expect("count")
    }

    /// A path that holds no database yet.
    pub fn missing() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A database seeded with `users` users and about `sessions` sessions each.
    pub fn seeded(users: u64, sessions: u32) -> Self {
        let db = Self::missing();
        db.cmd()
            .args([
                "seed",
                "--users",
                &users.to_string(),
                "--sessions-per-user",
                &sessions.to_string(),
                "--seed",
                "7",
            ])
            .assert()
            .success();
        db
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("db")
    }

    /// A scratch directory beside the database for files a test writes.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// `sessionctl --db <this database>`, without colour or the user's environment.
    pub fn cmd(&self) -> Command {
        let mut cmd = Self::bare();
        cmd.arg("--db").arg(self.path());
        cmd
    }

    /// `sessionctl` without a database argument, colour or the user's environment.
    pub fn bare() -> Command {
        let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("sessionctl");
        cmd.env_remove("SESSIONCTL_DB")
            .env_remove("RUST_BACKTRACE")
            .env("NO_COLOR", "1");
        cmd
    }

    /// Every file of the database with its contents, in name order: equal before and after a
    /// command that wrote no byte.
    pub fn files(&self) -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::new();
        let mut pending = vec![self.path()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir).expect("list the database") {
                let path = entry.expect("list the database").path();
                if path.is_dir() {
                    pending.push(path);
                } else {
                    let name = path
                        .strip_prefix(self.path())
                        .unwrap()
                        .display()
                        .to_string();
                    files.push((name, std::fs::read(&path).expect("read a database file")));
                }
            }
        }
        files.sort();
        files
    }

    /// `sessionctl config set KEY VALUE`, which must succeed: a setting a test starts from.
    pub fn set_setting(&self, key: &str, value: &str) {
        self.cmd()
            .args(["config", "set", key, value])
            .assert()
            .success();
    }

    /// `sessionctl --db <this database> ARGS` with standard output closed after `keep` bytes:
    /// see [`run_closing_stdout`].
    pub fn run_closing_stdout(&self, keep: usize, args: &[&str]) -> ClosedRun {
        let db = self.path();
        let mut all: Vec<&OsStr> = vec![OsStr::new("--db"), db.as_os_str()];
        all.extend(args.iter().map(OsStr::new));
        run_closing_stdout(keep, &all)
    }

    /// Runs `-e CODE` and returns its standard output, trimmed; panics if it fails.
    pub fn eval(&self, code: &str) -> String {
        let output = self.cmd().arg("-e").arg(code).output().expect("runs");
        assert!(
            output.status.success(),
            "{code}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_owned()
    }
}

/// What a run whose reader went away left: its exit status, the bytes read and standard error.
pub struct ClosedRun {
    pub status: ExitStatus,
    pub read: Vec<u8>,
    pub stderr: String,
}

impl ClosedRun {
    /// Asserts the run ended as `| head` needs it to: exit 0 and nothing on standard error.
    pub fn assert_quiet_success(&self) {
        assert!(
            self.status.success() && self.stderr.is_empty(),
            "{:?}, standard error: {}",
            self.status,
            self.stderr
        );
    }
}

/// Runs `sessionctl ARGS` (environment as [`Db::bare`], standard input empty) as `| head -c
/// keep` would: reads `keep` bytes of its standard output (0: none), closes the pipe, then
/// waits. With `keep` 0 the pipe is closed before the program has started writing; otherwise
/// the output must exceed `keep` plus the 64 KiB pipe buffer for the close to happen mid-output.
pub fn run_closing_stdout<S: AsRef<OsStr>>(keep: usize, args: &[S]) -> ClosedRun {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .args(args)
        .env_remove("SESSIONCTL_DB")
        .env_remove("RUST_BACKTRACE")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sessionctl");
    let mut read = vec![0; keep];
    {
        let mut stdout = child.stdout.take().expect("piped");
        stdout
            .read_exact(&mut read)
            .expect("the program writes at least `keep` bytes");
    } // The read end is closed here.
    let output = child.wait_with_output().expect("wait for sessionctl");
    ClosedRun {
        status: output.status,
        read,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
