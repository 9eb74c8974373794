//! Crash safety of `serve`: SIGKILL lands during a storm of HTTP sign-ins and whoami calls
//! (threads, each on its own keep-alive connection) while an attached `sessionctl -e` revokes
//! sessions through `serve` (the holder of the store); after the restart `check` finds nothing
//! wrong, and every sign-in that got its 201 is there: `serve` answers 201 only once the
//! sign-in is durable.
//!
//! `SESSIONCTL_CRASH_RUNS` sets how many kills (default 3, small for CI).

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Db;
use common::serve::Server;
use rand::Rng;

fn runs() -> usize {
    std::env::var("SESSIONCTL_CRASH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3)
}

/// What the storm's threads saw answered before the kill.
#[derive(Default)]
struct Seen {
    /// `(user id, private id)` of every sign-in answered 201 on users 1 to 40, which nothing
    /// revokes.
    signed_in: Vec<(u64, String)>,
    whoami: usize,
    /// Sessions the attached revoker revoked (users 41 to 50).
    revoked: usize,
}

/// The attached revoker's script: revokes every session of users 41 to 50, one line each,
/// until the holder is gone.
const REVOKER: &str = r#"loop { for id in 41..=50 { for s in User.find(id).sessions { if s.destroy() { puts("revoked") } } } }"#;

/// Runs [`REVOKER`] attached to the `serve` holding `db` (once its socket answers), counting
/// its revocations in `seen` until the kill ends it; then checks that it ended because the
/// holder was gone.
fn revoke_attached(db: &Db, seen: &Mutex<Seen>) {
    let socket = db.path().join("sessionctl.sock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while UnixStream::connect(&socket).is_err() {
        assert!(
            Instant::now() < deadline,
            "serve never listened on {}",
            socket.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .env_remove("SESSIONCTL_DB")
        .env("NO_COLOR", "1")
        .arg("--db")
        .arg(db.path())
        .args(["--yes", "-e", REVOKER])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the revoker");
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        assert_eq!(line.expect("the revoker's output"), "revoked");
        seen.lock().unwrap().revoked += 1;
    }
    let output = child.wait_with_output().expect("wait for the revoker");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.code() == Some(2) && err.contains("lost the process holding"),
        "the revoker did not end with its holder: {:?}\n{err}",
        output.status
    );
}

/// Signs in and asks whoami through `server` until a request fails (the kill); with
/// `revoking`, signs in on users 41 to 50 too while an attached `sessionctl` revokes them.
fn storm(db: &Db, server: &Server, seen: &Mutex<Seen>, revoking: bool) {
    std::thread::scope(|scope| {
        // Sign-ins, each followed by a whoami on the new session.
        for thread in 0..4 {
            scope.spawn(move || {
                let mut n = 0;
                loop {
                    let username = format!("user{}", 1 + (thread * 10 + n % 10));
                    n += 1;
                    let body = format!(r#"{{"username": "{username}"}}"#);
                    let Some(reply) = server.try_request("POST", "/v1/sessions", None, Some(&body))
                    else {
                        break;
                    };
                    assert_eq!(reply.status, 201, "{:?}", reply.body);
                    let user = reply.body["user"]["id"].as_u64().unwrap();
                    let id = reply.body["private_id"].as_str().unwrap().to_owned();
                    seen.lock().unwrap().signed_in.push((user, id));
                    let token = reply.body["session_token"].as_str().unwrap();
                    match server.try_request("GET", "/v1/sessions/whoami", Some(token), None) {
                        Some(reply) => {
                            assert_eq!(reply.status, 200, "{:?}", reply.body);
                            seen.lock().unwrap().whoami += 1;
                        }
                        None => break,
                    }
                }
            });
        }
        // Revocations: sign-ins on users of their own, which an attached `sessionctl`
        // revokes. Each revocation is a durable commit, which makes the sign-ins before it
        // durable too: half the runs go without, so that only the sign-in's own commit stands
        // behind its 201.
        if !revoking {
            return;
        }
        scope.spawn(move || {
            let mut n = 0;
            loop {
                let body = format!(r#"{{"username": "user{}"}}"#, 41 + n % 10);
                n += 1;
                match server.try_request("POST", "/v1/sessions", None, Some(&body)) {
                    Some(reply) => assert_eq!(reply.status, 201, "{:?}", reply.body),
                    None => break,
                }
            }
        });
        scope.spawn(move || revoke_attached(db, seen));
    });
}

#[test]
fn sigkill_during_a_storm_of_sign_ins_keeps_every_201() {
    let db = Db::new();
    db.eval(
        r#"for i in 1..=50 { User.create(#{username: `user${i}`, email: `user${i}@example.com`, name: "U"}); }"#,
    );
    db.set_setting("session_limit", "1000000");
    let mut rng = rand::rng();
    let mut total = Seen::default();
    for run in 0..runs() {
        let server = Server::on_db(&db);
        let seen = Mutex::new(Seen::default());
        let killer = Arc::new(server);
        let revoking = run % 2 == 1;
        std::thread::scope(|scope| {
            // The kill lands a random time after the first sign-in was answered (and the
            // first revocation made, in a run with the revoker).
            let delay = Duration::from_millis(rng.random_range(50..1000));
            let (target, seen) = (Arc::clone(&killer), &seen);
            scope.spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let seen = seen.lock().unwrap();
                    if !seen.signed_in.is_empty() && (!revoking || seen.revoked > 0) {
                        break;
                    }
                    drop(seen);
                    // Killed all the same: the assertions below say what was missing.
                    if Instant::now() > deadline {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                std::thread::sleep(delay);
                common::serve::signal(target.pid(), "KILL");
            });
            storm(&db, &killer, seen, revoking);
        });
        drop(killer);
        let seen = seen.into_inner().unwrap();
        assert!(
            !seen.signed_in.is_empty(),
            "run {run}: no sign-in answered before the kill"
        );
        assert!(
            !revoking || seen.revoked > 0,
            "run {run}: the attached revoker revoked nothing before the kill"
        );

        let check = db.cmd().arg("check").output().unwrap();
        assert!(
            check.status.success(),
            "run {run}: check found disagreements:\n{}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        );
        let pairs: Vec<String> = seen
            .signed_in
            .iter()
            .map(|(user, id)| format!("[{user}, \"{id}\"]"))
            .collect();
        let missing = db.eval(&format!(
            "let missing = 0; for p in [{}] {{ if !User.find(p[0]).sessions.some(|s| s.session_private_id == p[1]) {{ missing += 1 }} }} missing",
            pairs.join(", ")
        ));
        assert_eq!(missing, "0", "run {run}: sign-ins answered 201 were lost");
        total.signed_in.extend(seen.signed_in);
        total.whoami += seen.whoami;
        total.revoked += seen.revoked;
    }
    eprintln!(
        "serve crash: {} kills; {} sign-ins answered 201 all found, {} whoami, {} revocations; check clean",
        runs(),
        total.signed_in.len(),
        total.whoami,
        total.revoked
    );
}
