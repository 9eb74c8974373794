//! `--dry-run` on every path that writes: one `dry run: would …` line on standard error, never
//! the text of a real run, and nothing written.

mod common;

use std::path::Path;

use common::Db;

/// Standard output and error of a run that must succeed.
fn run(db: &Db, args: &[&str]) -> (String, String) {
    let output = db.cmd().args(args).output().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(output.status.success(), "{args:?}: {stderr}");
    (String::from_utf8(output.stdout).unwrap(), stderr)
}

fn script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn config_set_prints_one_summary_and_not_the_new_value() {
    let db = Db::seeded(10, 4);
    let audit = db.cmd().arg("audit").output().unwrap().stdout;
    let (out, err) = run(
        &db,
        &[
            "--dry-run",
            "config",
            "set",
            "session_expire_delay",
            "20000",
        ],
    );
    assert_eq!(out, "", "a dry run printed the change as made");
    assert_eq!(
        err,
        "dry run: would config: session_expire_delay: 10080 -> 20000\n"
    );
    // Lowering the limit says what it would end.
    let over = db.eval(
        "User.all.to_array().filter(|u| u.sessions.len() > 1).map(|u| u.sessions.len() - 1).reduce(|a, b| a + b, 0)",
    );
    let (out, err) = run(&db, &["--dry-run", "config", "set", "session_limit", "1"]);
    assert_eq!(out, "");
    assert!(
        err.starts_with("dry run: would config: session_limit: 100 -> 1, ending ")
            && err.contains(&format!("ending {over} sessions of "))
            && err.lines().count() == 1,
        "{err}"
    );
    let (out, _) = run(&db, &["config", "get"]);
    assert_eq!(out, "session_limit = 100\nsession_expire_delay = 10080\n");
    assert_eq!(db.cmd().arg("audit").output().unwrap().stdout, audit);
}

#[test]
fn a_script_revoking_one_session_at_a_time_prints_one_summary() {
    let db = Db::seeded(20, 3);
    let live = db.eval("ActiveSession.list(User.all).count");
    let (out, err) = run(&db, &["--dry-run", "run", &script("revoke_idle.rhai"), "0"]);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "dry run: would destroy_session {live} times ({live} sessions of "
        )),
        "{err}"
    );
    // What the script itself prints says "would", as it reads DRY_RUN.
    assert!(
        out.starts_with(&format!("would revoke {live} sessions")),
        "{out}"
    );
    assert_eq!(db.eval("ActiveSession.list(User.all).count"), live);
}

#[test]
fn dash_e_with_revocations_prints_one_summary() {
    let db = Db::seeded(5, 2);
    let live = db.eval("ActiveSession.list(User.all).count");
    let (out, err) = run(
        &db,
        &[
            "--dry-run",
            "-e",
            "for s in ActiveSession.list(User.all) { s.destroy(); }",
        ],
    );
    assert_eq!(out, "");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("dry run: would destroy_session {live} times")),
        "{err}"
    );
    assert_eq!(db.eval("ActiveSession.list(User.all).count"), live);
}
