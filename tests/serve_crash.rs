//! Crash safety of `serve`: SIGKILL lands during a storm of HTTP sign-ins, whoami calls and
//! revocations (threads, each on its own keep-alive connection); after the restart `check`
//! finds nothing wrong, and every sign-in that got its 201 is there: `serve` answers 201 only
//! once the sign-in is durable.
//!
//! `SESSIONCTL_CRASH_RUNS` sets how many kills (default 3, small for CI).

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// `(user id, private id)` of every sign-in answered 201 and never revoked since.
    signed_in: Vec<(u64, String)>,
    whoami: usize,
    revoked: usize,
}

/// Signs in, asks whoami and (with `revoking`) revokes through `server` until a request fails
/// (the kill).
fn storm(server: &Server, seen: &Mutex<Seen>, revoking: bool) {
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
        // Revocations: sign in twice on users of their own, revoke the first from the second.
        // Each is a durable commit, which makes the sign-ins before it durable too: half the
        // runs go without, so that only the sign-in's own commit stands behind its 201.
        if !revoking {
            return;
        }
        scope.spawn(move || {
            let mut n = 0;
            loop {
                let body = format!(r#"{{"username": "user{}"}}"#, 41 + n % 10);
                n += 1;
                let (Some(doomed), Some(caller)) = (
                    server.try_request("POST", "/v1/sessions", None, Some(&body)),
                    server.try_request("POST", "/v1/sessions", None, Some(&body)),
                ) else {
                    break;
                };
                let id = doomed.body["private_id"].as_str().unwrap();
                let token = caller.body["session_token"].as_str().unwrap();
                let path = format!("/v1/sessions/{id}");
                match server.try_request("DELETE", &path, Some(token), None) {
                    Some(reply) => {
                        assert_eq!(reply.status, 204, "{:?}", reply.body);
                        seen.lock().unwrap().revoked += 1;
                    }
                    None => break,
                }
            }
        });
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
        std::thread::scope(|scope| {
            // The kill lands a random time after the first sign-in was answered.
            let delay = Duration::from_millis(rng.random_range(50..1000));
            let (target, seen) = (Arc::clone(&killer), &seen);
            scope.spawn(move || {
                while seen.lock().unwrap().signed_in.is_empty() {
                    std::thread::sleep(Duration::from_millis(2));
                }
                std::thread::sleep(delay);
                common::serve::signal(target.pid(), "KILL");
            });
            storm(&killer, seen, run % 2 == 1);
        });
        drop(killer);
        let seen = seen.into_inner().unwrap();
        assert!(
            !seen.signed_in.is_empty(),
            "run {run}: no sign-in answered before the kill"
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
