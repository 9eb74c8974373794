//! Every saved script in scripts/ against a seeded database, its effect checked, and with
//! --dry-run changing nothing.

mod common;

use common::Db;
use predicates::prelude::*;

fn script(name: &str) -> String {
    format!("{}/scripts/{name}.rhai", env!("CARGO_MANIFEST_DIR"))
}

fn count(db: &Db) -> u64 {
    db.eval("ActiveSession.count").parse().unwrap()
}

#[test]
fn list_sessions_prints_one_line_per_session() {
    let db = Db::seeded(30, 3);
    let total = count(&db);
    let output = db
        .cmd()
        .args(["run", &script("list_sessions")])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(text.lines().count() as u64, total);
    assert!(
        text.lines().all(|line| line.starts_with("user #")),
        "{text}"
    );
    // As CSV, every line splits into the same fields (for cut, awk or a spreadsheet).
    let csv = db
        .cmd()
        .args(["run", &script("list_sessions"), "--format", "csv"])
        .output()
        .unwrap();
    assert!(csv.status.success());
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert_eq!(csv.lines().count() as u64, total + 1, "{csv}");
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert!(header.contains(&"ip_address"), "{header:?}");
    for line in csv.lines().skip(1) {
        assert!(!line.contains("\\t"), "{line:?}");
        assert_eq!(line.split(',').count(), header.len(), "{line:?}");
    }
}

#[test]
fn logged_in_users_matches_the_reference_format() {
    let db = Db::seeded(10, 2);
    let output = db
        .cmd()
        .args(["run", &script("logged_in_users")])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let mut users = 0;
    for line in text.lines() {
        if line.starts_with("  - IP: ") {
            assert!(
                line.contains(", Browser: ") && line.contains(", Last active: 20"),
                "{line}"
            );
        } else {
            assert!(line.ends_with("):") && line.contains(" ("), "{line}");
            users += 1;
        }
    }
    let with_sessions = db.eval("let n = 0; User.find_each(|u| if u.sessions.any() { n += 1 }); n");
    assert_eq!(users.to_string(), with_sessions);
    assert_eq!((text.lines().count() - users) as u64, count(&db));
}

#[test]
fn revoke_user_by_username_or_email() {
    let db = Db::seeded(10, 4);
    let target = db.eval("User.all.to_array().filter(|u| u.sessions.len() > 1)[0].username");
    let email = db.eval(&format!("User.find_by_username(\"{target}\").email"));
    let before = count(&db);
    let theirs: u64 = db
        .eval(&format!(
            "User.find_by_username(\"{target}\").sessions.len()"
        ))
        .parse()
        .unwrap();
    db.cmd()
        .args(["run", &script("revoke_user"), &email, "--dry-run"])
        .assert()
        .success();
    assert_eq!(count(&db), before);
    db.cmd()
        .args(["run", &script("revoke_user"), &target])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(format!(
            "revoked {theirs} of {theirs} sessions of {target}"
        )));
    assert_eq!(count(&db), before - theirs);
    assert_eq!(
        db.eval(&format!(
            "User.find_by_username(\"{target}\").sessions.len()"
        )),
        "0"
    );
    db.cmd()
        .args(["run", &script("revoke_user"), "nobody"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "no user with username or email nobody",
        ));
    db.cmd()
        .args(["run", &script("revoke_user")])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("usage:"));
}

#[test]
fn revoke_all_revokes_everything() {
    let db = Db::seeded(10, 3);
    let before = count(&db);
    db.cmd()
        .args(["run", &script("revoke_all"), "--dry-run"])
        .assert()
        .success();
    assert_eq!(count(&db), before);
    db.cmd()
        .args(["run", &script("revoke_all")])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(format!(
            "revoked {before} sessions of"
        )));
    assert_eq!(count(&db), 0);
}

#[test]
fn revoke_idle_keeps_recent_sessions() {
    let db = Db::seeded(20, 4);
    let before = count(&db);
    let idle: u64 = db
        .eval("ActiveSession.list(User.all).filter(|s| s.updated_at < now() - days(3)).len()")
        .parse()
        .unwrap();
    assert!(idle > 0 && idle < before, "{idle} of {before}");
    db.cmd()
        .args(["run", &script("revoke_idle"), "3", "--dry-run"])
        .assert()
        .success();
    assert_eq!(count(&db), before);
    db.cmd()
        .args(["run", &script("revoke_idle"), "3"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(format!(
            "revoked {idle} sessions"
        )));
    assert_eq!(count(&db), before - idle);
    assert_eq!(
        db.eval("ActiveSession.list(User.all).filter(|s| s.updated_at < now() - days(3)).len()"),
        "0"
    );
}

#[test]
fn sessions_from_ip_lists_then_revokes() {
    let db = Db::seeded(10, 3);
    db.eval("ActiveSession.set(User.find(2), #{ip_address: \"203.0.113.7\", user_agent: \"curl/8\"}); ActiveSession.set(User.find(3), #{ip_address: \"203.0.113.7\", user_agent: \"curl/8\"}); 1");
    let before = count(&db);
    db.cmd()
        .args(["run", &script("sessions_from_ip"), "203.0.113.7"])
        .assert()
        .success()
        .stdout(predicate::str::ends_with("2 sessions from 203.0.113.7\n"));
    db.cmd()
        .args([
            "run",
            &script("sessions_from_ip"),
            "203.0.113.7",
            "revoke",
            "--dry-run",
        ])
        .assert()
        .success();
    assert_eq!(count(&db), before);
    db.cmd()
        .args(["run", &script("sessions_from_ip"), "203.0.113.7", "revoke"])
        .assert()
        .success()
        .stdout(predicate::str::ends_with(
            "revoked 2 sessions from 203.0.113.7\n",
        ));
    assert_eq!(count(&db), before - 2);
}

#[test]
fn heavy_users_finds_users_over_the_threshold() {
    let db = Db::seeded(5, 2);
    db.eval("let u = User.find(4); for i in 0..12 { ActiveSession.set(u, #{ip_address: `10.1.1.${i}`, user_agent: \"x\"}); } 1");
    let sessions = db.eval("User.find(4).sessions.len()");
    let output = db
        .cmd()
        .args(["run", &script("heavy_users"), "10", "--format", "json"])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let json_start = text.find('[').unwrap();
    let heavy: Vec<serde_json::Value> = serde_json::from_str(&text[json_start..]).unwrap();
    assert_eq!(heavy.len(), 1, "{text}");
    assert_eq!(heavy[0]["id"], 4);
    assert_eq!(heavy[0]["sessions"].to_string(), sessions);
}

/// `-e CODE` on `db`, as a number.
fn number(db: &Db, code: &str) -> u64 {
    db.eval(code).parse().unwrap()
}

#[test]
fn incident_leaked_range_lists_then_revokes_the_range_in_one_audit_entry() {
    let db = Db::seeded(40, 3);
    let in_range =
        "ActiveSession.list(User.all).filter(|s| s.ip_address.starts_with(\"10.\")).len()";
    let expected = number(&db, in_range);
    assert!(expected > 0);
    let (total, audit) = (count(&db), number(&db, "Audit.recent(1000).len()"));
    let output = db
        .cmd()
        .args(["run", &script("incident_leaked_range"), "10.0.0.0/8"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() as u64, expected + 1, "{text}");
    assert!(
        lines[..lines.len() - 1]
            .iter()
            .all(|l| l.split(' ').nth(1).unwrap().starts_with("10."))
    );
    assert_eq!(
        lines[lines.len() - 1],
        format!("{expected} sessions from 10.0.0.0/8")
    );
    assert_eq!(count(&db), total);

    db.cmd()
        .args([
            "run",
            &script("incident_leaked_range"),
            "10.0.0.0/8",
            "revoke",
            "--dry-run",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "dry run: would destroy_where: {expected} sessions"
        )));
    assert_eq!(count(&db), total);

    let owners = number(
        &db,
        "ActiveSession.where(#{ip: \"10.0.0.0/8\"}).tally(\"user_id\").len()",
    );
    db.cmd()
        .args([
            "run",
            &script("incident_leaked_range"),
            "10.0.0.0/8",
            "revoke",
        ])
        .assert()
        .success()
        .stdout(predicate::str::ends_with(format!(
            "revoked {expected} sessions of {owners} users from 10.0.0.0/8\n"
        )));
    assert_eq!(number(&db, in_range), 0);
    assert_eq!(count(&db), total - expected);
    assert_eq!(number(&db, "Audit.recent(1000).len()"), audit + 1);
    assert_eq!(db.eval("Audit.recent(1)[0].action"), "destroy_where");

    db.cmd()
        .args(["run", &script("incident_leaked_range"), "10.0.0.0/99"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "\"10.0.0.0/99\" is neither an IP address nor a CIDR range",
        ));
}

#[test]
fn incident_revoke_idle_revokes_exactly_the_idle_sessions() {
    let db = Db::seeded(40, 3);
    let idle = "ActiveSession.list(User.all).filter(|s| now() - s.updated_at >= days(3)).len()";
    let expected = number(&db, idle);
    let total = count(&db);
    assert!(expected > 0 && expected < total);
    db.cmd()
        .args(["run", &script("incident_revoke_idle"), "3", "--dry-run"])
        .assert()
        .success();
    assert_eq!(count(&db), total);
    let audit = number(&db, "Audit.recent(1000).len()");
    let output = db
        .cmd()
        .args(["run", &script("incident_revoke_idle"), "3"])
        .output()
        .unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.starts_with(&format!("revoked {expected} sessions of "))
            && text.ends_with(" users idle for 3 days or more\n"),
        "{text}"
    );
    assert_eq!(number(&db, idle), 0);
    assert_eq!(count(&db), total - expected);
    assert_eq!(number(&db, "Audit.recent(1000).len()"), audit + 1);
    db.cmd()
        .args(["run", &script("incident_revoke_idle"), "--", "-1"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "DAYS must not be negative, got -1",
        ));
}

#[test]
fn incident_admin_mode_reports_every_admin_mode_session() {
    let db = Db::seeded(300, 3);
    let expected = number(
        &db,
        "ActiveSession.list(User.all).filter(|s| s.admin_mode).len()",
    );
    assert!(expected > 0);
    let output = db
        .cmd()
        .args(["run", &script("incident_admin_mode")])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let sessions = &lines[..expected as usize];
    for line in sessions {
        let username = line.split(' ').next().unwrap();
        assert_eq!(
            db.eval(&format!("User.find_by_username(\"{username}\").admin")),
            "true",
            "{line}"
        );
        assert!(
            line.contains(", signed in 20") && line.contains(", last active 20"),
            "{line}"
        );
    }
    let admins = db.eval("ActiveSession.list(User.all).filter(|s| s.admin_mode).map(|s| s.user_id).reduce(|a, id| if a.contains(id) { a } else { a + [id] }, []).len()");
    assert_eq!(
        lines[expected as usize],
        format!("{expected} admin-mode sessions of {admins} administrators")
    );
    let per_browser: u64 = lines[expected as usize + 1..]
        .iter()
        .map(|l| l.rsplit(": ").next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(per_browser, expected);
    // A report: nothing changed.
    assert_eq!(
        number(
            &db,
            "ActiveSession.list(User.all).filter(|s| s.admin_mode).len()"
        ),
        expected
    );
}
