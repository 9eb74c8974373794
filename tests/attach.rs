//! Attaching to the process that holds a store: real holders (a `run -` waiting for its script
//! on standard input, which holds the store and listens while it waits; a console in a
//! pseudo-terminal) and real attached `sessionctl` processes on the same database.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Db;

const TIMEOUT: Duration = Duration::from_secs(20);

fn socket(db: &Db) -> PathBuf {
    db.path().join("sessionctl.sock")
}

/// A `sessionctl run -` holding the store while it waits for its script on standard input.
struct Holding {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Holding {
    fn start(db: &Db) -> Self {
        Self::start_with(db, &[])
    }

    /// A holder `run - OPTIONS`.
    fn start_with(db: &Db, options: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sessionctl"))
            .env_remove("SESSIONCTL_DB")
            .env("NO_COLOR", "1")
            .arg("--db")
            .arg(db.path())
            .args(["run", "-"])
            .args(options)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the holder");
        let stdin = child.stdin.take();
        wait_for_socket(db);
        Self { child, stdin }
    }

    /// Gives the holder `script`, and waits for it to end.
    fn finish(mut self, script: &str) -> Output {
        let mut stdin = self.stdin.take().expect("stdin");
        stdin
            .write_all(script.as_bytes())
            .expect("write the script");
        drop(stdin);
        wait_within(self.child, TIMEOUT)
    }

    fn kill(mut self) {
        self.child.kill().expect("kill the holder");
        self.child.wait().expect("wait for the holder");
    }
}

/// Waits for `child` to end, at most `limit` (then kills it and fails).
fn wait_within(mut child: Child, limit: Duration) -> Output {
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the process did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    child.wait_with_output().expect("wait")
}

fn wait_for_socket(db: &Db) {
    let deadline = Instant::now() + TIMEOUT;
    while UnixStream::connect(socket(db)).is_err() {
        assert!(Instant::now() < deadline, "the holder never listened");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `sessionctl --db DB ARGS` run to its end: (exit code, stdout, stderr).
fn run(db: &Db, args: &[&str]) -> (i32, String, String) {
    let output = db.cmd().args(args).output().expect("run sessionctl");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// An attached `sessionctl -e CODE` with piped output, once it printed its first line.
fn spawn_printing(db: &Db, code: &str) -> (Child, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .env_remove("SESSIONCTL_DB")
        .env("NO_COLOR", "1")
        .arg("--db")
        .arg(db.path())
        .args(["-e", code])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the client");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read the first line");
    assert_eq!(line, "started\n");
    (child, out)
}

fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

#[test]
fn the_socket_is_the_owners_alone_and_goes_with_its_holder() {
    let db = Db::seeded(3, 2);
    let holder = Holding::start(&db);
    let socket_meta = std::fs::symlink_metadata(socket(&db)).unwrap();
    assert!(socket_meta.file_type().is_socket());
    assert_eq!(socket_meta.permissions().mode() & 0o777, 0o600);
    let dir_mode = std::fs::metadata(db.path()).unwrap().permissions().mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    let output = holder.finish("User.count");
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "3\n");
    assert!(!socket(&db).exists(), "the socket outlived its holder");
    // The holder closed the store cleanly: nothing left to recover, nothing damaged.
    db.cmd().arg("check").assert().success();
}

#[test]
fn eval_and_run_attached_behave_as_on_a_free_store() {
    let db = Db::seeded(4, 2);
    let script = db.scratch().join("args.rhai");
    std::fs::write(
        &script,
        "puts(`args: ${ARGV}`);\nlet x = 1;\nx.nonsense()\n",
    )
    .unwrap();
    let fine = db.scratch().join("fine.rhai");
    std::fs::write(
        &fine,
        "puts(`args: ${ARGV}`);\nUser.all.to_array().map(|u| u.username)\n",
    )
    .unwrap();
    let (script, fine) = (script.display().to_string(), fine.display().to_string());
    let cases: Vec<Vec<&str>> = vec![
        vec!["-e", "User.count"],
        vec![
            "-e",
            "puts(\"one\"); puts(\"two\"); User.find_by_username(\"nobody\")",
        ],
        vec!["-e", "User.all"],
        vec!["-e", "1 +"],
        vec!["-e", "User.find(1).nonsense()"],
        vec!["-e", "throw \"stop here\""],
        vec![
            "--format",
            "json",
            "-e",
            "puts(\"aside\"); User.all.to_array()",
        ],
        vec!["--format", "csv", "-e", "User.all.to_array()"],
        vec!["--format", "csv", "-e", "42"],
        vec![
            "--dry-run",
            "-e",
            "ActiveSession.destroy_all(); ActiveSession.count",
        ],
        vec!["--max-operations", "1000", "-e", "loop { }"],
        vec!["--timeout", "300ms", "-e", "loop { }"],
        vec!["run", &script, "a", "b"],
        vec!["run", &fine, "x"],
        vec!["run", &fine, "--format", "json"],
    ];
    // Run on the free store first, then attached to a holder: the same output and exit code.
    let free: Vec<_> = cases.iter().map(|args| run(&db, args)).collect();
    let holder = Holding::start(&db);
    for (args, free) in cases.iter().zip(&free) {
        let attached = run(&db, args);
        assert_eq!(&attached, free, "sessionctl {args:?} attached differs");
    }
    let output = holder.finish("1");
    assert!(output.status.success(), "{output:?}");
    // Spot checks that the comparison compared something.
    assert_eq!(free[0], (0, "4\n".into(), String::new()));
    assert_eq!(free[3].0, 1);
    assert!(free[3].2.starts_with("-e:1:"), "{}", free[3].2);
    assert!(free[12].2.contains("args.rhai:3:"), "{}", free[12].2);
    assert!(
        free[12].1.contains("args: [\"a\", \"b\"]"),
        "{}",
        free[12].1
    );
    assert!(free[9].2.contains("dry run: would"), "{}", free[9].2);
}

#[test]
fn attached_writes_land_in_the_held_store_audited_as_the_attaching_user() {
    let db = Db::seeded(5, 2);
    let holder = Holding::start(&db);
    let (code, out, err) = run(&db, &["-e", "ActiveSession.destroy_all()"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sessions:"), "{out}");
    let (_, out, _) = run(
        &db,
        &[
            "-e",
            "let a = Audit.recent(1)[0]; `${a.action} ${a.origin} ${a.os_user}`",
        ],
    );
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    assert_eq!(out, format!("destroy_all -e {}\n", user.trim()));
    // The holder sees the attached write at once.
    let output = holder.finish("ActiveSession.count");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "0\n");
    db.cmd().arg("check").assert().success();
}

#[test]
fn ctrl_c_stops_a_remote_loop_within_100_ms() {
    let db = Db::seeded(2, 1);
    let holder = Holding::start(&db);
    let (child, _out) = spawn_printing(&db, "puts(\"started\"); loop { }");
    let sent = Instant::now();
    signal(&child, "-INT");
    let output = wait_within(child, TIMEOUT);
    let delay = sent.elapsed();
    eprintln!("Ctrl-C to the attached client's exit: {delay:?}");
    assert_eq!(output.status.code(), Some(130), "{output:?}");
    assert!(delay < Duration::from_millis(100), "took {delay:?}");
    // The holder's evaluation stopped: it answers the next client, and exits promptly.
    assert_eq!(run(&db, &["-e", "User.count"]).1, "2\n");
    let started = Instant::now();
    assert!(holder.finish("1").status.success());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_client_gone_mid_script_stops_its_evaluation_and_leaves_the_store_consistent() {
    let db = Db::seeded(3, 2);
    let holder = Holding::start(&db);
    let sign_in =
        r#"ActiveSession.set(User.find(2), #{ip_address: "10.1.1.1", user_agent: "curl/8"})"#;
    let (mut child, _out) =
        spawn_printing(&db, &format!("puts(\"started\"); loop {{ {sign_in}; }}"));
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    // Stopped: the holder ends at once (it would wait for a running evaluation).
    let started = Instant::now();
    let output = holder.finish("User.count");
    assert!(output.status.success(), "{output:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    db.cmd().arg("check").assert().success();
}

#[test]
fn the_holder_exiting_stops_attached_clients_with_a_clear_error() {
    let db = Db::seeded(2, 1);
    let holder = Holding::start(&db);
    let (child, _out) = spawn_printing(&db, "puts(\"started\"); loop { }");
    assert!(holder.finish("1").status.success());
    let output = wait_within(child, TIMEOUT);
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(
        err.contains("is exiting") && err.contains("run it again"),
        "{err}"
    );
    db.cmd().arg("check").assert().success();
}

#[test]
fn a_stale_socket_of_a_dead_holder_is_replaced() {
    let db = Db::seeded(2, 1);
    Holding::start(&db).kill();
    assert!(socket(&db).exists(), "SIGKILL leaves the socket");
    // Nobody listens: the next command opens the store itself...
    assert_eq!(
        run(&db, &["-e", "User.count"]),
        (0, "2\n".into(), String::new())
    );
    // ...and the next holder listens on a fresh socket.
    let holder = Holding::start(&db);
    assert_eq!(run(&db, &["-e", "User.count"]).1, "2\n");
    assert!(holder.finish("1").status.success());
}

#[test]
fn a_protocol_mismatch_is_a_clear_error_on_both_sides() {
    // A client of another version, speaking to a real holder.
    let db = Db::seeded(2, 1);
    let holder = Holding::start(&db);
    let mut stream = UnixStream::connect(socket(&db)).unwrap();
    stream
        .write_all(b"{\"type\":\"hello\",\"version\":999}\n")
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(
        reply.contains("\"refused\"") && reply.contains("version 999"),
        "{reply}"
    );
    let output = holder.finish("1");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("refused an attached client") && err.contains("version 999"),
        "{err}"
    );

    // A holder of another version, answering a real client.
    let db = Db::seeded(2, 1);
    let listener = UnixListener::bind(socket(&db)).unwrap();
    let fake = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut hello = String::new();
        reader.read_line(&mut hello).unwrap();
        (&stream)
            .write_all(b"{\"type\":\"welcome\",\"version\":999,\"holder\":\"pid 1 (future)\"}\n")
            .unwrap();
        hello
    });
    let (code, _, err) = run(&db, &["-e", "1"]);
    assert!(fake.join().unwrap().contains("\"version\":2"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("protocol version 999") && err.contains("version 2;"),
        "{err}"
    );
}

#[test]
fn serve_on_a_held_store_says_why_it_cannot_attach() {
    let db = Db::seeded(2, 1);
    let holder = Holding::start(&db);
    let (code, _, err) = run(&db, &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("in use by another process (pid")
            && err.contains("`serve` does not attach, it must hold the database itself"),
        "{err}"
    );
    // A bad argument is told as such, not as the store being held.
    let (code, _, err) = run(&db, &["config", "set", "session_limit", "0"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("session_limit") && !err.contains("in use"),
        "{err}"
    );
    assert!(holder.finish("1").status.success());
}

/// A `sessionctl console` in a pseudo-terminal (no colour), and what it has written so far.
struct Console {
    session: expectrl::Session,
    raw: Vec<u8>,
    seen: usize,
}

/// A fresh prompt, on a new line.
const PROMPT: &str = "\n\rsessionctl> ";

impl Console {
    fn open(db: &Db) -> Self {
        Self::open_env(db, &[])
    }

    /// A console with `env` set too.
    fn open_env(db: &Db, env: &[(&str, &str)]) -> Self {
        let mut console = Self::spawn(db, &["console"], env);
        console.expect(PROMPT);
        console.expect(" live session");
        console.expect("sessionctl> ");
        console
    }

    /// `sessionctl --db DB ARGS` in a pseudo-terminal, with `env` set.
    fn spawn(db: &Db, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sessionctl"));
        command
            .env_remove("SESSIONCTL_DB")
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .env("TERM", "xterm-256color")
            .env("SESSIONCTL_HISTORY", db.scratch().join("history.txt"))
            .arg("--db")
            .arg(db.path())
            .args(args);
        let mut session = expectrl::Session::spawn(command).expect("spawn sessionctl");
        session
            .get_process_mut()
            .set_window_size(200, 50)
            .expect("set the pty size");
        Self {
            session,
            raw: Vec::new(),
            seen: 0,
        }
    }

    fn text(&self) -> String {
        let raw = String::from_utf8_lossy(&self.raw);
        let mut out = String::new();
        let mut chars = raw.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\x1b' {
                out.push(c);
            } else if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        }
        out
    }

    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let text = self.text();
            if let Some(at) = text[self.seen..].find(needle) {
                let end = self.seen + at + needle.len();
                let found = text[self.seen..end].to_owned();
                self.seen = end;
                return found;
            }
            let mut buf = [0u8; 4096];
            match self.session.try_read(&mut buf) {
                Ok(n) if n > 0 => self.raw.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => panic!("the console ended before {needle:?}:\n{text}"),
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?}; the console showed:\n{text}"
            );
        }
    }

    fn send(&mut self, keys: &str) {
        self.session.write_all(keys.as_bytes()).expect("write");
        self.session.flush().expect("flush");
    }

    fn run(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r"));
        self.expect(line);
        self.expect(PROMPT)
    }

    /// Sends `exit` and returns the exit code.
    fn exit(mut self) -> Option<i32> {
        self.send("exit\r");
        self.wait()
    }

    /// Waits for the process to end and returns its exit code.
    fn wait(self) -> Option<i32> {
        match self.session.get_process().wait().expect("wait") {
            expectrl::WaitStatus::Exited(_, code) => Some(code),
            _ => None,
        }
    }
}

#[test]
fn consoles_attach_to_a_console_and_work_as_on_a_free_store() {
    let db = Db::seeded(5, 2);
    let sessions = db.eval("ActiveSession.count");
    let mut holder = Console::open(&db);
    // `-e` attaches to the console.
    assert_eq!(run(&db, &["-e", "User.count"]).1, "5\n");

    let mut first = Console::open(&db);
    let banner = first.text();
    assert!(
        banner.contains("attached to pid") && banner.contains("(console)"),
        "{banner}"
    );
    let mut second = Console::open(&db);

    // Tables, `_`, variables of one's own, completion of the remote variables.
    let table = first.run("User.all");
    assert!(
        table.contains("Username") && table.contains("5 users"),
        "{table}"
    );
    let name = first.run("_[0].username");
    assert!(name.contains("=> \""), "{name}");
    // psql's expanded view is the attached person's own.
    assert!(first.run("\\x on").contains("Expanded display is on."));
    let expanded = first.run("User.all");
    assert!(expanded.contains("-[ RECORD 0 ]"), "{expanded}");
    let table = second.run("User.all");
    assert!(!table.contains("RECORD"), "{table}");
    first.run("let remote_only = 42");
    first.send("remote_on\t");
    first.expect("remote_only");
    first.send("\r");
    assert!(first.expect(PROMPT).contains("=> 42"));
    let other = second.run("remote_only");
    assert!(
        other.contains("not found") || other.contains("Unknown"),
        "{other}"
    );

    // Ctrl-C stops a remote loop.
    second.send("puts(\"looping\"); loop { }\r");
    second.expect("looping\r\n");
    second.send("\x03");
    second.expect("Interrupted.");
    second.expect(PROMPT);

    // The destroy_all question is the attached person's.
    first.send("ActiveSession.destroy_all\r");
    let question = first.expect("? [y/N]");
    assert!(
        question.contains(&format!("Revoke {sessions} sessions")),
        "{question}"
    );
    first.send("n\r");
    assert!(first.expect(PROMPT).contains("Nothing revoked."));
    first.send("ActiveSession.destroy_all\r");
    first.expect("? [y/N]");
    first.send("y\r");
    first.expect(PROMPT);
    // Every console sees the same store.
    assert!(second.run("ActiveSession.count").contains("=> 0"));
    assert!(holder.run("ActiveSession.count").contains("=> 0"));
    holder.send("Audit.recent(1)[0].origin\r");
    let audited = holder.expect(PROMPT);
    assert!(audited.contains("=> \"console\""), "{audited}");

    assert_eq!(second.exit(), Some(0));
    // The holder leaves: the attached console is told at its next input.
    assert_eq!(holder.exit(), Some(0));
    first.send("User.count\r");
    first.expect("is exiting");
    db.cmd().arg("check").assert().success();
}

/// `sessionctl --db DB ARGS` run from `cwd` with `stdin`: (exit code, stdout, stderr).
fn run_in(db: &Db, cwd: &std::path::Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let output = db
        .cmd()
        .current_dir(cwd)
        .args(args)
        .write_stdin(stdin)
        .output()
        .expect("run sessionctl");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const HEADER: &str = "{\"type\":\"header\",\"format\":\"sessionctl-export\",\"version\":2}\n";

#[test]
fn data_commands_attached_behave_as_on_a_free_store() {
    let db = Db::seeded(6, 2);
    // Relative paths, from a working directory of the client's that the holder does not share.
    let work = db.scratch().join("work");
    std::fs::create_dir(&work).unwrap();
    let bad = format!("{HEADER}\n{{\"type\":\"user\",\"id\":\"seven\"}}\n");
    std::fs::write(work.join("bad.jsonl"), &bad).unwrap();
    let (_, export, _) = run(&db, &["export"]);
    std::fs::write(work.join("good.jsonl"), &export).unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["export"], ""),
        (vec!["audit"], ""),
        (vec!["audit", "--format", "json"], ""),
        (vec!["audit", "--format", "csv", "--limit", "1"], ""),
        (
            vec![
                "audit", "--user", "1", "--since", "7d", "--action", "import",
            ],
            "",
        ),
        (vec!["audit", "--user", "nobody"], ""),
        (vec!["config", "get"], ""),
        (vec!["config", "get", "session_limit"], ""),
        (vec!["config", "get", "nonsense"], ""),
        (vec!["config", "set", "session_limit", "1"], ""),
        (vec!["config", "set", "session_limit", "1", "--dry-run"], ""),
        (
            vec![
                "config",
                "set",
                "session_expire_delay",
                "20000",
                "--dry-run",
            ],
            "y\n",
        ),
        (vec!["check"], ""),
        (vec!["seed", "--users", "3", "--dry-run"], ""),
        (vec!["import", "bad.jsonl"], ""),
        (vec!["import", "missing.jsonl"], ""),
        (vec!["import", "good.jsonl", "--dry-run"], ""),
        (vec!["import", "-", "--dry-run"], &bad),
        (vec!["import", "-", "--dry-run"], &export),
        (vec!["init"], ""),
        (vec!["restore", "good.jsonl"], ""),
        (vec!["export", "/nonexistent/directory/x.jsonl"], ""),
    ];
    let run_all = || -> Vec<_> {
        cases
            .iter()
            .map(|(args, stdin)| run_in(&db, &work, args, stdin))
            .collect()
    };
    // On the free store first, then attached to a holder: the same output and exit code.
    let free = run_all();
    let holder = Holding::start(&db);
    let attached = run_all();
    for (((args, _), free), attached) in cases.iter().zip(&free).zip(&attached) {
        assert_eq!(attached, free, "sessionctl {args:?} attached differs");
    }
    let output = holder.finish("User.count");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "6\n");
    spot_check(&free);
    db.cmd().arg("check").assert().success();
}

/// Checks that the comparison of `data_commands_attached_behave_as_on_a_free_store` compared
/// something: what its cases printed on the free store.
fn spot_check(free: &[(i32, String, String)]) {
    assert!(free[0].1.starts_with(HEADER), "{}", free[0].1);
    assert_eq!(free[1].1.lines().count(), 1, "{}", free[1].1);
    assert!(free[1].1.contains("  seed  import"), "{}", free[1].1);
    assert!(
        free[3].1.starts_with("action,at,count,detail,origin"),
        "{}",
        free[3].1
    );
    assert!(free[5].2.contains("no user with username \"nobody\""));
    assert_eq!(free[7], (0, "100\n".into(), String::new()));
    assert_eq!(free[8].0, 2);
    assert!(
        free[9].0 == 2 && free[9].2.contains("run again with --yes to go ahead"),
        "{:?}",
        free[9]
    );
    assert!(free[10].2.contains(", ending "), "{:?}", free[10]);
    assert!(free[11].2.starts_with("dry run: would"), "{:?}", free[11]);
    assert!(
        free[12].1.starts_with("consistent: 6 users"),
        "{:?}",
        free[12]
    );
    assert!(
        free[13].1.starts_with("would seed 3 users"),
        "{:?}",
        free[13]
    );
    assert!(
        free[14].2.starts_with("sessionctl: bad.jsonl:3: "),
        "{:?}",
        free[14]
    );
    assert!(
        free[15].2.contains("cannot read missing.jsonl"),
        "{:?}",
        free[15]
    );
    assert!(
        free[17].2.starts_with("sessionctl: stdin:3: "),
        "{:?}",
        free[17]
    );
    assert!(
        free[19].2.contains("already holds a database"),
        "{:?}",
        free[19]
    );
    assert!(
        free[20].2.contains("already holds a database"),
        "{:?}",
        free[20]
    );
    assert_eq!(free[21].0, 2, "{:?}", free[21]);
}

#[test]
fn attached_data_commands_write_to_the_held_store_audited_as_the_attaching_user() {
    let source = Db::seeded(2, 1);
    let file = source.scratch().join("two.jsonl");
    std::fs::write(&file, run(&source, &["export"]).1).unwrap();
    let file = file.display().to_string();
    let steps: [&[&str]; 4] = [
        &["import", &file],
        &["seed", "--users", "4", "--seed", "3"],
        &["config", "set", "session_limit", "1", "--yes"],
        &["config", "set", "session_expire_delay", "20000"],
    ];
    let (free, held) = (Db::new(), Db::new());
    let holder = Holding::start(&held);
    for step in steps {
        let local = run(&free, step);
        assert_eq!(local.0, 0, "{step:?}: {local:?}");
        assert_eq!(
            run(&held, step),
            local,
            "sessionctl {step:?} attached differs"
        );
    }
    // The holder sees what was written through it at once.
    let output = holder.finish("User.count");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "6\n");
    let entries = |db: &Db| -> Vec<(String, String, String)> {
        run(db, &["audit", "--format", "json"])
            .1
            .lines()
            .map(|line| {
                let entry: serde_json::Value = serde_json::from_str(line).unwrap();
                let text = |field: &str| entry[field].as_str().unwrap().to_owned();
                (text("os_user"), text("origin"), text("action"))
            })
            .collect()
    };
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap();
    let held_entries = entries(&held);
    assert_eq!(held_entries, entries(&free));
    let origins: Vec<&str> = held_entries
        .iter()
        .map(|(_, origin, _)| origin.as_str())
        .collect();
    assert!(
        origins.contains(&format!("import {file}").as_str())
            && origins.contains(&"seed")
            && origins.contains(&"config"),
        "{held_entries:?}"
    );
    assert!(
        held_entries
            .iter()
            .all(|(os_user, _, _)| os_user == user.trim()),
        "{held_entries:?}"
    );
    held.cmd().arg("check").assert().success();
}

#[test]
fn an_attached_import_reads_the_clients_standard_input_in_chunks() {
    let source = Db::seeded(400, 3);
    let export = run(&source, &["export"]).1;
    // Three frames of standard input (256 KiB each), at least.
    assert!(export.len() > 512 * 1024, "{}", export.len());
    let target = Db::new();
    let holder = Holding::start(&target);
    let (code, out, err) = run_in(&target, target.scratch(), &["import", "-"], &export);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(err.starts_with("imported 400 users, "), "{err}");
    assert!(holder.finish("1").status.success());
    assert_eq!(run(&target, &["export"]).1, export);
}

#[test]
fn export_backup_and_salvage_files_land_in_the_clients_working_directory() {
    let db = Db::seeded(3, 1);
    let work = db.scratch().join("client");
    std::fs::create_dir(&work).unwrap();
    let commands: [&[&str]; 3] = [
        &["export", "out.jsonl"],
        &["backup", "backup.jsonl"],
        &["salvage", "salvaged.jsonl"],
    ];
    let written = |args: &[&str]| {
        let result = run_in(&db, &work, args, "");
        let file = work.join(args[1]);
        let contents = std::fs::read_to_string(&file).expect("the file was written");
        std::fs::remove_file(file).unwrap();
        (result, contents)
    };
    let free: Vec<_> = commands.iter().map(|args| written(args)).collect();
    let holder = Holding::start(&db);
    for (args, free) in commands.iter().zip(&free) {
        assert_eq!(&written(args), free, "sessionctl {args:?} attached differs");
        // Not in the holder's working directory.
        assert!(!std::path::Path::new(args[1]).exists());
    }
    assert!(holder.finish("1").status.success());
    assert!(free[0].1.starts_with(HEADER));
    assert_eq!(free[1].0.2, "backed up 3 users to backup.jsonl\n");
    assert_eq!(free[2].0.2, "backed up 3 users to salvaged.jsonl\n");
    // Salvaging a store in use reads the live store: a backup.
    assert_eq!(free[1].1, free[2].1);
}

#[test]
fn lowering_a_setting_attached_asks_at_the_clients_terminal() {
    let db = Db::seeded(5, 3);
    let holder = Holding::start(&db);
    let mut client = Console::spawn(&db, &["config", "set", "session_limit", "1"], &[]);
    client.expect("session_limit 100 -> 1 ends ");
    client.expect(". Go ahead? [y/N] ");
    client.send("n\r");
    client.expect("Nothing changed.");
    assert_eq!(client.wait(), Some(0));
    assert_eq!(run(&db, &["config", "get", "session_limit"]).1, "100\n");
    let mut client = Console::spawn(&db, &["config", "set", "session_limit", "1"], &[]);
    client.expect("Go ahead? [y/N] ");
    client.send("y\r");
    client.expect("session_limit = 1");
    assert_eq!(client.wait(), Some(0));
    let output = holder
        .finish("ActiveSession.list(User.all).to_array().map(|s| s.user_id).len() <= User.count");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "true\n",
        "{output:?}"
    );
    assert_eq!(run(&db, &["config", "get", "session_limit"]).1, "1\n");
}

#[test]
fn ctrl_c_stops_an_attached_import_and_nothing_is_written() {
    let db = Db::seeded(2, 1);
    let holder = Holding::start(&db);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .env_remove("SESSIONCTL_DB")
        .env("NO_COLOR", "1")
        .arg("--db")
        .arg(db.path())
        .args(["import", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the client");
    // Part of an import, its standard input left open.
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(HEADER.as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    signal(&child, "-INT");
    let output = wait_within(child, TIMEOUT);
    let delay = sent.elapsed();
    eprintln!("Ctrl-C to the attached import's exit: {delay:?}");
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{err}");
    assert_eq!(
        err,
        "sessionctl: interrupted: nothing read from stdin was written\n"
    );
    assert!(delay < Duration::from_millis(100), "took {delay:?}");
    drop(stdin);
    assert_eq!(run(&db, &["-e", "User.count"]).1, "2\n");
    assert!(holder.finish("1").status.success());
}

#[test]
fn an_attached_command_draws_no_progress_on_the_holders_terminal() {
    let db = Db::seeded(2, 1);
    let mut holder = Console::open(&db);
    let (code, out, err) = run(&db, &["seed", "--users", "3000"]);
    assert_eq!((code, err.as_str()), (0, ""), "{out}");
    assert!(out.starts_with("seeded 3,000 users"), "{out}");
    assert_eq!(run(&db, &["check"]).0, 0);
    let shown = holder.run("User.count");
    assert!(shown.contains("=> 3002"), "{shown}");
    let text = holder.text();
    assert!(
        !text.contains("seeding") && !text.contains("checking"),
        "{text}"
    );
    assert_eq!(holder.exit(), Some(0));
}

#[test]
fn a_dry_run_holder_serves_reading_commands_and_refuses_writing_ones() {
    let db = Db::seeded(3, 1);
    let free = run(&db, &["export"]);
    let holder = Holding::start_with(&db, &["--dry-run"]);
    assert_eq!(run(&db, &["export"]), free);
    assert_eq!(run(&db, &["config", "get", "session_limit"]).1, "100\n");
    let (code, _, err) = run(&db, &["config", "set", "session_limit", "50"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("opened it for reading only"), "{err}");
    let (code, _, err) = run(&db, &["config", "set", "session_limit", "50", "--dry-run"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.starts_with("dry run: would"), "{err}");
    assert!(holder.finish("1").status.success());
    assert_eq!(run(&db, &["config", "get", "session_limit"]).1, "100\n");
}

#[test]
fn ctrl_c_stops_an_attached_seed_before_it_writes() {
    let db = Db::seeded(2, 1);
    let holder = Holding::start(&db);
    let child = Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .env_remove("SESSIONCTL_DB")
        .env("NO_COLOR", "1")
        .arg("--db")
        .arg(db.path())
        .args(["seed", "--users", "2000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the client");
    // Generating two million users takes the holder far longer than this.
    std::thread::sleep(Duration::from_millis(500));
    let sent = Instant::now();
    signal(&child, "-INT");
    let output = wait_within(child, TIMEOUT);
    eprintln!("Ctrl-C to the attached seed's exit: {:?}", sent.elapsed());
    let err = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{err}");
    assert_eq!(err, "sessionctl: interrupted: nothing seeded\n");
    assert!(
        sent.elapsed() < Duration::from_millis(100),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(run(&db, &["-e", "User.count"]).1, "2\n");
    assert!(holder.finish("1").status.success());
    db.cmd().arg("check").assert().success();
}

/// A table's time in the zone `minutes` east of UTC, named `name`.
fn shown_in(at: chrono::DateTime<chrono::Utc>, minutes: i32, name: &str) -> String {
    let zone = chrono::FixedOffset::east_opt(minutes * 60).unwrap();
    format!(
        "{} {name}",
        at.with_timezone(&zone).format("%Y-%m-%d %H:%M")
    )
}

/// The inspect form of a time in the zone `minutes` east of UTC.
fn inspected_in(at: chrono::DateTime<chrono::Utc>, minutes: i32) -> String {
    let zone = chrono::FixedOffset::east_opt(minutes * 60).unwrap();
    at.with_timezone(&zone)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

#[test]
fn attached_clients_see_times_in_their_own_zone_at_once() {
    let db = Db::seeded(1, 1);
    let at: chrono::DateTime<chrono::Utc> = db
        .eval("User.find(1).last_sign_in_at")
        .parse()
        .expect("RFC 3339");
    // Zones without daylight saving time, so that the names do not depend on the date.
    let mut holder = Console::open_env(&db, &[("TZ", "America/Sao_Paulo")]);
    let mut tokyo = Console::open_env(&db, &[("TZ", "Asia/Tokyo")]);
    let mut kolkata = Console::open_env(&db, &[("TZ", ":Asia/Kolkata")]);
    let (in_tokyo, in_kolkata, in_sao_paulo) = (
        shown_in(at, 9 * 60, "JST"),
        shown_in(at, 5 * 60 + 30, "IST"),
        shown_in(at, -3 * 60, "-03:00"),
    );
    // Turn by turn, each console its own zone: a zone switched for the whole holder would
    // show one of them the other's.
    for _ in 0..2 {
        let table = tokyo.run("User.all");
        assert!(table.contains(&in_tokyo), "{in_tokyo} not in\n{table}");
        let table = kolkata.run("User.all");
        assert!(table.contains(&in_kolkata), "{in_kolkata} not in\n{table}");
    }
    // (A signature hint redraws the line as it is typed: wait for the prompt alone.)
    tokyo.send("User.find(1).last_sign_in_at\r");
    let value = tokyo.expect(PROMPT);
    let expected = inspected_in(at, 9 * 60);
    assert!(
        value.contains(&format!("=> {expected}")),
        "{expected} not in\n{value}"
    );
    let table = holder.run("User.all");
    assert!(
        table.contains(&in_sao_paulo),
        "{in_sao_paulo} not in\n{table}"
    );

    // `-e` attached: its own zone too (a POSIX rule; a zone nobody knows is UTC).
    for (tz, minutes) in [("JST-9", 9 * 60), ("Nowhere/Land", 0)] {
        let output = db
            .cmd()
            .env("TZ", tz)
            .args(["-e", "pp(User.find(1).last_sign_in_at)"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        // `pp` shows the inspect form, in the zone; then `-e` prints the value, in UTC.
        let out = String::from_utf8_lossy(&output.stdout).into_owned();
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            [inspected_in(at, minutes), inspected_in(at, 0)],
            "TZ={tz}"
        );
    }
    let table = kolkata.run("User.all");
    assert!(table.contains(&in_kolkata), "{in_kolkata} not in\n{table}");
    assert_eq!(tokyo.exit(), Some(0));
    assert_eq!(kolkata.exit(), Some(0));
    assert_eq!(holder.exit(), Some(0));
}
