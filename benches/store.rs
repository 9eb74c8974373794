//! Store benchmark: sessionctl's registry against the raw sled baseline on the same data.
//!
//! NOTE: unlike the library (where only `src/store` touches sled), this bench opens the sled
//! database directly, on copies of the directory made while it is closed, to measure the raw
//! baseline: a plain scan/get/insert/clear with postcard decoding into local mirrors of the
//! on-disk records of `src/store/record.rs`. Keep those mirrors in step with that file.
//!
//! Run: `cargo bench --bench store [-- --quick | --users N --sessions M]`.

use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use serde::Deserialize;
use sessionctl::clock::ManualClock;
use sessionctl::model::{SignIn, User, UserState};
use sessionctl::registry::Registry;
use sled::Transactional;

/// The page cache of `src/store/sled_store.rs`.
const CACHE_CAPACITY: u64 = 64 * 1024 * 1024;
/// Users created per `insert_users` call while building.
const USER_BATCH: u64 = 1_000;
/// Repetitions of the non-destructive read measurements (the median is reported).
const READ_RUNS: usize = 3;

/// Mirror of `SessionRecord` in `src/store/record.rs`: same fields, order and types.
#[derive(Deserialize)]
struct RawSession<'a> {
    ip_address: &'a str,
    browser: &'a str,
    os: &'a str,
    device_name: &'a str,
    device_type: &'a str,
    is_impersonated: bool,
    admin_mode: bool,
    created_at: i64,
    updated_at: i64,
}

/// Mirror of `UserRecord` in `src/store/record.rs`.
#[derive(Deserialize)]
struct RawUser {
    username: String,
    email: String,
    name: String,
    blocked: bool,
    admin: bool,
    created_at: i64,
    last_sign_in_at: Option<i64>,
}

/// A realistic mix of User-Agent strings.
const USER_AGENTS: [&str; 20] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36 Edg/123.0.2420.81",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 OPR/109.0.0.0",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "git/2.44.0",
    "GitLab-Workhorse v16.11.0",
    "curl/8.7.1",
];

struct Options {
    users: u64,
    sessions: u64,
}

impl Options {
    /// Reads `--quick`, `--users N` and `--sessions M`; ignores what cargo adds (`--bench`).
    fn from_args() -> Self {
        let mut options = Options {
            users: 100_000,
            sessions: 10,
        };
        let mut args = std::env::args().skip(1);
        let number = |flag: &str, value: Option<String>| -> u64 {
            value
                .and_then(|v| v.replace('_', "").parse().ok())
                .filter(|&n| n > 0)
                .unwrap_or_else(|| panic!("{flag} needs a positive whole number"))
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => options.users = 10_000,
                "--users" => options.users = number("--users", args.next()),
                "--sessions" => options.sessions = number("--sessions", args.next()),
                _ => {}
            }
        }
        options
    }

    /// Sign-ins measured (each one evicts a session).
    fn sign_ins(&self) -> u64 {
        (self.users / 10).clamp(1, 10_000)
    }

    /// Username look-ups measured per run.
    fn lookups(&self) -> u64 {
        self.users.min(100_000)
    }
}

/// One row of the result table.
struct Row {
    operation: &'static str,
    ours: String,
    raw: String,
    /// ours / raw, in the unit the target is stated in.
    ratio: f64,
    target: &'static str,
    pass: bool,
}

fn main() {
    let options = Options::from_args();
    let started = Instant::now();
    let (n, m) = (options.users, options.sessions);
    println!(
        "sessionctl store bench: N = {n} users x M = {m} sessions ({} sessions)",
        n * m
    );
    println!("machine: nproc = {}, CPU = {}", nproc(), cpu_model());
    println!("started: {}", Utc::now().format("%Y-%m-%d %H:%M:%S UTC"));

    let temp = tempfile::tempdir().expect("temp dir");
    let original = temp.path().join("ours");
    // A fixed start; every sign-in moves the clock one second.
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    ));
    let build = build(&original, &options, &clock);
    let copy_started = Instant::now();
    let copies = ["raw", "ours_destroy", "raw_clear", "raw_drop"].map(|name| {
        let to = temp.path().join(name);
        copy_dir(&original, &to);
        to
    });
    let [raw_dir, destroy_dir, clear_dir, drop_dir] = &copies;
    println!(
        "copied the closed database 4x ({:.0} MiB each) in {:.1} s",
        dir_size(&original) as f64 / 1_048_576.0,
        copy_started.elapsed().as_secs_f64()
    );

    let registry = open_registry(&original, &clock);
    let raw = open_raw(raw_dir);
    let expected = n * m;
    let list = list_all(&registry, &raw, expected);
    let lookup = lookups(&registry, &raw, &build.usernames, &options);
    let sign_in = sign_ins(&registry, &raw, &clock, &build.user_ids, &options);
    let steps = sign_in_steps(&registry, &raw, &build.user_ids, &build.usernames, &options);
    drop(registry);
    drop(raw);
    let destroy = destroy_all(destroy_dir, clear_dir, drop_dir, &clock, expected);
    let rows = [list, destroy, sign_in, lookup];

    println!();
    println!(
        "N = {n} users, M = {m} sessions/user; machine: {} cores, {}",
        nproc(),
        cpu_model()
    );
    println!(
        "data build: {:.1} s ({} users in {:.1} s; {} sign-ins in {:.1} s = {:.0}/s; {} remember-me tokens in {:.1} s)",
        build.total().as_secs_f64(),
        n,
        build.users.as_secs_f64(),
        n * m,
        build.sessions.as_secs_f64(),
        (n * m) as f64 / build.sessions.as_secs_f64(),
        build.token_count,
        build.tokens.as_secs_f64(),
    );
    print_table(&rows);
    println!("{steps}");
    println!("total run time: {:.1} s", started.elapsed().as_secs_f64());
}

// ----- building the data -----

struct Built {
    user_ids: Vec<u64>,
    usernames: Vec<String>,
    token_count: u64,
    users: Duration,
    sessions: Duration,
    tokens: Duration,
}

impl Built {
    fn total(&self) -> Duration {
        self.users + self.sessions + self.tokens
    }
}

/// Builds N users with M sessions each through the registry's rules, then closes it.
fn build(path: &Path, options: &Options, clock: &Arc<ManualClock>) -> Built {
    let (n, m) = (options.users, options.sessions);
    let registry = open_registry(path, clock);
    // Each sign-in moves the clock a second: keep every session of the build and of the
    // measured sign-ins live, whatever N and M are (at least GitLab's 7 days).
    let seconds = n * m + options.sign_ins() + 3_600;
    let expire_minutes = (seconds / 60 * 2).max(10_080);
    registry
        .set_setting("session_expire_delay", &expire_minutes.to_string())
        .expect("setting");
    registry
        .set_setting("session_limit", &m.to_string())
        .expect("setting");

    let started = Instant::now();
    let mut user_ids = Vec::with_capacity(n as usize);
    let mut usernames = Vec::with_capacity(n as usize);
    let mut next = 0;
    while next < n {
        let batch: Vec<User> = (next..n.min(next + USER_BATCH))
            .map(|i| User {
                id: 0,
                username: format!("user{i:07}"),
                email: format!("user{i:07}@example.com"),
                name: format!("User Number {i}"),
                state: UserState::Active,
                admin: i % 1_000 == 0,
                created_at: registry.now(),
                last_sign_in_at: None,
            })
            .collect();
        next += batch.len() as u64;
        for user in registry.insert_users(batch).expect("insert users") {
            user_ids.push(user.id);
            usernames.push(user.username);
        }
    }
    let users = started.elapsed();
    eprintln!("built {n} users in {:.1} s", users.as_secs_f64());

    // Round-robin: every user signs in once per round, so one user's sessions are spread
    // over the build as they would be in real life.
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(1);
    for round in 0..m {
        for &id in &user_ids {
            let signed = registry
                .sign_in(id, sign_in_request(&mut rng))
                .expect("sign in");
            assert!(
                signed.created && signed.evicted.is_empty(),
                "the build evicted a session"
            );
            clock.advance(chrono::Duration::seconds(1));
        }
        let done = (round + 1) * n;
        eprintln!(
            "signed in {done}/{} sessions, {:.0}/s",
            n * m,
            done as f64 / started.elapsed().as_secs_f64()
        );
    }
    let sessions = started.elapsed();

    // A remember-me token for every tenth user, so destroy-all has tokens to revoke.
    let started = Instant::now();
    let mut token_count = 0;
    for &id in user_ids.iter().step_by(10) {
        registry.remember_me(id).expect("remember me");
        token_count += 1;
    }
    let tokens = started.elapsed();
    registry.flush().expect("flush");
    assert_eq!(registry.stored_session_count().expect("count"), n * m);
    drop(registry);
    Built {
        user_ids,
        usernames,
        token_count,
        users,
        sessions,
        tokens,
    }
}

fn sign_in_request(rng: &mut StdRng) -> SignIn {
    SignIn {
        public_id: None,
        ip_address: format!(
            "10.{}.{}.{}",
            rng.random::<u8>(),
            rng.random::<u8>(),
            rng.random_range(1..255)
        ),
        user_agent: USER_AGENTS[rng.random_range(0..USER_AGENTS.len())].to_owned(),
        impersonated: false,
        admin_mode: false,
    }
}

// ----- the measurements -----

/// 1. Every session, read and decoded.
fn list_all(registry: &Registry, raw: &sled::Db, expected: u64) -> Row {
    let sessions = raw.open_tree("sessions").expect("sessions tree");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    // Alternate the two so that machine noise hits both alike.
    for _ in 0..READ_RUNS {
        let started = Instant::now();
        let mut count = 0;
        let mut checksum = 0;
        for session in registry.list_all() {
            let s = session.expect("session");
            checksum += s.ip_address.len()
                + s.browser.len()
                + s.os.len()
                + s.device_name.len()
                + s.device_type.len()
                + usize::from(s.is_impersonated)
                + usize::from(s.admin_mode)
                + (s.created_at.timestamp() ^ s.updated_at.timestamp()) as usize
                + s.session_private_id.len();
            count += 1;
        }
        ours.push(started.elapsed());
        black_box(checksum);
        assert_eq!(
            count, expected,
            "list_all saw a different number of sessions"
        );

        let started = Instant::now();
        let mut count = 0;
        let mut checksum = 0;
        for entry in &sessions {
            let (key, value) = entry.expect("raw entry");
            let r: RawSession<'_> = postcard::from_bytes(&value).expect("raw decode");
            checksum += r.ip_address.len()
                + r.browser.len()
                + r.os.len()
                + r.device_name.len()
                + r.device_type.len()
                + usize::from(r.is_impersonated)
                + usize::from(r.admin_mode)
                + (r.created_at ^ r.updated_at) as usize
                + key.len();
            count += 1;
        }
        theirs.push(started.elapsed());
        black_box(checksum);
        assert_eq!(
            count, expected,
            "the raw scan saw a different number of sessions"
        );
    }
    let (ours, theirs) = (median(ours), median(theirs));
    let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
    Row {
        operation: "list all sessions (read+decode)",
        ours: format!("{} ({})", seconds(ours), rate(expected, ours)),
        raw: format!("{} ({})", seconds(theirs), rate(expected, theirs)),
        ratio,
        target: "time <= 2.0x",
        pass: ratio <= 2.0,
    }
}

/// 4. Random existing usernames looked up.
fn lookups(registry: &Registry, raw: &sled::Db, usernames: &[String], options: &Options) -> Row {
    let by_username = raw.open_tree("users_by_username").expect("index tree");
    let users = raw.open_tree("users").expect("users tree");
    let mut rng = StdRng::seed_from_u64(4);
    let picks: Vec<&str> = (0..options.lookups())
        .map(|_| usernames[rng.random_range(0..usernames.len())].as_str())
        .collect();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..READ_RUNS {
        let started = Instant::now();
        let mut checksum = 0;
        for name in &picks {
            let user = registry
                .find_by_username(name)
                .expect("look-up")
                .expect("user exists");
            checksum += user.id as usize + user.email.len();
        }
        ours.push(started.elapsed());
        black_box(checksum);

        let started = Instant::now();
        let mut checksum = 0;
        for name in &picks {
            let id = by_username
                .get(name.as_bytes())
                .expect("raw get")
                .expect("indexed");
            let bytes = users.get(&id).expect("raw get").expect("user exists");
            let r: RawUser = postcard::from_bytes(&bytes).expect("raw decode");
            checksum += r.username.len()
                + r.email.len()
                + r.name.len()
                + usize::from(r.blocked)
                + usize::from(r.admin)
                + (r.created_at ^ r.last_sign_in_at.unwrap_or(0)) as usize;
        }
        theirs.push(started.elapsed());
        black_box(checksum);
    }
    let k = options.lookups();
    let (ours, theirs) = (median(ours), median(theirs));
    let ratio = per_second(k, ours) / per_second(k, theirs);
    Row {
        operation: "find_by_username",
        ours: format!("{} ({k} in {})", rate(k, ours), seconds(ours)),
        raw: format!("{} ({k} in {})", rate(k, theirs), seconds(theirs)),
        ratio,
        target: "(report)",
        pass: true,
    }
}

/// 3. Sign-ins of users already at the limit: each one evicts the oldest session.
fn sign_ins(
    registry: &Registry,
    raw: &sled::Db,
    clock: &ManualClock,
    user_ids: &[u64],
    options: &Options,
) -> Row {
    let k = options.sign_ins();
    let mut rng = StdRng::seed_from_u64(3);
    let requests: Vec<(u64, SignIn)> = (0..k)
        .map(|_| {
            (
                user_ids[rng.random_range(0..user_ids.len())],
                sign_in_request(&mut rng),
            )
        })
        .collect();
    let started = Instant::now();
    let mut evicted = 0;
    for (id, request) in requests {
        evicted += registry
            .sign_in(id, request)
            .expect("sign in")
            .evicted
            .len() as u64;
        clock.advance(chrono::Duration::seconds(1));
    }
    let ours = started.elapsed();
    assert_eq!(evicted, k, "every sign-in should evict exactly one session");

    // Raw: K single-key inserts of a real session's key and value size, into the (same-sized)
    // sessions tree, under existing users' prefixes.
    let sessions = raw.open_tree("sessions").expect("sessions tree");
    let (sample_key, sample_value) = sessions.first().expect("first").expect("a session");
    let value = sample_value.to_vec();
    let keys: Vec<Vec<u8>> = (0..k)
        .map(|_| {
            let mut key = vec![0u8; sample_key.len()];
            key[..8].copy_from_slice(&user_ids[rng.random_range(0..user_ids.len())].to_be_bytes());
            rng.fill_bytes(&mut key[8..]);
            key
        })
        .collect();
    let started = Instant::now();
    for key in keys {
        sessions.insert(key, value.as_slice()).expect("raw insert");
    }
    let theirs = started.elapsed();
    let ratio = per_second(k, ours) / per_second(k, theirs);
    Row {
        operation: "sign_in at limit (evicts 1)",
        ours: format!("{} ({k} in {})", rate(k, ours), seconds(ours)),
        raw: format!(
            "{} ({} B key, {} B value)",
            rate(k, theirs),
            sample_key.len(),
            value.len()
        ),
        ratio,
        target: "rate >= 0.5x",
        pass: ratio >= 0.5,
    }
}

/// Where a sign-in's time goes: the registry's reads through its public API, and the same
/// sled operations a sign-in makes (as `SledStore::apply` does them), done raw with and
/// without a transaction. Also the cost of decoding sessions into owned records.
fn sign_in_steps(
    registry: &Registry,
    raw: &sled::Db,
    user_ids: &[u64],
    usernames: &[String],
    options: &Options,
) -> String {
    let k = options.sign_ins();
    let mut rng = StdRng::seed_from_u64(5);
    let picks: Vec<usize> = (0..k)
        .map(|_| rng.random_range(0..user_ids.len()))
        .collect();
    let per_op = |time: Duration| format!("{:.1} us", time.as_secs_f64() * 1e6 / k as f64);

    let started = Instant::now();
    for &i in &picks {
        black_box(registry.find_user(user_ids[i]).expect("find user"));
    }
    let find_user = started.elapsed();
    let started = Instant::now();
    for &i in &picks {
        black_box(registry.list(user_ids[i]).expect("list"));
    }
    let list = started.elapsed();

    let trees = [
        "meta",
        "users",
        "users_by_username",
        "users_by_email",
        "sessions",
        "remember_tokens",
        "audit",
    ]
    .map(|name| raw.open_tree(name).expect("tree"));
    let value = trees[4].first().expect("first").expect("a session").1;
    let mut timed = |transactional: bool| {
        let started = Instant::now();
        for &i in &picks {
            let id = user_ids[i].to_be_bytes();
            let username = usernames[i].to_lowercase();
            let email = format!("{username}@example.com");
            let mut new_key = [0u8; 40];
            new_key[..8].copy_from_slice(&id);
            rng.fill_bytes(&mut new_key[8..]);
            // Outside the transaction, as the registry reads: user, session, the user's list.
            black_box(trees[1].get(id).expect("get"));
            black_box(trees[4].get(new_key).expect("get"));
            let listed: Vec<_> = trees[4].scan_prefix(id).map(|e| e.expect("scan")).collect();
            let oldest = listed[0].0.clone();
            if transactional {
                let result: sled::transaction::TransactionResult<()> =
                    trees.as_slice().transaction(|t| {
                        let user = t[1].get(id)?.expect("user");
                        black_box(t[2].get(username.as_bytes())?);
                        black_box(t[3].get(email.as_bytes())?);
                        t[2].insert(username.as_bytes(), &id[..])?;
                        t[3].insert(email.as_bytes(), &id[..])?;
                        t[1].insert(&id[..], user)?;
                        t[4].remove(&oldest)?;
                        t[4].insert(&new_key[..], value.clone())?;
                        Ok(())
                    });
                result.expect("transaction");
            } else {
                let user = trees[1].get(id).expect("get").expect("user");
                black_box(trees[2].get(username.as_bytes()).expect("get"));
                black_box(trees[3].get(email.as_bytes()).expect("get"));
                trees[2].insert(username.as_bytes(), &id).expect("insert");
                trees[3].insert(email.as_bytes(), &id).expect("insert");
                trees[1].insert(id, user).expect("insert");
                trees[4].remove(&oldest).expect("remove");
                trees[4].insert(new_key, value.clone()).expect("insert");
            }
        }
        started.elapsed()
    };
    let plain = timed(false);
    let transaction = timed(true);

    let (owned_scan, count) = owned_scan(&trees[4]);
    format!(
        "sign-in breakdown (per op, {k} random users): registry.find_user {}, registry.list {}; \
         the sign-in's sled ops raw: plain {}, in one 7-tree transaction {}\n\
         raw scan decoding into owned records (Strings + hex id): {} for {count} ({})",
        per_op(find_user),
        per_op(list),
        per_op(plain),
        per_op(transaction),
        seconds(owned_scan),
        rate(count, owned_scan),
    )
}

/// A raw scan decoding into owned records like `record::decode_session` does (five Strings,
/// a hex private id), to compare with the borrowing scan.
fn owned_scan(sessions: &sled::Tree) -> (Duration, u64) {
    let started = Instant::now();
    let mut count = 0u64;
    for entry in sessions {
        let (key, value) = entry.expect("raw entry");
        let r: RawSession<'_> = postcard::from_bytes(&value).expect("raw decode");
        let owned = (
            format!("2::{}", hex::encode(&key[8..])),
            r.ip_address.to_owned(),
            r.browser.to_owned(),
            r.os.to_owned(),
            r.device_name.to_owned(),
            r.device_type.to_owned(),
            r.is_impersonated,
            r.admin_mode,
            r.created_at,
            r.updated_at,
        );
        black_box(owned);
        count += 1;
    }
    (started.elapsed(), count)
}

/// 2. Every session and remember-me token revoked, each side on its own copy of the data.
fn destroy_all(
    ours_dir: &Path,
    clear_dir: &Path,
    drop_dir: &Path,
    clock: &Arc<ManualClock>,
    expected: u64,
) -> Row {
    let registry = open_registry(ours_dir, clock);
    let started = Instant::now();
    let revoked = registry.destroy_all().expect("destroy all");
    let ours = started.elapsed();
    assert_eq!(revoked.sessions, expected);
    assert_eq!(registry.stored_session_count().expect("count"), 0);
    drop(registry);

    let db = open_raw(clear_dir);
    let sessions = db.open_tree("sessions").expect("tree");
    let tokens = db.open_tree("remember_tokens").expect("tree");
    let started = Instant::now();
    sessions.clear().expect("clear");
    tokens.clear().expect("clear");
    let clear = started.elapsed();
    assert!(sessions.is_empty() && tokens.is_empty());
    drop((sessions, tokens, db));

    let db = open_raw(drop_dir);
    let started = Instant::now();
    db.drop_tree("sessions").expect("drop tree");
    db.drop_tree("remember_tokens").expect("drop tree");
    let sessions = db.open_tree("sessions").expect("tree");
    let tokens = db.open_tree("remember_tokens").expect("tree");
    let dropped = started.elapsed();
    assert!(sessions.is_empty() && tokens.is_empty());
    drop((sessions, tokens, db));

    println!(
        "raw destroy baselines: Tree::clear {} / Db::drop_tree + re-open {}",
        seconds(clear),
        seconds(dropped)
    );
    let (theirs, how) = if clear <= dropped {
        (clear, "clear")
    } else {
        (dropped, "drop_tree")
    };
    let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
    Row {
        operation: "destroy_all",
        ours: seconds(ours),
        raw: format!("{} ({how})", seconds(theirs)),
        ratio,
        target: "time <= 1.5x",
        pass: ratio <= 1.5,
    }
}

// ----- helpers -----

fn open_registry(path: &Path, clock: &Arc<ManualClock>) -> Registry {
    let store = sessionctl::store::open(path).expect("open the store");
    Registry::new(store, clock.clone()).expect("registry")
}

fn open_raw(path: &Path) -> sled::Db {
    sled::Config::new()
        .path(path)
        .cache_capacity(CACHE_CAPACITY)
        .open()
        .expect("open sled")
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create dir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).expect("copy");
        }
    }
}

fn dir_size(path: &Path) -> u64 {
    fs::read_dir(path)
        .expect("read dir")
        .map(|entry| {
            let entry = entry.expect("dir entry");
            let meta = entry.metadata().expect("metadata");
            if meta.is_dir() {
                dir_size(&entry.path())
            } else {
                meta.len()
            }
        })
        .sum()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn per_second(count: u64, time: Duration) -> f64 {
    count as f64 / time.as_secs_f64()
}

fn rate(count: u64, time: Duration) -> String {
    let rate = per_second(count, time);
    if rate >= 1e6 {
        format!("{:.2} M/s", rate / 1e6)
    } else if rate >= 1e3 {
        format!("{:.1} k/s", rate / 1e3)
    } else {
        format!("{rate:.0} /s")
    }
}

fn seconds(time: Duration) -> String {
    if time.as_secs_f64() >= 1.0 {
        format!("{:.2} s", time.as_secs_f64())
    } else {
        format!("{:.1} ms", time.as_secs_f64() * 1e3)
    }
}

fn nproc() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<32} {:<32} {:<36} {:>7}  {:<13} result",
        "operation", "ours", "raw sled", "ratio", "target"
    );
    println!(
        "{}",
        "-".repeat(32 + 1 + 32 + 1 + 36 + 1 + 7 + 2 + 13 + 1 + 6)
    );
    for row in rows {
        println!(
            "{:<32} {:<32} {:<36} {:>6.2}x  {:<13} {}",
            row.operation,
            row.ours,
            row.raw,
            row.ratio,
            row.target,
            if row.target == "(report)" {
                "-"
            } else if row.pass {
                "PASS"
            } else {
                "MISS"
            }
        );
    }
    println!(
        "ratio: time ours/raw for list and destroy; rate ours/raw for sign_in and find_by_username"
    );
}
