//! `sessionctl audit` through the real binary: text, JSON Lines and CSV, the `--user`,
//! `--since` and `--action` filters, a script run's revocations as one entry (on sled and on
//! Redis), also when the run is killed, and a run's other mutations as one entry per action.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use assert_cmd::Command;
use common::Db;
use common::redis::Redis;
use predicates::prelude::*;

/// A database whose audit log holds, oldest first: create alice, create bob, sign-ins of
/// both, and the revocation of alice's session (each its own entry: a run's mutations of one
/// action are one entry, and each of these is the only one of its action in its run).
fn audited() -> Db {
    let db = Db::new();
    db.eval("User.create(#{username: \"alice\", email: \"a@x.org\"})");
    db.eval("User.create(#{username: \"bob\", email: \"b@x.org\"})");
    db.eval(
        "ActiveSession.set(User.find_by_username(\"bob\"), #{ip_address: \"2.2.2.2\", user_agent: \"x\"})",
    );
    db.eval(
        "let s = ActiveSession.set(User.find_by_username(\"alice\"), #{ip_address: \"1.1.1.1\", user_agent: \"x\"});
         s.destroy()",
    );
    db
}

fn lines(db: &Db, args: &[&str]) -> Vec<String> {
    let output = db.cmd().arg("audit").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn json_prints_one_object_a_line() {
    let db = audited();
    let lines = lines(&db, &["--format", "json"]);
    assert_eq!(lines.len(), 5, "{lines:?}");
    let entries: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
        .collect();
    assert_eq!(entries[0]["action"], "destroy_session");
    assert_eq!(entries[4]["action"], "create_user");
    assert_eq!(entries[0]["origin"], "-e");
}

#[test]
fn csv_prints_a_header_and_one_row_an_entry() {
    let db = audited();
    let lines = lines(&db, &["--format", "csv", "--limit", "2"]);
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].contains("action") && lines[0].contains("user_ids"));
    assert!(lines[1].contains("destroy_session"));
}

#[test]
fn filters_by_user_action_and_time() {
    let db = audited();
    let alice = db.eval("User.find_by_username(\"alice\").id");
    let by_name = lines(&db, &["--user", "alice"]);
    assert_eq!(by_name.len(), 3, "{by_name:?}");
    assert!(
        by_name
            .iter()
            .all(|l| l.contains(&format!("users={alice}")))
    );
    assert_eq!(lines(&db, &["--user", &alice]), by_name);
    let signins = lines(&db, &["--action", "sign_in"]);
    assert_eq!(signins.len(), 2, "{signins:?}");
    let alice_signin = lines(&db, &["--action", "sign_in", "--user", "alice"]);
    assert_eq!(alice_signin.len(), 1);
    assert_eq!(lines(&db, &["--since", "1h"]).len(), 5);
    assert_eq!(lines(&db, &["--since", "2999-01-01"]).len(), 0);
    assert_eq!(lines(&db, &["--since", "2000-01-01T00:00:00Z"]).len(), 5);
    db.cmd()
        .args(["audit", "--since", "yesterday"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a date"));
    db.cmd()
        .args(["audit", "--user", "nobody"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no user with username \"nobody\""));
}

/// 10 users with 69 sessions each: 690 sessions.
const SIGN_IN_690: &str = "for n in 0..10 {
     let u = User.create(#{username: `user${n}`, email: `u${n}@x.org`});
     for i in 0..69 { ActiveSession.set(u, #{ip_address: `10.0.${n}.${i}`, user_agent: \"x\"}); }
 }";

const IDS: &str = "ActiveSession.list(User.all).map(|s| s.session_private_id)";

fn script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
        .display()
        .to_string()
}

/// Runs `command` with `args` and returns its standard output; it must succeed.
fn stdout(mut command: Command, args: &[&str]) -> String {
    let output = command.args(args).output().unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Revokes 690 sessions one `destroy()` at a time with `scripts/revoke_idle.rhai`, on the
/// store `cmd` opens, and checks that the log holds one entry of it, with the count and ids.
fn a_690_revocation_run_is_one_entry(cmd: impl Fn() -> Command) {
    stdout(cmd(), &["-e", SIGN_IN_690]);
    let before: BTreeSet<String> = stdout(cmd(), &["-e", IDS])
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(before.len(), 690);
    let out = stdout(cmd(), &["run", &script("revoke_idle.rhai"), "0"]);
    assert!(out.starts_with("revoked 690 sessions"), "{out}");
    let entries: Vec<serde_json::Value> = stdout(
        cmd(),
        &["audit", "--action", "destroy_session", "--format", "json"],
    )
    .lines()
    .map(|line| serde_json::from_str(line).unwrap())
    .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = &entries[0];
    assert_eq!(entry["sessions"], 690);
    assert_eq!(entry["user_ids"].as_array().unwrap().len(), 10);
    let ids: BTreeSet<String> = entry["session_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, before);
    // The newest entry, on one line with its count.
    let text = stdout(cmd(), &["audit", "--limit", "1"]);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(
        text.contains("destroy_session users=")
            && text.contains("690 sessions of 10 users in one run"),
        "{text}"
    );
}

#[test]
fn a_script_run_revoking_690_sessions_is_one_audit_entry() {
    let db = Db::new();
    a_690_revocation_run_is_one_entry(|| db.cmd());
}

#[test]
fn a_script_run_revoking_690_sessions_is_one_audit_entry_on_redis() {
    let Some(server) = Redis::start() else { return };
    a_690_revocation_run_is_one_entry(|| server.cmd());
}

#[test]
fn a_killed_run_leaves_an_entry_of_exactly_what_it_revoked() {
    let db = Db::new();
    db.eval(SIGN_IN_690);
    let before: BTreeSet<String> = db.eval(IDS).lines().map(str::to_owned).collect();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .env_remove("SESSIONCTL_DB")
        .arg("--db")
        .arg(db.path())
        .arg("-e")
        .arg("for s in ActiveSession.list(User.all).to_array() { s.destroy(); puts(s.session_private_id); }")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed (SIGKILL) once it has reported 100 revocations: in the middle of the run.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..100 {
        lines.next().expect("a revocation reported").unwrap();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let after: BTreeSet<String> = db.eval(IDS).lines().map(str::to_owned).collect();
    let gone: BTreeSet<String> = before.difference(&after).cloned().collect();
    assert!(
        gone.len() >= 100 && gone.len() < 690,
        "{} revoked",
        gone.len()
    );
    let log = stdout(
        db.cmd(),
        &["audit", "--action", "destroy_session", "--format", "json"],
    );
    let entries: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(entries.len(), 1, "{log}");
    assert_eq!(entries[0]["sessions"], gone.len());
    let ids: BTreeSet<String> = entries[0]["session_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids, gone);
}

/// Creates 300 users and signs each in.
const CREATE_AND_SIGN_IN_300: &str = "for n in 0..300 {
     let u = User.create(#{username: `user${n}`, email: `u${n}@x.org`});
     ActiveSession.set(u, #{ip_address: `10.1.${n / 256}.${n % 256}`, user_agent: \"x\"});
 }";

/// The JSON Lines of `audit --format json` (newest first).
fn json_entries(cmd: Command) -> Vec<serde_json::Value> {
    stdout(cmd, &["audit", "--format", "json"])
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Runs a script (saved in `scratch`) creating 300 users and signing each in, on the store
/// `cmd` opens, and checks that the log holds two entries of it: one per action, with the
/// count, the users and (for the sign-ins) the sessions.
fn a_run_of_300_sign_ins_is_one_entry_per_action(cmd: impl Fn() -> Command, scratch: &Path) {
    let script = scratch.join("create_and_sign_in.rhai");
    std::fs::write(&script, CREATE_AND_SIGN_IN_300).unwrap();
    let script = script.display().to_string();
    stdout(cmd(), &["run", &script]);
    let users: Vec<u64> = stdout(cmd(), &["-e", "User.all.map(|u| u.id)"])
        .lines()
        .map(|id| id.parse().unwrap())
        .collect();
    assert_eq!(users.len(), 300);
    let sessions: BTreeSet<String> = stdout(cmd(), &["-e", IDS])
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(sessions.len(), 300);
    let entries = json_entries(cmd());
    assert_eq!(entries.len(), 2, "{entries:#?}");
    let ids = |entry: &serde_json::Value, field: &str| -> Vec<serde_json::Value> {
        entry[field].as_array().cloned().unwrap_or_default()
    };
    let (signed_in, created) = (&entries[0], &entries[1]);
    for entry in &entries {
        assert_eq!(entry["origin"], script.as_str());
        assert_eq!(entry["count"], 300);
        let user_ids: Vec<u64> = ids(entry, "user_ids")
            .iter()
            .map(|id| id.as_u64().unwrap())
            .collect();
        assert_eq!(user_ids, users);
    }
    assert_eq!(created["action"], "create_user");
    assert_eq!(created["detail"], "300 users created in one run");
    assert!(ids(created, "session_ids").is_empty());
    assert_eq!(signed_in["action"], "sign_in");
    assert_eq!(signed_in["detail"], "300 sign-ins of 300 users in one run");
    let session_ids: BTreeSet<String> = ids(signed_in, "session_ids")
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(session_ids, sessions);
    // The text view: one line an entry.
    let text = stdout(cmd(), &["audit"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("  sign_in users=")
            && lines[0].contains(" and 290 more  300 sign-ins of 300 users in one run"),
        "{text}"
    );
    assert!(
        lines[1].contains("  create_user users=")
            && lines[1].ends_with(" and 290 more  300 users created in one run"),
        "{text}"
    );
}

#[test]
fn a_script_run_signing_in_300_users_is_one_audit_entry_per_action() {
    let db = Db::new();
    a_run_of_300_sign_ins_is_one_entry_per_action(|| db.cmd(), db.scratch());
}

#[test]
fn a_script_run_signing_in_300_users_is_one_audit_entry_per_action_on_redis() {
    let Some(server) = Redis::start() else { return };
    a_run_of_300_sign_ins_is_one_entry_per_action(|| server.cmd(), server.scratch());
}
