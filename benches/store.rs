//! The performance harness (issue 6): sessionctl against raw sled on the same data, from the
//! store up to the rhai engine and the whole `sessionctl` process. Prints one table.
//!
//! NOTE: unlike the library (where only `src/store` touches sled), this bench opens the sled
//! database directly, on copies of the directory made while it is closed, to measure the raw
//! baselines: a plain scan/get/insert/clear/`drop_tree` with postcard decoding into local
//! mirrors of the on-disk records of `src/store/record.rs`, in the trees of the current
//! sessions generation (`sessions.G`, `remember_tokens.G`, G from meta `sessions_generation`).
//! Keep those mirrors and names in step with `src/store/`.
//!
//! Run: `cargo bench --bench store [-- --quick | --users N --sessions M --memory-users U]`.
//! The peak-memory row runs in child processes: this binary re-executed with `--child-rss`.

use std::collections::HashMap;
use std::fs;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use rhai::{Array, Dynamic};
use serde::Deserialize;
use sessionctl::clock::ManualClock;
use sessionctl::demo::{self, Plan};
use sessionctl::model::{SignIn, UserState};
use sessionctl::registry::{Actor, Registry};
use sessionctl::script::{Evaluator, Limits, Output};
use sessionctl::store::CACHE_CAPACITY;
use sled::Transactional;

/// Repetitions of the non-destructive read measurements (the median is reported).
const READ_RUNS: usize = 3;
/// Runs of the process start-up measurement (the median is reported).
const STARTUP_RUNS: usize = 7;
/// The meta key holding the sessions generation (u64 big-endian; absent means 1).
const GENERATION_KEY: &[u8] = b"sessions_generation";
const MIB: f64 = 1_048_576.0;

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

/// Mirror of `UserRecord` in `src/store/record.rs` (with the session count of the generation).
#[derive(Deserialize)]
struct RawUser {
    username: String,
    email: String,
    name: String,
    blocked: bool,
    admin: bool,
    created_at: i64,
    last_sign_in_at: Option<i64>,
    generation: u64,
    session_count: u32,
}

/// Borrowed mirror of `UserRecord`, to read only the session count (as `destroy_all` does).
#[derive(Deserialize)]
struct RawUserCount<'a> {
    _username: &'a str,
    _email: &'a str,
    _name: &'a str,
    _blocked: bool,
    _admin: bool,
    _created_at: i64,
    _last_sign_in_at: Option<i64>,
    generation: u64,
    session_count: u32,
}

/// An owned session, as the domain type `ActiveSession` holds it: what a raw decode must build.
struct OwnedSession {
    session_private_id: String,
    user_id: u64,
    ip_address: String,
    browser: String,
    os: String,
    device_name: String,
    device_type: String,
    is_impersonated: bool,
    admin_mode: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A realistic mix of User-Agent strings for the measured sign-ins.
const USER_AGENTS: [&str; 8] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
    "git/2.44.0",
    "curl/8.7.1",
];

struct Options {
    users: u64,
    sessions: u32,
    memory_users: u64,
    quick: bool,
}

impl Options {
    /// Reads `--quick`, `--users N`, `--sessions M` and `--memory-users U`; ignores what cargo
    /// adds (`--bench`).
    fn from_args() -> Self {
        let mut options = Options {
            users: 100_000,
            sessions: 10,
            memory_users: 1_000_000,
            quick: false,
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
                "--quick" => {
                    options.quick = true;
                    options.users = 10_000;
                    options.memory_users = 100_000;
                }
                "--users" => options.users = number("--users", args.next()),
                "--sessions" => {
                    options.sessions = u32::try_from(number("--sessions", args.next()))
                        .expect("--sessions fits 32 bits");
                }
                "--memory-users" => options.memory_users = number("--memory-users", args.next()),
                _ => {}
            }
        }
        options
    }

    /// The session limit of the bench database: twice the average, the most the generator
    /// gives one user, so about one user in 2M+1 is exactly at the limit.
    fn limit(&self) -> u32 {
        self.sessions * 2
    }

    /// Sign-ins measured per sign-in row.
    fn sign_ins(&self) -> usize {
        (self.users / 10).clamp(1, 10_000) as usize
    }

    /// Username look-ups measured per run.
    fn lookups(&self) -> usize {
        self.users.min(100_000) as usize
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
    /// `None`: reported only.
    pass: Option<bool>,
}

/// What every measurement needs.
struct Bench {
    options: Options,
    clock: Arc<ManualClock>,
    /// Notes printed under the table: baselines, breakdowns.
    notes: Vec<String>,
}

fn main() {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("--child-rss") {
        let side = args.next().expect("--child-rss ours|raw DIR");
        let dir = PathBuf::from(args.next().expect("--child-rss ours|raw DIR"));
        child_rss(&side, &dir);
        return;
    }
    let started = Instant::now();
    let mut bench = Bench {
        options: Options::from_args(),
        // A fixed time: nothing expires while the bench runs, whatever its length.
        clock: Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        )),
        notes: Vec::new(),
    };
    let o = &bench.options;
    let sizes = format!(
        "{} mode: N = {} users x M = {} sessions/user on average (demo generator, 0..=2M each, \
         session_limit = {}); find_each memory over U = {} users",
        if o.quick { "quick" } else { "full" },
        o.users,
        o.sessions,
        o.limit(),
        o.memory_users
    );
    println!("sessionctl performance harness (benches/store.rs)");
    println!("{sizes}");
    println!(
        "machine: nproc = {}, CPU = {}, RAM = {}",
        nproc(),
        cpu_model(),
        ram()
    );
    println!("started: {}", Utc::now().format("%Y-%m-%d %H:%M:%S UTC"));

    let temp = tempfile::tempdir().expect("temp dir");
    let original = temp.path().join("ours");
    let built = bench.build(&original);
    let copy_started = Instant::now();
    // `pristine` stays as built: each destroy_all run works on fresh copies of it.
    let copies = ["raw", "raw_clear", "pristine"].map(|name| {
        let to = temp.path().join(name);
        copy_dir(&original, &to);
        to
    });
    let [raw_dir, clear_dir, pristine_dir] = &copies;
    println!(
        "copied the closed database 3x ({:.0} MiB each) in {:.1} s",
        dir_size(&original) as f64 / MIB,
        copy_started.elapsed().as_secs_f64()
    );

    let mut rows = Vec::new();
    {
        let registry = Rc::new(open_registry(&original, &bench.clock, false));
        let raw = open_raw(raw_dir);
        let sessions = current_trees(&raw).0;
        rows.extend(bench.list_all(&registry, &sessions, built.sessions));
        rows.extend(bench.lookups(&registry, &raw, &built.users));
        rows.extend(bench.sign_ins(&registry, &raw, &built));
    }
    rows.extend(bench.destroy_all(pristine_dir, clear_dir, built.sessions));
    rows.push(bench.startup(&original, built.sessions));
    rows.push(bench.in_use(&original));
    rows.push(bench.memory(&temp.path().join("memory")));

    println!();
    println!("{sizes}");
    println!(
        "machine: nproc = {}, CPU = {}, RAM = {}",
        nproc(),
        cpu_model(),
        ram()
    );
    println!(
        "data build (demo::build through Registry::import): {} users, {} sessions, {} remember-me tokens in {:.1} s",
        built.users.len(),
        built.sessions,
        built.tokens,
        built.time.as_secs_f64()
    );
    print_table(&rows);
    for note in &bench.notes {
        println!("{note}");
    }
    println!("total run time: {:.1} s", started.elapsed().as_secs_f64());
}

// ----- building the data -----

/// A user of the bench database, as the measurements need it.
struct BenchUser {
    id: u64,
    username: String,
    active: bool,
    sessions: u32,
}

struct Built {
    users: Vec<BenchUser>,
    sessions: u64,
    tokens: u64,
    time: Duration,
}

impl Bench {
    /// Builds the database with the demo generator (written through `Registry::import`,
    /// checked by the same rules), then closes it.
    fn build(&self, path: &Path) -> Built {
        let o = &self.options;
        let registry = open_registry(path, &self.clock, false);
        registry
            .set_setting("session_limit", &o.limit().to_string())
            .expect("setting");
        let started = Instant::now();
        let (_, sessions) = demo::build(
            &registry,
            Plan {
                users: o.users,
                sessions_per_user: o.sessions,
                seed: 1,
                heavy_users: 0,
            },
        )
        .expect("build");
        let time = started.elapsed();
        assert_eq!(registry.stored_session_count().expect("count"), sessions);
        let mut users: Vec<BenchUser> = registry
            .users(None)
            .map(|u| {
                let u = u.expect("user");
                BenchUser {
                    id: u.id,
                    username: u.username,
                    active: u.state == UserState::Active,
                    sessions: 0,
                }
            })
            .collect();
        let index: HashMap<u64, usize> = users.iter().enumerate().map(|(i, u)| (u.id, i)).collect();
        for session in registry.list_all() {
            users[index[&session.expect("session").user_id]].sessions += 1;
        }
        let tokens = users
            .iter()
            .map(|u| registry.remember_token_count(u.id).expect("tokens"))
            .sum();
        println!(
            "built {} users, {sessions} sessions, {tokens} remember-me tokens in {:.1} s ({:.0} sessions/s)",
            users.len(),
            time.as_secs_f64(),
            sessions as f64 / time.as_secs_f64()
        );
        Built {
            users,
            sessions,
            tokens,
            time,
        }
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

// ----- reading every session -----

/// Raw scan of `sessions.G`, decoding every record into owned values as `ActiveSession` holds
/// them (five Strings, the `2::`+hex private id built with one allocation, two times).
fn raw_owned_scan(sessions: &sled::Tree) -> (Duration, u64) {
    let started = Instant::now();
    let mut count = 0u64;
    for entry in sessions {
        let (key, value) = entry.expect("raw entry");
        let r: RawSession<'_> = postcard::from_bytes(&value).expect("raw decode");
        let mut digest = [0u8; 64];
        hex::encode_to_slice(&key[8..], &mut digest).expect("32 bytes");
        let mut session_private_id = String::with_capacity(67);
        session_private_id.push_str("2::");
        session_private_id.push_str(std::str::from_utf8(&digest).expect("hex"));
        let owned = OwnedSession {
            session_private_id,
            user_id: u64::from_be_bytes(key[..8].try_into().expect("8 bytes")),
            ip_address: r.ip_address.to_owned(),
            browser: r.browser.to_owned(),
            os: r.os.to_owned(),
            device_name: r.device_name.to_owned(),
            device_type: r.device_type.to_owned(),
            is_impersonated: r.is_impersonated,
            admin_mode: r.admin_mode,
            created_at: DateTime::from_timestamp_micros(r.created_at).expect("time"),
            updated_at: DateTime::from_timestamp_micros(r.updated_at).expect("time"),
        };
        black_box(&owned);
        black_box((
            owned.user_id,
            &owned.session_private_id,
            &owned.ip_address,
            &owned.browser,
            &owned.os,
            &owned.device_name,
            &owned.device_type,
            owned.is_impersonated,
            owned.admin_mode,
            owned.created_at,
            owned.updated_at,
        ));
        count += 1;
    }
    (started.elapsed(), count)
}

/// Raw scan of `sessions.G` decoding into borrowed `&str`s: no allocation per record.
fn raw_borrowed_scan(sessions: &sled::Tree) -> (Duration, u64) {
    let started = Instant::now();
    let mut count = 0u64;
    let mut checksum = 0usize;
    for entry in sessions {
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
    black_box(checksum);
    (started.elapsed(), count)
}

impl Bench {
    /// Every session read and decoded: by the registry, through the engine, raw.
    fn list_all(
        &mut self,
        registry: &Rc<Registry>,
        sessions: &sled::Tree,
        expected: u64,
    ) -> [Row; 2] {
        let mut evaluator = evaluator(registry.clone());
        let (mut ours, mut engine, mut raw, mut borrowed) = (vec![], vec![], vec![], vec![]);
        // Alternate the sides so that machine noise hits them alike.
        for _ in 0..READ_RUNS {
            let started = Instant::now();
            let mut count = 0;
            for session in registry.list_all() {
                black_box(session.expect("session"));
                count += 1;
            }
            ours.push(started.elapsed());
            assert_eq!(
                count, expected,
                "list_all saw a different number of sessions"
            );

            let started = Instant::now();
            let n = evaluator
                .eval(
                    "bench",
                    "let n = 0; for s in ActiveSession.list(User.all) { n += 1 } n",
                )
                .expect("eval")
                .as_int()
                .expect("an integer");
            engine.push(started.elapsed());
            assert_eq!(
                n as u64, expected,
                "the engine saw a different number of sessions"
            );

            let (time, count) = raw_owned_scan(sessions);
            assert_eq!(
                count, expected,
                "the raw scan saw a different number of sessions"
            );
            raw.push(time);
            borrowed.push(raw_borrowed_scan(sessions).0);
        }
        let (ours, engine, raw, borrowed) =
            (median(ours), median(engine), median(raw), median(borrowed));
        self.notes.push(format!(
            "list baseline: raw scan of sessions.G decoding into owned values (5 Strings, \
             \"2::\"+hex id, 2 times) {} ({}); for information, decoding into borrowed &str: {} ({})",
            seconds(raw),
            rate(expected, raw),
            seconds(borrowed),
            rate(expected, borrowed)
        ));
        let row = |operation, time: Duration| {
            let ratio = time.as_secs_f64() / raw.as_secs_f64();
            Row {
                operation,
                ours: format!("{} ({})", seconds(time), rate(expected, time)),
                raw: format!("{} ({}) owned", seconds(raw), rate(expected, raw)),
                ratio,
                target: "time <= 2.0x",
                pass: Some(ratio <= 2.0),
            }
        };
        [
            row("list all sessions: Registry::list_all", ours),
            row("ActiveSession.list(User.all) in rhai", engine),
        ]
    }
}

// ----- username look-ups -----

impl Bench {
    /// Random existing usernames looked up: by the registry, in a rhai loop, raw.
    fn lookups(
        &mut self,
        registry: &Rc<Registry>,
        raw: &sled::Db,
        users: &[BenchUser],
    ) -> [Row; 2] {
        let k = self.options.lookups();
        let by_username = raw.open_tree("users_by_username").expect("index tree");
        let mut rng = StdRng::seed_from_u64(4);
        let picks: Vec<&str> = (0..k)
            .map(|_| users[rng.random_range(0..users.len())].username.as_str())
            .collect();
        let mut evaluator = evaluator(registry.clone());
        evaluator.set_variable(
            "NAMES",
            picks
                .iter()
                .map(|&name| Dynamic::from(name.to_owned()))
                .collect::<Array>(),
        );
        let script = "let n = 0; for name in NAMES { if type_of(User.find_by_username(name)) == \"User\" { n += 1 } } n";
        let (mut ours, mut engine, mut theirs) = (vec![], vec![], vec![]);
        for _ in 0..READ_RUNS {
            let started = Instant::now();
            for name in &picks {
                let user = registry
                    .find_by_username(name)
                    .expect("look-up")
                    .expect("user");
                black_box(user);
            }
            ours.push(started.elapsed());

            let started = Instant::now();
            let found = evaluator
                .eval("bench", script)
                .expect("eval")
                .as_int()
                .expect("int");
            engine.push(started.elapsed());
            assert_eq!(found as usize, k, "the rhai loop missed users");

            let started = Instant::now();
            for name in &picks {
                // The entry: the user id (8 bytes), then the user's record.
                let entry = by_username
                    .get(name.to_lowercase().as_bytes())
                    .expect("raw get")
                    .expect("indexed");
                let r: RawUser = postcard::from_bytes(&entry[8..]).expect("raw decode");
                black_box((
                    u64::from_be_bytes(entry[..8].try_into().expect("8 bytes")),
                    r.username,
                    r.email,
                    r.name,
                    r.blocked,
                    r.admin,
                    r.created_at,
                    r.last_sign_in_at,
                    r.generation,
                    r.session_count,
                ));
            }
            theirs.push(started.elapsed());
        }
        let (ours, engine, theirs) = (median(ours), median(engine), median(theirs));
        self.notes.push(format!(
            "find_by_username baseline: raw get in users_by_username (lower-cased name; the \
             entry holds the user id and the user's record) + owned decode; K = {k} random \
             existing usernames; the rhai loop holds them in an array variable and its time \
             includes compiling the script"
        ));
        let raw_text = format!("{} ({k} in {})", rate(k as u64, theirs), seconds(theirs));
        let engine_rate = per_second(k as u64, engine);
        [
            Row {
                operation: "find_by_username: Registry",
                ours: format!("{} ({k} in {})", rate(k as u64, ours), seconds(ours)),
                raw: raw_text.clone(),
                ratio: per_second(k as u64, ours) / per_second(k as u64, theirs),
                target: "(report)",
                pass: None,
            },
            Row {
                operation: "User.find_by_username in rhai loop",
                ours: format!("{} ({k} in {})", rate(k as u64, engine), seconds(engine)),
                raw: raw_text,
                ratio: engine_rate / per_second(k as u64, theirs),
                target: ">= 200 k/s",
                pass: Some(engine_rate >= 200_000.0),
            },
        ]
    }
}

// ----- sign-ins -----

impl Bench {
    /// Sign-ins with the limit enforced: users below the limit (nothing evicted) and users at
    /// it (one evicted each), against raw single-key inserts into the sessions tree.
    fn sign_ins(&mut self, registry: &Registry, raw: &sled::Db, built: &Built) -> [Row; 2] {
        let sessions = &current_trees(raw).0;
        let limit = self.options.limit();
        let mut rng = StdRng::seed_from_u64(3);
        let mut below: Vec<u64> = built
            .users
            .iter()
            .filter(|u| u.active && u.sessions < limit)
            .map(|u| u.id)
            .collect();
        below.shuffle(&mut rng);
        below.truncate(self.options.sign_ins());
        let at: Vec<u64> = built
            .users
            .iter()
            .filter(|u| u.active && u.sessions == limit)
            .map(|u| u.id)
            .collect();
        assert!(!at.is_empty(), "no user is at the limit");
        let k = below.len();
        let at_limit: Vec<u64> = (0..k).map(|_| at[rng.random_range(0..at.len())]).collect();

        let typical = self.timed_sign_ins(registry, &below, &mut rng, 0);
        let evicting = self.timed_sign_ins(registry, &at_limit, &mut rng, 1);

        // Raw: K single-key inserts of a real session's key and value size into the same-sized
        // sessions tree, under existing users' prefixes.
        let (sample_key, sample_value) = sessions.first().expect("first").expect("a session");
        let value = sample_value.to_vec();
        let keys: Vec<[u8; 40]> = (0..k)
            .map(|i| {
                let mut key = [0u8; 40];
                key[..8].copy_from_slice(&below[i].to_be_bytes());
                rng.fill_bytes(&mut key[8..]);
                key
            })
            .collect();
        let started = Instant::now();
        for key in keys {
            sessions.insert(key, value.as_slice()).expect("raw insert");
        }
        let theirs = started.elapsed();
        self.notes.push(format!(
            "sign-in baseline: {k} single-key Tree::insert of a {} B key and {} B value into \
             sessions.G (the same raw figure for both sign-in rows); the registry has no audit \
             actor (the library default); {} users were at the limit of {limit}",
            sample_key.len(),
            value.len(),
            at.len()
        ));
        self.notes.push(sign_in_breakdown(
            registry,
            raw,
            [&below, &at_limit],
            &value,
        ));
        let raw_text = format!("{} ({k} in {})", rate(k as u64, theirs), seconds(theirs));
        let row = |operation, time: Duration, target, pass: fn(f64) -> bool| {
            let ratio = per_second(k as u64, time) / per_second(k as u64, theirs);
            Row {
                operation,
                ours: format!("{} ({k} in {})", rate(k as u64, time), seconds(time)),
                raw: raw_text.clone(),
                ratio,
                target,
                pass: Some(pass(ratio)),
            }
        };
        [
            row(
                "sign_in below the limit (0 evicted)",
                typical,
                "rate >= 0.5x",
                |r| r >= 0.5,
            ),
            Row {
                pass: None,
                ..row(
                    "sign_in at the limit (1 evicted)",
                    evicting,
                    "(report)",
                    |_| true,
                )
            },
        ]
    }

    /// Signs in each of `users` once, checking that each evicts `evicts` sessions.
    fn timed_sign_ins(
        &self,
        registry: &Registry,
        users: &[u64],
        rng: &mut StdRng,
        evicts: usize,
    ) -> Duration {
        let requests: Vec<SignIn> = users.iter().map(|_| sign_in_request(rng)).collect();
        let started = Instant::now();
        for (&id, request) in users.iter().zip(requests) {
            let signed = registry.sign_in(id, request).expect("sign in");
            assert!(
                signed.created && signed.evicted.len() == evicts,
                "unexpected eviction"
            );
            // A microsecond a sign-in: an order, and nothing expires.
            self.clock.advance(chrono::Duration::microseconds(1));
        }
        started.elapsed()
    }
}

/// Where a sign-in's time goes, step by step (per operation).
fn sign_in_breakdown(
    registry: &Registry,
    raw: &sled::Db,
    [users, at_limit]: [&[u64]; 2],
    value: &[u8],
) -> String {
    let k = users.len();
    let per_op = |time: Duration| format!("{:.1} us", time.as_secs_f64() * 1e6 / k as f64);
    let started = Instant::now();
    for (i, _) in users.iter().enumerate() {
        black_box(sessionctl::useragent::parse(
            USER_AGENTS[i % USER_AGENTS.len()],
        ));
    }
    let parse = started.elapsed();
    let started = Instant::now();
    for _ in users {
        black_box(sessionctl::secret::private_id(
            &sessionctl::secret::generate_public_id(),
        ));
    }
    let ids = started.elapsed();
    let started = Instant::now();
    for &id in users {
        black_box(registry.find_user(id).expect("user"));
    }
    let find = started.elapsed();
    // What a sign-in at the limit adds: reading the user's sessions (the registry's list is
    // that read, owned decoding and a sort) and the raw prefix scan with owned decoding.
    let started = Instant::now();
    for &id in at_limit {
        black_box(registry.list(id).expect("list"));
    }
    let list = started.elapsed();
    let sessions_tree = current_trees(raw).0;
    let started = Instant::now();
    for &id in at_limit {
        for entry in sessions_tree.scan_prefix(id.to_be_bytes()) {
            let (key, value) = entry.expect("entry");
            let r: RawSession<'_> = postcard::from_bytes(&value).expect("decode");
            black_box((
                format!("2::{}", hex::encode(&key[8..])),
                r.ip_address.to_owned(),
                r.browser.to_owned(),
                r.os.to_owned(),
                r.device_name.to_owned(),
                r.device_type.to_owned(),
            ));
        }
    }
    let scan = started.elapsed();
    let [tx, plain, single, batch] = raw_sign_in_writes(raw, users, value);
    format!(
        "sign-in breakdown (per op, {k} users): useragent::parse {}, generate + hash the id {}, \
         Registry::find_user {}; raw writes: 3-tree transaction (get+put user, put username entry, put \
         session) {}, the same four steps without a transaction {}, a transaction of one insert {}, \
         one-tree Batch (put count entry, put session) {}; at the limit: Registry::list {}, \
         raw scan_prefix of the user's sessions with owned decoding {}",
        per_op(parse),
        per_op(ids),
        per_op(find),
        per_op(tx),
        per_op(plain),
        per_op(single),
        per_op(batch),
        per_op(list),
        per_op(scan)
    )
}

/// The writes of a sign-in below the limit done raw (on the raw copy), per kind the time for
/// one per user of `users`: the user record, its username entry and the session in one
/// three-tree transaction; the same four steps without a transaction (not atomic: what the
/// transaction costs); the
/// smallest transaction, one insert into one tree; and one tree's atomic `Batch` of the
/// session and an 8-byte-keyed entry standing for the user's count and last sign-in.
fn raw_sign_in_writes(raw: &sled::Db, users: &[u64], value: &[u8]) -> [Duration; 4] {
    let users_tree = raw.open_tree("users").expect("users tree");
    let by_username = raw.open_tree("users_by_username").expect("index tree");
    let sessions = &current_trees(raw).0;
    let mut rng = StdRng::seed_from_u64(9);
    let mut time = |write: &dyn Fn(u64, &[u8])| {
        let keys: Vec<[u8; 40]> = users
            .iter()
            .map(|&id| {
                let mut key = [0u8; 40];
                key[..8].copy_from_slice(&id.to_be_bytes());
                rng.fill_bytes(&mut key[8..]);
                key
            })
            .collect();
        let started = Instant::now();
        for (&id, key) in users.iter().zip(&keys) {
            write(id, key);
        }
        started.elapsed()
    };
    // The username entry: its key (the lower-cased username) and value (id ‖ record).
    let entry = |id: u64, user: &[u8]| {
        let r: RawUser = postcard::from_bytes(user).expect("decode");
        (
            r.username.to_lowercase(),
            [&id.to_be_bytes()[..], user].concat(),
        )
    };
    let transaction = time(&|id, key| {
        let result: sled::transaction::TransactionResult<()> =
            (&users_tree, &by_username, sessions).transaction(|(u, n, s)| {
                let user = u.get(id.to_be_bytes())?.expect("user");
                let (name, copy) = entry(id, &user);
                n.insert(name.as_bytes(), copy)?;
                u.insert(&id.to_be_bytes(), user)?;
                s.insert(key, value)?;
                Ok(())
            });
        result.expect("transaction");
    });
    let plain = time(&|id, key| {
        let user = users_tree
            .get(id.to_be_bytes())
            .expect("get")
            .expect("user");
        let (name, copy) = entry(id, &user);
        by_username.insert(name.as_bytes(), copy).expect("insert");
        users_tree.insert(id.to_be_bytes(), user).expect("insert");
        sessions.insert(key, value).expect("insert");
    });
    let single = time(&|_, key| {
        let result: sled::transaction::TransactionResult<()> = sessions.transaction(|s| {
            s.insert(key, value)?;
            Ok(())
        });
        result.expect("transaction");
    });
    let batch = time(&|id, key| {
        let mut batch = sled::Batch::default();
        batch.insert(&id.to_be_bytes()[..], &value[..16]);
        batch.insert(key, value);
        sessions.apply_batch(batch).expect("batch");
    });
    [transaction, plain, single, batch]
}

// ----- destroy all -----

impl Bench {
    /// Every session and remember-me token revoked, each side on its own copy of the data.
    fn destroy_all(&mut self, pristine: &Path, clear_dir: &Path, expected: u64) -> [Row; 2] {
        let scratch = pristine.with_file_name("destroy");
        let (mut ours, mut engine, mut dropped) = (vec![], vec![], vec![]);
        for run in 0..READ_RUNS {
            let dirs = ["ours", "engine", "raw"].map(|name| {
                let to = scratch.join(name);
                copy_dir(pristine, &to);
                to
            });
            // Each side goes first once: the order of the three turns every run.
            for side in (0..3).map(|i| (i + run) % 3) {
                match side {
                    0 => ours.push(destroy_with_registry(&dirs[0], &self.clock, expected)),
                    1 => engine.push(destroy_with_engine(&dirs[1], &self.clock, expected)),
                    _ => dropped.push(raw_drop(&dirs[2])),
                }
            }
            fs::remove_dir_all(&scratch).expect("remove the copies");
        }
        let (ours, engine, dropped) = (median(ours), median(engine), median(dropped));
        let (clear, steps) = raw_clear(clear_dir);
        let (theirs, how) = if clear <= dropped {
            (clear, "clear")
        } else {
            (dropped, "drop_tree")
        };
        self.notes.push(format!(
            "destroy baseline: the faster of Tree::clear of sessions.G and remember_tokens.G \
             ({}, once) and Db::drop_tree of both + re-open ({}); every destroy time is the \
             median of {READ_RUNS} runs, each on fresh copies, the three sides in a rotating \
             order; {steps}",
            seconds(clear),
            seconds(dropped)
        ));
        let row = |operation, time: Duration| {
            let ratio = time.as_secs_f64() / theirs.as_secs_f64();
            Row {
                operation,
                ours: seconds(time),
                raw: format!("{} ({how})", seconds(theirs)),
                ratio,
                target: "time <= 1.5x",
                pass: Some(ratio <= 1.5),
            }
        };
        [
            row("destroy_all: Registry", ours),
            row("ActiveSession.destroy_all in rhai", engine),
        ]
    }
}

/// `Registry::destroy_all` on the database at `dir` (opening it is not timed).
fn destroy_with_registry(dir: &Path, clock: &Arc<ManualClock>, expected: u64) -> Duration {
    let registry = open_registry(dir, clock, false);
    let started = Instant::now();
    let revoked = registry.destroy_all().expect("destroy all");
    let time = started.elapsed();
    assert_eq!(revoked.sessions, expected);
    assert_eq!(registry.stored_session_count().expect("count"), 0);
    time
}

/// `ActiveSession.destroy_all` through the engine, audited as the console is.
fn destroy_with_engine(dir: &Path, clock: &Arc<ManualClock>, expected: u64) -> Duration {
    let registry = Rc::new(open_registry(dir, clock, true));
    let mut evaluator = evaluator(registry.clone());
    let started = Instant::now();
    let result = evaluator
        .eval("bench", "ActiveSession.destroy_all")
        .expect("eval");
    let time = started.elapsed();
    let map = result.cast::<rhai::Map>();
    assert_eq!(map["sessions"].as_int().expect("int") as u64, expected);
    assert_eq!(registry.stored_session_count().expect("count"), 0);
    time
}

/// `Tree::clear` of the current session and token trees; also times, on the same copy before
/// clearing, the other steps of sessionctl's `destroy_all` done raw.
fn raw_clear(dir: &Path) -> (Duration, String) {
    let db = open_raw(dir);
    let (sessions, tokens) = current_trees(&db);
    let users = db.open_tree("users").expect("users tree");
    let meta = db.open_tree("meta").expect("meta tree");
    let started = Instant::now();
    let mut counted = 0u64;
    for entry in &users {
        let (_, value) = entry.expect("raw entry");
        let view: RawUserCount<'_> = postcard::from_bytes(&value).expect("decode");
        if view.generation == 1 {
            counted += u64::from(view.session_count);
        }
    }
    black_box(counted);
    let scan = started.elapsed();
    let started = Instant::now();
    let generation = generation(&meta);
    meta.insert(GENERATION_KEY, &generation.to_be_bytes())
        .expect("insert");
    db.flush().expect("flush");
    let flush = started.elapsed();
    let started = Instant::now();
    sessions.clear().expect("clear");
    tokens.clear().expect("clear");
    let clear = started.elapsed();
    assert!(sessions.is_empty() && tokens.is_empty());
    let steps = format!(
        "the other steps of sessionctl's destroy_all, raw: count from the user records {} \
         (scan of users, borrowed decode), meta insert + Db::flush {}",
        seconds(scan),
        seconds(flush)
    );
    (clear, steps)
}

/// `Db::drop_tree` of the current session and token trees, and their re-opening.
fn raw_drop(dir: &Path) -> Duration {
    let db = open_raw(dir);
    let generation = generation(&db.open_tree("meta").expect("meta"));
    let names = [
        format!("sessions.{generation}"),
        format!("remember_tokens.{generation}"),
    ];
    let started = Instant::now();
    for name in &names {
        db.drop_tree(name).expect("drop tree");
    }
    let reopened = names.map(|name| db.open_tree(name).expect("tree"));
    let dropped = started.elapsed();
    assert!(reopened.iter().all(sled::Tree::is_empty));
    dropped
}

// ----- process start-up -----

impl Bench {
    /// `sessionctl --db DIR -e '1'`, the whole process, against a bare `sled::open`.
    fn startup(&mut self, dir: &Path, sessions: u64) -> Row {
        let binary = sessionctl_binary();
        let run = || {
            let (time, output) = eval_one(&binary, dir);
            assert!(
                output.status.success() && String::from_utf8_lossy(&output.stdout).trim() == "1",
                "sessionctl -e 1 failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            time
        };
        let open = || {
            let started = Instant::now();
            let db = sled::open(dir).expect("open");
            let time = started.elapsed();
            drop(db);
            time
        };
        // The destroy rows just wrote and dropped gigabytes of copies: let the kernel finish
        // writing them back first, so that neither side is timed against that flush.
        let synced = std::process::Command::new("sync")
            .status()
            .is_ok_and(|s| s.success());
        // One of each unmeasured, for the file cache; then alternate.
        run();
        open();
        let (mut ours, mut theirs) = (vec![], vec![]);
        for _ in 0..STARTUP_RUNS {
            ours.push(run());
            theirs.push(open());
        }
        let (ours, theirs) = (median(ours), median(theirs));
        let ratio = ours.as_secs_f64() / theirs.as_secs_f64();
        self.notes.push(format!(
            "start-up: median of {STARTUP_RUNS} runs of `{} --db DIR -e 1` (spawn to exit, \
             {sessions} sessions), against the median of {STARTUP_RUNS} in-process \
             sled::open(DIR) of the same directory (open only); {}",
            binary.display(),
            if synced {
                "after `sync` (the harness's earlier writes flushed first)"
            } else {
                "`sync` failed: the harness's earlier writes may still be flushing"
            }
        ));
        Row {
            operation: "console start-up to first eval",
            ours: seconds(ours),
            raw: format!("{} (sled::open)", seconds(theirs)),
            ratio,
            target: "<100ms, <=2.0x",
            pass: Some(ours < Duration::from_millis(100) && ratio <= 2.0),
        }
    }
}

impl Bench {
    /// A second process on a database this process holds: how long until `sessionctl -e 1`
    /// exits with the in-use error (the issue asks for within a second), against the same
    /// command on the free database.
    fn in_use(&mut self, dir: &Path) -> Row {
        let binary = sessionctl_binary();
        let run = |code: i32| {
            let (time, output) = eval_one(&binary, dir);
            assert_eq!(output.status.code(), Some(code), "{output:?}");
            if code == 2 {
                assert!(String::from_utf8_lossy(&output.stderr).contains("is in use"));
            }
            time
        };
        let free = median((0..5).map(|_| run(0)).collect());
        let holder = open_raw(dir);
        let held = median((0..5).map(|_| run(2)).collect());
        drop(holder);
        self.notes.push(
            "in use: median of 5 runs of `sessionctl --db DIR -e 1` while this process holds \
             DIR (exit 2, `database … is in use by another process`), against 5 on the free \
             database (exit 0); opening waits up to 500 ms for a lock being released"
                .to_owned(),
        );
        Row {
            operation: "in-use error, second process",
            ours: seconds(held),
            raw: format!("{} (free, exit 0)", seconds(free)),
            ratio: held.as_secs_f64() / free.as_secs_f64(),
            target: "< 1 s",
            pass: Some(held < Duration::from_secs(1)),
        }
    }
}

/// The `sessionctl` binary cargo built for the bench.
fn sessionctl_binary() -> PathBuf {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_sessionctl"));
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --release` (cargo bench builds it)",
        binary.display()
    );
    binary
}

/// Runs `sessionctl --db DIR --color never -e 1`, spawn to exit: how long it took and what it
/// printed.
fn eval_one(binary: &Path, dir: &Path) -> (Duration, std::process::Output) {
    let started = Instant::now();
    let output = Command::new(binary)
        .arg("--db")
        .arg(dir)
        .args(["--color", "never", "-e", "1"])
        .stdin(Stdio::null())
        .output()
        .expect("run sessionctl");
    (started.elapsed(), output)
}

// ----- peak memory of find_each -----

impl Bench {
    /// `User.find_each(|u| n += 1)` over U users: the growth of the peak RSS of a child
    /// process, against a raw scan of `users` in another.
    fn memory(&mut self, dir: &Path) -> Row {
        let users = self.options.memory_users;
        let registry = open_registry(dir, &self.clock, false);
        let started = Instant::now();
        demo::build(
            &registry,
            Plan {
                users,
                sessions_per_user: 0,
                seed: 2,
                heavy_users: 0,
            },
        )
        .expect("build");
        println!(
            "built {users} users without sessions for find_each in {:.1} s ({:.0} MiB)",
            started.elapsed().as_secs_f64(),
            dir_size(dir) as f64 / MIB
        );
        drop(registry);
        let ours = child(&["ours"], dir, users);
        let raw = child(&["raw"], dir, users);
        self.notes.push(format!(
            "find_each memory: growth of VmHWM (peak RSS) in a child process across the \
             evaluation of `let n = 0; User.find_each(|u| n += 1); n`, read after opening the \
             database and building the engine (ours: {:.0} -> {:.0} MiB, {}), against a child \
             scanning the users tree raw with owned decoding (sled cache {} MiB, as ours; \
             {:.0} -> {:.0} MiB, {})",
            ours.before,
            ours.after,
            seconds(ours.time),
            CACHE_CAPACITY >> 20,
            raw.before,
            raw.after,
            seconds(raw.time)
        ));
        let (grew, raw_grew) = (ours.after - ours.before, raw.after - raw.before);
        Row {
            operation: "User.find_each peak RSS growth",
            ours: format!("+{grew:.1} MiB ({users} users)"),
            raw: format!("+{raw_grew:.1} MiB (raw scan)"),
            ratio: grew / raw_grew.max(0.1),
            target: "growth < 64 MB",
            pass: Some(grew * MIB < 64e6),
        }
    }
}

struct ChildReport {
    before: f64,
    after: f64,
    time: Duration,
}

/// Runs this bench again as `--child-rss SIDE DIR` and reads its report.
fn child(side: &[&str], dir: &Path, users: u64) -> ChildReport {
    let output = Command::new(std::env::current_exe().expect("current exe"))
        .arg("--child-rss")
        .args(side)
        .arg(dir)
        .output()
        .expect("run the child");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let fields: Vec<f64> = text
        .split_whitespace()
        .map(|f| f.parse().expect("a number"))
        .collect();
    assert_eq!(
        fields[2] as u64, users,
        "the child counted a different number of users"
    );
    ChildReport {
        before: fields[0] / 1024.0,
        after: fields[1] / 1024.0,
        time: Duration::from_secs_f64(fields[3]),
    }
}

/// In the child: prints `VmHWM` (KiB) before and after the scan, the count and the time.
fn child_rss(side: &str, dir: &Path) {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let (before, count, time) = if side == "ours" {
        let registry = Rc::new(open_registry(dir, &clock, false));
        let mut evaluator = evaluator(registry);
        let _ = evaluator.eval("warm-up", "1").expect("eval");
        let before = vm_hwm_kib();
        let started = Instant::now();
        let n = evaluator
            .eval("bench", "let n = 0; User.find_each(|u| n += 1); n")
            .expect("eval")
            .as_int()
            .expect("int");
        (before, n as u64, started.elapsed())
    } else {
        let db = open_raw(dir);
        let users = db.open_tree("users").expect("users");
        let before = vm_hwm_kib();
        let started = Instant::now();
        let mut count = 0u64;
        for entry in &users {
            let (_, value) = entry.expect("entry");
            let r: RawUser = postcard::from_bytes(&value).expect("decode");
            black_box(r);
            count += 1;
        }
        (before, count, started.elapsed())
    };
    let after = vm_hwm_kib();
    println!("{before} {after} {count} {}", time.as_secs_f64());
}

fn vm_hwm_kib() -> u64 {
    fs::read_to_string("/proc/self/status")
        .expect("/proc/self/status")
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

// ----- helpers -----

fn open_registry(path: &Path, clock: &Arc<ManualClock>, audited: bool) -> Registry {
    let store =
        sessionctl::store::open(path, sessionctl::store::Mode::Create).expect("open the store");
    let registry = Registry::new(store, clock.clone()).expect("registry");
    if audited {
        registry.audited_as(Actor::current("bench"))
    } else {
        registry
    }
}

/// An evaluator as the console builds one, writing its output to memory.
fn evaluator(registry: Rc<Registry>) -> Evaluator {
    Evaluator::new(
        registry,
        Limits::CONSOLE,
        Output::capture().0,
        Output::capture().0,
    )
}

fn open_raw(path: &Path) -> sled::Db {
    sled::Config::new()
        .path(path)
        .cache_capacity(CACHE_CAPACITY)
        .open()
        .expect("open sled")
}

/// The sessions generation kept in `meta` (absent: 1).
fn generation(meta: &sled::Tree) -> u64 {
    meta.get(GENERATION_KEY)
        .expect("meta get")
        .map_or(1, |bytes| {
            u64::from_be_bytes(bytes.as_ref().try_into().expect("8 bytes"))
        })
}

/// The current generation's `sessions.G` and `remember_tokens.G` trees.
fn current_trees(db: &sled::Db) -> (sled::Tree, sled::Tree) {
    let g = generation(&db.open_tree("meta").expect("meta tree"));
    (
        db.open_tree(format!("sessions.{g}"))
            .expect("sessions tree"),
        db.open_tree(format!("remember_tokens.{g}"))
            .expect("tokens tree"),
    )
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

fn ram() -> String {
    fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
        })
        .map_or_else(|| "unknown".into(), |kib| format!("{:.1} GiB", kib / MIB))
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<38} {:<30} {:<30} {:>8}  {:<15} result",
        "operation", "ours", "raw sled", "ratio", "target"
    );
    println!(
        "{}",
        "-".repeat(38 + 1 + 30 + 1 + 30 + 1 + 8 + 2 + 15 + 1 + 6)
    );
    for row in rows {
        println!(
            "{:<38} {:<30} {:<30} {:>7.2}x  {:<15} {}",
            row.operation,
            row.ours,
            row.raw,
            row.ratio,
            row.target,
            match row.pass {
                None => "-",
                Some(true) => "PASS",
                Some(false) => "MISS",
            }
        );
    }
    println!(
        "ratio: time ours/raw for list, destroy, start-up and in-use; rate ours/raw for sign_in \
         and find_by_username; growth ours/raw for memory"
    );
}
