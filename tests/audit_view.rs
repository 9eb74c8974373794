//! `sessionctl audit` through the real binary: text, JSON Lines and CSV, and the `--user`,
//! `--since` and `--action` filters.

mod common;

use common::Db;
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
