//! `--redis`: every command on a real `redis-server` (started per test on a Unix socket, or a
//! TLS port), the sled-only commands refused, a password never shown (banner, errors, audit
//! log, history), TLS with a self-signed certificate, and a server that goes away and comes
//! back under a running console.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::Db;
use common::redis::Redis;
use redis::Commands;

const PASSWORD: &str = "s3cret-Pw0rd";

fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn every_command_works_on_redis() {
    let Some(server) = Redis::start() else { return };
    server
        .cmd()
        .args([
            "seed",
            "--users",
            "12",
            "--sessions-per-user",
            "3",
            "--seed",
            "7",
        ])
        .assert()
        .success();
    assert_eq!(server.eval("User.count()"), "12");
    let sessions: u64 = server.eval("ActiveSession.count()").parse().unwrap();
    assert!(sessions > 12, "{sessions}");

    // GitLab's keys, and sessionctl's own under the prefix.
    let mut c = server.connection();
    let lookups: Vec<String> = c.keys("session:lookup:user:gitlab:*").unwrap();
    let members: u64 = lookups
        .iter()
        .map(|key| c.scard::<_, u64>(key).unwrap())
        .sum();
    assert_eq!(members, sessions);
    let users: u64 = c.hlen("sessionctl:users").unwrap();
    assert_eq!(users, 12);

    // --format json, run, --dry-run.
    let json = server
        .cmd()
        .args(["--format", "json", "-e", "#{n: User.count()}"])
        .output()
        .unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&json.stdout).unwrap(),
        serde_json::json!({"n": 12})
    );
    let listed = server
        .cmd()
        .args(["run", "scripts/list_sessions.rhai"])
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", stderr_of(&listed));
    // One line a session.
    assert_eq!(
        stdout_of(&listed).lines().count(),
        sessions as usize,
        "{}",
        stdout_of(&listed)
    );
    let dry = server
        .cmd()
        .args(["run", "scripts/revoke_all.rhai", "--dry-run"])
        .output()
        .unwrap();
    assert!(dry.status.success(), "{}", stderr_of(&dry));
    assert!(
        stderr_of(&dry).contains("dry run: would"),
        "{}",
        stderr_of(&dry)
    );
    assert_eq!(server.eval("ActiveSession.count()"), sessions.to_string());

    // config, audit, check.
    server
        .cmd()
        .args(["config", "set", "session_limit", "50"])
        .assert()
        .success();
    let got = server
        .cmd()
        .args(["config", "get", "session_limit"])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&got).trim(), "50");
    let audit = server.cmd().arg("audit").output().unwrap();
    assert!(
        stdout_of(&audit).contains("config"),
        "{}",
        stdout_of(&audit)
    );
    assert!(stdout_of(&audit).contains("seed"), "{}", stdout_of(&audit));
    let check = server.cmd().arg("check").output().unwrap();
    assert!(check.status.success(), "{}", stderr_of(&check));
    assert_eq!(
        stdout_of(&check).trim(),
        format!("consistent: 12 users, {sessions} sessions")
    );

    // export from Redis, import into another server and into a directory: the same data.
    let file = server.scratch().join("export.jsonl");
    server.cmd().arg("export").arg(&file).assert().success();
    let Some(other) = Redis::start() else { return };
    other.cmd().arg("import").arg(&file).assert().success();
    let again = other.cmd().arg("export").output().unwrap();
    assert_eq!(stdout_of(&again), std::fs::read_to_string(&file).unwrap());
    let db = Db::missing();
    db.cmd().arg("import").arg(&file).assert().success();
    assert_eq!(db.eval("ActiveSession.count()"), sessions.to_string());
    let backup = server.scratch().join("backup.jsonl");
    server.cmd().arg("backup").arg(&backup).assert().success();
    assert!(
        std::fs::read_to_string(&backup)
            .unwrap()
            .contains("\"settings\"")
    );
}

#[test]
fn a_second_prefix_keeps_its_own_users() {
    let Some(server) = Redis::start() else { return };
    server.eval(r#"User.create(#{username: "alice", email: "a@x.org"}); 1"#);
    let other = server
        .cmd()
        .args(["--redis-prefix", "other:", "-e", "User.count()"])
        .output()
        .unwrap();
    assert_eq!(stdout_of(&other).trim(), "0", "{}", stderr_of(&other));
    let mut c = server.connection();
    let alice: Option<String> = c.hget("sessionctl:users_by_username", "alice").unwrap();
    assert_eq!(alice.as_deref(), Some("1"));
}

#[test]
fn one_store_at_a_time_and_the_sled_only_commands_say_so() {
    let Some(server) = Redis::start() else { return };
    let db = Db::new();
    for mut both in [
        {
            let mut cmd = server.cmd();
            cmd.arg("--db").arg(db.path());
            cmd
        },
        {
            let mut cmd = server.cmd();
            cmd.env("SESSIONCTL_DB", db.path());
            cmd
        },
    ] {
        let output = both.args(["-e", "1"]).output().unwrap();
        assert_eq!(output.status.code(), Some(2));
        assert!(
            stderr_of(&output).contains("choose one store"),
            "{}",
            stderr_of(&output)
        );
    }
    let backup = server.scratch().join("b.jsonl");
    db.cmd().arg("backup").arg(&backup).assert().success();
    for (args, why) in [
        (vec!["init"], "needs no creating"),
        (vec!["restore", backup.to_str().unwrap()], "import"),
        (vec!["salvage", "x.jsonl"], "damaged"),
    ] {
        let output = server.cmd().args(&args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = stderr_of(&output);
        assert!(
            stderr.contains("works on a database directory") && stderr.contains(why),
            "{stderr}"
        );
    }
    let bad = Db::bare()
        .arg("--redis")
        .arg("http://x")
        .args(["-e", "1"])
        .output();
    let bad = bad.unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr_of(&bad).contains("must start with redis://"),
        "{}",
        stderr_of(&bad)
    );
}

/// A console in a pseudo-terminal, read with escapes stripped.
struct Pty {
    session: expectrl::Session,
    raw: Vec<u8>,
    seen: usize,
}

impl Pty {
    fn console(url: &str, history: &Path) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sessionctl"));
        command
            .env_remove("SESSIONCTL_DB")
            .env_remove("SESSIONCTL_REDIS")
            .env("NO_COLOR", "1")
            .env("TERM", "xterm-256color")
            .env("SESSIONCTL_HISTORY", history)
            .arg("--redis")
            .arg(url)
            .arg("console");
        let session = expectrl::Session::spawn(command).expect("spawn the console in a pty");
        let mut pty = Self {
            session,
            raw: Vec::new(),
            seen: 0,
        };
        pty.expect(" live session");
        pty.expect("sessionctl> ");
        pty
    }

    fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.raw);
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    fn expect(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let text = self.text();
            if let Some(at) = text[self.seen..].find(needle) {
                let end = self.seen + at + needle.len();
                let found = text[self.seen..end].to_owned();
                self.seen = end;
                return found;
            }
            let mut buf = [0u8; 4096];
            let alive = match self.session.try_read(&mut buf) {
                Ok(0) => false,
                Ok(n) => {
                    self.raw.extend_from_slice(&buf[..n]);
                    true
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5));
                    true
                }
                Err(_) => false,
            };
            assert!(
                alive && Instant::now() < deadline,
                "timed out waiting for {needle:?}; the console showed:\n{text}"
            );
        }
    }

    /// Types `line`, and returns what it printed up to the next prompt.
    fn run(&mut self, line: &str) -> String {
        self.session
            .write_all(format!("{line}\r").as_bytes())
            .unwrap();
        self.session.flush().unwrap();
        self.expect(line);
        self.expect("sessionctl> ")
    }

    fn exit(mut self) -> String {
        self.session.write_all(b"exit\r").unwrap();
        let mut rest = Vec::new();
        let _ = self.session.read_to_end(&mut rest);
        self.raw.extend_from_slice(&rest);
        self.text()
    }
}

#[test]
fn a_password_never_shows() {
    let secret = format!(">{PASSWORD}");
    let acl = ["--user", "admin", "on", &secret, "~*", "&*", "+@all"];
    let Some(server) = Redis::start_with(
        &[&["--requirepass", PASSWORD], &acl[..]].concat(),
        |socket| format!("unix://{}?user=admin&pass={PASSWORD}", socket.display()),
    ) else {
        return;
    };
    let mut everything = String::new();
    // Work that writes audit entries, from -e and from the console.
    let made = server
        .cmd()
        .args(["-e", r#"let u = User.create(#{username: "alice", email: "a@x.org"}); ActiveSession.set(u, #{ip_address: "10.0.0.1", user_agent: "curl/8"}); 1"#])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", stderr_of(&made));
    everything += &stderr_of(&made);

    let history = server.scratch().join("history.txt");
    let mut console = Pty::console(&server.url, &history);
    let shown = console.run("User.count()");
    assert!(shown.contains("=> 1"), "{shown}");
    console
        .run(r#"ActiveSession.set(User.find(1), #{ip_address: "10.0.0.2", user_agent: "curl/8"})"#);
    let transcript = console.exit();
    assert!(
        transcript.contains(&format!(
            "sessionctl console on Redis unix://{}?user=admin&pass=*** (prefix sessionctl:)",
            server.socket().display()
        )),
        "{transcript}"
    );
    everything += &transcript;
    everything += &std::fs::read_to_string(&history).unwrap();

    // The audit log, as printed and as stored.
    let audit = server.cmd().arg("audit").output().unwrap();
    assert!(
        stdout_of(&audit).contains("ActiveSession.set") || stdout_of(&audit).contains("sign_in"),
        "{}",
        stdout_of(&audit)
    );
    everything += &stdout_of(&audit);
    let mut c = server.connection_as(&["admin", PASSWORD]);
    let stored: redis::streams::StreamRangeReply = c.xrange_all("sessionctl:audit").unwrap();
    for entry in stored.ids {
        // A run's entry is in the `audit_runs` hash, under the key the stream lists.
        let json: String = entry.get("entry").unwrap_or_else(|| {
            let key: String = entry.get("run").expect("an entry or a run's key");
            c.hget("sessionctl:audit_runs", key).unwrap()
        });
        everything += &json;
    }

    // A wrong password, an unreachable server, a bad URL: errors name the server, redacted.
    let wrong = Db::bare()
        .arg("--redis")
        .arg(server.url.replace(PASSWORD, &format!("{PASSWORD}-wrong")))
        .args(["-e", "1"])
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr_of(&wrong).contains("pass=***"),
        "{}",
        stderr_of(&wrong)
    );
    everything += &stderr_of(&wrong);
    for url in [
        format!("redis://admin:{PASSWORD}@127.0.0.1:1/0"),
        format!("redis://:{PASSWORD}@127.0.0.1:notaport"),
        format!("rediss://:{PASSWORD}/x@127.0.0.1:1"),
    ] {
        let output = Db::bare()
            .arg("--redis")
            .arg(&url)
            .args(["-e", "1"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{url}");
        assert!(
            stderr_of(&output).contains(":***@"),
            "{}",
            stderr_of(&output)
        );
        everything += &stderr_of(&output);
    }
    // --help with the URL in the environment.
    let help = Db::bare()
        .env("SESSIONCTL_REDIS", &server.url)
        .arg("--help")
        .output()
        .unwrap();
    everything += &stdout_of(&help);

    assert!(!everything.contains(PASSWORD), "{everything}");
    assert!(everything.contains("***"));
}

/// A CA and a server certificate for `localhost` signed by it, made by the `openssl` CLI in
/// `dir` (`ca.pem`, `server.pem`, `server.key`); false when openssl cannot.
fn make_certificates(dir: &Path) -> bool {
    let openssl = |args: &[&str]| {
        Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .is_ok_and(|output| output.status.success())
    };
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n").unwrap();
    let key = ["-newkey", "rsa:2048", "-nodes"];
    openssl(
        &[
            &["req", "-x509", "-days", "1", "-subj", "/CN=test CA"],
            &key[..],
            &["-keyout", "ca.key", "-out", "ca.pem"],
        ]
        .concat(),
    ) && openssl(
        &[
            &["req", "-subj", "/CN=localhost"],
            &key[..],
            &["-keyout", "server.key", "-out", "server.csr"],
        ]
        .concat(),
    ) && openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    ])
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn rediss_with_a_test_ca_and_insecure() {
    let certificates = tempfile::tempdir().unwrap();
    if !make_certificates(certificates.path()) {
        eprintln!("SKIPPED: openssl cannot make a certificate; the TLS test did not run");
        return;
    }
    let port = free_port().to_string();
    let cert = certificates.path().join("server.pem");
    let key = certificates.path().join("server.key");
    let ca = certificates.path().join("ca.pem");
    let Some(server) = Redis::start_with(
        &[
            "--tls-port",
            &port,
            "--tls-cert-file",
            cert.to_str().unwrap(),
            "--tls-key-file",
            key.to_str().unwrap(),
            "--tls-auth-clients",
            "no",
            "--requirepass",
            PASSWORD,
        ],
        |_| format!("rediss://:{PASSWORD}@localhost:{port}/0"),
    ) else {
        return;
    };
    // Verified against the test CA (rustls-native-certs reads SSL_CERT_FILE).
    let verified = server
        .cmd()
        .env("SSL_CERT_FILE", &ca)
        .args([
            "-e",
            r#"User.create(#{username: "tls", email: "t@x.org"}).id"#,
        ])
        .output()
        .unwrap();
    assert!(verified.status.success(), "{}", stderr_of(&verified));
    assert_eq!(stdout_of(&verified).trim(), "1");
    // Not trusted (the system's CAs only): a clear error naming the redacted URL, exit 2.
    let untrusted = server
        .cmd()
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .args(["-e", "User.count()"])
        .output()
        .unwrap();
    assert_eq!(
        untrusted.status.code(),
        Some(2),
        "{}",
        stderr_of(&untrusted)
    );
    let message = stderr_of(&untrusted);
    assert!(
        message.contains(&format!(
            "cannot reach Redis at rediss://:***@localhost:{port}/0"
        )),
        "{message}"
    );
    assert!(message.contains("certificate"), "{message}");
    assert!(
        !message.contains(PASSWORD) && !message.contains("panicked"),
        "{message}"
    );
    // #insecure skips the verification.
    let insecure = Db::bare()
        .arg("--redis")
        .arg(format!("{}#insecure", server.url))
        .env_remove("SSL_CERT_FILE")
        .args(["-e", "User.count()"])
        .output()
        .unwrap();
    assert!(insecure.status.success(), "{}", stderr_of(&insecure));
    assert_eq!(stdout_of(&insecure).trim(), "1");
}

#[test]
fn a_server_that_goes_away() {
    let Some(mut server) = Redis::start() else {
        return;
    };
    server.eval(r#"User.create(#{username: "alice", email: "a@x.org"}); 1"#);
    let history = server.scratch().join("history.txt");
    let mut console = Pty::console(&server.url, &history);
    assert!(console.run("User.count()").contains("=> 1"));

    server.stop();
    let shown = console.run("User.count()");
    let named = format!(
        "cannot reach Redis at redis+unix://{}",
        server.socket().display()
    );
    assert!(shown.contains(&named), "{shown}");
    // Batch mode: the same error, exit 2, no panic.
    let batch = server.cmd().args(["-e", "User.count()"]).output().unwrap();
    assert_eq!(batch.status.code(), Some(2));
    assert!(stderr_of(&batch).contains(&named), "{}", stderr_of(&batch));
    assert!(
        !stderr_of(&batch).contains("panicked"),
        "{}",
        stderr_of(&batch)
    );

    // Back on the same socket (empty: it keeps nothing on disk): the console reconnects.
    server.restart();
    server.eval(r#"User.create(#{username: "bob", email: "b@x.org"}); User.create(#{username: "carol", email: "c@x.org"}); 1"#);
    let shown = console.run("User.count()");
    assert!(shown.contains("=> 2"), "{shown}");
    let transcript = console.exit();
    assert!(!transcript.contains("panicked"), "{transcript}");
}

#[test]
fn a_legacy_session_written_by_gitlab_is_listed_and_revoked() {
    let Some(server) = Redis::start() else { return };
    server.eval(r#"User.create(#{username: "alice", email: "a@x.org"}); 1"#);
    // A v1 entry (Ruby Marshal) written a day into a week's expiry, and its rack session.
    let id = format!("2::{}", "ab".repeat(32));
    let mut c = server.connection();
    redis::pipe()
        .set_ex(
            format!("session:user:gitlab:1:{id}"),
            b"\x04\x08o:\x12ActiveSession\x00".as_slice(),
            6 * 86400,
        )
        .sadd("session:lookup:user:gitlab:1", &id)
        .set(format!("session:gitlab:{id}"), "rack")
        .exec(&mut c)
        .unwrap();
    let listed = server.eval(
        "let s = ActiveSession.list(User.find(1)); `${s.len()} ${s[0].device_type} ${s[0].session_private_id}`",
    );
    assert_eq!(listed, format!("1 legacy {id}"));
    let revoked = server.eval(&format!(
        r#"ActiveSession.destroy_session(User.find(1), "{id}")"#
    ));
    assert_eq!(revoked, "true");
    let left: Vec<String> = c.keys("session:*").unwrap();
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(server.eval("ActiveSession.count()"), "0");
}

/// Found while making the touch one store call (#11): a request on a session that only has a
/// legacy v1 entry was refused as revoked; GitLab's `set` writes its v2 entry.
#[test]
fn a_request_on_a_legacy_session_writes_its_v2_entry() {
    let Some(server) = Redis::start() else { return };
    server.eval(r#"User.create(#{username: "alice", email: "a@x.org"}); 1"#);
    let public = "0123456789abcdef0123456789abcdef";
    let id = sessionctl::secret::private_id(public);
    let mut c = server.connection();
    redis::pipe()
        .set_ex(
            format!("session:user:gitlab:1:{id}"),
            b"\x04\x08o:\x12ActiveSession\x00".as_slice(),
            6 * 86400,
        )
        .sadd("session:lookup:user:gitlab:1", &id)
        .exec(&mut c)
        .unwrap();
    let set = server.eval(&format!(
        r#"let s = ActiveSession.set(User.find(1), #{{public_id: "{public}", ip_address: "10.0.0.9", user_agent: "curl/8.7.1"}}); s.ip_address"#
    ));
    assert_eq!(set, "10.0.0.9");
    let entry: Option<String> = c.get(format!("session:user:gitlab::v2:1:{id}")).unwrap();
    assert!(
        entry.is_some_and(|e| e.starts_with("v2:{") && e.contains("10.0.0.9")),
        "no v2 entry"
    );
    assert_eq!(
        server.eval("let s = ActiveSession.list(User.find(1)); `${s.len()} ${s[0].ip_address}`"),
        "1 10.0.0.9"
    );
}
