//! seed, export, import, config, audit, check, completions, --help and --version through the
//! real binary.

mod common;

use common::Db;
use predicates::prelude::*;

fn export(db: &Db) -> String {
    let output = db.cmd().arg("export").output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn seed_is_deterministic_for_a_seed() {
    let (a, b, c) = (Db::new(), Db::new(), Db::new());
    for (db, seed) in [(&a, "5"), (&b, "5"), (&c, "6")] {
        db.cmd()
            .args([
                "seed",
                "--users",
                "50",
                "--sessions-per-user",
                "3",
                "--seed",
                seed,
            ])
            .assert()
            .success()
            .stdout(predicate::str::is_match("^seeded 50 users with [0-9,]+ sessions\n$").unwrap())
            .stderr("");
    }
    let shape = "let rows = []; for s in ActiveSession.list(User.all) { rows.push(`${s.user.username} ${s.ip_address} ${s.browser} ${s.session_private_id}`) } rows";
    assert_eq!(a.eval(shape), b.eval(shape));
    assert_ne!(a.eval(shape), c.eval(shape));
    assert_eq!(a.eval("User.count"), "50");
    assert_eq!(a.eval("User.find(1).email"), "user@example.com");
}

#[test]
fn export_then_import_round_trips_exactly() {
    let source = Db::seeded(40, 3);
    source.eval("User.find(3).remember_me(); 1");
    let exported = export(&source);
    assert!(
        exported
            .starts_with("{\"type\":\"header\",\"format\":\"sessionctl-export\",\"version\":2}\n")
    );
    let file = source.scratch().join("export.jsonl");
    std::fs::write(&file, &exported).unwrap();
    let target = Db::new();
    target
        .cmd()
        .arg("import")
        .arg(&file)
        .assert()
        .success()
        .stderr(predicate::str::contains("imported 40 users"));
    assert_eq!(export(&target), exported);
    target.cmd().arg("check").assert().success();
    // No secret leaves: only private ids and token hashes.
    assert!(!exported.contains("public_id"));
}

#[test]
fn a_malformed_import_names_the_line_and_field_and_writes_nothing() {
    let source = Db::seeded(5, 2);
    let mut lines: Vec<String> = export(&source).lines().map(str::to_owned).collect();
    let target = Db::seeded(3, 1);
    let before = export(&target);
    let file = target.scratch().join("bad.jsonl");

    lines[3] = lines[3].replace("\"email\":", "\"mail\":");
    std::fs::write(&file, lines.join("\n")).unwrap();
    target
        .cmd()
        .arg("import")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains(format!("{}:4: ", file.display()))
                .and(predicate::str::contains("mail")),
        );

    let mut lines: Vec<String> = export(&source).lines().map(str::to_owned).collect();
    let last = lines.len() - 1;
    lines[last] = lines[last].replacen("\"ip_address\":\"", "\"ip_address\":7,\"x\":\"", 1);
    std::fs::write(&file, lines.join("\n")).unwrap();
    target
        .cmd()
        .arg("import")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            ":{}: field `ip_address`",
            last + 1
        )));
    // A clash with stored users: nothing imported either.
    std::fs::write(&file, export(&source)).unwrap();
    target
        .cmd()
        .arg("import")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{}:2: nothing imported: user id=1 already exists",
            file.display()
        )));
    // A session whose user is missing names its own line.
    let mut lines: Vec<String> = export(&source).lines().map(str::to_owned).collect();
    lines.retain(|l| l.contains("\"type\":\"session\"") || l.contains("\"type\":\"header\""));
    std::fs::write(&file, lines.join("\n")).unwrap();
    Db::missing()
        .cmd()
        .arg("import")
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{}:2: nothing imported: User not found",
            file.display()
        )));
    assert_eq!(export(&target), before);
}

#[test]
fn import_reads_standard_input() {
    let source = Db::seeded(4, 2);
    let target = Db::missing();
    target
        .cmd()
        .args(["import", "-"])
        .write_stdin(export(&source))
        .assert()
        .success()
        .stderr(predicate::str::starts_with("imported 4 users"));
    assert_eq!(export(&target), export(&source));
    target
        .cmd()
        .args(["import", "-"])
        .write_stdin(
            "{\"type\":\"header\",\"format\":\"sessionctl-export\",\"version\":2}\nnot json\n",
        )
        .assert()
        .code(2)
        .stderr(predicate::str::starts_with("sessionctl: stdin:2: not JSON"));
}

#[test]
fn a_dry_run_import_without_a_database_checks_the_file_and_creates_nothing() {
    let source = Db::seeded(4, 2);
    let target = Db::missing();
    let file = target.scratch().join("in.jsonl");
    std::fs::write(&file, export(&source)).unwrap();
    target
        .cmd()
        .args(["import", "--dry-run"])
        .arg(&file)
        .assert()
        .success()
        .stderr(predicate::str::contains("would import 4 users"))
        .stderr(predicate::str::contains("dry run: would import: 4 users"));
    assert!(!target.path().exists(), "nothing is created");
    // Every line is checked: a clash inside the file is found without a database.
    let mut lines: Vec<String> = export(&source).lines().map(str::to_owned).collect();
    let duplicate = lines[1].clone();
    lines.push(duplicate);
    std::fs::write(&file, lines.join("\n")).unwrap();
    target
        .cmd()
        .args(["--dry-run", "import"])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!(
            "{}:{}: nothing imported: user id=1 already exists",
            file.display(),
            lines.len()
        )));
    assert!(!target.path().exists(), "nothing is created");
}

#[test]
fn config_reads_and_changes_settings() {
    let db = Db::new();
    db.eval("1"); // creates the database
    db.cmd()
        .args(["config", "get"])
        .assert()
        .success()
        .stdout("session_limit = 100\nsession_expire_delay = 10080\n");
    db.cmd()
        .args(["config", "set", "session_limit", "3"])
        .assert()
        .success()
        .stdout("session_limit = 3\n");
    db.cmd()
        .args(["config", "get", "session_limit"])
        .assert()
        .success()
        .stdout("3\n");
    db.cmd()
        .args(["config", "set", "colour", "3"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown setting \"colour\""));
    db.cmd()
        .args(["config", "set", "session_expire_delay", "60", "--dry-run"])
        .assert()
        .success();
    db.cmd()
        .args(["config", "get", "session_expire_delay"])
        .assert()
        .success()
        .stdout("10080\n");
    // The limit applies to sign-ins from then on.
    db.eval("let u = User.create(#{username: \"a\", email: \"a@x.org\"}); for i in 0..5 { ActiveSession.set(u, #{ip_address: \"1.1.1.1\", user_agent: \"x\"}) } 1");
    assert_eq!(db.eval("User.find(1).sessions.len()"), "3");
}

#[test]
fn audit_lists_mutations_newest_first() {
    let db = Db::new();
    db.eval("let u = User.create(#{username: \"alice\", email: \"a@x.org\"}); let s = ActiveSession.set(u, #{ip_address: \"1.1.1.1\", user_agent: \"x\"}); s.destroy()");
    let output = db.cmd().args(["audit", "--limit", "10"]).output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let actions: Vec<&str> = text
        .lines()
        .map(|l| l.split("  ").nth(3).unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "destroy_session users=1",
            "sign_in users=1",
            "create_user users=1"
        ],
        "{text}"
    );
    assert!(text.lines().all(|l| l.contains("  -e  ")), "{text}");
    assert_eq!(db.eval("Audit.recent(1)[0].action"), "destroy_session");
}

#[test]
fn check_reports_disagreements_with_exit_1() {
    let db = Db::seeded(5, 2);
    db.cmd()
        .arg("check")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("consistent: 5 users"));
    {
        let store = sessionctl::store::SledStore::open(&db.path(), sessionctl::store::Mode::Create)
            .unwrap();
        store
            .raw_remove("users_by_email", b"user@example.com")
            .unwrap();
    }
    db.cmd()
        .arg("check")
        .assert()
        .code(1)
        .stdout("users_by_email [user@example.com]: user id=1 is not indexed here (the index holds nothing)\n")
        .stderr("1 disagreement found\n");
}

#[test]
fn help_version_and_completions() {
    Db::bare()
        .arg("--version")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("sessionctl "));
    Db::bare()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:"));
    for command in [
        "console",
        "run",
        "seed",
        "export",
        "import",
        "config",
        "audit",
        "check",
        "completions",
    ] {
        Db::bare()
            .args([command, "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains("Example"));
    }
    for shell in ["bash", "zsh", "fish"] {
        Db::bare()
            .args(["completions", shell])
            .assert()
            .success()
            .stdout(predicate::str::contains("sessionctl"));
    }
}

#[test]
fn progress_bars_stay_off_a_non_terminal() {
    let db = Db::missing();
    db.cmd()
        .args(["seed", "--users", "2000", "--sessions-per-user", "1"])
        .assert()
        .success()
        .stdout(predicate::str::is_match("^seeded 2,000 users with [0-9,]+ sessions\n$").unwrap())
        .stderr("");
    db.cmd().arg("export").assert().success().stderr("");
}

#[test]
fn issue_10_only_init_seed_import_and_restore_create_a_database() {
    let db = Db::missing();
    let missing = format!(
        "sessionctl: no database at {0}: nothing was created (create one with `sessionctl --db {0} init`, or with seed, import or restore)\n",
        db.path().display()
    );
    let script = db.scratch().join("count.rhai");
    std::fs::write(&script, "User.count").unwrap();
    let script = script.to_str().unwrap();
    for args in [
        vec!["check"],
        vec!["export"],
        vec!["audit"],
        vec!["config", "get"],
        vec!["config", "set", "session_limit", "5"],
        vec!["-e", "User.count"],
        vec!["run", script],
        vec!["console"],
        vec!["backup", "/dev/null"],
        vec!["--dry-run", "-e", "User.count"],
        vec!["--dry-run", "config", "set", "session_limit", "5"],
    ] {
        db.cmd()
            .args(&args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(missing.clone());
        assert!(!db.path().exists(), "{args:?} created the database");
    }
    // A dry run of a creating command says what it would make, and creates nothing.
    db.cmd()
        .args(["--dry-run", "seed", "--users", "3"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("would seed 3 users"));
    assert!(!db.path().exists(), "a dry run created the database");
    // A bad setting is refused before anything is opened.
    db.cmd()
        .args(["config", "set", "colour", "5"])
        .assert()
        .code(2);
    // An empty directory holds no database either, and stays empty.
    std::fs::create_dir(db.path()).unwrap();
    db.cmd()
        .arg("check")
        .assert()
        .code(2)
        .stderr(missing.clone());
    assert_eq!(std::fs::read_dir(db.path()).unwrap().count(), 0);
    std::fs::remove_dir(db.path()).unwrap();
    // A failed import leaves nothing behind.
    let bad = db.scratch().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"type\":\"header\",\"format\":\"sessionctl-export\",\"version\":1}\nnot json\n",
    )
    .unwrap();
    db.cmd().arg("import").arg(&bad).assert().code(2);
    assert!(!db.path().exists(), "a failed import left a database");
    // The creating commands create it.
    db.cmd().arg("init").assert().success();
    assert!(db.path().join("conf").exists());
    db.cmd().arg("init").assert().code(2);
    assert_eq!(db.eval("User.count"), "0");
}
