//! The interactive console, driven through a pseudo-terminal as a person would: completion,
//! history across runs, multi-line input, tables, Ctrl-C, the destroy-all question, Ruby-habit
//! hints and `NO_COLOR`. Output is matched with ANSI escapes stripped, waiting up to 10 s.

mod common;

use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::Db;
use expectrl::{Session, WaitStatus};

const TIMEOUT: Duration = Duration::from_secs(10);
/// A fresh prompt, on a new line: rustyline draws it as `\r`, clear line, prompt; a redraw of
/// the line being edited is not preceded by a newline.
const PROMPT: &str = "\n\rsessionctl> ";
/// The end of the banner's counts, which the console prints above its first prompt once they
/// are counted.
const COUNTS: &str = " live session";

/// `sessionctl console` in a pseudo-terminal, and everything it has written so far.
struct Console {
    session: Session,
    raw: Vec<u8>,
    /// How much of the stripped output earlier expectations consumed.
    seen: usize,
}

impl Console {
    /// A console on `db` without colour, keeping its history in `history`.
    fn open(db: &Db, history: &Path) -> Self {
        Self::open_with(db, history, &[], true)
    }

    fn open_with(db: &Db, history: &Path, args: &[&str], no_color: bool) -> Self {
        Self::open_env(db, history, args, no_color, &[])
    }

    /// [`Console::open_with`], with `env` set: paging is off (`PAGER` empty) unless `env` says.
    fn open_env(
        db: &Db,
        history: &Path,
        args: &[&str],
        no_color: bool,
        env: &[(&str, &str)],
    ) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sessionctl"));
        command
            .env_remove("SESSIONCTL_DB")
            .env_remove("NO_COLOR")
            .env("PAGER", "")
            .envs(env.iter().copied())
            .env("TERM", "xterm-256color")
            .env("SESSIONCTL_HISTORY", history)
            .arg("--db")
            .arg(db.path())
            .args(args)
            .arg("console");
        if no_color {
            command.env("NO_COLOR", "1");
        }
        let mut session = Session::spawn(command).expect("spawn the console in a pty");
        // Wide enough that tables keep one line a row.
        session
            .get_process_mut()
            .set_window_size(200, 50)
            .expect("set the pty size");
        let mut console = Self {
            session,
            raw: Vec::new(),
            seen: 0,
        };
        console.expect(PROMPT);
        // The counts come after the prompt; wait for them and the prompt drawn again, so that
        // they do not interrupt what a test types.
        console.expect(COUNTS);
        console.expect("sessionctl> ");
        console
    }

    /// The output so far without escape sequences.
    fn text(&self) -> String {
        strip_ansi(&String::from_utf8_lossy(&self.raw))
    }

    /// Reads what is available; false at the end of the output.
    fn pump(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        match self.session.try_read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                self.raw.extend_from_slice(&buf[..n]);
                true
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
                true
            }
            // Linux reports the closed pty as EIO.
            Err(_) => false,
        }
    }

    /// Waits until `needle` appears after what earlier expectations matched; returns the text
    /// from there up to and including it.
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
            assert!(
                self.pump() && Instant::now() < deadline,
                "timed out waiting for {needle:?}; the console showed:\n{text}\nraw: {:?}",
                String::from_utf8_lossy(&self.raw)
            );
        }
    }

    fn send(&mut self, keys: &str) {
        self.session
            .write_all(keys.as_bytes())
            .expect("write to the pty");
        self.session.flush().expect("flush the pty");
    }

    /// Types `line` and Enter, and waits for the next prompt; returns what was printed between.
    fn run(&mut self, line: &str) -> String {
        self.send(&format!("{line}\r"));
        self.expect(line);
        self.expect(PROMPT)
    }

    /// Leaves with `exit` and returns the exit status.
    fn exit(mut self) -> WaitStatus {
        self.send("exit\r");
        let deadline = Instant::now() + TIMEOUT;
        while self.pump() {
            assert!(
                Instant::now() < deadline,
                "the console did not exit:\n{}",
                self.text()
            );
        }
        self.session
            .get_process()
            .wait()
            .expect("wait for the console")
    }
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match chars.next() {
            // CSI: parameters, then one final byte in @..~.
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // OSC: up to BEL or ESC \.
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\x07' || (c == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Whether `raw` holds an SGR (colour or style) escape.
fn has_sgr(raw: &[u8]) -> bool {
    let text = String::from_utf8_lossy(raw);
    text.match_indices("\x1b[").any(|(at, _)| {
        let rest = &text[at + 2..];
        let params = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ';')
            .count();
        rest[params..].starts_with('m')
    })
}

fn exited_ok(status: WaitStatus) -> bool {
    matches!(status, WaitStatus::Exited(_, 0))
}

fn history_file(db: &Db) -> PathBuf {
    db.scratch().join("history.txt")
}

#[test]
fn the_banner_names_the_database_and_counts_users_and_live_sessions() {
    // About half the sessions expired long ago: still stored, no longer live.
    let db = Db::with_expired_sessions();
    let live = db.eval("ActiveSession.list(User.all).count");
    assert!(db.stored_sessions() > live.parse().unwrap());
    let console = Console::open(&db, &history_file(&db));
    let text = console.text();
    let lines: Vec<&str> = text.split(['\n', '\r']).map(str::trim_end).collect();
    let banner = format!("sessionctl console on {}", db.path().display());
    let counts = format!("30 users, {live} live sessions");
    let at = |line: &str| {
        lines
            .iter()
            .position(|l| *l == line)
            .unwrap_or_else(|| panic!("no line {line:?} in\n{text}"))
    };
    let prompt = lines
        .iter()
        .position(|l| l.starts_with("sessionctl>"))
        .unwrap_or_else(|| panic!("no prompt in\n{text}"));
    assert!(text.contains("Type help"), "{text}");
    // The banner, then the prompt (which does not wait for the sessions to be counted), then
    // the counts above it.
    assert!(at(&banner) < prompt && prompt < at(&counts), "{text}");
    assert!(exited_ok(console.exit()));
}

#[test]
fn tab_completes_methods_of_active_session() {
    let db = Db::seeded(3, 2);
    let expected = db.eval("ActiveSession.list(User.find(1)).len()");
    let mut console = Console::open(&db, &history_file(&db));
    console.send("ActiveSession.li\t");
    console.expect("ActiveSession.list");
    let out = console.run("(User.find(1)).len()");
    assert!(out.contains(&format!("=> {expected}")), "{out}");
    assert!(exited_ok(console.exit()));
}

#[test]
fn history_survives_a_restart() {
    let db = Db::new();
    let history = history_file(&db);
    let mut console = Console::open(&db, &history);
    assert!(console.run("40 + 2").contains("=> 42"));
    assert!(exited_ok(console.exit()));
    assert!(
        std::fs::read_to_string(&history)
            .expect("the history file")
            .contains("40 + 2")
    );

    let mut console = Console::open(&db, &history);
    console.send("\x1b[A"); // Up: the previous run's line
    console.expect("40 + 2");
    console.send("\r");
    assert!(console.expect(PROMPT).contains("=> 42"));
    assert!(exited_ok(console.exit()));
}

#[test]
fn an_unreadable_history_file_is_only_a_warning() {
    let db = Db::new();
    // A directory where the file should be: neither readable nor writable as history.
    let history = db.scratch().join("history-dir");
    std::fs::create_dir(&history).unwrap();
    let mut console = Console::open(&db, &history);
    assert!(console.text().contains("warning:"), "{}", console.text());
    assert!(console.run("1 + 1").contains("=> 2"));
    assert!(exited_ok(console.exit()));
}

#[test]
fn an_unfinished_closure_continues_on_the_next_lines() {
    let db = Db::new();
    let mut console = Console::open(&db, &history_file(&db));
    console.send("let double = |x| {\r");
    console.send("  x * 2\r");
    console.send("}\r");
    let out = console.expect(PROMPT);
    assert!(!out.contains("error") && !out.contains("console:"), "{out}");
    let out = console.run("double.call(21)");
    assert!(out.contains("=> 42"), "{out}");
    assert!(exited_ok(console.exit()));
}

#[test]
fn lists_of_users_print_as_a_table() {
    let db = Db::seeded(25, 1);
    let mut console = Console::open(&db, &history_file(&db));
    let out = console.run("User.all");
    for column in [
        "ID",
        "Username",
        "Email",
        "State",
        "Last sign-in",
        "exampleuser",
    ] {
        assert!(out.contains(column), "{column} missing from\n{out}");
    }
    assert!(out.contains("… 5 more (25 users in all)"), "{out}");
    let out = console.run("ActiveSession.list(User.all)");
    for column in [
        "User",
        "IP",
        "Browser",
        "OS",
        "Device",
        "Signed in",
        "Last active",
        "Flags",
        "sessions",
    ] {
        assert!(out.contains(column), "{column} missing from\n{out}");
    }
    assert!(exited_ok(console.exit()));
}

#[test]
fn tables_fit_an_80_column_terminal_and_number_their_rows() {
    let db = Db::seeded(25, 3);
    let ips: Vec<String> = db
        .eval("ActiveSession.list(User.all).map(|s| s.ip_address)")
        .lines()
        .map(str::to_owned)
        .collect();
    let mut console = Console::open(&db, &history_file(&db));
    for line in [
        "let l = ActiveSession.list(User.all).to_array()\r",
        "let one = ActiveSession.list(User.find(2))\r",
    ] {
        console.send(line);
        console.expect(PROMPT);
    }
    console
        .session
        .get_process_mut()
        .set_window_size(80, 50)
        .expect("set the pty size");
    let out = console.run("l");
    let table: Vec<&str> = out.lines().filter(|l| l.starts_with('│')).collect();
    assert!(!table.is_empty(), "{out}");
    for line in &table {
        assert!(
            line.chars().count() <= 80,
            "wider than 80 columns: {line}\n{out}"
        );
    }
    for ip in &ips[..20] {
        assert!(
            out.contains(ip.as_str()),
            "{ip} broken or missing in\n{out}"
        );
    }
    // Row 3 of the table is `l[3]`.
    let row3 = table.iter().find(|l| l.starts_with("│ 3 ")).expect("row 3");
    assert!(row3.contains(ips[3].as_str()), "{row3}\n{out}");
    assert!(out.contains("puts(_) prints every one"), "{out}");
    let out = console.run("l[3].ip_address");
    assert!(out.contains(&format!("=> \"{}\"", ips[3])), "{out}");
    // One user's sessions: no User column, the footer names the user.
    let out = console.run("one");
    assert!(out.contains("sessions of #2 "), "{out}");
    assert!(!out.contains("User"), "{out}");
    // The audit log is a table of records too.
    let out = console.run("Audit.recent(5)");
    assert!(
        out.contains("action") && out.contains("detail") && out.contains("│ 0 "),
        "{out}"
    );
    assert!(out.contains("1 record\r\n"), "{out}");
    assert!(exited_ok(console.exit()));
}

#[test]
fn ctrl_c_stops_a_running_statement_and_keeps_the_database_consistent() {
    let db = Db::seeded(3, 2);
    let mut console = Console::open(&db, &history_file(&db));
    console.send("puts(\"looping\"); loop { }\r");
    console.expect("looping\r\n"); // printed by the running statement, so SIGINT reaches it
    console.send("\x03");
    console.expect("Interrupted.");
    console.expect(PROMPT);

    // A loop that writes, stopped in the middle.
    let sign_in =
        r#"ActiveSession.set(User.find(2), #{ip_address: "10.1.1.1", user_agent: "curl/8"})"#;
    console.send(&format!("puts(\"writing\"); loop {{ {sign_in}; }}\r"));
    console.expect("writing\r\n");
    console.send("\x03");
    console.expect("Interrupted.");
    console.expect(PROMPT);
    assert!(console.run("User.count").contains("=> 3"));
    assert!(exited_ok(console.exit()));
    db.cmd().arg("check").assert().success();
}

#[test]
fn ctrl_c_clears_the_line_being_typed() {
    let db = Db::new();
    let mut console = Console::open(&db, &history_file(&db));
    console.send("1 + ");
    console.expect("1 + ");
    console.send("\x03");
    // rustyline drops what is typed while it sets up the terminal: wait for the prompt.
    console.expect(PROMPT);
    let out = console.run("2 + 3");
    assert!(out.contains("=> 5") && !out.contains("=> 6"), "{out}");
    assert!(exited_ok(console.exit()));
}

#[test]
fn destroy_all_asks_first() {
    let db = Db::seeded(5, 2);
    let sessions = db.eval("ActiveSession.count");
    let owners = db.eval("User.all.to_array().filter(|u| u.sessions.len() > 0).len()");
    let mut console = Console::open(&db, &history_file(&db));

    console.send("ActiveSession.destroy_all\r");
    let question = console.expect("? [y/N]");
    assert!(
        question.contains(&format!("Revoke {sessions} sessions of {owners} users")),
        "{question}"
    );
    console.send("n\r");
    assert!(console.expect(PROMPT).contains("Nothing revoked."));
    assert!(
        console
            .run("ActiveSession.count")
            .contains(&format!("=> {sessions}"))
    );

    console.send("ActiveSession.destroy_all\r");
    console.expect("? [y/N]");
    console.send("y\r");
    let out = console.expect(PROMPT);
    assert!(
        out.contains(&format!("=> #{{sessions: {sessions}, users: {owners}}}")),
        "{out}"
    );
    assert!(console.run("ActiveSession.count").contains("=> 0"));
    assert!(exited_ok(console.exit()));
}

#[test]
fn destroy_of_a_where_asks_first_with_the_count() {
    let db = Db::seeded(20, 3);
    let matching = "ActiveSession.where(#{ip: \"10.0.0.0/8\"})";
    let sessions = db.eval(&format!("{matching}.count"));
    let owners = db.eval(&format!("{matching}.tally(\"user_id\").len()"));
    assert_ne!(sessions, "0");
    let mut console = Console::open(&db, &history_file(&db));
    // Typed once into a variable: the hints redrawn while typing a long line interleave it.
    console.send(&format!("let m = {matching};\r"));
    console.expect(PROMPT);

    console.send("m.destroy()\r");
    let question = console.expect("? [y/N]");
    assert!(
        question.contains(&format!("Revoke {sessions} sessions of {owners} users")),
        "{question}"
    );
    console.send("n\r");
    assert!(console.expect(PROMPT).contains("Nothing revoked."));
    assert!(console.run("m.count").contains(&format!("=> {sessions}")));

    console.send("m.destroy()\r");
    console.expect("? [y/N]");
    console.send("y\r");
    let out = console.expect(PROMPT);
    assert!(
        out.contains(&format!("=> #{{sessions: {sessions}, users: {owners}}}")),
        "{out}"
    );
    assert!(console.run("m.count").contains("=> 0"));
    assert!(exited_ok(console.exit()));
}

#[test]
fn ruby_habits_get_the_rhai_spelling() {
    let db = Db::seeded(1, 1);
    let mut console = Console::open(&db, &history_file(&db));
    let out = console.run("user = User.find_by_username 'exampleuser'");
    assert!(out.contains("console:1:"), "{out}");
    assert!(out.contains('^'), "{out}");
    assert!(
        out.contains(r#"In rhai: let user = User.find_by_username("exampleuser")"#),
        "{out}"
    );
    assert!(exited_ok(console.exit()));
}

#[test]
fn ruby_idioms_get_hints_that_run() {
    let db = Db::seeded(2, 1);
    let mut console = Console::open(&db, &history_file(&db));
    for (ruby, rhai) in [
        (
            "User.where(admin: true)",
            "In rhai: User.all.filter(|u| u.admin)",
        ),
        ("30.days.ago", "In rhai: now() - days(30)"),
        ("x = nil", "In rhai: let x = ()"),
        (
            "User.first.sessions.any?",
            "In rhai: User.first.sessions.any()",
        ),
        (
            "User.all.map(&:username)",
            "In rhai: User.all.map(|x| x.username)",
        ),
        (
            "User.all.select { |u| u.admin }",
            "In rhai: User.all.filter(|u| { u.admin })",
        ),
        (
            "puts 'many' if User.count > 1",
            r#"In rhai: if User.count > 1 { puts("many") }"#,
        ),
    ] {
        let out = console.run(ruby);
        assert!(out.contains(rhai), "{ruby}: {out}");
    }
    // Code that runs but keeps Ruby's spellings as typed gets a note.
    let out = console.run(r##"puts("#{User.count}")"##);
    assert!(out.contains("note: rhai does not interpolate"), "{out}");
    assert!(out.contains("`${User.count}`"), "{out}");
    let out = console.run(r"puts(`a\tb`)");
    assert!(out.contains("keeps \\n and \\t as typed"), "{out}");
    // psql's and IRB's ways to leave.
    console.send("\\q\r");
    let deadline = Instant::now() + TIMEOUT;
    while console.pump() {
        assert!(Instant::now() < deadline, "\\q did not leave");
    }
}

#[test]
fn exit_forms_leave_the_console() {
    for exit in ["exit()", "quit;", "quit()"] {
        let db = Db::new();
        let mut console = Console::open(&db, &history_file(&db));
        console.send(&format!("{exit}\r"));
        let deadline = Instant::now() + TIMEOUT;
        while console.pump() {
            assert!(Instant::now() < deadline, "{exit} did not leave");
        }
    }
}

#[test]
fn help_lists_the_methods_of_an_object() {
    let db = Db::new();
    let mut console = Console::open(&db, &history_file(&db));
    let out = console.run("help ActiveSession");
    assert!(out.contains("ActiveSession.destroy_all"), "{out}");
    assert!(out.contains("session.ip_address"), "{out}");
    assert!(exited_ok(console.exit()));
}

#[test]
fn no_color_means_no_colour_escapes() {
    let db = Db::seeded(2, 1);
    let input = [
        r#"let name = "exampleuser"; User.find_by_username(name)"#,
        "User.all",
        "1 +* 2",
    ];

    let mut plain = Console::open(&db, &history_file(&db));
    for line in input {
        plain.run(line);
    }
    assert!(
        !has_sgr(&plain.raw),
        "{:?}",
        String::from_utf8_lossy(&plain.raw)
    );
    assert!(exited_ok(plain.exit()));

    // The same input in colour does use them: the check above can see them.
    let mut coloured = Console::open_with(&db, &history_file(&db), &["--color", "always"], false);
    for line in input {
        coloured.run(line);
    }
    assert!(has_sgr(&coloured.raw));
    assert!(exited_ok(coloured.exit()));
}

#[test]
fn output_taller_than_the_terminal_goes_through_the_pager() {
    let db = Db::seeded(25, 1);
    let pager = [("PAGER", "sed s/^/PAGED:/")];
    let mut console = Console::open_env(&db, &history_file(&db), &[], true, &pager);
    // Short output is printed as is.
    console.send("[User.find(1)]\r");
    let out = console.expect(PROMPT);
    assert!(out.contains("│ 0 "), "{out}");
    assert!(!out.contains("PAGED:"), "{out}");
    // 20 rows and more in a terminal of 10 rows: every line through the pager.
    console
        .session
        .get_process_mut()
        .set_window_size(200, 10)
        .expect("set the pty size");
    let out = console.run("User.all");
    assert!(out.contains("PAGED:… 5 more (25 users in all)"), "{out}");
    assert!(out.contains("PAGED:│ 19 "), "{out}");
    assert!(
        !out.contains("\n│"),
        "a line printed around the pager:\n{out}"
    );
    let out = console.run("1 + 1");
    assert!(out.contains("=> 2") && !out.contains("PAGED:"), "{out}");
    // \\pager off prints it all directly; \\pager on pages again.
    assert!(console.run("\\pager off").contains("Pager usage is off."));
    let out = console.run("User.all");
    assert!(out.contains("│ 19 ") && !out.contains("PAGED:"), "{out}");
    assert!(
        console
            .run("\\pager")
            .contains("Pager is used for long output: sed s/^/PAGED:/")
    );
    assert!(console.run("User.all").contains("PAGED:│ 19 "));
    assert!(exited_ok(console.exit()));
}

#[test]
fn an_attached_console_pages_with_its_own_pager() {
    let db = Db::seeded(25, 1);
    // The holder pages nothing (PAGER is empty): the attached console's pager is its own.
    let holder = Console::open(&db, &history_file(&db));
    let pager = [("PAGER", "sed s/^/PAGED:/")];
    let history = db.scratch().join("attached-history.txt");
    let mut console = Console::open_env(&db, &history, &[], true, &pager);
    assert!(
        console.text().contains("attached to pid"),
        "{}",
        console.text()
    );
    console.send("[User.find(1)]\r");
    let out = console.expect(PROMPT);
    assert!(out.contains("│ 0 ") && !out.contains("PAGED:"), "{out}");
    // Taller than the attached console's terminal: every line through its pager.
    console
        .session
        .get_process_mut()
        .set_window_size(200, 10)
        .expect("set the pty size");
    let out = console.run("User.all");
    assert!(out.contains("PAGED:… 5 more (25 users in all)"), "{out}");
    assert!(out.contains("PAGED:│ 19 "), "{out}");
    assert!(
        !out.contains("\n│"),
        "a line printed around the pager:\n{out}"
    );
    // What a script prints is streamed, not paged.
    console.send("for i in 0..30 { puts(`line ${i}`) }\r");
    let out = console.expect(PROMPT);
    assert!(out.contains("line 29") && !out.contains("PAGED:"), "{out}");
    assert!(console.run("\\pager off").contains("Pager usage is off."));
    let out = console.run("User.all");
    assert!(out.contains("│ 19 ") && !out.contains("PAGED:"), "{out}");
    assert!(exited_ok(console.exit()));

    // Attached with standard output a pipe: never paged.
    let output = db
        .cmd()
        .env("PAGER", "sed s/^/PAGED:/")
        .env("LINES", "5")
        .arg("console")
        .write_stdin("User.all\n")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("attached to pid"), "{out}");
    assert!(out.contains("… 5 more") && !out.contains("PAGED:"), "{out}");
    assert!(exited_ok(holder.exit()));
}

#[test]
fn an_empty_pager_variable_turns_paging_off() {
    let db = Db::seeded(25, 1);
    let mut console = Console::open(&db, &history_file(&db));
    console
        .session
        .get_process_mut()
        .set_window_size(200, 10)
        .expect("set the pty size");
    let out = console.run("User.all");
    assert!(out.contains("│ 19 ") && out.contains("… 5 more"), "{out}");
    assert!(exited_ok(console.exit()));
}

#[test]
fn output_to_a_pipe_is_never_paged() {
    let db = Db::seeded(25, 1);
    let output = db
        .cmd()
        .env("PAGER", "sed s/^/PAGED:/")
        .env("LINES", "5")
        .arg("console")
        .write_stdin("User.all\n")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("… 5 more") && !out.contains("PAGED:"), "{out}");
}

#[test]
fn expanded_view_shows_one_block_per_record() {
    let db = Db::seeded(3, 2);
    let username = db.eval("User.find(1).username");
    let mut console = Console::open(&db, &history_file(&db));
    assert!(console.run("\\x").contains("Expanded display is on."));
    let out = console.run("User.all");
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    let record = lines
        .iter()
        .position(|l| l.starts_with("-[ RECORD 0 ]-") && l.contains('+'))
        .unwrap_or_else(|| panic!("no record 0 in\n{out}"));
    assert!(lines[record + 1].starts_with("ID "), "{out}");
    assert!(
        lines[record + 2].starts_with("Username ")
            && lines[record + 2].ends_with(&format!("| {username}")),
        "{out}"
    );
    assert!(
        out.contains("-[ RECORD 2 ]-") && out.contains("3 users"),
        "{out}"
    );
    assert!(!out.contains('│'), "{out}");
    // Values other than lists are unchanged.
    assert!(console.run("1 + 1").contains("=> 2"));
    assert!(console.run("\\x").contains("Expanded display is off."));
    assert!(console.run("User.all").contains("│ 0 "));
    // auto: a table that fits stays a table; one that does not is expanded.
    assert!(
        console
            .run("\\x auto")
            .contains("Expanded display is auto.")
    );
    assert!(console.run("User.all").contains("│ 0 "));
    console
        .session
        .get_process_mut()
        .set_window_size(40, 50)
        .expect("set the pty size");
    let out = console.run("ActiveSession.list(User.all)");
    assert!(
        out.contains("-[ RECORD 0 ]-") && !out.contains('│'),
        "{out}"
    );
    let out = console.run("\\x sideways");
    assert!(out.contains("\\x takes on, off or auto"), "{out}");
    assert!(exited_ok(console.exit()));
}

#[test]
fn tables_show_times_in_the_tz_zone_with_its_name() {
    let db = Db::seeded(1, 1);
    let utc: chrono::DateTime<chrono::Utc> = db
        .eval("User.find(1).last_sign_in_at")
        .parse()
        .expect("RFC 3339");
    // Zones without daylight saving time, so that the name does not depend on the date; São
    // Paulo's abbreviation is numeric ("-03"): its offset is shown.
    for (tz, minutes, name) in [
        ("UTC", 0, "UTC"),
        ("Asia/Tokyo", 9 * 60, "JST"),
        ("JST-9", 9 * 60, "JST"),
        ("America/Sao_Paulo", -3 * 60, "-03:00"),
        ("Nowhere/Land", 0, "UTC"),
    ] {
        let zone = chrono::FixedOffset::east_opt(minutes * 60).unwrap();
        let shown = format!(
            "{} {name}",
            utc.with_timezone(&zone).format("%Y-%m-%d %H:%M")
        );
        let mut console = Console::open_env(&db, &history_file(&db), &[], true, &[("TZ", tz)]);
        console.send("User.all\r");
        let out = console.expect(PROMPT);
        assert!(out.contains(&shown), "{tz}: {shown} not in\n{out}");
        assert!(exited_ok(console.exit()));
    }
}
