//! `sessionctl audit` through the real binary: text, JSON Lines and CSV, the `--user`,
//! `--since` and `--action` filters, and a script run's revocations as one entry (on sled and
//! on Redis), also when the run is killed.

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
/// both, and the revocation of alice's session.
fn audited() -> Db {
    let db = Db::new();
    db.eval(
        "let a = User.create(#{username: \"alice\", email: \"a@x.org\"});
         let b = User.create(#{username: \"bob\", email: \"b@x.org\"});
         ActiveSession.set(b, #{ip_address: \"2.2.2.2\", user_agent: \"x\"});
         let s = ActiveSession.set(a, #{ip_address: \"1.1.1.1\", user_agent: \"x\"});
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
