//! Batch mode through the real binary: `-e`, `run`, exit codes, `--dry-run`, `--format json`,
//! limits, broken pipes, and a second process on the same database.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use common::Db;
use predicates::prelude::*;

#[test]
fn eval_prints_plain_values() {
    let db = Db::seeded(130, 3);
    assert_eq!(db.eval("\"text\""), "text");
    assert_eq!(db.eval("40 + 2"), "42");
    assert_eq!(
        db.eval("User.find(1)"),
        "#1 exampleuser (Example User) <user@example.com>"
    );
    // An expression's empty value is shown, as IRB shows nil; a statement's is not.
    assert_eq!(db.eval("User.find_by_username(\"nobody\")"), "()");
    assert_eq!(db.eval("let u = User.find_by_username(\"nobody\");"), "");
    assert_eq!(db.eval("puts(\"x\")"), "x");
    assert_eq!(db.eval("[1, \"a\"]"), "1\na");
    assert!(
        db.eval("ActiveSession.list(User.all).to_array()[0]")
            .starts_with("user #")
    );
    assert_eq!(db.eval("User.count"), "130");
    db.cmd()
        .args(["-e", "()"])
        .assert()
        .success()
        .stdout("()\n");
}

#[test]
fn script_errors_name_the_place_and_exit_1() {
    let db = Db::seeded(5, 1);
    db.cmd()
        .args(["-e", "let a = 1;\nUser.find(999)"])
        .assert()
        .code(1)
        .stdout("")
        .stderr("-e:2:6: User not found: id=999\nUser.find(999)\n     ^\n");
    let script = db.scratch().join("broken.rhai");
    std::fs::write(&script, "let x = 1;\nlet y = x +* 2;\n").unwrap();
    db.cmd().arg("run").arg(&script).assert().code(1).stderr(
        predicate::str::starts_with(format!("{}:2:", script.display()))
            .and(predicate::str::contains("let y = x +* 2;")),
    );
}

#[test]
fn run_passes_argv_and_reads_standard_input() {
    let db = Db::seeded(3, 1);
    let script = db.scratch().join("args.rhai");
    std::fs::write(&script, "puts(ARGV.len()); puts(ARGV[0]); ARGV").unwrap();
    db.cmd()
        .arg("run")
        .arg(&script)
        .args(["first", "second"])
        .assert()
        .success()
        .stdout("2\nfirst\nfirst\nsecond\n");
    db.cmd()
        .args(["run", "-", "x"])
        .write_stdin("print(`hello ${ARGV[0]}`)")
        .assert()
        .success()
        .stdout("hello x\n");
    db.cmd()
        .arg("run")
        .arg(&script)
        .args(["--format", "json", "--", "-a"])
        .assert()
        .success()
        .stdout("[\n  \"-a\"\n]\n")
        .stderr("1\n-a\n");
}

#[test]
fn usage_and_database_errors_exit_2() {
    let db = Db::new();
    db.cmd().arg("--no-such-flag").assert().code(2);
    db.cmd()
        .args(["run", "/no/such/file.rhai"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "cannot read script /no/such/file.rhai",
        ));
    let file = db.scratch().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    Db::bare()
        .arg("--db")
        .arg(&file)
        .args(["-e", "1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a sessionctl database"));
    db.cmd()
        .args(["config", "set", "session_limit", "zero"])
        .assert()
        .code(2);
}

#[test]
fn a_second_process_gets_the_in_use_error_instead_of_hanging() {
    let db = Db::seeded(3, 1);
    let holder = sessionctl::store::open(&db.path(), sessionctl::store::Mode::Create).unwrap();
    db.cmd()
        .args(["-e", "User.count"])
        .timeout(Duration::from_secs(30))
        .assert()
        .code(2)
        .stderr(format!(
            "sessionctl: database {} is in use by another process that takes no attached clients (a data command such as import, backup or check works alone): run the command again once it has ended\n",
            db.path().display()
        ));
    drop(holder);
    // The lock is released from sled's background threads a moment after the drop; opening
    // waits for it instead of failing.
    assert_eq!(db.eval("User.count"), "3");
}

#[test]
fn dry_run_lists_mutations_and_writes_nothing() {
    let db = Db::seeded(20, 3);
    let before = db.eval("ActiveSession.count");
    let export_before = db.cmd().arg("export").output().unwrap().stdout;
    db.cmd()
        .args([
            "--dry-run",
            "-e",
            "ActiveSession.destroy_all; User.create(#{username: \"z\", email: \"z@x.org\"}); 1",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains(format!(
            "dry run: would destroy_all: {before} sessions of"
        )))
        .stderr(predicate::str::contains(
            "; create_user: user z <z@x.org>\n",
        ));
    assert_eq!(db.eval("ActiveSession.count"), before);
    assert_eq!(
        db.cmd().arg("export").output().unwrap().stdout,
        export_before
    );
}

#[test]
fn json_output_parses_back() {
    let db = Db::seeded(4, 2);
    let output = db
        .cmd()
        .args(["--format", "json", "-e", "User.find(1)"])
        .output()
        .unwrap();
    let user: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(user["username"], "exampleuser");
    assert_eq!(user["email"], "user@example.com");
    let output = db
        .cmd()
        .args(["--format", "json", "-e", "ActiveSession.list(User.all)"])
        .output()
        .unwrap();
    let sessions: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(sessions.len().to_string(), db.eval("ActiveSession.count"));
    assert!(
        sessions
            .iter()
            .all(|s| s["session_private_id"].as_str().unwrap().starts_with("2::"))
    );
    let output = db
        .cmd()
        .args([
            "--format",
            "json",
            "-e",
            "#{n: 1, t: now() - now(), list: [true, ()]}",
        ])
        .output()
        .unwrap();
    let map: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        map,
        serde_json::json!({"n": 1, "t": 0, "list": [true, null]})
    );
}

#[test]
fn the_operation_limit_stops_an_endless_script() {
    let db = Db::new();
    db.cmd()
        .args([
            "--max-operations",
            "100000",
            "-e",
            "let n = 0;\nloop { n += 1; }",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("operation limit"));
}

#[test]
fn a_closed_pipe_ends_quietly() {
    let db = Db::new();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .arg("--db")
        .arg(db.path())
        .args(["-e", "for i in 0..10000000 { print(i) }"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "0\n");
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{:?}", output.status);
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

/// Three users, the record of user 2 corrupt.
fn with_a_corrupt_user_record() -> Db {
    let db = Db::seeded(3, 1);
    let store =
        sessionctl::store::SledStore::open(&db.path(), sessionctl::store::Mode::Create).unwrap();
    store
        .raw_insert("users", &2u64.to_be_bytes(), &[0xff, 0xff])
        .unwrap();
    db
}

#[test]
fn a_corrupt_record_under_a_script_is_a_database_error_with_exit_2() {
    let db = with_a_corrupt_user_record();
    db.cmd()
        .args(["-e", "User.find(2)"])
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with(
            "-e:1:6: corrupt user record (user id=2)",
        ));
    assert_eq!(db.eval("User.find(3).id"), "3");
}

/// Printing a relation walks it; expired sessions met on the way are hidden and left in
/// place: reading never writes (issue 10).
#[test]
fn issue_10_printing_a_relation_with_expired_sessions_writes_nothing() {
    let db = Db::with_expired_sessions();
    let stored = || db.stored_sessions();
    let before = stored();
    let live: u64 = db
        .eval("ActiveSession.list(User.all).count")
        .parse()
        .unwrap();
    assert!(live > 0 && live < before, "{live} live of {before}");
    let files = db.files();
    for format in ["text", "json"] {
        db.cmd()
            .args(["--format", format, "-e", "ActiveSession.list(User.all)"])
            .assert()
            .success();
    }
    assert_eq!(
        db.eval("ActiveSession.list(User.all).count"),
        live.to_string()
    );
    assert_eq!(stored(), before, "printing removed the expired sessions");
    assert!(db.files() == files, "printing changed the database files");
}

/// The exit code follows the error's kind, never its text (issue 11): a thrown value is a
/// script error, exit 1, even when it reads like a database failure.
#[test]
fn issue_11_a_thrown_value_is_a_script_error_whatever_it_says() {
    let db = Db::seeded(3, 1);
    for message in [
        "corrupt input",
        "database error: x",
        "corrupt user record (user id=2)",
    ] {
        db.cmd()
            .args(["-e", &format!("throw {message:?}")])
            .assert()
            .code(1)
            .stdout("")
            .stderr(format!("-e:1:1: {message}\nthrow {message:?}\n^\n"));
    }
    db.cmd()
        .args(["-e", "throw #{kind: \"database\"}"])
        .assert()
        .code(1);
}

/// A database failure under a script exits 2 because of its type: caught, it prints its
/// message; rethrown, it is still a database failure.
#[test]
fn issue_11_a_database_failure_is_known_by_its_type_caught_or_rethrown() {
    let db = with_a_corrupt_user_record();
    db.cmd()
        .args([
            "-e",
            "try { User.find(2) } catch (e) { print(`caught: ${e}`) }",
        ])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "caught: corrupt user record (user id=2)",
        ));
    db.cmd()
        .args(["-e", "try { User.find(2) } catch (e) { throw e }"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("corrupt user record (user id=2)"));
    // The same words thrown by the script itself are the script's error.
    db.cmd()
        .args(["-e", "try { User.find(2) } catch (e) { throw `${e}` }"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("corrupt user record (user id=2)"));
}
