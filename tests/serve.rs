//! `sessionctl serve`: the real binary serving the application API, driven by a real HTTP
//! client: every route and its errors, the audit of sign-ins, sign-outs and revocations (never
//! of touches), remember-me tokens ending with any revocation, the current session's
//! protection, the clean close on SIGTERM, a Unix socket, and two servers sharing one Redis.

mod common;

use std::io::{Read, Write};

use common::Db;
use common::serve::Server;
use serde_json::Value;

/// A database with the users alice, bob and carol (blocked), served.
fn served() -> (Db, Server) {
    served_after(|_| {})
}

/// [`served`], with `prepare` run on the database before the server holds it.
fn served_after(prepare: impl FnOnce(&Db)) -> (Db, Server) {
    let db = Db::new();
    db.eval(
        r#"User.create(#{username: "alice", email: "alice@example.com", name: "Alice"});
           User.create(#{username: "bob", email: "bob@example.com", name: "Bob"});
           User.create(#{username: "carol", email: "carol@example.com", name: "Carol"}).block();"#,
    );
    prepare(&db);
    let server = Server::on_db(&db);
    (db, server)
}

fn token(signed: &Value) -> &str {
    signed["session_token"].as_str().expect("a session token")
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().expect("an error message")
}

#[test]
fn sign_in_whoami_list_revoke_and_sign_out() {
    let (_db, server) = served();
    let first = server.sign_in("alice", false);
    assert_eq!(first["user"]["username"], "alice");
    assert!(first.get("remember_token").is_none());
    let private_id = first["private_id"].as_str().unwrap();
    assert!(private_id.starts_with("2::"));
    // The token is not the private id, and the private id is its public id's hash.
    assert!(!token(&first).contains(&private_id[3..]));

    let me = server.get("/v1/sessions/whoami", Some(token(&first)));
    assert_eq!(me.status, 200, "{:?}", me.body);
    assert_eq!(me.body["user"]["username"], "alice");
    assert_eq!(me.body["session"]["private_id"], private_id);
    assert_eq!(me.body["session"]["ip_address"], "203.0.113.9");
    assert_eq!(me.body["session"]["browser"], "Firefox");

    // A second device, then a request from the first: newest activity first.
    let second = server.sign_in("alice", false);
    std::thread::sleep(std::time::Duration::from_millis(5));
    let listed = server.get("/v1/sessions", Some(token(&first)));
    assert_eq!(listed.status, 200);
    let sessions = listed.body.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["private_id"], private_id);
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[1]["private_id"], second["private_id"]);
    assert_eq!(sessions[1]["current"], false);

    // Revoke the other device: 204, and its token stops at once.
    let other = second["private_id"].as_str().unwrap();
    let revoked = server.delete(&format!("/v1/sessions/{other}"), token(&first));
    assert_eq!(revoked.status, 204);
    assert_eq!(revoked.body, Value::Null);
    assert_eq!(
        server
            .get("/v1/sessions/whoami", Some(token(&second)))
            .status,
        401
    );
    // Gone: 404 the second time.
    let again = server.delete(&format!("/v1/sessions/{other}"), token(&first));
    assert_eq!(
        (again.status, message(&again.body)),
        (404, "private_id: not one of your sessions")
    );

    // Sign out: 204, then 401.
    assert_eq!(
        server.delete("/v1/sessions/current", token(&first)).status,
        204
    );
    let after = server.get("/v1/sessions/whoami", Some(token(&first)));
    assert_eq!(after.status, 401);
    assert!(
        message(&after.body).contains("no live session"),
        "{:?}",
        after.body
    );
}

#[test]
fn the_current_session_cannot_be_revoked_by_id_and_others_only_of_the_caller() {
    let (_db, server) = served();
    let alice = server.sign_in("alice", false);
    let bob = server.sign_in("bob", false);
    let own = alice["private_id"].as_str().unwrap();
    let refused = server.delete(&format!("/v1/sessions/{own}"), token(&alice));
    assert_eq!(refused.status, 403);
    assert!(
        message(&refused.body).contains("current session"),
        "{:?}",
        refused.body
    );
    assert_eq!(
        server
            .get("/v1/sessions/whoami", Some(token(&alice)))
            .status,
        200
    );
    // Bob's session, named by alice: not hers, nothing revoked.
    let bobs = bob["private_id"].as_str().unwrap();
    assert_eq!(
        server
            .delete(&format!("/v1/sessions/{bobs}"), token(&alice))
            .status,
        404
    );
    assert_eq!(
        server.get("/v1/sessions/whoami", Some(token(&bob))).status,
        200
    );
    // A token whose user id was changed names no session.
    let forged = token(&bob).replacen(
        &bob["user"]["id"].to_string(),
        &alice["user"]["id"].to_string(),
        1,
    );
    assert_eq!(server.get("/v1/sessions/whoami", Some(&forged)).status, 401);
}

#[test]
fn revoking_the_others_keeps_the_current_session() {
    let (_db, server) = served();
    let keep = server.sign_in("alice", false);
    let others: Vec<Value> = (0..3).map(|_| server.sign_in("alice", false)).collect();
    let bob = server.sign_in("bob", false);
    let reply = server.delete("/v1/sessions", token(&keep));
    assert_eq!(
        (reply.status, &reply.body["revoked"]),
        (200, &Value::from(3))
    );
    assert_eq!(
        server.get("/v1/sessions/whoami", Some(token(&keep))).status,
        200
    );
    for other in &others {
        assert_eq!(
            server.get("/v1/sessions/whoami", Some(token(other))).status,
            401
        );
    }
    assert_eq!(
        server.get("/v1/sessions/whoami", Some(token(&bob))).status,
        200
    );
    let listed = server.get("/v1/sessions", Some(token(&keep)));
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
}

#[test]
fn a_remember_me_token_signs_in_again_until_any_revocation() {
    let (db, server) = served();
    let first = server.sign_in("alice", true);
    let remember = first["remember_token"]
        .as_str()
        .expect("a remember-me token")
        .to_owned();
    let body = format!(r#"{{"username": "alice", "remember_token": "{remember}"}}"#);
    let again = server.post("/v1/sessions/remember", &body);
    assert_eq!(again.status, 201, "{:?}", again.body);
    assert_ne!(again.body["private_id"], first["private_id"]);
    assert_eq!(
        server
            .get("/v1/sessions/whoami", Some(token(&again.body)))
            .status,
        200
    );
    // Someone else's name, a forged token: 401.
    let bobs = format!(r#"{{"username": "bob", "remember_token": "{remember}"}}"#);
    assert_eq!(server.post("/v1/sessions/remember", &bobs).status, 401);
    let forged = r#"{"username": "alice", "remember_token": "0000"}"#;
    assert_eq!(server.post("/v1/sessions/remember", forged).status, 401);
    let nobody = format!(r#"{{"username": "nobody", "remember_token": "{remember}"}}"#);
    assert_eq!(server.post("/v1/sessions/remember", &nobody).status, 401);

    // Each kind of revocation ends the token: revoking one session by id...
    let victim = server.sign_in("alice", false);
    let id = victim["private_id"].as_str().unwrap();
    assert_eq!(
        server
            .delete(&format!("/v1/sessions/{id}"), token(&first))
            .status,
        204
    );
    assert_eq!(server.post("/v1/sessions/remember", &body).status, 401);
    // ...revoking the others, and signing out.
    let revokes = [("/v1/sessions", 200), ("/v1/sessions/current", 204)];
    for (path, status) in revokes {
        let caller = server.sign_in("alice", true);
        server.sign_in("alice", false);
        let body = remember_body(&caller);
        assert_eq!(server.delete(path, token(&caller)).status, status);
        let reply = server.post("/v1/sessions/remember", &body);
        assert_eq!(reply.status, 401, "{:?}", reply.body);
        assert_eq!(
            message(&reply.body),
            "remember_token: not a live remember-me token of this user"
        );
    }
    // An administrator's revoke from the console (the server stopped: attaching to a held
    // store is the other half of issue 14), then served again.
    let caller = server.sign_in("alice", true);
    assert!(server.terminate().success());
    let id = caller["private_id"].as_str().unwrap();
    db.eval(&format!(
        r#"ActiveSession.destroy_session(User.find_by_username("alice"), "{id}")"#
    ));
    let server = Server::on_db(&db);
    assert_eq!(
        server
            .get("/v1/sessions/whoami", Some(token(&caller)))
            .status,
        401
    );
    assert_eq!(
        server
            .post("/v1/sessions/remember", &remember_body(&caller))
            .status,
        401
    );
}

/// The body of `POST /v1/sessions/remember` with the remember-me token of the sign-in `signed`.
fn remember_body(signed: &Value) -> String {
    let remember = signed["remember_token"]
        .as_str()
        .expect("a remember-me token");
    format!(
        r#"{{"username": "{}", "remember_token": "{remember}"}}"#,
        signed["user"]["username"].as_str().unwrap()
    )
}

#[test]
fn sign_ins_follow_the_limit_and_refuse_blocked_and_unknown_users() {
    let (_db, server) = served_after(|db| db.set_setting("session_limit", "2"));
    let oldest = server.sign_in("alice", false);
    server.sign_in("alice", false);
    server.sign_in("alice", false);
    assert_eq!(
        server
            .get("/v1/sessions/whoami", Some(token(&oldest)))
            .status,
        401
    );
    let blocked = server.post("/v1/sessions", r#"{"username": "carol"}"#);
    assert_eq!(blocked.status, 403);
    assert!(
        message(&blocked.body).contains("blocked"),
        "{:?}",
        blocked.body
    );
    let unknown = server.post("/v1/sessions", r#"{"username": "nobody"}"#);
    assert_eq!(
        (unknown.status, message(&unknown.body)),
        (404, r#"username: no user "nobody""#)
    );
    // Any case of the username.
    assert_eq!(server.sign_in("ALICE", false)["user"]["username"], "alice");
}

#[test]
fn bad_requests_get_400_naming_the_field_and_large_bodies_413() {
    let (_db, server) = served();
    let cases = [
        (r#"{"remember_me": true}"#, "body: missing field `username`"),
        (r#"{"username": 7}"#, "username: invalid type"),
        (
            r#"{"username": "alice", "remember_me": "yes"}"#,
            "remember_me: invalid type",
        ),
        (
            r#"{"username": "alice", "admin": true}"#,
            "admin: unknown field `admin`",
        ),
        (r#"{"username": ""}"#, "username: must not be empty"),
        ("not json", "body: expected"),
        (
            r#"{"username": "alice"} trailing"#,
            "body: trailing characters",
        ),
    ];
    for (body, expected) in cases {
        let reply = server.post("/v1/sessions", body);
        assert_eq!(reply.status, 400, "{body}: {:?}", reply.body);
        assert!(
            message(&reply.body).starts_with(expected),
            "{body}: {:?}",
            reply.body
        );
        assert_eq!(reply.body["error"]["code"], 400);
    }
    let remember = server.post("/v1/sessions/remember", r#"{"username": "alice"}"#);
    assert_eq!(remember.status, 400);
    assert!(message(&remember.body).starts_with("body: missing field `remember_token`"));
    // The end user's address is required and must be one.
    let signed = server.sign_in("alice", false);
    for ip in ["", "nowhere"] {
        let reply = server.request("GET", "/v1/sessions/whoami", Some(token(&signed)), ip, None);
        assert_eq!(reply.status, 400, "{ip:?}");
        assert!(
            message(&reply.body).starts_with("X-Forwarded-For"),
            "{:?}",
            reply.body
        );
    }
    // A bad private id in the path.
    let reply = server.delete("/v1/sessions/2::nothex", token(&signed));
    assert_eq!(
        (reply.status, message(&reply.body)),
        (400, "private_id: expected 2:: and 64 lower-case hex digits")
    );
    // No token, or not a token: 401.
    assert_eq!(
        message(&server.get("/v1/sessions", None).body),
        "X-Session-Token: missing"
    );
    let reply = server.get("/v1/sessions", Some("garbage"));
    assert_eq!(
        (reply.status, message(&reply.body)),
        (401, "X-Session-Token: not a session token")
    );
    // Too large a body: 413, nothing signed in.
    let large = format!(r#"{{"username": "alice", "pad": "{}"}}"#, "x".repeat(8192));
    assert_eq!(server.post("/v1/sessions", &large).status, 413);
    assert_eq!(
        server
            .get("/v1/sessions", Some(token(&signed)))
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // An unknown route: 404 in the same form.
    assert_eq!(server.get("/v1/nothing", None).body["error"]["code"], 404);
}

#[test]
fn health_answers_with_the_store() {
    let (db, server) = served();
    let reply = server.get("/v1/health", None);
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["status"], "ok");
    assert_eq!(reply.body["store"]["state"], "ok");
    assert_eq!(reply.body["store"]["settings"]["session_limit"], 100);
    assert!(
        reply.body["store"]["location"]
            .as_str()
            .unwrap()
            .contains(&db.path().display().to_string())
    );
}

#[test]
fn sign_ins_and_revokes_are_audited_as_the_application_touches_are_not() {
    let (db, server) = served();
    let signed = server.sign_in("alice", true);
    let other = server.sign_in("alice", false);
    for _ in 0..5 {
        assert_eq!(
            server
                .get("/v1/sessions/whoami", Some(token(&signed)))
                .status,
            200
        );
    }
    let id = other["private_id"].as_str().unwrap();
    server.delete(&format!("/v1/sessions/{id}"), token(&signed));
    server.delete("/v1/sessions", token(&signed));
    server.delete("/v1/sessions/current", token(&signed));
    let server_pid = server.pid();
    assert!(
        server.terminate().success(),
        "serve {server_pid} ended cleanly"
    );
    let audit = db
        .cmd()
        .args(["audit", "--format", "json"])
        .output()
        .unwrap();
    let entries: Vec<Value> = String::from_utf8(audit.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let api: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e["origin"] == "api")
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["os_user"].as_str().unwrap(),
            )
        })
        .collect();
    let me = whoami_user();
    // Newest first; the "revoke the others" found nothing left to revoke (nothing audited).
    assert_eq!(
        api,
        [
            ("sign_out", me.as_str()),
            ("destroy_session", &me),
            ("sign_in", &me),
            ("remember_me", &me),
            ("sign_in", &me),
        ]
    );
    assert!(entries.iter().all(|e| e["action"] != "refresh_session"));
}

/// The OS user running the tests (the server runs as it).
fn whoami_user() -> String {
    let output = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn sigterm_closes_the_store_cleanly_and_sign_ins_are_kept() {
    let (db, server) = served();
    let signed = server.sign_in("alice", false);
    let status = server.terminate();
    assert!(status.success(), "{status:?}");
    // Closed cleanly: a reading command changes no byte, and the session is there.
    let before = db.files();
    let id = signed["private_id"].as_str().unwrap();
    assert_eq!(
        db.eval(&format!(
            r#"User.find_by_username("alice").sessions.some(|s| s.session_private_id == "{id}")"#
        )),
        "true"
    );
    assert_eq!(db.files(), before);
    db.cmd().arg("check").assert().success();
}

#[test]
fn serve_refuses_public_addresses_without_the_flag_and_a_held_store() {
    let (db, _server) = served();
    let refused = db
        .cmd()
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--listen-public"));
    // The store is held by the first server.
    let second = db
        .cmd()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&second.stderr).contains("in use"),
        "{second:?}"
    );
}

#[test]
fn serve_listens_on_a_unix_socket_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let db = Db::new();
    db.eval(r#"User.create(#{username: "alice", email: "alice@example.com", name: "Alice"})"#);
    let socket = db.scratch().join("api.sock");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .arg("--db")
        .arg(db.path())
        .args(["serve", "--listen"])
        .arg(format!("unix:{}", socket.display()))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(
        line.trim(),
        format!("sessionctl serve: listening on unix:{}", socket.display())
    );
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    let body = r#"{"username": "alice"}"#;
    write!(
        stream,
        "POST /v1/sessions HTTP/1.1\r\nHost: api\r\nX-Forwarded-For: 192.0.2.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains("\"session_token\""), "{answer}");
    common::serve::signal(child.id(), "INT");
    assert!(child.wait().unwrap().success());
    assert!(!socket.exists(), "the socket is removed at exit");
}

#[test]
fn two_servers_on_one_redis_share_sessions() {
    let Some(redis) = common::redis::Redis::start() else {
        return;
    };
    redis.eval(r#"User.create(#{username: "alice", email: "alice@example.com", name: "Alice"})"#);
    let one = Server::on_redis(&redis);
    let two = Server::on_redis(&redis);
    let signed = one.sign_in("alice", true);
    let other = two.sign_in("alice", false);
    let me = two.get("/v1/sessions/whoami", Some(token(&signed)));
    assert_eq!(
        (me.status, &me.body["user"]["username"]),
        (200, &Value::from("alice"))
    );
    assert_eq!(
        one.get("/v1/sessions", Some(token(&other)))
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Revoked on one: 401 on the other at once, and the remember-me token is gone.
    let id = signed["private_id"].as_str().unwrap();
    assert_eq!(
        one.delete(&format!("/v1/sessions/{id}"), token(&other))
            .status,
        204
    );
    assert_eq!(
        two.get("/v1/sessions/whoami", Some(token(&signed))).status,
        401
    );
    let remember = signed["remember_token"].as_str().unwrap();
    let body = format!(r#"{{"username": "alice", "remember_token": "{remember}"}}"#);
    assert_eq!(two.post("/v1/sessions/remember", &body).status, 401);
    // The store is Redis: GitLab's own key holds the session.
    let user_id = other["user"]["id"].as_u64().unwrap();
    let other_id = other["private_id"].as_str().unwrap();
    let exists: bool = redis::cmd("EXISTS")
        .arg(format!("session:user:gitlab::v2:{user_id}:{other_id}"))
        .query(&mut redis.connection())
        .unwrap();
    assert!(exists);
    assert_eq!(one.get("/v1/health", None).body["store"]["state"], "ok");
}

/// The two halves of #14 together: an application signs in over HTTP while an administrator
/// works on the same store from an attached `-e`.
#[test]
fn an_attached_revoke_ends_an_http_session_at_once() {
    let (db, server) = served();
    let signed = server.sign_in("alice", true);
    let id = signed["private_id"].as_str().unwrap();
    assert_eq!(
        server
            .get("/v1/sessions/whoami", Some(token(&signed)))
            .status,
        200
    );
    // The store is held by serve: these are evaluated there, attached.
    let listed = db.eval(
        r#"ActiveSession.list(User.find_by_username("alice")).map(|s| s.session_private_id)"#,
    );
    assert!(listed.contains(id), "{listed}");
    assert_eq!(
        db.eval(&format!(
            r#"ActiveSession.destroy_session(User.find_by_username("alice"), "{id}")"#
        )),
        "true"
    );
    assert_eq!(
        server
            .get("/v1/sessions/whoami", Some(token(&signed)))
            .status,
        401
    );
    // The revocation ended the remember-me token too.
    assert_eq!(
        server
            .post("/v1/sessions/remember", &remember_body(&signed))
            .status,
        401
    );
    assert!(server.terminate().success());
}
