//! Sign-ins and touches: `Registry::sign_in` of a new session (the store's one guarded
//! transaction) against a raw sled transaction writing the same keys, and of a known public id
//! (the touch: one compare-and-swap) against a raw single-key insert of the same key and value;
//! sign-ins at the limit are reported; a breakdown of where a sign-in's time goes.

use std::hint::black_box;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use sessionctl::model::{ActiveSession, AuditEntry, SignIn, SignedIn};
use sessionctl::registry::Registry;
use sessionctl::store::record::{self, SessionCount};
use sled::Transactional;

use crate::Bench;
use crate::build::Built;
use crate::raw::Trees;
use crate::report::{Row, per_second, rate, seconds};

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

/// Sign-ins (and touches) per turn of one side, ours and raw taking turns.
const BLOCK: usize = 100;

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

impl Bench {
    /// Sign-ins with the limit enforced and touches, ours against raw, on the raw copy `raw`.
    /// The registry is audited, as the console's is: a sign-in writes its audit entry.
    pub fn sign_ins(&mut self, registry: &Registry, raw: &sled::Db, built: &Built) -> [Row; 3] {
        let trees = Trees::current(raw);
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

        // New sessions: ours, then the same keys and values written raw, the two sides taking
        // turns in blocks, so that the disk's ups and downs fall on both alike.
        let requests: Vec<SignIn> = below.iter().map(|_| sign_in_request(&mut rng)).collect();
        let (mut typical, mut raw_new) = (Duration::ZERO, Duration::ZERO);
        let mut signed = Vec::with_capacity(k);
        for (users, block) in below.chunks(BLOCK).zip(requests.chunks(BLOCK)) {
            let (time, done) = self.timed_sign_ins(registry, users, block.to_vec(), 0);
            let mut audit = registry.recent_audit(users.len()).expect("audit");
            audit.reverse();
            assert!(
                audit.len() == users.len() && audit.iter().all(|a| a.action == "sign_in"),
                "each sign-in writes one audit entry"
            );
            let sessions: Vec<&ActiveSession> = done.iter().map(|s| &s.session).collect();
            raw_new += raw_sign_ins(&trees, &sessions, &audit);
            typical += time;
            signed.extend(done);
        }

        // Touches: each new session again, by its public id; raw, one insert of its new value;
        // in turns as above.
        let again: Vec<SignIn> = signed
            .iter()
            .zip(requests)
            .map(|(s, request)| SignIn {
                public_id: Some(s.public_id.clone()),
                ..request
            })
            .collect();
        let (mut touch, mut raw_touch) = (Duration::ZERO, Duration::ZERO);
        for (users, block) in below.chunks(BLOCK).zip(again.chunks(BLOCK)) {
            let (time, touched) = self.timed_sign_ins(registry, users, block.to_vec(), 0);
            assert!(
                touched.iter().all(|s| !s.created),
                "a touch creates nothing"
            );
            raw_touch += raw_inserts(&trees.sessions, &touched);
            touch += time;
        }

        let requests: Vec<SignIn> = at_limit.iter().map(|_| sign_in_request(&mut rng)).collect();
        let (evicting, _) = self.timed_sign_ins(registry, &at_limit, requests, 1);

        self.sign_in_notes(k, at.len(), limit);
        self.notes
            .push(sign_in_breakdown(registry, &trees, [&below, &at_limit]));
        let per_op = |time: Duration| per_second(k as u64, time);
        let text = |time: Duration| format!("{} ({k} in {})", rate(k as u64, time), seconds(time));
        [
            Row {
                operation: "sign-in, new session (0 evicted)",
                ours: text(typical),
                raw: format!("{} tx", text(raw_new)),
                ratio: per_op(typical) / per_op(raw_new),
                target: "rate >= 0.7x",
                pass: Some(per_op(typical) / per_op(raw_new) >= 0.7),
            },
            Row {
                operation: "touch (sign_in with its public id)",
                ours: text(touch),
                raw: format!("{} insert", text(raw_touch)),
                ratio: per_op(touch) / per_op(raw_touch),
                target: "rate >= 0.5x",
                pass: Some(per_op(touch) / per_op(raw_touch) >= 0.5),
            },
            Row {
                operation: "sign-in at the limit (1 evicted)",
                ours: text(evicting),
                raw: format!("{} tx", text(raw_new)),
                ratio: per_op(evicting) / per_op(raw_new),
                target: "(report)",
                pass: None,
            },
        ]
    }

    /// What the sign-in and touch rows compare.
    fn sign_in_notes(&mut self, k: usize, at_limit: usize, limit: u32) {
        self.notes.push(format!(
            "sign-in baseline: {k} raw transactions over users.U, users_by_username.U, \
             sessions.G and audit, each writing what SledStore::sign_in writes for a new session \
             below the limit (get + decode the user, record::encode_user with last_sign_in_at and \
             the count + 1, record::encode_username_entry, the session's key and \
             record::encode_session, an audit id and record::encode_audit: the same keys and \
             values as ours, from its sessions and audit entries); the registry is audited (as \
             the console); the sides take turns in blocks of {BLOCK}; {at_limit} users were at \
             the limit of {limit}"
        ));
        self.notes.push(format!(
            "touch baseline: {k} Tree::insert of the same session key and \
             record::encode_session value into sessions.G (ours: Registry::sign_in with the \
             session's public id, i.e. a read of the session and one compare_and_swap); in turns \
             in blocks of {BLOCK}"
        ));
    }

    /// Signs in each of `users` with its request, checking that each evicts `evicts` sessions.
    fn timed_sign_ins(
        &self,
        registry: &Registry,
        users: &[u64],
        requests: Vec<SignIn>,
        evicts: usize,
    ) -> (Duration, Vec<SignedIn>) {
        let mut signed = Vec::with_capacity(users.len());
        let started = Instant::now();
        for (&id, request) in users.iter().zip(requests) {
            let done = registry.sign_in(id, request).expect("sign in");
            assert!(done.evicted.len() == evicts, "unexpected eviction");
            signed.push(done);
            // A microsecond a sign-in: an order, and nothing expires.
            self.clock.advance(chrono::Duration::microseconds(1));
        }
        (started.elapsed(), signed)
    }
}

/// A raw sign-in's inputs: the user id, the session's key and value, the audit entry's value.
type RawSignIn = (u64, [u8; 40], Vec<u8>, Vec<u8>);

/// What `SledStore::sign_in` writes for a new session below the limit, raw: one transaction
/// per session over the current user trees, the session tree and the audit tree.
fn raw_sign_ins(trees: &Trees, sessions: &[&ActiveSession], audit: &[AuditEntry]) -> Duration {
    let generation = trees.sessions_generation;
    let writes: Vec<RawSignIn> = sessions
        .iter()
        .zip(audit)
        .map(|(s, a)| {
            (
                s.user_id,
                record::session_key(s.user_id, &s.session_private_id).expect("a session key"),
                record::encode_session(s),
                record::encode_audit(a),
            )
        })
        .collect();
    let started = Instant::now();
    for (session, (id, key, value, entry)) in sessions.iter().zip(&writes) {
        let result: sled::transaction::TransactionResult<()> = (
            &trees.users,
            &trees.by_username,
            &trees.sessions,
            &trees.audit,
        )
            .transaction(|(users, by_username, sessions_tree, audit_tree)| {
                let user_key = record::user_key(*id);
                let bytes = users.get(user_key)?.expect("user");
                let (mut user, count) =
                    record::decode_user_record(*id, &bytes).expect("a user record");
                user.last_sign_in_at = Some(session.updated_at);
                let count = SessionCount {
                    generation,
                    count: count.in_generation(generation) + 1,
                };
                users.insert(&user_key, record::encode_user(&user, count))?;
                by_username.insert(
                    record::index_key(&user.username).as_bytes(),
                    record::encode_username_entry(&user),
                )?;
                sessions_tree.insert(&key[..], value.as_slice())?;
                let seq = audit_tree.generate_id()?;
                audit_tree.insert(&seq.to_be_bytes(), entry.as_slice())?;
                Ok(())
            });
        result.expect("raw transaction");
    }
    started.elapsed()
}

/// One `Tree::insert` per touched session: its key and its new value.
fn raw_inserts(sessions: &sled::Tree, touched: &[SignedIn]) -> Duration {
    let writes: Vec<([u8; 40], Vec<u8>)> = touched
        .iter()
        .map(|t| {
            let s = &t.session;
            (
                record::session_key(s.user_id, &s.session_private_id).expect("a session key"),
                record::encode_session(s),
            )
        })
        .collect();
    let started = Instant::now();
    for (key, value) in writes {
        sessions.insert(key, value).expect("raw insert");
    }
    started.elapsed()
}

/// Where a sign-in's time goes, step by step (per operation), and what a transaction costs
/// raw.
fn sign_in_breakdown(registry: &Registry, trees: &Trees, [users, at_limit]: [&[u64]; 2]) -> String {
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
    // that read, decoding and a sort) and the raw prefix scan with the same decoding.
    let started = Instant::now();
    for &id in at_limit {
        black_box(registry.list(id).expect("list"));
    }
    let list = started.elapsed();
    let started = Instant::now();
    for &id in at_limit {
        for entry in trees.sessions.scan_prefix(record::user_key(id)) {
            let (key, value) = entry.expect("entry");
            black_box(record::decode_session(&key, &value).expect("decode"));
        }
    }
    let scan = started.elapsed();
    let [plain, single] = raw_writes(trees, users);
    format!(
        "sign-in breakdown (per op, {k} users): useragent::parse {}, generate + hash the id {}, \
         Registry::find_user {}; raw writes: the sign-in's writes without a transaction (get + \
         put the user, put the username entry, the session, the audit entry) {}, a transaction \
         of one insert {}; at the limit: Registry::list {}, raw scan_prefix of the user's \
         sessions with record::decode_session {}",
        per_op(parse),
        per_op(ids),
        per_op(find),
        per_op(plain),
        per_op(single),
        per_op(list),
        per_op(scan)
    )
}

/// A sign-in's writes without a transaction (not atomic: what the transaction costs), and the
/// smallest transaction, one insert into one tree; under fresh random session keys.
fn raw_writes(trees: &Trees, users: &[u64]) -> [Duration; 2] {
    let (_, sample) = trees.sessions.first().expect("first").expect("a session");
    let value = sample.to_vec();
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
    let plain = time(&|id, key| {
        let user_key = record::user_key(id);
        let bytes = trees.users.get(user_key).expect("get").expect("user");
        let (user, count) = record::decode_user_record(id, &bytes).expect("decode");
        trees
            .users
            .insert(user_key, record::encode_user(&user, count))
            .expect("insert");
        trees
            .by_username
            .insert(
                record::index_key(&user.username).as_bytes(),
                record::encode_username_entry(&user),
            )
            .expect("insert");
        trees
            .sessions
            .insert(key, value.as_slice())
            .expect("insert");
        let seq = trees.db.generate_id().expect("id");
        trees
            .audit
            .insert(seq.to_be_bytes(), &value[..])
            .expect("insert");
    });
    let single = time(&|_, key| {
        let result: sled::transaction::TransactionResult<()> = trees.sessions.transaction(|s| {
            s.insert(key, value.as_slice())?;
            Ok(())
        });
        result.expect("transaction");
    });
    [plain, single]
}
