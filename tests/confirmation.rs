//! `ActiveSession.destroy_all` asks before revoking everyone, and reads the answer only from a
//! terminal: a console whose standard input is not one refuses unless `--yes` was given, and
//! the following lines are still evaluated as code. (The question at a terminal is tested in
//! `console.rs`.)

mod common;

use common::Db;

const INPUT: &str = "ActiveSession.destroy_all\nActiveSession.count\n";

#[test]
fn a_piped_console_refuses_mass_revocation_without_yes() {
    let db = Db::seeded(5, 2);
    let before = db.eval("ActiveSession.count");
    let owners = db.eval("User.all.to_array().filter(|u| u.sessions.len() > 0).len()");
    let output = db.cmd().arg("console").write_stdin(INPUT).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "ActiveSession.destroy_all needs confirmation: standard input is not a terminal; run again with --yes to revoke {before} sessions of {owners} users"
        )),
        "{stderr}"
    );
    // The next line was code, not an answer: it ran.
    assert!(stdout.contains(&format!("=> {before}\n")), "{stdout}");
    assert_eq!(db.eval("ActiveSession.count"), before);
}

#[test]
fn a_piped_console_revokes_everything_with_yes() {
    let db = Db::seeded(5, 2);
    assert_ne!(db.eval("ActiveSession.count"), "0");
    let output = db
        .cmd()
        .args(["--yes", "console"])
        .write_stdin(INPUT)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(stdout.contains("=> 0\n"), "{stdout}");
    assert_eq!(db.eval("ActiveSession.count"), "0");
}

#[test]
fn a_piped_console_refuses_the_destroy_of_a_where_without_yes() {
    let db = Db::seeded(5, 2);
    let matching = "ActiveSession.where(#{browser: \"%\"})";
    let before = db.eval(&format!("{matching}.count"));
    let owners = db.eval(&format!("{matching}.tally(\"user_id\").len()"));
    let input = format!("{matching}.destroy()\n{matching}.count\n");
    let output = db.cmd().arg("console").write_stdin(input).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "ActiveSession.where(..).destroy needs confirmation: standard input is not a terminal; run again with --yes to revoke {before} sessions of {owners} users"
        )),
        "{stderr}"
    );
    assert_eq!(db.eval(&format!("{matching}.count")), before);
}
