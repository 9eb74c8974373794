//! Issue 12, batch and command-line honesty through the real binary: one JSON document (or
//! CSV) on standard output with `puts` on standard error, `run` printing its final value, `-e`
//! refused beside a subcommand, each subcommand taking only the options that act on it, a
//! byte-order mark, Ctrl-C's exit code, one dry-run summary line, and `seed`'s summary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use common::Db;
use predicates::prelude::*;

fn stdout_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stdout.clone()).unwrap()
}

fn stderr_of(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8(assert.get_output().stderr.clone()).unwrap()
}

#[test]
fn json_output_is_one_document_with_puts_on_standard_error() {
    let db = Db::seeded(20, 4);
    for args in [
        &["run", "scripts/heavy_users.rhai", "1", "--format", "json"][..],
        &["run", "scripts/list_sessions.rhai", "--format", "json"],
    ] {
        let assert = db.cmd().args(args).assert().success();
        let stdout = stdout_of(&assert);
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(&stdout);
        assert!(parsed.is_ok(), "{args:?}: not one JSON document:\n{stdout}");
    }
    let assert = db
        .cmd()
        .args(["run", "scripts/heavy_users.rhai", "1", "--format", "json"])
        .assert()
        .success();
    assert!(stderr_of(&assert).contains(" users over 1 sessions:"));
    let assert = db
        .cmd()
        .args(["--format", "json", "-e", "puts(\"hello\"); User.count"])
        .assert()
        .success();
    assert_eq!(stdout_of(&assert), "20\n");
    assert_eq!(stderr_of(&assert), "hello\n");
}

#[test]
fn csv_prints_lists_of_records_and_refuses_other_values() {
    let db = Db::seeded(7, 2);
    let assert = db
        .cmd()
        .args(["-e", "User.all", "--format", "csv"])
        .assert()
        .success();
    let stdout = stdout_of(&assert);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 8, "a header and 7 users:\n{stdout}");
    assert!(lines[0].contains("username") && lines[0].contains("email"));
    assert!(lines[1].contains("exampleuser"));
    let script = db.scratch().join("sessions.rhai");
    std::fs::write(
        &script,
        "puts(\"to stderr\");\nActiveSession.list(User.all)",
    )
    .unwrap();
    let assert = db
        .cmd()
        .arg("run")
        .arg(&script)
        .args(["--format", "csv"])
        .assert()
        .success()
        .stderr("to stderr\n");
    let stdout = stdout_of(&assert);
    assert!(stdout.lines().next().unwrap().contains("ip_address"));
    db.cmd()
        .args(["-e", "42", "--format", "csv"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains(
            "--format csv prints a list of records",
        ));
}

#[test]
fn eval_beside_a_subcommand_is_a_usage_error() {
    let db = Db::seeded(3, 1);
    let before = db.files();
    let script = db.scratch().join("x.rhai");
    std::fs::write(&script, "1").unwrap();
    let export = db.scratch().join("x.jsonl");
    for args in [
        vec!["-e", "User.count", "seed", "--users", "5"],
        vec!["-e", "User.count", "export", export.to_str().unwrap()],
        vec!["-e", "User.count", "run", script.to_str().unwrap()],
    ] {
        db.cmd()
            .args(&args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::contains("-e CODE runs alone"));
    }
    assert!(!export.exists());
    assert!(before == db.files(), "nothing is written");
}

#[test]
fn run_prints_its_final_value_as_eval_does() {
    let db = Db::seeded(3, 1);
    let script = db.scratch().join("value.rhai");
    std::fs::write(&script, "puts(\"first\");\n40 + 2").unwrap();
    db.cmd()
        .arg("run")
        .arg(&script)
        .assert()
        .success()
        .stdout("first\n42\n");
    std::fs::write(&script, "puts(\"only\");\n").unwrap();
    db.cmd()
        .arg("run")
        .arg(&script)
        .assert()
        .success()
        .stdout("only\n");
}

#[test]
fn a_script_may_start_with_a_byte_order_mark() {
    let db = Db::seeded(3, 1);
    let script = db.scratch().join("bom.rhai");
    std::fs::write(&script, "\u{feff}let x = 40;\nx + 2\n").unwrap();
    db.cmd()
        .arg("run")
        .arg(&script)
        .assert()
        .success()
        .stdout("42\n");
}

#[test]
fn each_subcommand_lists_and_takes_only_the_options_that_act_on_it() {
    let help = |command: &str| {
        let assert = Db::bare().args([command, "--help"]).assert().success();
        stdout_of(&assert)
    };
    let run = help("run");
    for option in ["--dry-run", "--format", "--max-operations"] {
        assert!(run.contains(option), "run --help lacks {option}");
    }
    for command in ["backup", "export", "check", "init", "salvage"] {
        let text = help(command);
        for option in ["--dry-run", "--format", "--max-operations"] {
            assert!(!text.contains(option), "{command} --help lists {option}");
        }
    }
    let audit = help("audit");
    assert!(audit.contains("--format") && !audit.contains("--dry-run"));
    let seed = help("seed");
    assert!(seed.contains("--dry-run") && !seed.contains("--format"));
    let db = Db::seeded(3, 1);
    let file = db.scratch().join("b.jsonl");
    db.cmd()
        .args(["--dry-run", "backup"])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--dry-run does nothing for `backup`",
        ));
    assert!(!file.exists());
    db.cmd()
        .args(["--format", "json", "check"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--format does nothing for `check`",
        ));
    db.cmd()
        .args(["--max-operations", "5", "audit"])
        .assert()
        .code(2);
    // Given before `run`, they act on it as after it.
    let script = db.scratch().join("loop.rhai");
    std::fs::write(&script, "let n = 0; loop { n += 1; }").unwrap();
    db.cmd()
        .args(["--max-operations", "1000", "run"])
        .arg(&script)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("operations"));
}

#[test]
fn ctrl_c_stops_a_running_script_with_exit_130() {
    let db = Db::seeded(3, 1);
    let script = db.scratch().join("forever.rhai");
    std::fs::write(&script, "puts(\"started\");\nloop { }\n").unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .arg("--db")
        .arg(db.path())
        .arg("run")
        .arg(&script)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "started\n");
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(130),
        "{:?} {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("interrupted"));
    // Stopped cleanly: the next command opens the database as usual.
    assert_eq!(db.eval("User.count"), "3");
}

#[test]
fn a_dry_run_prints_one_summary_line() {
    let db = Db::seeded(10, 3);
    let before = db.files();
    let assert = db
        .cmd()
        .args(["run", "scripts/revoke_idle.rhai", "0", "--dry-run"])
        .assert()
        .success();
    let stderr = stderr_of(&assert);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("dry run"))
        .collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("dry run: would ")
            && lines[0].contains(" times (")
            && lines[0].ends_with(" users)"),
        "{}",
        lines[0]
    );
    assert!(before == db.files(), "a dry run writes nothing");
}

#[test]
fn seed_says_what_it_made() {
    let db = Db::missing();
    db.cmd()
        .args(["seed", "--users", "5", "--sessions-per-user", "2"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("seeded 5 users with "));
}
