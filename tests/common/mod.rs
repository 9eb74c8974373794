//! The builder the integration tests share: a temporary database, optionally seeded, and the
//! real `sessionctl` binary pointed at it.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

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
                    let name = path.strip_prefix(self.path()).unwrap().display().to_string();
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
