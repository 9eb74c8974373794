//! Issue 10, "never lose data silently": damage found before sled touches the files, reading
//! commands that write no byte, backups that restore, and a full disk that loses nothing
//! committed.

mod common;

use common::Db;

/// A small closed database and a pristine copy of its files to damage one at a time.
fn closed_database() -> Db {
    let db = Db::seeded(40, 3);
    db.eval("User.find(3).remember_me(); 1");
    db
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Runs every command on the damaged database: each refuses (exit 2; `check` exit 1) without
/// printing a count as if healthy, and no file changes.
fn assert_refused(db: &Db, damage: &str) {
    let files = db.files();
    let check = db.cmd().arg("check").output().unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{damage}: check: {stdout}");
    assert!(
        stdout.contains("is damaged"),
        "{damage}: check said {stdout}"
    );
    assert!(!stdout.contains("consistent"), "{damage}: {stdout}");
    for args in [
        vec!["-e", "User.count"],
        vec!["export"],
        vec!["audit"],
        vec!["config", "get"],
        vec!["--dry-run", "-e", "ActiveSession.destroy_all"],
        vec!["config", "set", "session_limit", "50"],
    ] {
        let output = db.cmd().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{damage}: {args:?}: {stderr}"
        );
        assert!(stderr.contains("restore"), "{damage}: {args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{damage}: {args:?} printed");
    }
    assert!(db.files() == files, "{damage}: a command changed the files");
}

#[test]
fn issue_10_flipped_bytes_truncations_and_missing_files_are_refused_and_left_as_they_are() {
    let pristine = closed_database();
    let files = pristine.files();
    let mut cases = 0;
    for (name, bytes) in &files {
        // Offsets spread over the file, its first and last byte included.
        let len = bytes.len();
        let mut offsets: Vec<usize> = (0..6).map(|k| k * len / 6).collect();
        offsets.push(len.saturating_sub(1));
        offsets.dedup();
        for offset in offsets.into_iter().filter(|&o| o < len) {
            let db = Db::missing();
            copy_dir(&pristine.path(), &db.path());
            let path = db.path().join(name);
            let mut damaged = bytes.clone();
            damaged[offset] ^= 0xff;
            std::fs::write(&path, damaged).unwrap();
            assert_refused(&db, &format!("byte {offset} of {name} flipped"));
            cases += 1;
        }
        for (what, keep) in [("truncated to half", len / 2), ("emptied", 0)] {
            if keep == len {
                continue;
            }
            let db = Db::missing();
            copy_dir(&pristine.path(), &db.path());
            std::fs::write(db.path().join(name), &bytes[..keep]).unwrap();
            assert_refused(&db, &format!("{name} {what}"));
            cases += 1;
        }
        if name != "sessionctl.commit" {
            let db = Db::missing();
            copy_dir(&pristine.path(), &db.path());
            std::fs::remove_file(db.path().join(name)).unwrap();
            assert_refused(&db, &format!("{name} removed"));
            cases += 1;
        }
    }
    assert!(cases > 20, "only {cases} cases");
    // The pristine copy is still healthy: the damage was in the copies.
    pristine.cmd().arg("check").assert().success();
    eprintln!("{cases} damaged copies, every one refused, no file changed");
}

#[test]
fn issue_10_reading_commands_and_dry_runs_leave_every_byte_of_a_closed_store() {
    // Some sessions expired: hidden from every read, and still stored.
    let db = Db::with_expired_sessions();
    let stored = || db.stored_sessions();
    let before = stored();
    let files = db.files();
    let script = db.scratch().join("revoke.rhai");
    std::fs::write(
        &script,
        "ActiveSession.list(User.all).to_array().map(|s| s.destroy()).len()",
    )
    .unwrap();
    for args in [
        vec!["export"],
        vec!["audit"],
        vec!["check"],
        vec!["config", "get"],
        vec!["backup", db.scratch().join("b.jsonl").to_str().unwrap()],
        vec!["-e", "ActiveSession.list(User.all).count"],
        vec!["-e", "User.all.map(|u| u.sessions.len())"],
        vec!["--dry-run", "-e", "ActiveSession.destroy_all"],
        vec!["--dry-run", "run", script.to_str().unwrap()],
        vec!["--dry-run", "config", "set", "session_limit", "1"],
        vec!["--dry-run", "seed", "--users", "5"],
    ] {
        db.cmd().args(&args).assert().success();
        assert!(db.files() == files, "{args:?} changed the files");
    }
    assert_eq!(stored(), before);
}

#[test]
fn issue_10_a_backup_restores_into_a_new_database_and_only_there() {
    let source = closed_database();
    source.set_setting("session_limit", "77");
    let backup = source.scratch().join("backup.jsonl");
    source.cmd().arg("backup").arg(&backup).assert().success();
    let restored = Db::missing();
    restored
        .cmd()
        .arg("restore")
        .arg(&backup)
        .assert()
        .success();
    let shape = "[User.count, ActiveSession.list(User.all).count, User.find(3).remember_tokens]";
    assert_eq!(restored.eval(shape), source.eval(shape));
    restored
        .cmd()
        .args(["config", "get", "session_limit"])
        .assert()
        .stdout("77\n");
    let audit =
        |db: &Db| String::from_utf8(db.cmd().arg("audit").output().unwrap().stdout).unwrap();
    assert!(
        audit(&restored).contains("session_limit: 100 -> 77"),
        "the audit log came along"
    );
    restored.cmd().arg("check").assert().success();
    // Never over a database.
    restored
        .cmd()
        .arg("restore")
        .arg(&backup)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("already holds a database"));
    // A backup cut short is not a backup: the file is whole or absent.
    assert!(!source.scratch().join(".backup.jsonl.partial").exists());
}

/// A small file system for the full-disk test: tmpfs where this process may mount one.
fn small_file_system(size: &str) -> Option<(tempfile::TempDir, impl Drop)> {
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir.path())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    mounted.then(|| {
        let unmount = Unmount(dir.path().to_owned());
        (dir, unmount)
    })
}

#[test]
fn issue_10_a_full_disk_is_a_plain_error_and_loses_nothing_committed() {
    let Some((fs, _unmount)) = small_file_system("4m") else {
        eprintln!("SKIPPED issue_10_a_full_disk_…: cannot mount a tmpfs here (needs root)");
        return;
    };
    let path = fs.path().join("db");
    let cmd = || {
        let mut cmd = Db::bare();
        cmd.arg("--db").arg(&path);
        cmd
    };
    cmd()
        .args(["seed", "--users", "50", "--sessions-per-user", "3"])
        .assert()
        .success();
    let users = |cmd: &mut assert_cmd::Command| {
        String::from_utf8(cmd.args(["-e", "User.count"]).output().unwrap().stdout).unwrap()
    };
    assert_eq!(users(&mut cmd()), "50\n");
    // Another file takes a megabyte, to be freed after the disk fills.
    let filler = fs.path().join("filler");
    std::fs::write(&filler, vec![0u8; 1_000_000]).unwrap();
    let output = cmd()
        .args(["seed", "--users", "2000", "--sessions-per-user", "10"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("disk holding the database is full"),
        "{stderr}"
    );
    assert!(!stderr.contains("Os {"), "sled's Debug text: {stderr}");
    // Space freed, the store opens with everything committed before, and nothing of the
    // failed seed.
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(users(&mut cmd()), "50\n");
    cmd().arg("check").assert().success();
}

#[test]
fn issue_10_lowering_a_setting_says_what_it_ends_and_needs_a_yes_off_a_terminal() {
    let db = Db::seeded(30, 4);
    let live = db.eval("ActiveSession.list(User.all).count");
    let stored = db.stored_sessions();
    // Without a terminal to ask and without --yes: refused, nothing changed.
    db.cmd()
        .args(["config", "set", "session_limit", "1"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("session_limit 100 -> 1 ends"))
        .stderr(predicates::str::contains("--yes"));
    assert_eq!(db.stored_sessions(), stored);
    db.cmd()
        .args(["config", "get", "session_limit"])
        .assert()
        .stdout("100\n");
    // Raising it ends nothing and needs no answer.
    db.set_setting("session_limit", "200");
    // With --yes: set, and the sessions beyond the limit are ended, audited.
    db.cmd()
        .args(["--yes", "config", "set", "session_limit", "1"])
        .assert()
        .success();
    let users_with_sessions = db.eval("User.all.filter(|u| u.sessions.len() > 0).len()");
    assert_eq!(
        db.eval("ActiveSession.list(User.all).count"),
        users_with_sessions
    );
    assert_ne!(db.eval("ActiveSession.list(User.all).count"), live);
    let audit = String::from_utf8(db.cmd().arg("audit").output().unwrap().stdout).unwrap();
    assert!(audit.contains("cleanup"), "{audit}");
    db.cmd().arg("check").assert().success();
}

#[test]
fn issue_10_a_creating_command_on_a_plain_file_refuses_and_leaves_nothing() {
    let db = Db::missing();
    std::fs::write(db.path(), "not a database").unwrap();
    for args in [vec!["init"], vec!["seed", "--users", "3"]] {
        db.cmd()
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicates::str::contains("is not a sessionctl database"));
        assert!(
            !db.scratch().join(".db.staging").exists(),
            "{args:?} left its staging"
        );
        assert_eq!(std::fs::read(db.path()).unwrap(), b"not a database");
    }
}
