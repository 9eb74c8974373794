//! Many `sessionctl --redis` processes on one `redis-server`, as on many machines: four sign
//! users in past the session limit while a fifth lists and revokes; and a `destroy_all` over
//! 100,000 sessions killed part-way, then finished by a rerun.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::redis::Redis;
use redis::Commands;

const USERS: u64 = 6;
const LIMIT: u64 = 4;
/// The users the writers sign in, all four at once.
const HOT: u64 = 2;

fn spawn(server: &Redis, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .env_remove("SESSIONCTL_DB")
        .env_remove("SESSIONCTL_REDIS")
        .env("NO_COLOR", "1")
        .arg("--redis")
        .arg(&server.url)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sessionctl")
}

fn finish(child: Child) -> String {
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The fifth machine: lists and revokes until it has revoked 20 sessions (the writers sign in
/// 400), or long enough; prints each revoked session and the most sessions it saw a user have.
const REVOKER: &str = r"let revoked = 0;
let most = 0;
let users = User.all.to_array();
for round in 0..20000 {
    if revoked >= 20 { break; }
    let user = users[round % users.len()];
    let sessions = ActiveSession.list(user);
    most = max(most, sessions.len());
    if sessions.len() > 0 {
        let id = sessions[0].session_private_id;
        if ActiveSession.destroy_session(user, id) {
            puts(`${user.id} ${id}`);
            revoked += 1;
        }
    }
}
puts(`most ${most}`);
";

#[test]
fn four_machines_sign_in_while_a_fifth_revokes() {
    let Some(server) = Redis::start() else { return };
    server
        .cmd()
        .args(["config", "set", "session_limit", &LIMIT.to_string()])
        .assert()
        .success();
    server.eval(&format!(
        r"for i in 1..={USERS} {{ User.create(#{{username: `u${{i}}`, email: `u${{i}}@x.org`}}); }} 1"
    ));
    let scripts = tempfile::tempdir().unwrap();
    let writer = scripts.path().join("writer.rhai");
    std::fs::write(
        &writer,
        format!(
            r#"let k = parse_int(ARGV[0]);
for i in 0..100 {{
    let user = User.find(1 + (i + k) % {HOT});
    ActiveSession.set(user, #{{ip_address: `10.0.${{k}}.${{i}}`, user_agent: "Firefox/130"}});
    let now = ActiveSession.list(user).len();
    if now > {LIMIT} {{ puts(`user ${{user.id}} has ${{now}} sessions`); }}
}}
"#
        ),
    )
    .unwrap();
    let revoking_script = scripts.path().join("revoker.rhai");
    std::fs::write(&revoking_script, REVOKER).unwrap();
    let writers: Vec<Child> = (0..4)
        .map(|k| spawn(&server, &["run", writer.to_str().unwrap(), &k.to_string()]))
        .collect();
    let revoking = spawn(&server, &["run", revoking_script.to_str().unwrap()]);
    for child in writers {
        // Each writer looks after every sign-in: never above the limit, even for a moment.
        let seen = finish(child);
        assert!(seen.is_empty(), "{seen}");
    }
    let revoked = finish(revoking);
    let (revoked, most) = revoked
        .trim_end()
        .rsplit_once('\n')
        .unwrap_or(("", &revoked));
    // Never above the limit, as the revoker saw the users while they were signed in.
    assert!(
        most.strip_prefix("most ").unwrap().parse::<u64>().unwrap() <= LIMIT,
        "{most}"
    );
    let revoked: Vec<(u64, String)> = revoked
        .lines()
        .map(|line| {
            let (user, id) = line.split_once(' ').unwrap();
            (user.parse().unwrap(), id.to_owned())
        })
        .collect();
    assert!(revoked.len() >= 10, "the revoker revoked {}", revoked.len());

    let check = server.cmd().arg("check").output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    assert!(String::from_utf8_lossy(&check.stdout).starts_with("consistent: 6 users"));
    let mut c = server.connection();
    let mut stored = 0;
    for user in 1..=USERS {
        let members: Vec<String> = c
            .smembers(format!("session:lookup:user:gitlab:{user}"))
            .unwrap();
        assert!(members.len() as u64 <= LIMIT, "user {user}: {members:?}");
        stored += members.len();
    }
    assert!(stored > 0);
    let listed = server.eval(
        "let most = 0; for u in User.all.to_array() { most = max(most, ActiveSession.list(u).len()) } most",
    );
    assert!(listed.parse::<u64>().unwrap() <= LIMIT, "{listed}");
    for (user, id) in &revoked {
        let key = format!("session:user:gitlab::v2:{user}:{id}");
        let exists: bool = c.exists(&key).unwrap();
        let member: bool = c
            .sismember(format!("session:lookup:user:gitlab:{user}"), id)
            .unwrap();
        assert!(!exists && !member, "revoked {key} came back");
    }
}

/// How many session entries the server holds.
fn entries(c: &mut redis::Connection) -> u64 {
    let keys: Vec<String> = c.keys("session:user:gitlab::v2:*").unwrap();
    keys.len() as u64
}

#[test]
fn destroy_all_killed_part_way_is_finished_by_a_rerun() {
    const PER_USER: u64 = 500;
    let Some(server) = Redis::start() else { return };
    server
        .cmd()
        .args([
            "seed",
            "--users",
            "200",
            "--sessions-per-user",
            "1",
            "--seed",
            "3",
        ])
        .assert()
        .success();
    // 100,000 more sessions, written on the server itself as GitLab writes them.
    let mut c = server.connection();
    let _: () = redis::Script::new(
        r"
        for user = 1, 200 do
            for n = 1, tonumber(ARGV[1]) do
                local id = string.format('2::%032x%032x', user, n)
                redis.call('SETEX', 'session:user:gitlab::v2:' .. user .. ':' .. id, 86400, ARGV[2])
                redis.call('SADD', 'session:lookup:user:gitlab:' .. user, id)
            end
        end
        ",
    )
    .arg(PER_USER)
    .arg(format!(
        r#"v2:{{"ip_address":"10.0.0.1","browser":"Firefox","os":"Linux","device_name":"Other","device_type":"desktop","created_at":"{0}","updated_at":"{0}","is_impersonated":false}}"#,
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ")
    ))
    .invoke(&mut c)
    .unwrap();
    let before = entries(&mut c);
    assert!(before >= 200 * PER_USER, "{before}");
    let size: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();

    let mut destroying = spawn(&server, &["--yes", "-e", "ActiveSession.destroy_all; 1"]);
    let start = Instant::now();
    loop {
        let now: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        if now < size - size / 5 {
            break;
        }
        assert!(
            destroying.try_wait().unwrap().is_none(),
            "destroy_all ended before it could be killed"
        );
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "destroy_all removed nothing"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    destroying.kill().unwrap();
    destroying.wait().unwrap();
    let left = entries(&mut c);
    assert!(
        left > 0 && left < before,
        "the kill landed mid-way: {left} of {before} sessions left"
    );
    let listed: u64 = server.eval("ActiveSession.count()").parse().unwrap();
    assert!(listed <= left, "{listed} listed, {left} stored");

    let rerun = server
        .cmd()
        .args([
            "--yes",
            "-e",
            "ActiveSession.destroy_all; ActiveSession.count()",
        ])
        .output()
        .unwrap();
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&rerun.stdout).trim(), "0");
    let session_keys: Vec<String> = c.keys("session:*").unwrap();
    assert!(session_keys.is_empty(), "{} keys left", session_keys.len());
    let check = server.cmd().arg("check").output().unwrap();
    assert!(check.status.success());
    assert_eq!(
        String::from_utf8_lossy(&check.stdout).trim(),
        "consistent: 200 users, 0 sessions"
    );
    let audit = server.cmd().arg("audit").output().unwrap();
    assert!(String::from_utf8_lossy(&audit.stdout).contains("destroy_all"));
}
