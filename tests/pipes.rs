//! A reader that goes away (`sessionctl ... | head -1`, `| true`) ends every command quietly:
//! exit 0, nothing on standard error, no panic. Any other failure to write standard output
//! (a full disk: `/dev/full`) is an error message and a non-zero exit, never a panic.

mod common;

use std::fs::OpenOptions;
use std::process::{Output, Stdio};

use common::{Db, run_closing_stdout};

/// Bytes read before closing, when the output is long enough to fill the pipe after them.
const ONE_LINE: usize = 100;

/// A database whose sessions, exported or listed, fill the 64 KiB pipe buffer several times.
fn big() -> Db {
    Db::seeded(200, 10)
}

#[test]
fn audit_into_head_ends_quietly() {
    let db = Db::new();
    // 1,000 audit entries (as 1,000 separate runs would leave them; one run's are one entry
    // an action): about 95 KiB of audit lines.
    {
        use sessionctl::store::{Backend, Mode, SledStore};
        let store = SledStore::open(&db.path(), Mode::Write).unwrap();
        for i in 0..1000 {
            store
                .append_audit(&sessionctl::model::AuditEntry {
                    at: chrono::Utc::now(),
                    os_user: "root".into(),
                    origin: "-e".into(),
                    action: "create_user".into(),
                    user_ids: vec![i],
                    sessions: 0,
                    detail: format!("user user{i} <user{i}@example.org>"),
                    session_ids: Vec::new(),
                    count: 1,
                })
                .unwrap();
        }
        store.flush().unwrap();
    }
    sessionctl::store::close_cleanly(&db.path()).unwrap();
    let run = db.run_closing_stdout(ONE_LINE, &["audit", "--limit", "1000"]);
    run.assert_quiet_success();
}

fn completions_into_a_closed_pipe_end_quietly(shell: &str) {
    run_closing_stdout(0, &["completions", shell]).assert_quiet_success();
}

#[test]
fn bash_completions_into_a_closed_pipe_end_quietly() {
    completions_into_a_closed_pipe_end_quietly("bash");
}

#[test]
fn zsh_completions_into_a_closed_pipe_end_quietly() {
    completions_into_a_closed_pipe_end_quietly("zsh");
}

#[test]
fn fish_completions_into_a_closed_pipe_end_quietly() {
    completions_into_a_closed_pipe_end_quietly("fish");
}

#[test]
fn config_get_into_a_closed_pipe_ends_quietly() {
    let db = Db::seeded(1, 1);
    db.run_closing_stdout(0, &["config", "get"])
        .assert_quiet_success();
}

#[test]
fn check_into_a_closed_pipe_ends_quietly() {
    let db = Db::seeded(1, 1);
    db.run_closing_stdout(0, &["check"]).assert_quiet_success();
}

#[test]
fn a_relation_printed_by_eval_into_head_ends_quietly() {
    let db = big();
    let run = db.run_closing_stdout(ONE_LINE, &["-e", "ActiveSession.list(User.all)"]);
    run.assert_quiet_success();
    assert!(run.read.starts_with(b"user #"), "{:?}", run.read);
}

#[test]
fn run_with_json_results_into_head_ends_quietly() {
    let db = big();
    let script = db.scratch().join("sessions.rhai");
    std::fs::write(&script, "ActiveSession.list(User.all)").unwrap();
    let script = script.to_str().unwrap();
    db.run_closing_stdout(ONE_LINE, &["--format", "json", "run", script])
        .assert_quiet_success();
}

#[test]
fn export_into_head_ends_quietly() {
    let db = big();
    db.run_closing_stdout(ONE_LINE, &["export"])
        .assert_quiet_success();
}

#[test]
fn the_console_into_a_closed_pipe_ends_quietly() {
    let db = Db::seeded(1, 1);
    db.run_closing_stdout(0, &["console"])
        .assert_quiet_success();
}

/// Runs `sessionctl --db DB ARGS > /dev/full`.
fn into_a_full_disk(db: &Db, args: &[&str]) -> Output {
    let full = OpenOptions::new().write(true).open("/dev/full").unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .env_remove("RUST_BACKTRACE")
        .arg("--db")
        .arg(db.path())
        .args(args)
        .stdin(Stdio::null())
        .stdout(full)
        .output()
        .unwrap()
}

fn assert_write_error(output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && output.status.code().is_some(),
        "{:?}: {stderr}",
        output.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.starts_with("sessionctl: cannot write to standard output: "),
        "{stderr}"
    );
}

#[test]
fn audit_onto_a_full_disk_is_an_error() {
    let db = Db::seeded(1, 1);
    assert_write_error(&into_a_full_disk(&db, &["audit"]));
}

#[test]
fn a_script_result_onto_a_full_disk_is_an_error() {
    let db = Db::seeded(1, 1);
    assert_write_error(&into_a_full_disk(&db, &["-e", "User.all"]));
}
