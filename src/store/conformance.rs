//! The conformance suite: the storage contract ([`Backend`]) written down once as tests, and
//! run against every store (sled and the in-memory store here; the Redis store joins with
//! one more line of `conformance!`). Each case takes a fresh, empty store. The concurrent
//! cases run writers on threads and check the promises that only atomic writes keep.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::{Backend, Changes, Keep, Records, SessionGuard, SignInWrite, Touch};
use crate::model::{ActiveSession, AuditEntry, RememberToken, User, UserState};
use crate::{Error, secret};

/// A store under test, shared by threads.
pub type Store = Arc<dyn Backend + Send + Sync>;

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap() + Duration::minutes(minute)
}

fn entry(action: &str) -> AuditEntry {
    AuditEntry {
        at: at(0),
        os_user: "tester".into(),
        origin: "conformance".into(),
        action: action.into(),
        user_ids: vec![],
        sessions: 0,
        detail: action.into(),
        session_ids: Vec::new(),
        count: 1,
    }
}

fn user(name: &str) -> User {
    User {
        id: 0,
        username: name.into(),
        email: format!("{name}@example.com"),
        name: name.into(),
        state: UserState::Active,
        admin: false,
        created_at: at(0),
        last_sign_in_at: None,
    }
}

fn create(store: &Store, name: &str) -> User {
    let changes = Changes {
        new_users: vec![user(name)],
        ..Changes::default()
    };
    store.apply(changes).unwrap().created_users.remove(0)
}

fn session(user_id: u64, public: &str, minute: i64) -> ActiveSession {
    ActiveSession {
        session_private_id: secret::private_id(public),
        user_id,
        ip_address: "10.0.0.1".into(),
        browser: "Firefox".into(),
        os: "Linux".into(),
        device_name: "Other".into(),
        device_type: "desktop".into(),
        is_impersonated: false,
        admin_mode: false,
        created_at: at(minute),
        updated_at: at(minute),
    }
}

fn sign_in(store: &Store, session: &ActiveSession, limit: u32) -> super::SignInOutcome {
    store
        .sign_in(SignInWrite {
            session: session.clone(),
            limit,
            now: session.updated_at,
            expire_delay: Duration::days(7),
            audit: Some(entry("sign_in")),
            audit_key: None,
        })
        .unwrap()
}

fn ids(store: &Store, user_id: u64) -> Vec<String> {
    let mut ids: Vec<String> = store
        .sessions_of(user_id)
        .unwrap()
        .into_iter()
        .map(|s| s.session_private_id)
        .collect();
    ids.sort();
    ids
}

pub fn users_are_unique_and_found_case_insensitively(store: Store) {
    let alice = create(&store, "Alice");
    let bob = create(&store, "bob");
    assert!(bob.id > alice.id);
    assert_eq!(store.user_id_by_username("ALICE").unwrap(), Some(alice.id));
    assert_eq!(
        store.user_id_by_email("alice@EXAMPLE.com").unwrap(),
        Some(alice.id)
    );
    assert_eq!(
        store.user_by_username("alice").unwrap(),
        Some(alice.clone())
    );
    let clash = store.apply(Changes {
        new_users: vec![User {
            email: "other@example.com".into(),
            ..user("ALICE")
        }],
        ..Changes::default()
    });
    assert!(
        matches!(clash, Err(Error::UsernameTaken { .. })),
        "{clash:?}"
    );
    assert_eq!(store.user_count().unwrap(), 2);
    let after: Vec<u64> = store.users(Some(alice.id)).map(|u| u.unwrap().id).collect();
    assert_eq!(after, [bob.id]);
}

pub fn a_sign_in_below_the_limit_stores_the_session_and_the_time(store: Store) {
    let alice = create(&store, "alice");
    let first = session(alice.id, "one", 1);
    let outcome = sign_in(&store, &first, 3);
    assert!(outcome.evicted.is_empty());
    assert_eq!(
        store.session(alice.id, &first.session_private_id).unwrap(),
        Some(first)
    );
    let user = store.user(alice.id).unwrap().unwrap();
    let count = store.session_count_of(alice.id).unwrap();
    assert_eq!((user.last_sign_in_at, count), (Some(at(1)), 1));
    assert_eq!(store.recent_audit(1).unwrap()[0].action, "sign_in");
}

pub fn a_sign_in_at_the_limit_evicts_the_least_recently_used(store: Store) {
    let alice = create(&store, "alice");
    for (n, minute) in [("a", 5), ("b", 1), ("c", 3)] {
        sign_in(&store, &session(alice.id, n, minute), 3);
    }
    let outcome = sign_in(&store, &session(alice.id, "d", 9), 3);
    assert_eq!(outcome.evicted, [secret::private_id("b")]);
    let mut expected: Vec<String> = ["a", "c", "d"].map(secret::private_id).into();
    expected.sort();
    assert_eq!(ids(&store, alice.id), expected);
    assert_eq!(store.session_count_of(alice.id).unwrap(), 3);
    let audit = &store.recent_audit(1).unwrap()[0];
    assert_eq!(audit.sessions, 1);
    assert!(
        audit.detail.ends_with("1 evicted by the limit"),
        "{}",
        audit.detail
    );
}

pub fn a_sign_in_removes_expired_sessions_first(store: Store) {
    let alice = create(&store, "alice");
    sign_in(&store, &session(alice.id, "old", 0), 2);
    sign_in(&store, &session(alice.id, "recent", 60), 2);
    // Eight days later: "old" and "recent" expired; nothing live is evicted.
    let later = session(alice.id, "new", 8 * 24 * 60);
    let outcome = sign_in(&store, &later, 2);
    assert_eq!((outcome.expired, outcome.evicted.len()), (2, 0));
    assert_eq!(ids(&store, alice.id), [later.session_private_id]);
}

pub fn a_touch_moves_a_session_and_never_brings_back_a_revoked_one(store: Store) {
    let alice = create(&store, "alice");
    let stored = session(alice.id, "one", 1);
    sign_in(&store, &stored, 10);
    let moved = ActiveSession {
        ip_address: "10.0.0.2".into(),
        updated_at: at(2),
        created_at: at(2),
        ..stored.clone()
    };
    assert_eq!(
        store.touch(&moved, Some(at(0)), Keep::SignInTime).unwrap(),
        Touch::Touched {
            created_at: stored.created_at,
            is_impersonated: false,
            admin_mode: false,
        }
    );
    let kept = ActiveSession {
        created_at: stored.created_at,
        ..moved.clone()
    };
    assert_eq!(
        store.session(alice.id, &stored.session_private_id).unwrap(),
        Some(kept.clone()),
        "a touch moves the session and keeps when it was signed in"
    );
    // Expired (last updated at or before `live_after`): a sign-in, not a touch.
    let later = ActiveSession {
        updated_at: at(9),
        ..kept.clone()
    };
    assert_eq!(
        store.touch(&later, Some(at(2)), Keep::SignInTime).unwrap(),
        Touch::Missing
    );
    assert_eq!(
        store.session(alice.id, &stored.session_private_id).unwrap(),
        Some(kept),
        "a touch of an expired session wrote"
    );
    store
        .apply(Changes {
            removed_sessions: vec![(alice.id, stored.session_private_id.clone())],
            ..Changes::default()
        })
        .unwrap();
    assert_eq!(
        store.touch(&moved, None, Keep::SignInTime).unwrap(),
        Touch::Missing
    );
    assert_eq!(
        store.session(alice.id, &stored.session_private_id).unwrap(),
        None
    );
    assert_eq!(store.session_count_of(alice.id).unwrap(), 0);
}

/// A request that only authenticates keeps the stored flags; `ActiveSession.set` writes the
/// request's.
pub fn a_touch_keeps_the_flags_only_when_asked(store: Store) {
    let alice = create(&store, "alice");
    let stored = ActiveSession {
        is_impersonated: true,
        admin_mode: true,
        ..session(alice.id, "one", 1)
    };
    sign_in(&store, &stored, 10);
    let request = ActiveSession {
        ip_address: "10.0.0.2".into(),
        is_impersonated: false,
        admin_mode: false,
        updated_at: at(2),
        ..stored.clone()
    };
    let read = || {
        store
            .session(alice.id, &stored.session_private_id)
            .unwrap()
            .unwrap()
    };
    assert_eq!(
        store
            .touch(&request, None, Keep::SignInTimeAndFlags)
            .unwrap(),
        Touch::Touched {
            created_at: stored.created_at,
            is_impersonated: true,
            admin_mode: true,
        }
    );
    let kept = read();
    assert_eq!(
        (
            kept.ip_address.as_str(),
            kept.is_impersonated,
            kept.admin_mode
        ),
        ("10.0.0.2", true, true),
        "an authenticating touch keeps the stored flags"
    );
    let set = ActiveSession {
        updated_at: at(3),
        ..request
    };
    assert_eq!(
        store.touch(&set, None, Keep::SignInTime).unwrap(),
        Touch::Touched {
            created_at: stored.created_at,
            is_impersonated: false,
            admin_mode: false,
        }
    );
    let written = read();
    assert_eq!(
        (
            written.is_impersonated,
            written.admin_mode,
            written.created_at
        ),
        (false, false, stored.created_at),
        "ActiveSession.set writes the request's flags"
    );
}

/// A run's revocations, each rewriting one entry under its key with what the run removed so
/// far, in the write of the revocation: one entry, in the place of its first write.
pub fn an_entry_rewritten_under_its_key_keeps_its_place(store: Store) {
    let alice = create(&store, "alice");
    for n in ["a", "b", "c"] {
        sign_in(&store, &session(alice.id, n, 1), 10);
    }
    let key = store.new_audit_key().unwrap();
    assert_ne!(store.new_audit_key().unwrap(), key);
    let revoke = |public: &[&str], guard: Option<SessionGuard>| {
        let session_ids: Vec<String> = public.iter().map(|p| secret::private_id(p)).collect();
        store.apply(Changes {
            removed_sessions: vec![(alice.id, session_ids.last().unwrap().clone())],
            expect_sessions: guard,
            audit: Some(AuditEntry {
                sessions: public.len() as u64,
                session_ids,
                ..entry("destroy_session")
            }),
            audit_key: Some(key),
            ..Changes::default()
        })
    };
    revoke(&["a"], None).unwrap();
    store
        .apply(Changes {
            revoke_tokens_of: vec![alice.id],
            audit: Some(entry("between")),
            ..Changes::default()
        })
        .unwrap();
    revoke(&["a", "b"], None).unwrap();
    // A write that fails leaves the entry as it was.
    let stale = SessionGuard {
        user_id: alice.id,
        count: 3,
        limit: 10,
    };
    assert!(revoke(&["a", "b", "c"], Some(stale)).is_err());
    let log = store.recent_audit(10).unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "between",
            "destroy_session",
            "sign_in",
            "sign_in",
            "sign_in"
        ]
    );
    assert_eq!(log[1].sessions, 2);
    assert_eq!(
        log[1].session_ids,
        [secret::private_id("a"), secret::private_id("b")]
    );
    assert_eq!(ids(&store, alice.id), [secret::private_id("c")]);
}

/// A run's sign-ins, each rewriting one entry under its key in the write of the sign-in, below
/// the limit and at it (where the limit's evictions are added to the entry); a refused
/// sign-in leaves the entry as it was.
pub fn a_sign_in_rewrites_the_run_entry_under_its_key(store: Store) {
    let alice = create(&store, "alice");
    let bob = create(&store, "bob");
    let key = store.new_audit_key().unwrap();
    let sign_in = |session: &ActiveSession, n: u64| {
        store.sign_in(SignInWrite {
            session: session.clone(),
            limit: 2,
            now: session.updated_at,
            expire_delay: Duration::days(7),
            audit: Some(AuditEntry {
                count: n,
                user_ids: vec![session.user_id],
                session_ids: vec![session.session_private_id.clone(); n as usize],
                detail: format!("{n} sign-ins"),
                ..entry("sign_in")
            }),
            audit_key: Some(key),
        })
    };
    sign_in(&session(alice.id, "a", 1), 1).unwrap();
    store
        .apply(Changes {
            revoke_tokens_of: vec![alice.id],
            audit: Some(entry("between")),
            ..Changes::default()
        })
        .unwrap();
    sign_in(&session(alice.id, "b", 2), 2).unwrap();
    // At the limit: "a" is evicted, and counted in the entry.
    let outcome = sign_in(&session(alice.id, "c", 3), 3).unwrap();
    assert_eq!(outcome.evicted, [secret::private_id("a")]);
    // Refused sign-ins (a missing user, a blocked one) leave the entry as it was.
    assert!(sign_in(&session(bob.id + 100, "x", 4), 4).is_err());
    store
        .apply(Changes {
            updated_users: vec![User {
                state: UserState::Blocked,
                ..bob.clone()
            }],
            ..Changes::default()
        })
        .unwrap();
    let refused = sign_in(&session(bob.id, "y", 4), 4);
    assert!(
        matches!(refused, Err(Error::UserBlocked { .. })),
        "{refused:?}"
    );
    let log = store.recent_audit(10).unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["between", "sign_in"]);
    assert_eq!((log[1].count, log[1].sessions), (3, 1));
    assert_eq!(log[1].session_ids.len(), 3);
    assert!(
        log[1].detail.ends_with("1 evicted by the limit"),
        "{}",
        log[1].detail
    );
    let mut expected: Vec<String> = ["b", "c"].map(secret::private_id).into();
    expected.sort();
    assert_eq!(ids(&store, alice.id), expected);
}

pub fn a_revoke_removes_the_sessions_and_the_remember_me_tokens_together(store: Store) {
    let alice = create(&store, "alice");
    for n in ["a", "b"] {
        sign_in(&store, &session(alice.id, n, 1), 10);
    }
    let token = RememberToken {
        token_hash: secret::token_hash("raw"),
        created_at: at(1),
    };
    store
        .apply(Changes {
            tokens: vec![(alice.id, token)],
            ..Changes::default()
        })
        .unwrap();
    let applied = store
        .apply(Changes {
            removed_sessions: vec![
                (alice.id, secret::private_id("a")),
                (alice.id, secret::private_id("nope")),
            ],
            revoke_tokens_of: vec![alice.id],
            audit: Some(entry("destroy_session")),
            ..Changes::default()
        })
        .unwrap();
    assert_eq!((applied.sessions_removed, applied.tokens_revoked), (1, 1));
    assert_eq!(ids(&store, alice.id), [secret::private_id("b")]);
    assert!(store.remember_tokens(alice.id).unwrap().is_empty());
    // A malformed token hash is refused, not a panic.
    let bad = store.apply(Changes {
        tokens: vec![(
            alice.id,
            RememberToken {
                token_hash: "xyz".into(),
                created_at: at(1),
            },
        )],
        ..Changes::default()
    });
    assert!(matches!(bad, Err(Error::InvalidField { .. })), "{bad:?}");
}

pub fn destroy_all_reports_and_audits_what_it_removed(store: Store) {
    let alice = create(&store, "alice");
    let bob = create(&store, "bob");
    for (owner, n) in [(alice.id, "a"), (alice.id, "b"), (bob.id, "c")] {
        sign_in(&store, &session(owner, n, 1), 10);
    }
    let revoked = store
        .remove_all_sessions(Some(entry("destroy_all")))
        .unwrap();
    assert_eq!((revoked.sessions, revoked.users), (3, 2));
    assert_eq!(store.session_count().unwrap(), 0);
    assert_eq!(store.user_count().unwrap(), 2);
    let audit = &store.recent_audit(1).unwrap()[0];
    assert_eq!(
        (audit.sessions, audit.detail.as_str()),
        (3, "3 sessions of 2 users")
    );
    sign_in(&store, &session(alice.id, "after", 2), 10);
    assert_eq!(store.session_count_of(alice.id).unwrap(), 1);
}

pub fn an_import_is_all_or_nothing(store: Store) {
    let kept = create(&store, "kept");
    let records = |bad: bool| Records {
        users: vec![User {
            id: 50,
            ..user("imported")
        }],
        sessions: vec![ActiveSession {
            session_private_id: if bad {
                "not a private id".into()
            } else {
                secret::private_id("i")
            },
            ..session(50, "i", 1)
        }],
        tokens: vec![],
    };
    assert!(store.import(records(true), Some(entry("import"))).is_err());
    assert_eq!(store.user_count().unwrap(), 1);
    assert!(store.recent_audit(10).unwrap().is_empty());
    store.import(records(false), Some(entry("import"))).unwrap();
    assert_eq!(store.user_count().unwrap(), 2);
    assert_eq!(ids(&store, 50), [secret::private_id("i")]);
    assert_eq!(store.user(kept.id).unwrap(), Some(kept));
}

pub fn a_settings_change_is_written_with_its_audit_entry(store: Store) {
    let mut settings = store.settings().unwrap();
    settings.session_limit = 7;
    store
        .put_settings(&settings, Some(&entry("config")))
        .unwrap();
    assert_eq!(store.settings().unwrap().session_limit, 7);
    assert_eq!(store.recent_audit(1).unwrap()[0].action, "config");
}

pub fn a_guarded_write_conflicts_when_the_sessions_moved_or_the_limit_would_break(store: Store) {
    let alice = create(&store, "alice");
    sign_in(&store, &session(alice.id, "a", 1), 10);
    let guarded = |count: u64, limit: u32, public: &str| {
        store.apply(Changes {
            sessions: vec![session(alice.id, public, 2)],
            expect_sessions: Some(super::SessionGuard {
                user_id: alice.id,
                count,
                limit,
            }),
            ..Changes::default()
        })
    };
    // Planned when alice had no session: another write came first.
    assert!(matches!(guarded(0, 10, "b"), Err(Error::WriteConflict)));
    // Would leave two sessions under a limit of one.
    assert!(matches!(guarded(1, 1, "b"), Err(Error::WriteConflict)));
    assert_eq!(ids(&store, alice.id), [secret::private_id("a")]);
    guarded(1, 2, "b").unwrap();
    assert_eq!(store.session_count_of(alice.id).unwrap(), 2);
}

/// Runs `work` on `threads` threads at once.
pub fn an_update_replaces_the_users_fields_and_moves_the_email_index(store: Store) {
    let alice = create(&store, "alice");
    let bob = create(&store, "bob");
    sign_in(&store, &session(alice.id, "one", 1), 10);
    let updated = User {
        email: "Alice.New@example.com".into(),
        name: "Alice New".into(),
        state: UserState::Blocked,
        admin: true,
        // Ignored: the store keeps the username and the sign-in time.
        username: "renamed".into(),
        last_sign_in_at: None,
        ..alice.clone()
    };
    let changes = Changes {
        updated_users: vec![updated],
        audit: Some(entry("update_user")),
        ..Changes::default()
    };
    store.apply(changes).unwrap();
    let stored = store.user(alice.id).unwrap().unwrap();
    let expected = User {
        email: "Alice.New@example.com".into(),
        name: "Alice New".into(),
        state: UserState::Blocked,
        admin: true,
        last_sign_in_at: Some(at(1)),
        ..alice.clone()
    };
    assert_eq!(stored, expected);
    assert_eq!(store.user_by_username("alice").unwrap(), Some(expected));
    assert_eq!(
        store.user_id_by_email("alice.new@EXAMPLE.com").unwrap(),
        Some(alice.id)
    );
    assert_eq!(store.user_id_by_email("alice@example.com").unwrap(), None);
    assert_eq!(store.session_count_of(alice.id).unwrap(), 1);
    assert_eq!(store.recent_audit(1).unwrap()[0].action, "update_user");
    assert!(store.check().unwrap().is_empty());

    // Another user's email (in any case) is refused, and nothing is written.
    let clash = store.apply(Changes {
        updated_users: vec![User {
            email: "ALICE.new@example.com".into(),
            name: "changed".into(),
            ..bob.clone()
        }],
        audit: Some(entry("clash")),
        ..Changes::default()
    });
    assert!(
        matches!(clash, Err(Error::EmailTaken { id, .. }) if id == alice.id),
        "{clash:?}"
    );
    assert_eq!(store.user(bob.id).unwrap(), Some(bob.clone()));
    assert_eq!(store.recent_audit(1).unwrap()[0].action, "update_user");
    let missing = store.apply(Changes {
        updated_users: vec![User { id: 999, ..bob }],
        ..Changes::default()
    });
    assert!(
        matches!(missing, Err(Error::UserNotFound { id: 999 })),
        "{missing:?}"
    );
}

pub fn a_blocked_user_cannot_sign_in(store: Store) {
    let alice = create(&store, "alice");
    store
        .apply(Changes {
            updated_users: vec![User {
                state: UserState::Blocked,
                ..alice.clone()
            }],
            ..Changes::default()
        })
        .unwrap();
    let refused = store.sign_in(SignInWrite {
        session: session(alice.id, "one", 1),
        limit: 10,
        now: at(1),
        expire_delay: Duration::days(7),
        audit: Some(entry("sign_in")),
        audit_key: None,
    });
    assert!(
        matches!(refused, Err(Error::UserBlocked { id, .. }) if id == alice.id),
        "{refused:?}"
    );
    assert!(ids(&store, alice.id).is_empty());
    assert_eq!(store.user(alice.id).unwrap().unwrap().last_sign_in_at, None);
}

fn race(threads: usize, work: impl Fn(usize) + Send + Sync) {
    let start = std::sync::Barrier::new(threads);
    std::thread::scope(|scope| {
        for thread in 0..threads {
            let (start, work) = (&start, &work);
            scope.spawn(move || {
                start.wait();
                work(thread);
            });
        }
    });
}

pub fn concurrent_sign_ins_at_the_limit_never_leave_more_than_the_limit(store: Store) {
    const LIMIT: u32 = 5;
    let alice = create(&store, "alice");
    race(4, |thread| {
        for n in 0..100 {
            let s = session(alice.id, &format!("t{thread}-{n}"), n + 1);
            sign_in(&store, &s, LIMIT);
        }
    });
    let stored = store.sessions_of(alice.id).unwrap().len() as u64;
    assert_eq!(stored, u64::from(LIMIT));
    assert_eq!(store.session_count_of(alice.id).unwrap(), stored);
}

pub fn a_revoke_racing_a_touch_never_resurrects_the_session(store: Store) {
    let alice = create(&store, "alice");
    for round in 0..20 {
        let stored = session(alice.id, &format!("s{round}"), 1);
        sign_in(&store, &stored, 1000);
        let revoked = AtomicBool::new(false);
        race(2, |thread| {
            if thread == 0 {
                for minute in 2..200 {
                    let next = ActiveSession {
                        updated_at: at(minute),
                        ..stored.clone()
                    };
                    if !matches!(
                        store.touch(&next, None, Keep::SignInTime).unwrap(),
                        Touch::Touched { .. }
                    ) {
                        break;
                    }
                }
            } else {
                store
                    .apply(Changes {
                        removed_sessions: vec![(alice.id, stored.session_private_id.clone())],
                        ..Changes::default()
                    })
                    .unwrap();
                revoked.store(true, Ordering::SeqCst);
            }
        });
        assert!(revoked.load(Ordering::SeqCst));
        assert_eq!(
            store.session(alice.id, &stored.session_private_id).unwrap(),
            None,
            "round {round}: the revoked session came back"
        );
    }
    assert_eq!(store.session_count_of(alice.id).unwrap(), 0);
}

pub fn destroy_all_racing_sign_ins_leaves_only_sessions_created_after_it(store: Store) {
    let users: Vec<User> = (0..4).map(|n| create(&store, &format!("u{n}"))).collect();
    let started = AtomicBool::new(false);
    let signed_in = std::sync::atomic::AtomicUsize::new(0);
    // Per sign-in: its private id, and whether it had returned before destroy_all started.
    let done: std::sync::Mutex<Vec<(u64, String, bool)>> = std::sync::Mutex::default();
    race(3, |thread| {
        if thread == 2 {
            // Once some sign-ins have returned, while the others go on.
            while signed_in.load(Ordering::SeqCst) < 40 {
                std::thread::yield_now();
            }
            started.store(true, Ordering::SeqCst);
            store.remove_all_sessions(None).unwrap();
            return;
        }
        for n in 0..150 {
            let owner = users[(n + thread) % users.len()].id;
            let s = session(owner, &format!("t{thread}-{n}"), 1);
            sign_in(&store, &s, 1000);
            let before = !started.load(Ordering::SeqCst);
            done.lock()
                .unwrap()
                .push((owner, s.session_private_id, before));
            signed_in.fetch_add(1, Ordering::SeqCst);
        }
    });
    let done = done.into_inner().unwrap();
    assert!(
        done.iter().any(|(_, _, before)| *before),
        "no sign-in before destroy_all"
    );
    for (owner, id, before) in &done {
        let present = store.session(*owner, id).unwrap().is_some();
        if *before {
            assert!(!present, "a session created before destroy_all survived it");
        }
    }
    for user in &users {
        let count = store.session_count_of(user.id).unwrap();
        assert_eq!(count, store.sessions_of(user.id).unwrap().len() as u64);
    }
}

/// One `#[test]` per case of the suite, for the store that `$make` opens (an expression
/// giving a [`Store`] and whatever must live as long as it).
#[macro_export]
macro_rules! conformance {
    ($module:ident, $make:expr) => {
        mod $module {
            use $crate::store::conformance as suite;
            conformance!(@cases $make;
                users_are_unique_and_found_case_insensitively
                a_sign_in_below_the_limit_stores_the_session_and_the_time
                a_sign_in_at_the_limit_evicts_the_least_recently_used
                a_sign_in_removes_expired_sessions_first
                a_touch_moves_a_session_and_never_brings_back_a_revoked_one
                a_touch_keeps_the_flags_only_when_asked
                a_revoke_removes_the_sessions_and_the_remember_me_tokens_together
                an_entry_rewritten_under_its_key_keeps_its_place
                a_sign_in_rewrites_the_run_entry_under_its_key
                destroy_all_reports_and_audits_what_it_removed
                an_import_is_all_or_nothing
                a_settings_change_is_written_with_its_audit_entry
                a_guarded_write_conflicts_when_the_sessions_moved_or_the_limit_would_break
                concurrent_sign_ins_at_the_limit_never_leave_more_than_the_limit
                a_revoke_racing_a_touch_never_resurrects_the_session
                destroy_all_racing_sign_ins_leaves_only_sessions_created_after_it
                an_update_replaces_the_users_fields_and_moves_the_email_index
                a_blocked_user_cannot_sign_in
            );
        }
    };
    (@cases $make:expr; $($case:ident)*) => {
        $(
            #[test]
            fn $case() {
                let (store, _keep) = $make;
                suite::$case(store);
            }
        )*
    };
}

conformance!(sled, {
    let dir = tempfile::tempdir().unwrap();
    let store =
        crate::store::SledStore::open(&dir.path().join("db"), crate::store::Mode::Create).unwrap();
    (std::sync::Arc::new(store) as suite::Store, dir)
});

conformance!(memory, {
    let store = crate::store::memory::MemoryStore::default();
    (std::sync::Arc::new(store) as suite::Store, ())
});

conformance!(redis, {
    let Some(server) = crate::store::redis_server::Server::start(&[]) else {
        return;
    };
    let store = crate::store::redis_store::RedisStore::open(&server.url(), "sessionctl:").unwrap();
    (std::sync::Arc::new(store) as suite::Store, server)
});
