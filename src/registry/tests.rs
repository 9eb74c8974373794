//! The rules of the registry, each against its own temporary database and a manual clock.

use std::path::Path;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::clock::ManualClock;
use crate::model::{NewUser, SignIn, SignedIn, UserState};
use crate::store::{self, SessionStore, SledStore, UserDirectory};
use crate::{Error, secret};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";

struct Fixture {
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    registry: Registry,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap(),
    ));
    let registry = Registry::new(
        store::open(&dir.path().join("db"), crate::store::Mode::Create).unwrap(),
        clock.clone(),
    )
    .unwrap();
    Fixture {
        dir,
        clock,
        registry,
    }
}

/// Signs `user_id` in through a registry of its own on the database at `path`, then closes it.
fn sign_in_on_disk(path: &Path, clock: &Arc<ManualClock>, user_id: u64) {
    let registry = Registry::new(
        store::open(path, crate::store::Mode::Create).unwrap(),
        clock.clone(),
    )
    .unwrap();
    registry
        .sign_in(
            user_id,
            SignIn {
                user_agent: FIREFOX.into(),
                ip_address: "10.0.0.1".into(),
                ..SignIn::default()
            },
        )
        .unwrap();
}

/// What `check` finds in the database `store` holds, as text.
fn disagreements(store: &SledStore) -> Vec<String> {
    store
        .check()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// A fixture whose registry audits as root from `origin`.
fn audited_fixture(origin: &str) -> Fixture {
    let Fixture {
        dir,
        clock,
        registry,
    } = fixture();
    Fixture {
        dir,
        clock,
        registry: registry.audited_as(Actor {
            os_user: "root".into(),
            origin: origin.into(),
        }),
    }
}

/// A user as an import brings it.
fn imported_user(id: u64, name: &str, at: DateTime<Utc>) -> User {
    User {
        id,
        username: name.into(),
        email: format!("{name}@example.com"),
        name: name.into(),
        state: UserState::Active,
        admin: false,
        created_at: at,
        last_sign_in_at: None,
    }
}

/// A session as an import brings it; `n` makes its id.
fn imported_session(user_id: u64, n: u8, at: DateTime<Utc>) -> ActiveSession {
    ActiveSession {
        session_private_id: secret::private_id(&format!("imported-{n}")),
        user_id,
        ip_address: "10.0.0.1".into(),
        browser: "Firefox".into(),
        os: "Ubuntu".into(),
        device_name: "Unknown".into(),
        device_type: "desktop".into(),
        is_impersonated: false,
        admin_mode: false,
        created_at: at,
        updated_at: at,
    }
}

impl Fixture {
    fn user(&self, name: &str) -> User {
        self.registry
            .create_user(NewUser {
                username: name.into(),
                email: format!("{name}@example.com"),
                name: name.to_uppercase(),
                ..NewUser::default()
            })
            .unwrap()
    }

    fn sign_in(&self, user: &User) -> SignedIn {
        self.sign_in_as(
            user,
            SignIn {
                ip_address: "127.0.0.1".into(),
                user_agent: FIREFOX.into(),
                ..SignIn::default()
            },
        )
    }

    fn sign_in_as(&self, user: &User, request: SignIn) -> SignedIn {
        self.registry.sign_in(user.id, request).unwrap()
    }

    fn ids(&self, user: &User) -> Vec<String> {
        self.registry
            .list(user.id)
            .unwrap()
            .into_iter()
            .map(|s| s.session_private_id)
            .collect()
    }

    /// Closes the registry (releasing the database), keeping its directory and clock.
    fn close(self) -> (tempfile::TempDir, Arc<ManualClock>) {
        (self.dir, self.clock)
    }

    fn db_path(&self) -> std::path::PathBuf {
        self.dir.path().join("db")
    }
}

#[test]
fn user_ids_increase_and_lookups_ignore_case() {
    let f = fixture();
    let a = f.user("alice");
    let b = f.user("Bob");
    assert_eq!((a.id, b.id), (1, 2));
    assert_eq!(f.registry.find_by_username("BOB").unwrap().unwrap().id, 2);
    assert_eq!(
        f.registry
            .find_by_email("ALICE@Example.com")
            .unwrap()
            .unwrap()
            .id,
        1
    );
    assert!(f.registry.find_by_username("carol").unwrap().is_none());
    assert!(matches!(
        f.registry.find_user(99),
        Err(Error::UserNotFound { id: 99 })
    ));
    assert_eq!(
        f.registry.find_user(99).unwrap_err().to_string(),
        "User not found: id=99"
    );
    assert_eq!(f.registry.user_count().unwrap(), 2);
    // A user created without a name is shown by the username.
    let carol = f
        .registry
        .create_user(NewUser {
            username: "carol".into(),
            email: "carol@example.com".into(),
            name: "  ".into(),
            ..NewUser::default()
        })
        .unwrap();
    assert_eq!(carol.name, "carol");
}

#[test]
fn duplicate_username_or_email_names_the_clash_and_writes_nothing() {
    let f = fixture();
    f.user("alice");
    let clash = f.registry.create_user(NewUser {
        username: "ALICE".into(),
        email: "other@example.com".into(),
        ..NewUser::default()
    });
    assert_eq!(
        clash.unwrap_err().to_string(),
        "username \"ALICE\" is already taken by user id=1"
    );
    let clash = f.registry.create_user(NewUser {
        username: "other".into(),
        email: "Alice@example.com".into(),
        ..NewUser::default()
    });
    assert_eq!(
        clash.unwrap_err().to_string(),
        "email \"Alice@example.com\" is already taken by user id=1"
    );
    assert_eq!(f.registry.user_count().unwrap(), 1);
    assert!(f.registry.find_by_username("other").unwrap().is_none());
    assert!(f.registry.check().unwrap().is_empty());
    // The id a failed creation would have used is not burnt, and ids are never reused.
    assert_eq!(f.user("carol").id, 2);
}

#[test]
fn bad_usernames_and_emails_are_refused() {
    let f = fixture();
    for (username, email) in [
        ("", "a@b"),
        ("has space", "a@b"),
        ("ok", "no-at"),
        ("ok", "a@b@c"),
    ] {
        let result = f.registry.create_user(NewUser {
            username: username.into(),
            email: email.into(),
            ..NewUser::default()
        });
        assert!(
            matches!(result, Err(Error::InvalidField { .. })),
            "{username} {email}"
        );
    }
}

#[test]
fn users_stream_in_id_order_in_batches() {
    let f = fixture();
    for i in 0..25 {
        f.user(&format!("user{i}"));
    }
    let all: Vec<u64> = f.registry.users(None).map(|u| u.unwrap().id).collect();
    assert_eq!(all, (1..=25).collect::<Vec<_>>());
    let first = f.registry.user_batch(None, 10).unwrap();
    let second = f
        .registry
        .user_batch(first.last().map(|u| u.id), 10)
        .unwrap();
    let third = f
        .registry
        .user_batch(second.last().map(|u| u.id), 10)
        .unwrap();
    assert_eq!((first.len(), second.len(), third.len()), (10, 10, 5));
    assert_eq!(second[0].id, 11);
}

#[test]
fn sign_in_stores_only_the_hash_and_updates_last_sign_in() {
    let f = fixture();
    let alice = f.user("alice");
    let signed = f.sign_in(&alice);
    assert!(signed.created);
    assert_eq!(
        signed.session.session_private_id,
        secret::private_id(&signed.public_id)
    );
    assert_eq!(
        f.registry.find_user(alice.id).unwrap().last_sign_in_at,
        Some(f.registry.now())
    );
    assert_eq!(
        f.ids(&alice),
        vec![signed.session.session_private_id.clone()]
    );
}

#[test]
fn a_second_set_keeps_created_at_and_moves_updated_at() {
    let f = fixture();
    let alice = f.user("alice");
    let first = f.sign_in(&alice);
    let signed_in_at = f.registry.now();
    f.clock.advance(Duration::minutes(30));
    let again = f.sign_in_as(&alice, SignIn {
        public_id: Some(first.public_id.clone()),
        ip_address: "10.0.0.9".into(),
        user_agent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1".into(),
        ..SignIn::default()
    });
    assert!(!again.created);
    let sessions = f.registry.list(alice.id).unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].created_at, signed_in_at);
    assert_eq!(sessions[0].updated_at, f.registry.now());
    assert_eq!(sessions[0].ip_address, "10.0.0.9");
    assert_ne!(
        sessions[0].browser, first.session.browser,
        "device fields are refreshed"
    );
    // A request is not a sign-in.
    assert_eq!(
        f.registry.find_user(alice.id).unwrap().last_sign_in_at,
        Some(signed_in_at)
    );
}

#[test]
fn the_user_agent_is_cut_to_1024_characters() {
    let f = fixture();
    let alice = f.user("alice");
    // Whole, this names Firefox; its first 1,024 characters name nothing known.
    let long = format!("Mozilla/5.0 {} Firefox/120.0", "x".repeat(1100));
    let cut: String = long.chars().take(MAX_USER_AGENT_CHARS).collect();
    assert_ne!(
        crate::useragent::parse(&long).browser,
        crate::useragent::parse(&cut).browser
    );
    let signed = f.sign_in_as(
        &alice,
        SignIn {
            user_agent: long,
            ip_address: "10.0.0.1".into(),
            ..SignIn::default()
        },
    );
    assert_eq!(
        signed.session.browser,
        crate::useragent::parse(&cut).browser
    );
    // Cut by characters, not bytes.
    let accents = SignIn {
        user_agent: format!("{FIREFOX} {}", "é".repeat(5000)),
        ip_address: "10.0.0.1".into(),
        ..SignIn::default()
    };
    assert_eq!(f.sign_in_as(&alice, accents).session.browser, "Firefox");
}

#[test]
fn list_never_shows_another_users_or_an_expired_session() {
    let f = fixture();
    let alice = f.user("alice");
    let bob = f.user("bob");
    let old = f.sign_in(&alice);
    f.clock.advance(Duration::days(6));
    let fresh = f.sign_in(&alice);
    let bobs = f.sign_in(&bob);
    assert_eq!(
        f.ids(&alice),
        vec![
            fresh.session.session_private_id.clone(),
            old.session.session_private_id.clone()
        ]
    );
    assert_eq!(f.ids(&bob), vec![bobs.session.session_private_id.clone()]);
    // Seven days (the default delay) after its last request, `old` is expired.
    f.clock.advance(Duration::days(1));
    assert_eq!(
        f.ids(&alice),
        vec![fresh.session.session_private_id.clone()]
    );
    // ... hidden, and left in place: reading never writes (issue 10). The sweep removes it.
    let stored = |f: &Fixture| {
        f.registry
            .store
            .session(alice.id, &old.session.session_private_id)
            .unwrap()
    };
    assert!(stored(&f).is_some());
    assert_eq!(f.registry.sweep_expired().unwrap().sessions, 1);
    assert!(stored(&f).is_none());
    let all: Vec<_> = f
        .registry
        .list_all()
        .map(|s| s.unwrap().session_private_id)
        .collect();
    assert_eq!(
        all,
        vec![
            fresh.session.session_private_id.clone(),
            bobs.session.session_private_id
        ]
    );
}

#[test]
fn an_expired_session_signed_in_again_is_new() {
    let f = fixture();
    let alice = f.user("alice");
    let first = f.sign_in(&alice);
    f.clock.advance(Duration::days(8));
    let again = f.sign_in_as(
        &alice,
        SignIn {
            public_id: Some(first.public_id),
            ip_address: "10.0.0.1".into(),
            ..SignIn::default()
        },
    );
    assert!(again.created);
    assert_eq!(again.session.created_at, f.registry.now());
}

#[test]
fn the_sweep_removes_expired_sessions_of_all_users() {
    let f = fixture();
    let (alice, bob) = (f.user("alice"), f.user("bob"));
    f.sign_in(&alice);
    f.sign_in(&alice);
    f.sign_in(&bob);
    f.clock.advance(Duration::days(3));
    let kept = f.sign_in(&bob);
    f.clock.advance(Duration::days(5));
    assert_eq!(f.registry.stored_session_count().unwrap(), 4);
    // Counting the live ones removes nothing.
    assert_eq!(f.registry.live_session_count().unwrap(), 1);
    assert_eq!(f.registry.stored_session_count().unwrap(), 4);
    assert_eq!(
        f.registry.sweep_expired().unwrap(),
        Revoked {
            sessions: 3,
            users: 2
        }
    );
    assert_eq!(f.registry.stored_session_count().unwrap(), 1);
    assert_eq!(f.ids(&bob), vec![kept.session.session_private_id]);
}

#[test]
fn a_sweep_in_chunks_removes_every_expired_session_and_audits_each_chunk() {
    let f = audited_fixture("sweep");
    let registry = &f.registry;
    let users: Vec<User> = ["a", "b", "c"].iter().map(|n| f.user(n)).collect();
    for user in &users {
        for _ in 0..3 {
            f.sign_in(user);
        }
    }
    f.clock.advance(Duration::days(8));
    let kept = f.sign_in(&users[1]);
    let before = registry.recent_audit(100).unwrap().len();
    // Chunks of 2 split users across transactions: four of 2, then one of 1.
    assert_eq!(
        registry.sweep_expired_in_chunks(2).unwrap(),
        Revoked {
            sessions: 9,
            users: 3
        }
    );
    assert_eq!(f.registry.stored_session_count().unwrap(), 1);
    assert_eq!(f.ids(&users[1]), vec![kept.session.session_private_id]);
    assert!(f.registry.check().unwrap().is_empty());
    // Every chunk was audited with what it removed.
    let audit = registry.recent_audit(100).unwrap();
    let sweeps = &audit[..audit.len() - before];
    assert_eq!(sweeps.len(), 5);
    assert!(sweeps.iter().all(|e| e.action == "sweep_expired"));
    assert_eq!(sweeps.iter().map(|e| e.sessions).sum::<u64>(), 9);
}

#[test]
fn the_limit_keeps_exactly_the_most_recently_used() {
    let f = fixture();
    f.registry.set_setting("session_limit", "5").unwrap();
    let alice = f.user("alice");
    let mut signed = Vec::new();
    for _ in 0..5 {
        signed.push(f.sign_in(&alice));
        f.clock.advance(Duration::minutes(1));
    }
    // The first session is used again: now the second is the least recently used.
    f.sign_in_as(
        &alice,
        SignIn {
            public_id: Some(signed[0].public_id.clone()),
            ip_address: "10.0.0.1".into(),
            ..SignIn::default()
        },
    );
    f.clock.advance(Duration::minutes(1));
    let newest = f.sign_in(&alice);
    assert_eq!(
        newest.evicted,
        vec![signed[1].session.session_private_id.clone()]
    );
    let ids = f.ids(&alice);
    assert_eq!(ids.len(), 5);
    assert!(!ids.contains(&signed[1].session.session_private_id));
    assert!(ids.contains(&signed[0].session.session_private_id));
    assert_eq!(ids[0], newest.session.session_private_id);
}

#[test]
fn the_default_limit_is_100() {
    let f = fixture();
    let alice = f.user("alice");
    for _ in 0..103 {
        f.sign_in(&alice);
        f.clock.advance(Duration::seconds(1));
    }
    assert_eq!(f.registry.list(alice.id).unwrap().len(), 100);
    f.registry.set_setting("session_limit", "10").unwrap();
    assert_eq!(f.registry.cleanup(alice.id).unwrap(), 90);
    assert_eq!(f.registry.list(alice.id).unwrap().len(), 10);
}

#[test]
fn destroying_a_session_revokes_remember_me_tokens() {
    let f = fixture();
    let (alice, bob) = (f.user("alice"), f.user("bob"));
    let session = f.sign_in(&alice).session;
    let token = f.registry.remember_me(alice.id).unwrap();
    let bobs_token = f.registry.remember_me(bob.id).unwrap();
    assert!(f.registry.verify_remember_token(alice.id, &token).unwrap());
    assert!(!f.registry.verify_remember_token(bob.id, &token).unwrap());
    // Another user's id removes nothing and revokes nothing.
    assert!(
        !f.registry
            .destroy_session(bob.id, &session.session_private_id)
            .unwrap()
    );
    assert!(f.registry.verify_remember_token(alice.id, &token).unwrap());
    assert!(
        f.registry
            .destroy_session(alice.id, &session.session_private_id)
            .unwrap()
    );
    assert!(f.registry.list(alice.id).unwrap().is_empty());
    assert!(!f.registry.verify_remember_token(alice.id, &token).unwrap());
    assert_eq!(f.registry.remember_token_count(alice.id).unwrap(), 0);
    assert!(
        f.registry
            .verify_remember_token(bob.id, &bobs_token)
            .unwrap()
    );
    assert!(
        !f.registry
            .destroy_session(alice.id, &session.session_private_id)
            .unwrap()
    );
}

#[test]
fn destroy_sessions_counts_what_it_removed() {
    let f = fixture();
    let alice = f.user("alice");
    let a = f.sign_in(&alice).session.session_private_id;
    let b = f.sign_in(&alice).session.session_private_id;
    let kept = f.sign_in(&alice).session.session_private_id;
    let removed = f
        .registry
        .destroy_sessions(alice.id, &[a.clone(), b, a, "2::junk".into()])
        .unwrap();
    assert_eq!(removed, 2);
    assert_eq!(f.ids(&alice), vec![kept]);
}

#[test]
fn destroy_all_but_current_keeps_the_current_and_impersonated_ones() {
    let f = fixture();
    let alice = f.user("alice");
    let current = f.sign_in(&alice).session.session_private_id;
    let impersonated = f
        .sign_in_as(
            &alice,
            SignIn {
                impersonated: true,
                ip_address: "10.0.0.1".into(),
                ..SignIn::default()
            },
        )
        .session
        .session_private_id;
    f.sign_in(&alice);
    f.sign_in(&alice);
    assert_eq!(
        f.registry
            .destroy_all_but_current(alice.id, Some(&current))
            .unwrap(),
        2
    );
    let mut ids = f.ids(&alice);
    ids.sort();
    let mut expected = vec![current, impersonated.clone()];
    expected.sort();
    assert_eq!(ids, expected);
    // Without a current session, only the impersonated one stays.
    assert_eq!(
        f.registry.destroy_all_but_current(alice.id, None).unwrap(),
        1
    );
    assert_eq!(f.ids(&alice), vec![impersonated]);
}

#[test]
fn current_compares_private_ids_and_is_false_when_either_is_missing() {
    let f = fixture();
    let alice = f.user("alice");
    let session = f.sign_in(&alice).session;
    let id = session.session_private_id.clone();
    assert!(session.is_current(Some(&id)));
    assert!(!session.is_current(Some("2::other")));
    assert!(!session.is_current(None));
    assert!(!session.is_current(Some("")));
    let nameless = ActiveSession {
        session_private_id: String::new(),
        ..session
    };
    assert!(!nameless.is_current(Some("")));
}

#[test]
fn revoking_the_current_session_is_refused() {
    let f = fixture();
    let alice = f.user("alice");
    let current = f.sign_in(&alice).session.session_private_id;
    let other = f.sign_in(&alice).session.session_private_id;
    let refused = f
        .registry
        .revoke_session(alice.id, &current, Some(&current));
    assert!(matches!(refused, Err(Error::CannotRevokeCurrent { .. })));
    assert_eq!(f.ids(&alice).len(), 2);
    assert!(
        f.registry
            .revoke_session(alice.id, &other, Some(&current))
            .unwrap()
    );
    assert_eq!(f.ids(&alice), vec![current]);
}

#[test]
fn destroy_all_counts_sessions_and_users_and_revokes_tokens() {
    let f = fixture();
    let (alice, bob, carol) = (f.user("alice"), f.user("bob"), f.user("carol"));
    for _ in 0..3 {
        f.sign_in(&alice);
    }
    f.sign_in(&bob);
    let token = f.registry.remember_me(carol.id).unwrap();
    assert_eq!(
        f.registry.destroy_all().unwrap(),
        Revoked {
            sessions: 4,
            users: 2
        }
    );
    assert_eq!(f.registry.stored_session_count().unwrap(), 0);
    assert!(!f.registry.verify_remember_token(carol.id, &token).unwrap());
    assert_eq!(f.registry.destroy_all().unwrap(), Revoked::default());
}

#[test]
fn remember_me_tokens_are_issued_verified_and_forgotten() {
    let f = fixture();
    let alice = f.user("alice");
    let one = f.registry.remember_me(alice.id).unwrap();
    let two = f.registry.remember_me(alice.id).unwrap();
    assert_ne!(one, two);
    assert_eq!(f.registry.remember_token_count(alice.id).unwrap(), 2);
    assert!(f.registry.verify_remember_token(alice.id, &two).unwrap());
    assert!(
        !f.registry
            .verify_remember_token(alice.id, "forged")
            .unwrap()
    );
    assert_eq!(f.registry.forget_me(alice.id).unwrap(), 2);
    assert!(!f.registry.verify_remember_token(alice.id, &one).unwrap());
}

#[test]
fn no_secret_reaches_the_database_files() {
    let f = fixture();
    let alice = f.user("alice");
    let mut secrets = Vec::new();
    for _ in 0..50 {
        secrets.push(f.sign_in(&alice).public_id);
        secrets.push(f.registry.remember_me(alice.id).unwrap());
    }
    f.registry.flush().unwrap();
    let bytes = read_all_files(&f.db_path());
    assert!(bytes.len() > 1000);
    for secret in &secrets {
        assert!(
            !contains(&bytes, secret.as_bytes()),
            "a secret was found on disk"
        );
        let raw = hex::decode(secret).unwrap();
        assert!(
            !contains(&bytes, &raw),
            "a secret's raw bytes were found on disk"
        );
    }
    // The check does find what is there: the hashed ids are stored.
    let stored = f.ids(&alice)[0].trim_start_matches("2::").to_owned();
    assert!(contains(&bytes, &hex::decode(stored).unwrap()));
}

fn read_all_files(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            bytes.extend(read_all_files(&path));
        } else {
            bytes.extend(std::fs::read(path).unwrap());
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_database_directory_is_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let f = fixture();
    let mode = std::fs::metadata(f.db_path()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn a_second_open_is_refused_clearly() {
    let f = fixture();
    let started = std::time::Instant::now();
    let error = SledStore::open(&f.db_path(), crate::store::Mode::Create)
        .err()
        .expect("second open must fail");
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(
        error.to_string(),
        format!(
            "database {} is in use by another process that takes no attached clients (a data command such as import, backup or check works alone): run the command again once it has ended",
            f.db_path().display()
        )
    );
}

#[test]
fn an_unknown_format_version_is_refused() {
    let f = fixture();
    let path = f.db_path();
    let Fixture { dir, registry, .. } = f;
    drop(registry);
    {
        let store = SledStore::open(&path, crate::store::Mode::Create).unwrap();
        store
            .raw_insert("meta", b"format_version", &99u32.to_be_bytes())
            .unwrap();
    }
    let error = SledStore::open(&path, crate::store::Mode::Create)
        .err()
        .unwrap();
    assert!(
        matches!(
            error,
            Error::UnsupportedFormat {
                found: 99,
                supported: store::FORMAT_VERSION,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("format version 99"));
    drop(dir);
}

#[test]
fn a_lookup_by_username_reads_the_user_as_last_written() {
    let f = fixture();
    let alice = f.user("alice");
    assert_eq!(
        f.registry.find_by_username("ALICE").unwrap().unwrap(),
        alice
    );
    f.clock.advance(Duration::minutes(5));
    f.sign_in(&alice);
    let found = f.registry.find_by_username("alice").unwrap().unwrap();
    assert_eq!(found.last_sign_in_at, Some(f.clock.now()));
    assert_eq!(found, f.registry.find_user(alice.id).unwrap());
    assert!(f.registry.check().unwrap().is_empty());
}

#[test]
fn a_format_1_database_is_read_as_it_is_and_becomes_format_2_when_written() {
    let f = fixture();
    let alice = f.user("alice");
    let bob = f.user("bob");
    let carol = f.user("carol");
    let path = f.db_path();
    let (dir, clock) = f.close();
    let version = |store: &SledStore| store.raw_get("meta", b"format_version").unwrap().unwrap();
    {
        // Format 1: the username index held the user id alone; carol's record is damaged.
        let store = SledStore::open(&path, crate::store::Mode::Create).unwrap();
        for user in [&alice, &bob, &carol] {
            store
                .raw_insert(
                    "users_by_username",
                    user.username.as_bytes(),
                    &user.id.to_be_bytes(),
                )
                .unwrap();
        }
        store
            .raw_insert("users", &carol.id.to_be_bytes(), &[0xff])
            .unwrap();
        store
            .raw_insert("meta", b"format_version", &1u32.to_be_bytes())
            .unwrap();
    }
    let store = SledStore::open(&path, crate::store::Mode::Create).unwrap();
    assert_eq!(store.user_by_username("Bob").unwrap().unwrap(), bob);
    assert_eq!(store.user_by_username("alice").unwrap().unwrap(), alice);
    let error = store.user_by_username("carol").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("corrupt user record (user id=3)"),
        "{error}"
    );
    // Only the damaged user is reported; reading wrote nothing.
    let found = disagreements(&store);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].starts_with("users ["), "{found:#?}");
    assert_eq!(version(&store), 1u32.to_be_bytes());
    drop(store);

    // A sign-in writes bob's entry with a copy, and the version with it.
    sign_in_on_disk(&path, &clock, bob.id);
    let store = SledStore::open(&path, crate::store::Mode::Create).unwrap();
    assert_eq!(version(&store), store::FORMAT_VERSION.to_be_bytes());
    assert!(
        store
            .raw_get("users_by_username", b"bob")
            .unwrap()
            .unwrap()
            .len()
            > 8
    );
    assert_eq!(
        store
            .user_by_username("bob")
            .unwrap()
            .unwrap()
            .last_sign_in_at,
        Some(clock.now())
    );
    assert_eq!(store.user_by_username("alice").unwrap().unwrap(), alice);
    assert_eq!(store.check().unwrap().len(), 1);
    drop(store);
    drop(dir);
}

#[test]
fn check_reports_a_username_entry_whose_copy_is_out_of_date() {
    let f = fixture();
    let alice = f.user("alice");
    let path = f.db_path();
    let (dir, clock) = f.close();
    let before = {
        let store = SledStore::open(&path, crate::store::Mode::Create).unwrap();
        store
            .raw_get("users_by_username", b"alice")
            .unwrap()
            .unwrap()
    };
    // A sign-in rewrites alice's copy; putting the old entry back leaves a copy whose only
    // difference is last_sign_in_at.
    clock.advance(Duration::minutes(1));
    sign_in_on_disk(&path, &clock, alice.id);
    let store = SledStore::open(&path, crate::store::Mode::Create).unwrap();
    store
        .raw_insert("users_by_username", b"alice", &before)
        .unwrap();
    let found = disagreements(&store);
    assert_eq!(
        found,
        ["users_by_username [alice]: its copy of user id=1 differs from the user's record"]
    );
    drop(store);
    drop(dir);
}

#[test]
fn a_directory_of_other_files_is_not_opened() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let error = SledStore::open(dir.path(), crate::store::Mode::Create)
        .err()
        .unwrap();
    assert!(matches!(error, Error::NotADatabase { .. }), "{error}");
}

#[test]
fn check_reports_broken_indexes_and_orphans() {
    let f = fixture();
    let alice = f.user("alice");
    f.user("bob");
    f.sign_in(&alice);
    assert!(f.registry.check().unwrap().is_empty());
    let path = f.db_path();
    let Fixture { dir, registry, .. } = f;
    drop(registry);
    {
        let store = SledStore::open(&path, crate::store::Mode::Create).unwrap();
        store.raw_remove("users_by_username", b"bob").unwrap();
        store
            .raw_insert("users_by_email", b"ghost@example.com", &77u64.to_be_bytes())
            .unwrap();
        store.raw_remove("users", &1u64.to_be_bytes()).unwrap();
        let found = disagreements(&store);
        assert!(
            found
                .iter()
                .any(|d| d.starts_with("users_by_username [bob]: user id=2 is not indexed")),
            "{found:#?}"
        );
        assert!(
            found
                .iter()
                .any(|d| d
                    .contains("[ghost@example.com]: points at user id=77, which does not exist")),
            "{found:#?}"
        );
        assert!(
            found
                .iter()
                .any(|d| d.starts_with("sessions [2::")
                    && d.contains("user id=1, which does not exist")),
            "{found:#?}"
        );
        assert!(
            found
                .iter()
                .any(|d| d.starts_with("users_by_username [alice]: points at user id=1")),
            "{found:#?}"
        );
    }
    drop(dir);
}

#[test]
fn corrupt_records_are_named_and_the_rest_stays_usable() {
    let f = fixture();
    let (alice, bob) = (f.user("alice"), f.user("bob"));
    f.sign_in(&alice);
    f.sign_in(&bob);
    let path = f.db_path();
    let Fixture {
        dir,
        registry,
        clock,
    } = f;
    drop(registry);
    let store = SledStore::open(&path, crate::store::Mode::Create).unwrap();
    store
        .raw_insert("users", &2u64.to_be_bytes(), &[0xff, 0xff])
        .unwrap();
    let registry = Registry::new(Box::new(store), clock).unwrap();
    let error = registry.find_user(bob.id).unwrap_err();
    assert_eq!(
        error.to_string().split(':').next().unwrap(),
        "corrupt user record (user id=2)"
    );
    assert_eq!(registry.list(alice.id).unwrap().len(), 1);
    let found = registry.check().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].problem.contains("user id=2"));
    drop(dir);
}

#[test]
fn dry_run_reports_and_writes_nothing() {
    let f = fixture();
    let alice = f.user("alice");
    let session = f.sign_in(&alice).session;
    let token = f.registry.remember_me(alice.id).unwrap();
    let path = f.db_path();
    let Fixture {
        dir,
        registry,
        clock,
    } = f;
    drop(registry);
    let dry = Registry::new(
        store::open(&path, crate::store::Mode::Create).unwrap(),
        clock,
    )
    .unwrap()
    .dry_run(true);
    assert!(
        dry.destroy_session(alice.id, &session.session_private_id)
            .unwrap()
    );
    assert_eq!(
        dry.destroy_all().unwrap(),
        Revoked {
            sessions: 1,
            users: 1
        }
    );
    dry.create_user(NewUser {
        username: "new".into(),
        email: "new@x.org".into(),
        ..NewUser::default()
    })
    .unwrap();
    dry.sign_in(
        alice.id,
        SignIn {
            ip_address: "10.0.0.1".into(),
            ..SignIn::default()
        },
    )
    .unwrap();
    dry.set_setting("session_limit", "3").unwrap();
    let planned: Vec<String> = dry.take_planned().into_iter().map(|e| e.action).collect();
    assert_eq!(
        planned,
        [
            "destroy_session",
            "destroy_all",
            "create_user",
            "sign_in",
            "config"
        ]
    );
    assert_eq!(dry.list(alice.id).unwrap(), vec![session]);
    assert!(dry.verify_remember_token(alice.id, &token).unwrap());
    assert_eq!(dry.user_count().unwrap(), 1);
    assert_eq!(dry.settings().unwrap().session_limit, 100);
    assert!(dry.recent_audit(10).unwrap().is_empty());
    drop(dir);
}

#[test]
fn mutations_are_audited_when_an_actor_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    ));
    let registry = Registry::new(
        store::open(dir.path(), crate::store::Mode::Create).unwrap(),
        clock,
    )
    .unwrap()
    .audited_as(Actor {
        os_user: "root".into(),
        origin: "scripts/x.rhai".into(),
    });
    let alice = registry
        .create_user(NewUser {
            username: "alice".into(),
            email: "a@x.org".into(),
            ..NewUser::default()
        })
        .unwrap();
    let s = registry
        .sign_in(
            alice.id,
            SignIn {
                ip_address: "10.0.0.1".into(),
                ..SignIn::default()
            },
        )
        .unwrap()
        .session;
    registry
        .destroy_session(alice.id, &s.session_private_id)
        .unwrap();
    let recent = registry.recent_audit(10).unwrap();
    let actions: Vec<&str> = recent.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["destroy_session", "sign_in", "create_user"]);
    assert_eq!(recent[0].user_ids, vec![alice.id]);
    assert_eq!(recent[0].sessions, 1);
    assert_eq!(recent[0].origin, "scripts/x.rhai");
    assert_eq!(recent[0].os_user, "root");
}

#[test]
fn settings_are_validated_and_kept() {
    let f = fixture();
    assert!(matches!(
        f.registry.set_setting("session_limit", "0"),
        Err(Error::InvalidSetting { .. })
    ));
    assert!(matches!(
        f.registry.set_setting("session_limit", "many"),
        Err(Error::InvalidSetting { .. })
    ));
    assert!(matches!(
        f.registry.set_setting("colour", "1"),
        Err(Error::UnknownSetting { .. })
    ));
    f.registry
        .set_setting("session_expire_delay", "60")
        .unwrap();
    let path = f.db_path();
    let Fixture {
        dir,
        registry,
        clock,
    } = f;
    drop(registry);
    let reopened = Registry::new(
        store::open(&path, crate::store::Mode::Create).unwrap(),
        clock,
    )
    .unwrap();
    assert_eq!(
        reopened.settings().unwrap(),
        Settings {
            session_limit: 100,
            session_expire_delay: 60
        }
    );
    drop(dir);
}

#[test]
fn import_checks_everything_before_writing() {
    let f = fixture();
    f.registry.set_setting("session_limit", "2").unwrap();
    let alice = f.user("alice");
    f.sign_in(&alice);
    let session = |user_id: u64, n: u8| imported_session(user_id, n, f.registry.now());
    // Alice has one stored session: two more would pass the limit of 2.
    let over = Import {
        sessions: vec![session(alice.id, 1), session(alice.id, 2)],
        ..Import::default()
    };
    let error = f.registry.import(over, "test").unwrap_err();
    assert!(
        error.to_string().contains("more than 2 sessions"),
        "{error}"
    );
    let orphan = Import {
        sessions: vec![session(99, 1)],
        ..Import::default()
    };
    // A refusal names the record at fault: its kind and place.
    let error = f.registry.import(orphan, "test").unwrap_err();
    assert!(
        matches!(
            &error,
            Error::InRecord { kind: crate::error::RecordKind::Session, index: 0, source }
                if matches!(**source, Error::UserNotFound { id: 99 })
        ),
        "{error}"
    );
    let bad_id = Import {
        sessions: vec![ActiveSession {
            session_private_id: "2::zz".into(),
            ..session(alice.id, 1)
        }],
        ..Import::default()
    };
    assert!(matches!(
        f.registry.import(bad_id, "test").map_err(refused),
        Err(Error::InvalidField {
            field: "session_private_id",
            ..
        })
    ));
    assert_eq!(
        f.registry.list(alice.id).unwrap().len(),
        1,
        "nothing was written"
    );
    let fits = Import {
        sessions: vec![session(alice.id, 1)],
        ..Import::default()
    };
    assert_eq!(f.registry.import(fits, "test").unwrap(), (0, 1, 0));
    assert_eq!(f.registry.list(alice.id).unwrap().len(), 2);
    assert!(f.registry.check().unwrap().is_empty());
}

#[test]
fn an_audited_import_is_logged_when_it_starts_and_when_it_finishes() {
    let f = audited_fixture("import");
    let now = f.registry.now();
    let batch = Import {
        users: vec![
            imported_user(10, "ten", now),
            imported_user(11, "eleven", now),
        ],
        ..Import::default()
    };
    assert_eq!(f.registry.import(batch, "users.jsonl").unwrap(), (2, 0, 0));
    let audit = f.registry.recent_audit(10).unwrap();
    let actions: Vec<&str> = audit.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["import"]);
    assert!(
        audit
            .iter()
            .all(|e| e.detail.contains("2 users") && e.detail.contains("users.jsonl"))
    );
}

#[test]
fn an_import_that_fails_part_way_leaves_nothing_and_can_be_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
    let store = SledStore::open(&dir.path().join("db"), crate::store::Mode::Create).unwrap();
    let good = Import {
        users: vec![
            imported_user(10, "ten", now),
            imported_user(11, "eleven", now),
        ],
        sessions: vec![imported_session(10, 1, now)],
        tokens: vec![],
    };
    // The users' chunk is written, then the sessions' transaction fails: a session whose
    // private id is not one (the registry refuses it before; here the store meets it).
    let mut bad = good.clone();
    bad.sessions.push(ActiveSession {
        session_private_id: "not a private id".into(),
        ..imported_session(11, 2, now)
    });
    let entry = |detail: &str| AuditEntry {
        at: now,
        os_user: "root".into(),
        origin: "import".into(),
        action: "import".into(),
        user_ids: vec![],
        sessions: 0,
        detail: detail.into(),
        session_ids: Vec::new(),
        count: 1,
    };
    store.import(bad, Some(entry("bad"))).unwrap_err();
    assert_eq!(store.user_count().unwrap(), 0);
    assert_eq!(store.user_id_by_username("ten").unwrap(), None);
    assert!(store.recent_audit(10).unwrap().is_empty());
    assert!(store.check().unwrap().is_empty());
    // The same import, corrected, goes through whole.
    store.import(good, Some(entry("good"))).unwrap();
    assert_eq!(store.user_count().unwrap(), 2);
    assert_eq!(store.sessions_of(10).unwrap().len(), 1);
    assert_eq!(store.session_count_of(10).unwrap(), 1);
    assert_eq!(store.recent_audit(10).unwrap()[0].detail, "good");
    assert!(store.check().unwrap().is_empty());
}

#[test]
fn an_import_into_a_database_keeps_what_it_held() {
    let f = fixture();
    let alice = f.user("alice");
    f.sign_in(&alice);
    let token = f.registry.remember_me(alice.id).unwrap();
    let now = f.clock.now();
    let batch = Import {
        users: vec![imported_user(10, "ten", now)],
        sessions: vec![
            imported_session(10, 1, now),
            imported_session(alice.id, 2, now),
        ],
        tokens: vec![],
    };
    f.registry.import(batch, "more.jsonl").unwrap();
    assert_eq!(f.registry.user_count().unwrap(), 2);
    assert_eq!(f.registry.list(alice.id).unwrap().len(), 2);
    assert!(f.registry.verify_remember_token(alice.id, &token).unwrap());
    assert_eq!(f.registry.count_all_sessions().unwrap().sessions, 3);
    assert!(f.registry.check().unwrap().is_empty());
}

#[test]
fn import_refuses_a_username_clash_anywhere_in_the_batch_before_writing() {
    let f = fixture();
    f.user("taken");
    let user = |id: u64, name: &str| User {
        id,
        username: name.into(),
        email: format!("{name}{id}@example.com"),
        name: name.into(),
        state: UserState::Active,
        admin: false,
        created_at: f.registry.now(),
        last_sign_in_at: None,
    };
    let mut users: Vec<User> = (10..20_020).map(|id| user(id, &format!("u{id}"))).collect();
    users.push(user(30_000, "U10"));
    let error = f
        .registry
        .import(
            Import {
                users,
                ..Import::default()
            },
            "test",
        )
        .unwrap_err();
    assert!(
        matches!(&error, Error::InRecord { index: 20_010, source, .. }
            if matches!(**source, Error::UsernameTaken { id: 10, .. })),
        "{error}"
    );
    let clash = vec![user(40_000, "TAKEN")];
    assert!(matches!(
        f.registry
            .import(
                Import {
                    users: clash,
                    ..Import::default()
                },
                "test"
            )
            .map_err(refused),
        Err(Error::UsernameTaken { .. })
    ));
    assert_eq!(f.registry.user_count().unwrap(), 1, "nothing was written");
}

#[test]
fn blocking_revokes_sessions_and_tokens_and_refuses_sign_in_until_unblocked() {
    let f = audited_fixture("console");
    let (alice, bob) = (f.user("alice"), f.user("bob"));
    f.sign_in(&alice);
    f.sign_in(&alice);
    f.sign_in(&bob);
    f.registry.remember_me(alice.id).unwrap();
    f.registry.remember_me(bob.id).unwrap();

    let (blocked, revoked) = f.registry.block_user(alice.id).unwrap();
    assert_eq!((blocked.state, revoked), (UserState::Blocked, 2));
    assert_eq!(
        f.registry.find_user(alice.id).unwrap().state,
        UserState::Blocked
    );
    assert!(f.ids(&alice).is_empty());
    assert_eq!(f.registry.remember_token_count(alice.id).unwrap(), 0);
    assert_eq!(
        (
            f.ids(&bob).len(),
            f.registry.remember_token_count(bob.id).unwrap()
        ),
        (1, 1)
    );
    let entry = &f.registry.recent_audit(1).unwrap()[0];
    assert_eq!(
        (
            entry.action.as_str(),
            entry.user_ids.clone(),
            entry.sessions,
            entry.detail.as_str()
        ),
        (
            "block_user",
            vec![alice.id],
            2,
            "alice (id=1) blocked: 2 sessions and the remember-me tokens revoked"
        )
    );
    let refused = f
        .registry
        .sign_in(
            alice.id,
            SignIn {
                ip_address: "127.0.0.1".into(),
                ..SignIn::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        refused.to_string(),
        "user alice (id=1) is blocked and cannot sign in"
    );

    let unblocked = f.registry.unblock_user(alice.id).unwrap();
    assert_eq!(unblocked.state, UserState::Active);
    assert_eq!(
        f.registry.recent_audit(1).unwrap()[0].detail,
        "alice (id=1) unblocked"
    );
    f.sign_in(&alice);
    assert_eq!(f.ids(&alice).len(), 1);
}

#[test]
fn a_dry_run_block_writes_nothing() {
    let f = fixture();
    let alice = f.user("alice");
    f.sign_in(&alice);
    let registry = f.registry.dry_run(true);
    let (blocked, revoked) = registry.block_user(alice.id).unwrap();
    assert_eq!((blocked.state, revoked), (UserState::Blocked, 1));
    assert_eq!(
        registry.find_user(alice.id).unwrap().state,
        UserState::Active
    );
    assert_eq!(registry.list(alice.id).unwrap().len(), 1);
    assert_eq!(registry.take_planned()[0].action, "block_user");
}

#[test]
fn an_update_changes_name_and_email_keeps_the_username_and_is_audited() {
    let f = audited_fixture("console");
    let (alice, bob) = (f.user("alice"), f.user("bob"));
    let update = |name: Option<&str>, email: Option<&str>, username: Option<&str>| {
        f.registry.update_user(
            alice.id,
            UserUpdate {
                name: name.map(Into::into),
                email: email.map(Into::into),
                username: username.map(Into::into),
            },
        )
    };
    let updated = update(
        Some(" Alice Liddell "),
        Some("alice@wonderland.example"),
        Some("ALICE"),
    )
    .unwrap();
    assert_eq!(
        (
            updated.username.as_str(),
            updated.name.as_str(),
            updated.email.as_str()
        ),
        ("alice", "Alice Liddell", "alice@wonderland.example")
    );
    assert_eq!(f.registry.find_user(alice.id).unwrap(), updated);
    assert_eq!(
        f.registry
            .find_by_email("ALICE@wonderland.example")
            .unwrap()
            .unwrap()
            .id,
        alice.id
    );
    assert!(
        f.registry
            .find_by_email("alice@example.com")
            .unwrap()
            .is_none()
    );
    assert_eq!(
        f.registry.recent_audit(1).unwrap()[0].detail,
        "alice (id=1): email \"alice@example.com\" -> \"alice@wonderland.example\", name \"ALICE\" -> \"Alice Liddell\""
    );

    let taken = update(None, Some("BOB@example.com"), None).unwrap_err();
    assert!(
        matches!(taken, Error::EmailTaken { id, .. } if id == bob.id),
        "{taken:?}"
    );
    let renamed = update(Some("x"), None, Some("alicia"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        renamed,
        "invalid username: \"alicia\" cannot replace \"alice\": usernames are never renamed"
    );
    assert!(update(None, Some("not an email"), None).is_err());
    assert!(update(Some(&"n".repeat(256)), None, None).is_err());
    assert_eq!(f.registry.find_user(alice.id).unwrap(), updated);
    // Nothing changed: nothing written, nothing audited.
    let audit = f.registry.recent_audit(10).unwrap().len();
    update(Some("Alice Liddell"), None, None).unwrap();
    assert_eq!(f.registry.recent_audit(10).unwrap().len(), audit);
}

#[test]
fn users_where_streams_the_matching_users() {
    let f = fixture();
    for name in ["alice", "bob", "carol"] {
        f.user(name);
    }
    f.registry.block_user(2).unwrap();
    let found = |filter: query::UserFilter| -> Vec<u64> {
        f.registry
            .users_where(&filter)
            .map(|u| u.unwrap().id)
            .collect()
    };
    assert_eq!(found(query::UserFilter::default()), [1, 2, 3]);
    let blocked = query::UserFilter {
        blocked: Some(true),
        ..Default::default()
    };
    assert_eq!(found(blocked), [2]);
    let pattern = query::UserFilter {
        username: Some(query::Pattern::new("%o%")),
        ..Default::default()
    };
    assert_eq!(found(pattern), [2, 3]);
    let by_id = query::UserFilter {
        id: Some(3),
        ..Default::default()
    };
    assert_eq!(found(by_id), [3]);
}

#[test]
fn destroy_where_revokes_the_matching_sessions_in_one_audited_write() {
    let f = audited_fixture("incident.rhai");
    let (alice, bob, carol) = (f.user("alice"), f.user("bob"), f.user("carol"));
    let from = |user: &User, ip: &str| {
        f.sign_in_as(
            user,
            SignIn {
                ip_address: ip.into(),
                user_agent: FIREFOX.into(),
                ..SignIn::default()
            },
        )
    };
    from(&alice, "203.0.113.5");
    from(&alice, "198.51.100.1");
    from(&bob, "203.0.113.200");
    from(&carol, "2001:db8::7");
    for user in [&alice, &bob, &carol] {
        f.registry.remember_me(user.id).unwrap();
    }
    let leaked = query::SessionFilter {
        ip: Some(query::IpRange::parse("203.0.113.0/24").unwrap()),
        ..Default::default()
    };
    let counted = f.registry.count_where(&leaked).unwrap();
    assert_eq!((counted.sessions, counted.users), (2, 2));
    let audit_before = f.registry.recent_audit(100).unwrap().len();

    let revoked = f.registry.destroy_where(&leaked).unwrap();
    assert_eq!((revoked.sessions, revoked.users), (2, 2));
    assert_eq!(f.ids(&alice).len(), 1);
    assert!(f.ids(&bob).is_empty());
    assert_eq!(f.ids(&carol).len(), 1);
    assert_eq!(f.registry.remember_token_count(bob.id).unwrap(), 0);
    assert_eq!(f.registry.remember_token_count(carol.id).unwrap(), 1);
    let audit = f.registry.recent_audit(100).unwrap();
    assert_eq!(audit.len(), audit_before + 1);
    assert_eq!(
        (
            audit[0].action.as_str(),
            audit[0].user_ids.clone(),
            audit[0].sessions
        ),
        ("destroy_where", vec![alice.id, bob.id], 2)
    );
    assert_eq!(
        audit[0].detail,
        "2 sessions of 2 users matching ip=203.0.113.0/24, remember-me tokens revoked"
    );
    // Nothing left to match: nothing written.
    assert_eq!(f.registry.destroy_where(&leaked).unwrap().sessions, 0);
    assert_eq!(
        f.registry.recent_audit(100).unwrap().len(),
        audit_before + 1
    );
}

#[test]
fn sessions_where_reads_time_from_the_clock_and_scans_one_user_when_asked() {
    let f = fixture();
    let (alice, bob) = (f.user("alice"), f.user("bob"));
    f.sign_in(&alice);
    f.clock.advance(Duration::days(3));
    f.sign_in(&alice);
    f.sign_in(&bob);
    let matching = |filter: &query::SessionFilter| -> Vec<u64> {
        f.registry
            .sessions_where(filter, None)
            .map(|s| s.unwrap().user_id)
            .collect()
    };
    let idle = query::SessionFilter {
        idle_for: Some(Duration::days(2)),
        ..Default::default()
    };
    assert_eq!(matching(&idle), [alice.id]);
    let recent = query::SessionFilter {
        active_within: Some(Duration::days(2)),
        ..Default::default()
    };
    assert_eq!(matching(&recent), [alice.id, bob.id]);
    let of_bob = query::SessionFilter {
        user: Some(bob.id),
        ..Default::default()
    };
    assert_eq!(matching(&of_bob), [bob.id]);
    // Expired sessions are never matched.
    f.clock.advance(Duration::days(5));
    assert_eq!(matching(&idle), [alice.id, bob.id]);
    let (page, last) = f.registry.sessions_where_page(&idle, None, 1).unwrap();
    assert_eq!((page.len(), last), (1, Some(alice.id)));
}

/// Why an import refused a record (without which record it was).
fn refused(error: Error) -> Error {
    match error {
        Error::InRecord { source, .. } => *source,
        other => other,
    }
}

#[test]
fn a_view_shares_the_store_with_its_own_actor_and_dry_run() {
    let f = audited_fixture("console");
    let alice = f.user("alice");
    let app = Actor {
        os_user: "www-data".into(),
        origin: "serve".into(),
    };
    let view = f.registry.view(app.clone(), false);
    view.sign_in(
        alice.id,
        SignIn {
            ip_address: "127.0.0.1".into(),
            ..SignIn::default()
        },
    )
    .unwrap();
    assert_eq!(
        f.ids(&alice).len(),
        1,
        "the view's sign-in is not in the store"
    );

    let dry = f.registry.view(app, true);
    assert_eq!(dry.destroy_all_but_current(alice.id, None).unwrap(), 1);
    assert_eq!(f.ids(&alice).len(), 1, "a dry-run view wrote");
    assert_eq!(view.destroy_all_but_current(alice.id, None).unwrap(), 1);
    assert!(f.ids(&alice).is_empty());

    let audit = f.registry.recent_audit(1).unwrap();
    assert_eq!(
        (audit[0].os_user.as_str(), audit[0].origin.as_str()),
        ("www-data", "serve")
    );
}

#[test]
fn a_runs_revocations_are_one_entry_continued_after_the_cap() {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    ));
    let registry = Registry::new(
        Box::new(crate::store::memory::MemoryStore::default()),
        clock,
    )
    .unwrap()
    .audited_as(Actor {
        os_user: "root".into(),
        origin: "-e".into(),
    });
    let mut sessions = Vec::new();
    for n in 0..11 {
        let user = registry
            .create_user(NewUser {
                username: format!("u{n}"),
                email: format!("u{n}@x.org"),
                ..NewUser::default()
            })
            .unwrap();
        for i in 0..100 {
            let signed_in = registry
                .sign_in(
                    user.id,
                    SignIn {
                        ip_address: format!("10.0.{n}.{i}"),
                        ..SignIn::default()
                    },
                )
                .unwrap();
            sessions.push(signed_in.session);
        }
    }
    // Outside a run, an entry a revocation.
    let first = sessions.remove(0);
    registry
        .destroy_session(first.user_id, &first.session_private_id)
        .unwrap();
    registry.begin_run();
    for s in &sessions {
        registry
            .destroy_session(s.user_id, &s.session_private_id)
            .unwrap();
    }
    let entries: Vec<AuditEntry> = registry
        .recent_audit(usize::MAX)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "destroy_session")
        .collect();
    // Newest first: the continuation, the run's first entry (full), the one outside the run.
    let counts: Vec<u64> = entries.iter().map(|e| e.sessions).collect();
    assert_eq!(counts, [99, 1000, 1]);
    assert_eq!(entries[1].session_ids.len(), RUN_ENTRY_IDS);
    let ids: Vec<String> = entries[1]
        .session_ids
        .iter()
        .chain(&entries[0].session_ids)
        .cloned()
        .collect();
    let expected: Vec<String> = sessions
        .iter()
        .map(|s| s.session_private_id.clone())
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(entries[1].user_ids.len(), 11);
    assert_eq!(
        entries[0].detail,
        "99 sessions of 1 user in one run, remember-me tokens revoked"
    );
    assert!(entries[2].session_ids.is_empty());
    // A new run starts a new entry.
    registry.begin_run();
    let s = registry
        .sign_in(
            first.user_id,
            SignIn {
                ip_address: "10.1.1.1".into(),
                ..SignIn::default()
            },
        )
        .unwrap()
        .session;
    registry
        .destroy_session(s.user_id, &s.session_private_id)
        .unwrap();
    let newest = &registry.recent_audit(1).unwrap()[0];
    assert_eq!(
        (newest.action.as_str(), newest.sessions),
        ("destroy_session", 1)
    );
    assert_eq!(
        newest.session_ids,
        std::slice::from_ref(&s.session_private_id)
    );
}
/// The newest `n` entries of the log, oldest first.
fn last_entries(registry: &Registry, n: usize) -> Vec<AuditEntry> {
    let mut log = registry.recent_audit(n).unwrap();
    log.reverse();
    log
}

#[test]
fn a_run_creating_users_and_signing_each_in_writes_one_entry_per_action() {
    let f = audited_fixture("-e");
    f.registry.begin_run();
    let users: Vec<User> = (0..5).map(|n| f.user(&format!("u{n}"))).collect();
    let sessions: Vec<String> = users
        .iter()
        .map(|u| f.sign_in(u).session.session_private_id)
        .collect();
    let user_ids: Vec<u64> = users.iter().map(|u| u.id).collect();
    let log = f.registry.recent_audit(100).unwrap();
    assert_eq!(log.len(), 2, "{log:#?}");
    // Each entry keeps the place of its first write: the users were created first.
    let (signed_in, created) = (&log[0], &log[1]);
    assert_eq!(created.action, "create_user");
    assert_eq!((created.count, created.sessions), (5, 0));
    assert_eq!(created.user_ids, user_ids);
    assert!(created.session_ids.is_empty());
    assert_eq!(created.detail, "5 users created in one run");
    assert_eq!(signed_in.action, "sign_in");
    assert_eq!((signed_in.count, signed_in.sessions), (5, 0));
    assert_eq!(signed_in.user_ids, user_ids);
    assert_eq!(signed_in.session_ids, sessions);
    assert_eq!(signed_in.detail, "5 sign-ins of 5 users in one run");

    // Every other audited mutation joins its action's entry too.
    f.registry.begin_run();
    for user in &users[..2] {
        f.registry
            .update_user(
                user.id,
                UserUpdate {
                    name: Some(format!("{} renamed", user.username)),
                    ..UserUpdate::default()
                },
            )
            .unwrap();
        f.registry.remember_me(user.id).unwrap();
        f.registry.forget_me(user.id).unwrap();
        f.registry.block_user(user.id).unwrap();
        f.registry.unblock_user(user.id).unwrap();
    }
    let log = last_entries(&f.registry, 5);
    let summary: Vec<(&str, u64, u64, usize, &str)> = log
        .iter()
        .map(|e| {
            let users = e.user_ids.len();
            (
                e.action.as_str(),
                e.count,
                e.sessions,
                users,
                e.detail.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("update_user", 2, 0, 2, "2 updates of 2 users in one run"),
            (
                "remember_me",
                2,
                0,
                2,
                "2 remember-me tokens issued to 2 users in one run"
            ),
            (
                "forget_me",
                2,
                0,
                2,
                "remember-me tokens of 2 users revoked in one run"
            ),
            (
                "block_user",
                2,
                2,
                2,
                "2 users blocked in one run: 2 sessions and their remember-me tokens revoked"
            ),
            ("unblock_user", 2, 0, 2, "2 users unblocked in one run"),
        ]
    );
    assert_eq!(log[3].session_ids, sessions[..2]);
    assert_eq!(f.registry.recent_audit(100).unwrap().len(), 7);
}

#[test]
fn a_runs_sign_ins_count_what_the_limit_evicted() {
    let f = audited_fixture("-e");
    f.registry.set_setting("session_limit", "2").unwrap();
    let alice = f.user("alice");
    f.registry.begin_run();
    for minute in 0..4 {
        f.clock.advance(Duration::minutes(minute));
        f.sign_in(&alice);
    }
    let entry = &f.registry.recent_audit(1).unwrap()[0];
    assert_eq!((entry.count, entry.sessions), (4, 2));
    assert_eq!(
        entry.detail,
        "4 sign-ins of 1 user in one run, 2 evicted by the limit"
    );
    // One sign-in of a run, at the limit, says so as a sign-in outside a run does.
    f.registry.begin_run();
    f.sign_in(&alice);
    let entry = &f.registry.recent_audit(1).unwrap()[0];
    assert_eq!((entry.count, entry.sessions), (1, 1));
    assert!(
        entry.detail.starts_with("alice from 127.0.0.1")
            && entry.detail.ends_with(", 1 evicted by the limit"),
        "{}",
        entry.detail
    );
}

#[test]
fn outside_a_run_each_mutation_is_one_entry() {
    let f = audited_fixture("serve");
    let users: Vec<User> = (0..3).map(|n| f.user(&format!("u{n}"))).collect();
    for user in &users {
        f.sign_in(user);
    }
    let log = last_entries(&f.registry, 100);
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "create_user",
            "create_user",
            "create_user",
            "sign_in",
            "sign_in",
            "sign_in"
        ]
    );
    for (entry, user) in log.iter().zip(users.iter().cycle()) {
        assert_eq!(entry.user_ids, [user.id]);
        assert_eq!(entry.count, 1);
        assert!(entry.session_ids.is_empty());
    }
    assert_eq!(log[0].detail, "user u0 <u0@example.com>");
}

#[test]
fn a_run_creating_more_users_than_an_entry_holds_continues_in_a_new_one() {
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    ));
    let registry = Registry::new(
        Box::new(crate::store::memory::MemoryStore::default()),
        clock,
    )
    .unwrap()
    .audited_as(Actor {
        os_user: "root".into(),
        origin: "-e".into(),
    });
    registry.begin_run();
    let created: Vec<u64> = (0..=RUN_ENTRY_IDS)
        .map(|n| {
            registry
                .create_user(NewUser {
                    username: format!("u{n}"),
                    email: format!("u{n}@x.org"),
                    ..NewUser::default()
                })
                .unwrap()
                .id
        })
        .collect();
    let log = last_entries(&registry, 10);
    let counts: Vec<u64> = log.iter().map(|e| e.count).collect();
    assert_eq!(counts, [RUN_ENTRY_IDS as u64, 1]);
    let ids: Vec<u64> = log.iter().flat_map(|e| e.user_ids.clone()).collect();
    assert_eq!(ids, created);
    assert_eq!(log[0].detail, "1000 users created in one run");
}

/// A request of an application on the session `public_id`, from `ip`.
fn request_on(public_id: &str, ip: &str) -> SignIn {
    SignIn {
        public_id: Some(public_id.into()),
        ip_address: ip.into(),
        user_agent: FIREFOX.into(),
        ..SignIn::default()
    }
}

#[test]
fn authenticate_touches_a_live_session_unaudited_and_never_creates_one() {
    let f = audited_fixture("api");
    let alice = f.user("alice");
    let signed = f.sign_in(&alice);
    let audited = f.registry.recent_audit(100).unwrap().len();
    f.clock.advance(Duration::minutes(5));
    let session = f
        .registry
        .authenticate(alice.id, &request_on(&signed.public_id, "10.9.9.9"))
        .unwrap()
        .expect("live");
    assert_eq!(session.updated_at, f.registry.now());
    assert_eq!(session.created_at, signed.session.created_at);
    assert_eq!(f.registry.list(alice.id).unwrap()[0].ip_address, "10.9.9.9");
    // A touch (here, and through `sign_in` on a known id) writes no audit entry.
    f.registry
        .sign_in(alice.id, request_on(&signed.public_id, "10.9.9.8"))
        .unwrap();
    assert_eq!(f.registry.recent_audit(100).unwrap().len(), audited);
    // An unknown id, another user's id, an empty id: nothing, and nothing created.
    let bob = f.user("bob");
    for (user, id) in [
        (alice.id, "unknown"),
        (bob.id, signed.public_id.as_str()),
        (alice.id, ""),
    ] {
        assert!(
            f.registry
                .authenticate(user, &request_on(id, "10.0.0.1"))
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(f.registry.list(alice.id).unwrap().len(), 1);
    assert!(f.registry.list(bob.id).unwrap().is_empty());
    // Expired, then revoked: nothing.
    let delay = f.registry.settings().unwrap().expire_delay();
    f.clock.advance(delay);
    assert!(
        f.registry
            .authenticate(alice.id, &request_on(&signed.public_id, "10.0.0.1"))
            .unwrap()
            .is_none()
    );
    let fresh = f.sign_in(&alice);
    f.registry
        .destroy_session(alice.id, &fresh.session.session_private_id)
        .unwrap();
    assert!(
        f.registry
            .authenticate(alice.id, &request_on(&fresh.public_id, "10.0.0.1"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn sign_out_removes_the_session_revokes_tokens_and_is_audited() {
    let f = audited_fixture("api");
    let alice = f.user("alice");
    let signed = f.sign_in(&alice);
    let other = f.sign_in(&alice);
    let token = f.registry.remember_me(alice.id).unwrap();
    assert!(
        f.registry
            .sign_out(alice.id, &signed.session.session_private_id)
            .unwrap()
    );
    assert_eq!(f.ids(&alice), [other.session.session_private_id.as_str()]);
    assert!(!f.registry.verify_remember_token(alice.id, &token).unwrap());
    let entry = &f.registry.recent_audit(1).unwrap()[0];
    assert_eq!(
        (entry.action.as_str(), entry.origin.as_str(), entry.sessions),
        ("sign_out", "api", 1)
    );
    // Again: nothing there, nothing written.
    assert!(
        !f.registry
            .sign_out(alice.id, &signed.session.session_private_id)
            .unwrap()
    );
    assert_eq!(f.registry.recent_audit(1).unwrap()[0].action, "sign_out");
}

#[test]
fn a_remember_me_token_signs_in_until_any_revocation() {
    let f = audited_fixture("api");
    let alice = f.user("alice");
    let bob = f.user("bob");
    let first = f.sign_in(&alice);
    let token = f.registry.remember_me(alice.id).unwrap();
    let remembered = f
        .registry
        .sign_in_remembered(alice.id, &token, request_on("ignored", "10.0.0.2"))
        .unwrap()
        .expect("a live token");
    assert!(remembered.created);
    assert_ne!(remembered.public_id, "ignored");
    assert_eq!(f.registry.list(alice.id).unwrap().len(), 2);
    assert_eq!(f.registry.recent_audit(1).unwrap()[0].action, "sign_in");
    // Another user's token, a forged one: nothing, nothing written.
    let writes = f.registry.recent_audit(100).unwrap().len();
    for (user, token) in [(bob.id, token.as_str()), (alice.id, "forged")] {
        let request = request_on("x", "10.0.0.3");
        assert!(
            f.registry
                .sign_in_remembered(user, token, request)
                .unwrap()
                .is_none()
        );
    }
    assert_eq!(f.registry.recent_audit(100).unwrap().len(), writes);
    // Any revocation of the user's sessions ends the token.
    f.registry
        .revoke_session(alice.id, &first.session.session_private_id, None)
        .unwrap();
    let request = request_on("x", "10.0.0.3");
    assert!(
        f.registry
            .sign_in_remembered(alice.id, &token, request)
            .unwrap()
            .is_none()
    );
}

#[test]
fn authenticate_keeps_what_a_request_cannot_say() {
    let f = fixture();
    let alice = f.user("alice");
    // An impersonated session in admin mode stays so.
    let impersonated = f.sign_in_as(
        &alice,
        SignIn {
            public_id: None,
            impersonated: true,
            admin_mode: true,
            ..request_on("", "10.0.0.5")
        },
    );
    let touched = f
        .registry
        .authenticate(alice.id, &request_on(&impersonated.public_id, "10.0.0.6"))
        .unwrap()
        .expect("live");
    assert!(touched.is_impersonated && touched.admin_mode);
}
