//! Sign-ins and touches. A sign-in of a new session through the store
//! (`SessionStore::sign_in`: the limit checked and the write made atomically) against a raw
//! `MULTI` pipeline of the same commands as its script runs (`HGET` of the user, `SCARD` of
//! the lookup set, `HGET` of the expiry setting, then `SET … EX` of the entry, `SADD` to the
//! lookup set, `HSET` of the user's last sign-in, `XADD` of the audit entry), and GitLab's own `set`
//! (`SETEX` + `SADD`, pipelined, not atomic) beside them; a touch (`SessionStore::touch`)
//! against a raw `GET` and `SET … XX EX` of the same key and value (the same work: the entry
//! read, then the write that never recreates it). Each side signs in its own users, who
//! all hold the same number of sessions; the registry's `sign_in` (settings, user, then the
//! store) is reported beside them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use sessionctl::clock::SystemClock;
use sessionctl::model::{ActiveSession, AuditEntry, SignIn};
use sessionctl::registry::{Actor, Registry};
use sessionctl::store::redis_store::RedisStore;
use sessionctl::store::{Keep, SessionStore, SignInWrite, Touch};

use crate::Bench;
use crate::load::{Loaded, encode, entry_key, key, lookup_key, new_session};
use crate::report::{Row, per_second, rate, seconds};

/// A raw sign-in's inputs: the session, its encoded entry and its audit entry's JSON.
type RawSignIn = (ActiveSession, String, String);

/// Operations each side makes in a turn.
const BLOCK: usize = 100;

impl Bench {
    pub fn writes(&mut self, loaded: &Loaded) -> Vec<Row> {
        let k = self.options.sign_ins();
        let limit = self.options.limit();
        let mut rng = StdRng::seed_from_u64(3);
        let mut users = loaded.users.clone();
        users.shuffle(&mut rng);
        let mut groups = users.chunks(k);
        let mut group = || groups.next().expect("N >= 4 x the sign-ins");
        let (ours_users, raw_users, gitlab_users, registry_users) =
            (group(), group(), group(), group());
        let store = self.store();
        let mut c = self.raw();
        let now = Utc::now();
        let delay = chrono::Duration::seconds(loaded.ttl as i64);

        let writes: Vec<SignInWrite> = ours_users
            .iter()
            .map(|&id| {
                let session = new_session(&mut rng, id, now);
                SignInWrite {
                    audit: Some(audit_entry(&session)),
                    audit_key: None,
                    session,
                    limit,
                    now,
                    expire_delay: delay,
                }
            })
            .collect();
        let sessions: Vec<ActiveSession> = writes.iter().map(|w| w.session.clone()).collect();
        let raw_inputs: Vec<RawSignIn> = raw_users
            .iter()
            .map(|&id| raw_input(new_session(&mut rng, id, now)))
            .collect();
        let gitlab_inputs: Vec<(ActiveSession, String)> = gitlab_users
            .iter()
            .map(|&id| {
                let session = new_session(&mut rng, id, now);
                let entry = encode(&session);
                (session, entry)
            })
            .collect();
        let registry = registry(self.store());

        // The sides take turns, a block of sign-ins each, so that a change in the machine's
        // load falls on all of them alike.
        let [mut ours, mut raw, mut gitlab, mut by_registry] = [Duration::ZERO; 4];
        let mut writes = writes.into_iter();
        let mut public_ids = Vec::with_capacity(k);
        for block in blocks(k) {
            ours += ours_sign_ins(&store, writes.by_ref().take(block.len()));
            raw += raw_sign_ins(&mut c, &raw_inputs[block.clone()], loaded.ttl);
            gitlab += gitlab_sets(&mut c, &gitlab_inputs[block.clone()], loaded.ttl);
            by_registry += registry_sign_ins(&registry, &registry_users[block], &mut public_ids);
        }

        // Touches: each side's new sessions again, a second later, taking turns likewise.
        let later = now + chrono::Duration::seconds(1);
        let touched = updated_at(&sessions, later);
        let raw_values = touched_values(&raw_inputs, later);
        let [mut touch, mut raw_touch, mut registry_touch] = [Duration::ZERO; 3];
        for block in blocks(k) {
            touch += store_touches(&store, &touched[block.clone()]);
            raw_touch += raw_sets(&mut c, &raw_values[block.clone()], loaded.ttl);
            registry_touch += registry_touches(
                &registry,
                &registry_users[block.clone()],
                &public_ids[block],
            );
        }

        self.write_notes(k, loaded);
        let row = |operation, time, base, how, target| row(k, operation, time, base, how, target);
        vec![
            row("sign-in, new session: RedisStore", ours, raw, "multi", true),
            row(
                "GitLab's set (SETEX + SADD), raw",
                gitlab,
                raw,
                "multi",
                false,
            ),
            row(
                "sign-in: Registry::sign_in",
                by_registry,
                raw,
                "multi",
                false,
            ),
            row(
                "touch: RedisStore::touch",
                touch,
                raw_touch,
                "get+set xx",
                true,
            ),
            row(
                "touch: Registry::sign_in (public id)",
                registry_touch,
                raw_touch,
                "get+set xx",
                false,
            ),
        ]
    }

    /// What the sign-in and touch baselines are.
    fn write_notes(&mut self, k: usize, loaded: &Loaded) {
        let limit = self.options.limit();
        self.notes.push(format!(
            "sign-in baseline: {k} MULTI/EXEC pipelines (one round trip each) of the commands \
             ours runs in its script (RedisStore::sign_in of a SignInWrite with an audit entry, \
             below the limit of {limit}): HGET {users} <user id>, SCARD lookup, HGET {settings} \
             session_expire_delay, SET entry EX {ttl}, SADD lookup, HSET {last} <user id> \
             <time>, XADD {audit} * entry <json>; without the script's decisions on what they \
             read (the user exists and is not blocked, room below the limit); GitLab's set: {k} pipelines of SETEX + SADD (no MULTI), \
             as ActiveSession.set sends them; each side on its own {k} users of {m} sessions",
            ttl = loaded.ttl,
            users = key("users"),
            settings = key("settings"),
            last = key("last_sign_in"),
            audit = key("audit"),
            m = self.options.sessions,
        ));
        self.notes.push(format!(
            "touch baseline: {k} GET <entry> then SET <entry> <value> XX EX {} of the raw \
             side's new sessions (the same work as ours: the session read, for its created_at \
             and whether it is live, then the write that never recreates it; ours: \
             RedisStore::touch of the sessions ours created, which also reads \
             session_expire_delay for the TTL with its write); Registry rows: Registry::sign_in (audited, with \
             its settings and user reads, User-Agent parsing) of {k} other users, then with each \
             new session's public id (a touch: RedisStore::touch)",
            loaded.ttl
        ));
    }
}

/// A row of `k` operations: the rate of `time` against that of `base`, with the target
/// rate >= 0.7x when `target`.
fn row(
    k: usize,
    operation: &'static str,
    time: Duration,
    base: Duration,
    how: &str,
    target: bool,
) -> Row {
    let per_op = |time: Duration| per_second(k as u64, time);
    let text = |time: Duration| format!("{} ({k} in {})", rate(k as u64, time), seconds(time));
    let ratio = per_op(time) / per_op(base);
    Row {
        operation,
        ours: text(time),
        raw: format!("{} {how}", text(base)),
        ratio,
        target: if target { "rate >= 0.7x" } else { "(report)" },
        pass: target.then_some(ratio >= 0.7),
    }
}

/// A raw sign-in of `session`: its entry and audit entry encoded.
fn raw_input(session: ActiveSession) -> RawSignIn {
    let entry = encode(&session);
    let audit = serde_json::to_string(&audit_entry(&session)).expect("serializes");
    (session, entry, audit)
}

fn audit_entry(session: &ActiveSession) -> AuditEntry {
    AuditEntry {
        at: session.updated_at,
        os_user: "bench".into(),
        origin: "bench".into(),
        action: "sign_in".into(),
        user_ids: vec![session.user_id],
        sessions: 0,
        detail: format!(
            "user{} from {} ({} on {})",
            session.user_id, session.ip_address, session.browser, session.os
        ),
        session_ids: Vec::new(),
        count: 1,
    }
}

fn raw_sign_ins(c: &mut redis::Connection, inputs: &[RawSignIn], ttl: u64) -> Duration {
    let started = Instant::now();
    for (session, entry, audit) in inputs {
        redis::pipe()
            .atomic()
            .hget(key("users"), session.user_id)
            .scard(lookup_key(session.user_id))
            .hget(key("settings"), "session_expire_delay")
            .set_ex(
                entry_key(session.user_id, &session.session_private_id),
                entry,
                ttl,
            )
            .sadd(lookup_key(session.user_id), &session.session_private_id)
            .hset(
                key("last_sign_in"),
                session.user_id,
                session
                    .updated_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            )
            .cmd("XADD")
            .arg(key("audit"))
            .arg("*")
            .arg("entry")
            .arg(audit)
            .exec(c)
            .expect("raw sign-in");
    }
    started.elapsed()
}

fn gitlab_sets(
    c: &mut redis::Connection,
    inputs: &[(ActiveSession, String)],
    ttl: u64,
) -> Duration {
    let started = Instant::now();
    for (session, entry) in inputs {
        redis::pipe()
            .set_ex(
                entry_key(session.user_id, &session.session_private_id),
                entry,
                ttl,
            )
            .sadd(lookup_key(session.user_id), &session.session_private_id)
            .exec(c)
            .expect("GitLab's set");
    }
    started.elapsed()
}

/// `0..k` in blocks of [`BLOCK`].
fn blocks(k: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..k)
        .step_by(BLOCK)
        .map(move |first| first..(first + BLOCK).min(k))
}

fn ours_sign_ins(store: &RedisStore, writes: impl Iterator<Item = SignInWrite>) -> Duration {
    let started = Instant::now();
    for write in writes {
        let outcome = store.sign_in(write).expect("sign in");
        assert!(outcome.evicted.is_empty(), "nothing is evicted");
    }
    started.elapsed()
}

/// Each raw session's key and its entry updated at `later`.
fn touched_values(inputs: &[RawSignIn], later: chrono::DateTime<Utc>) -> Vec<(String, String)> {
    inputs
        .iter()
        .map(|(s, _, _)| {
            let updated = ActiveSession {
                updated_at: later,
                ..s.clone()
            };
            (
                entry_key(s.user_id, &s.session_private_id),
                encode(&updated),
            )
        })
        .collect()
}

/// `sessions` as a request at `at` leaves them.
fn updated_at(sessions: &[ActiveSession], at: chrono::DateTime<Utc>) -> Vec<ActiveSession> {
    sessions
        .iter()
        .map(|s| ActiveSession {
            updated_at: at,
            ..s.clone()
        })
        .collect()
}

/// `RedisStore::touch` of each session.
fn store_touches(store: &RedisStore, touched: &[ActiveSession]) -> Duration {
    let started = Instant::now();
    for updated in touched {
        let touch = store.touch(updated, None, Keep::SignInTime).expect("touch");
        assert!(matches!(touch, Touch::Touched { .. }), "touched");
    }
    started.elapsed()
}

/// `GET key`, then `SET key value XX EX ttl`, of each.
fn raw_sets(c: &mut redis::Connection, values: &[(String, String)], ttl: u64) -> Duration {
    let started = Instant::now();
    for (key, value) in values {
        let stored: Option<String> = redis::cmd("GET").arg(key).query(c).expect("raw get");
        assert!(stored.is_some(), "the raw touch reads its session");
        let set: Option<String> = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("XX")
            .arg("EX")
            .arg(ttl)
            .query(c)
            .expect("raw set");
        assert!(set.is_some(), "the raw touch finds its session");
    }
    started.elapsed()
}

/// An audited registry on `store`, its User-Agent parser loaded.
fn registry(store: RedisStore) -> Registry {
    let registry = Registry::new(Box::new(store), Arc::new(SystemClock))
        .expect("registry")
        .audited_as(Actor::current("bench"));
    // The User-Agent parser loads its regexes on first use: not timed.
    sessionctl::useragent::parse("curl/8.7.1");
    registry
}

fn request(public_id: Option<String>) -> SignIn {
    SignIn {
        public_id,
        ip_address: "10.1.2.3".into(),
        user_agent:
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0".into(),
        impersonated: false,
        admin_mode: false,
    }
}

/// `Registry::sign_in` of each user; their public ids are added to `public_ids`.
fn registry_sign_ins(registry: &Registry, users: &[u64], public_ids: &mut Vec<String>) -> Duration {
    let started = Instant::now();
    for &id in users {
        let done = registry.sign_in(id, request(None)).expect("sign in");
        assert!(done.created && done.evicted.is_empty());
        public_ids.push(done.public_id);
    }
    started.elapsed()
}

/// `Registry::sign_in` of each user with its session's public id: a touch.
fn registry_touches(registry: &Registry, users: &[u64], public_ids: &[String]) -> Duration {
    let started = Instant::now();
    for (&id, public_id) in users.iter().zip(public_ids) {
        let done = registry
            .sign_in(id, request(Some(public_id.clone())))
            .expect("touch");
        assert!(!done.created, "a touch");
    }
    started.elapsed()
}
