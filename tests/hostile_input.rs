//! Hostile and broken input: thousands of generated malformed scripts, run for real, and
//! corrupted record bytes. No panic, a clear error, and the database unchanged by every script
//! that does not parse or could only read.

use std::rc::Rc;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sessionctl::clock::SystemClock;
use sessionctl::registry::Registry;
use sessionctl::script::{ErrorKind, Evaluator, Limits, Output};
use sessionctl::store::SledStore;

/// Valid snippets that the mutations start from, and whether they may write (sign in or
/// revoke): a mutation of the others can only read.
const SEEDS: [(&str, bool); 10] = [
    (
        "let user = User.find_by_username(\"exampleuser\"); ActiveSession.list(user)",
        false,
    ),
    (
        "User.find_each(|u| { let s = ActiveSession.list(u); if s.any() { puts(`${u.username}:`) } })",
        false,
    ),
    (
        "ActiveSession.list(User.all).filter(|s| s.updated_at < now() - days(30)).len()",
        false,
    ),
    (
        "let s = User.find(2).sessions; ActiveSession.destroy_session(User.find(2), s[0].session_private_id)",
        true,
    ),
    ("ActiveSession.destroy_all", true),
    ("User.find_by(#{email: \"user@example.com\", id: 1})", false),
    ("try { User.find(99999) } catch (e) { print(e) }", false),
    ("fn f(x) { if x > 0 { f(x - 1) } else { 0 } } f(10)", false),
    (
        "ActiveSession.set(User.find(3), #{ip_address: \"1.2.3.4\", user_agent: \"curl/8\"})",
        true,
    ),
    (
        "for s in ActiveSession.list([User.find(1), User.find(2)]) { s.destroy() }",
        true,
    ),
];

const TOKENS: [&str; 16] = [
    "(", ")", "{", "}", "[", "]", "#{", "`", "\"", "|", ".", ";", "let ", "fn ", "=>", "\\",
];

fn mutate(rng: &mut StdRng, seed: &str) -> String {
    let mut chars: Vec<char> = seed.chars().collect();
    for _ in 0..rng.random_range(1..4) {
        let at = rng.random_range(0..=chars.len());
        match rng.random_range(0..4) {
            0 => chars.truncate(at),
            1 if at < chars.len() => {
                chars.remove(at);
            }
            2 => chars
                .splice(at..at, TOKENS[rng.random_range(0..TOKENS.len())].chars())
                .for_each(drop),
            _ => chars.insert(
                at,
                char::from_u32(rng.random_range(0..0x2FFF)).unwrap_or('\u{fffd}'),
            ),
        }
    }
    chars.into_iter().collect()
}

fn snapshot(registry: &Registry) -> String {
    let users: Vec<String> = registry
        .users(None)
        .map(|u| format!("{:?}", u.unwrap()))
        .collect();
    let sessions: Vec<String> = registry
        .list_all()
        .map(|s| format!("{:?}", s.unwrap()))
        .collect();
    format!("{users:?}{sessions:?}{:?}", registry.settings())
}

/// The scripts run for real, not in dry run: a script that does not parse, or that was made
/// from a snippet that only reads, must leave the database exactly as it was, and the ones
/// that ran a write must show that writes do land (else this would prove nothing).
#[test]
fn thousands_of_malformed_scripts_fail_cleanly_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::new(
        sessionctl::store::open(dir.path(), sessionctl::store::Mode::Create).unwrap(),
        Arc::new(SystemClock),
    )
    .unwrap();
    sessionctl::demo::build(
        &registry,
        sessionctl::demo::Plan {
            users: 30,
            sessions_per_user: 3,
            seed: 3,
            heavy_users: 0,
        },
    )
    .unwrap();
    let registry = Rc::new(registry);
    let limits = Limits {
        max_operations: Some(200_000),
        ..Limits::BATCH
    };
    let mut evaluator = Evaluator::new(
        registry.clone(),
        limits,
        Output::capture().0,
        Output::capture().0,
    );
    let mut rng = StdRng::seed_from_u64(6);
    let (mut failed, mut ran) = (0, 0);
    let (mut unparsed, mut read_only, mut wrote) = (0, 0, 0);
    for _ in 0..3000 {
        let (seed, writes) = SEEDS[rng.random_range(0..SEEDS.len())];
        let script = mutate(&mut rng, seed);
        let before = snapshot(&registry);
        let result = evaluator.eval("fuzz.rhai", &script);
        let after = snapshot(&registry);
        match &result {
            Ok(_) => ran += 1,
            Err(error) => {
                failed += 1;
                assert!(
                    !error.message.trim().is_empty(),
                    "an empty error for {script:?}"
                );
                assert!(
                    error.headline().starts_with("fuzz.rhai"),
                    "{}",
                    error.headline()
                );
            }
        }
        if matches!(&result, Err(error) if error.kind == ErrorKind::Parse) {
            unparsed += 1;
            assert!(
                after == before,
                "{script:?} does not parse and changed the database"
            );
        } else if !writes {
            read_only += 1;
            assert!(
                after == before,
                "{script:?} can only read and changed the database"
            );
        } else if after != before {
            wrote += 1;
        }
        // Keep sessions to revoke: sign every user in again when the writes left few.
        if registry.list_all().count() < 45 {
            let refill = "for u in User.all { try { ActiveSession.set(u, #{ip_address: \"10.0.0.1\", user_agent: \"curl/8\"}) } catch {} }";
            if let Err(error) = evaluator.eval("refill", refill) {
                panic!("the sign-ins that refill the sessions failed: {error}");
            }
        }
    }
    assert!(
        failed > 1500,
        "only {failed} of 3000 mutated scripts failed ({ran} ran)"
    );
    assert!(
        unparsed > 1000 && read_only > 200,
        "{unparsed} unparsed and {read_only} read-only scripts checked"
    );
    assert!(
        wrote > 10,
        "only {wrote} scripts changed the database: the writes did not land"
    );
    eprintln!(
        "3000 mutated scripts: {failed} failed; unchanged: {unparsed} that did not parse, {read_only} that could only read; {wrote} wrote"
    );
}

#[test]
fn corrupted_records_are_reported_and_the_rest_stays_usable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let registry = Registry::new(
            sessionctl::store::open(&path, sessionctl::store::Mode::Create).unwrap(),
            Arc::new(SystemClock),
        )
        .unwrap();
        sessionctl::demo::build(
            &registry,
            sessionctl::demo::Plan {
                users: 20,
                sessions_per_user: 2,
                seed: 4,
                heavy_users: 0,
            },
        )
        .unwrap();
    }
    let mut rng = StdRng::seed_from_u64(9);
    for round in 0..300 {
        // Random bytes, or a short run of 0xff, or a record-like byte soup, under a real user.
        let victim = rng.random_range(2..=20u64);
        let bytes: Vec<u8> = match rng.random_range(0..3) {
            0 => (0..rng.random_range(0..40)).map(|_| rng.random()).collect(),
            1 => vec![0xff; rng.random_range(1..10)],
            _ => {
                let mut b: Vec<u8> = (0..rng.random_range(5..60))
                    .map(|_| rng.random_range(0..4))
                    .collect();
                b[0] = 200;
                b
            }
        };
        let store = SledStore::open(&path, sessionctl::store::Mode::Create).unwrap();
        let original = store
            .raw_get("users", &victim.to_be_bytes())
            .unwrap()
            .unwrap();
        store
            .raw_insert("users", &victim.to_be_bytes(), &bytes)
            .unwrap();
        let registry = Registry::new(Box::new(store), Arc::new(SystemClock)).unwrap();
        // Reads of the victim report it precisely, or (if the bytes happen to decode) succeed.
        if let Err(error) = registry.find_user(victim) {
            assert!(
                error.to_string().contains(&format!("user id={victim}")),
                "round {round}: {error}"
            );
            let found = registry.check().unwrap();
            assert!(
                found
                    .iter()
                    .any(|d| d.problem.contains(&format!("user id={victim}"))),
                "round {round}: {found:?}"
            );
        }
        // Every other user is still readable.
        let other = if victim == 2 { 3 } else { 2 };
        assert_eq!(registry.find_user(other).unwrap().id, other);
        assert!(registry.list(other).is_ok());
        drop(registry);
        let store = SledStore::open(&path, sessionctl::store::Mode::Create).unwrap();
        store
            .raw_insert("users", &victim.to_be_bytes(), &original)
            .unwrap();
    }
    let registry = Registry::new(
        sessionctl::store::open(&path, sessionctl::store::Mode::Create).unwrap(),
        Arc::new(SystemClock),
    )
    .unwrap();
    assert!(registry.check().unwrap().is_empty());
}
