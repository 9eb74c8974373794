//! `destroy_all`: `SessionStore::remove_all_sessions` (with its audit entry) against raw
//! `SCAN` + `UNLINK` of the same keys (GitLab's session keys, `session:*`, and the remember-me
//! token hashes), each run on freshly loaded data.

use std::time::{Duration, Instant};

use sessionctl::model::AuditEntry;
use sessionctl::store::SessionStore;

use crate::load::{Loaded, key};
use crate::report::{Row, median, seconds};
use crate::{Bench, RUNS};

/// Keys asked for per `SCAN` by the raw side.
const COUNT: usize = 1000;

impl Bench {
    pub fn destroy_all(&mut self, loaded: &Loaded) -> Row {
        let (mut ours, mut raw) = (Vec::new(), Vec::new());
        for run in 0..RUNS {
            for side in [run % 2, (run + 1) % 2] {
                self.reload();
                let mut c = self.raw();
                if side == 0 {
                    ours.push(through_store(&self.store(), loaded));
                } else {
                    raw.push(raw_destroy(&mut c));
                }
                let left: Vec<String> = redis::cmd("KEYS")
                    .arg("session:*")
                    .query(&mut c)
                    .expect("keys");
                assert!(left.is_empty(), "every session key is removed");
            }
        }
        let (ours, raw) = (median(ours), median(raw));
        self.notes.push(format!(
            "destroy baseline: SCAN cursor MATCH session:* COUNT {COUNT} then UNLINK of each \
             batch, then the same over {}* (ours: RedisStore::remove_all_sessions with an audit \
             entry, which also counts the sessions and users it revokes); median of {RUNS} runs \
             each, sides alternated, each on freshly loaded data",
            key("remember_tokens:")
        ));
        let ratio = ours.as_secs_f64() / raw.as_secs_f64();
        Row {
            operation: "destroy_all: RedisStore",
            ours: seconds(ours),
            raw: format!("{} scan+unlink", seconds(raw)),
            ratio,
            target: "time <= 1.5x",
            pass: Some(ratio <= 1.5),
        }
    }
}

fn through_store(store: &dyn SessionStore, loaded: &Loaded) -> Duration {
    let audit = AuditEntry {
        at: chrono::Utc::now(),
        os_user: "bench".into(),
        origin: "bench".into(),
        action: "destroy_all".into(),
        user_ids: vec![],
        sessions: 0,
        detail: String::new(),
        session_ids: Vec::new(),
        count: 1,
    };
    let started = Instant::now();
    let revoked = store.remove_all_sessions(Some(audit)).expect("destroy all");
    let time = started.elapsed();
    assert_eq!(revoked.sessions, loaded.sessions);
    assert_eq!(revoked.users, loaded.users.len() as u64);
    time
}

fn raw_destroy(c: &mut redis::Connection) -> Duration {
    let started = Instant::now();
    for pattern in ["session:*".to_owned(), key("remember_tokens:*")] {
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(COUNT)
                .query(c)
                .expect("scan");
            if !keys.is_empty() {
                redis::cmd("UNLINK").arg(&keys).exec(c).expect("unlink");
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
    }
    started.elapsed()
}
