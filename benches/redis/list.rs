//! List all: every user's sessions through the store (`SessionStore::sessions`, the stream
//! `Registry::list_all` reads) against raw commands doing the same work: the user ids
//! (`ZRANGE`), then per user `SMEMBERS` of the lookup set, `MGET` of the entries and decoding
//! each into the owned `ActiveSession`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use sessionctl::store::SessionStore;

use crate::load::{Loaded, decode, entry_key, key, lookup_key};
use crate::report::{Row, median, rate, seconds};
use crate::{Bench, RUNS};

impl Bench {
    pub fn list_all(&mut self, loaded: &Loaded) -> Row {
        let store = self.store();
        let mut c = self.raw();
        let (mut ours, mut raw) = (Vec::new(), Vec::new());
        for run in 0..RUNS {
            // Each side goes first in turn.
            for side in [run % 2, (run + 1) % 2] {
                if side == 0 {
                    ours.push(through_store(&store, loaded.sessions));
                } else {
                    raw.push(raw_list(&mut c, loaded.sessions));
                }
            }
        }
        let (ours, raw) = (median(ours), median(raw));
        self.notes.push(format!(
            "list baseline: ZRANGE {} 0 -1, then per user SMEMBERS of its lookup set, MGET of \
             its v2 entries and serde_json decoding of each into an owned ActiveSession (ours: \
             RedisStore::sessions(None) fully iterated, which also reads the user records page \
             by page); median of {RUNS}, sides alternated",
            key("user_ids")
        ));
        let text = |time: Duration| format!("{} ({})", seconds(time), rate(loaded.sessions, time));
        let ratio = ours.as_secs_f64() / raw.as_secs_f64();
        Row {
            operation: "list all sessions: RedisStore",
            ours: text(ours),
            raw: text(raw),
            ratio,
            target: "time <= 1.5x",
            pass: Some(ratio <= 1.5),
        }
    }
}

fn through_store(store: &dyn SessionStore, expected: u64) -> Duration {
    let started = Instant::now();
    let mut count = 0;
    for session in store.sessions(None) {
        black_box(session.expect("a session"));
        count += 1;
    }
    let time = started.elapsed();
    assert_eq!(count, expected, "the store lists every session");
    time
}

fn raw_list(c: &mut redis::Connection, expected: u64) -> Duration {
    let started = Instant::now();
    let ids: Vec<u64> = redis::cmd("ZRANGE")
        .arg(key("user_ids"))
        .arg(0)
        .arg(-1)
        .query(c)
        .expect("zrange");
    let mut count = 0;
    for id in ids {
        let members: Vec<String> = redis::cmd("SMEMBERS")
            .arg(lookup_key(id))
            .query(c)
            .expect("smembers");
        if members.is_empty() {
            continue;
        }
        let keys: Vec<String> = members.iter().map(|m| entry_key(id, m)).collect();
        let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(c).expect("mget");
        for (member, value) in members.iter().zip(values) {
            if let Some(value) = value {
                black_box(decode(id, member, &value));
                count += 1;
            }
        }
    }
    let time = started.elapsed();
    assert_eq!(count, expected, "the raw side lists every session");
    time
}
