//! Reading every session: `Registry::list_all`, `ActiveSession.list(User.all)` in rhai, and
//! the raw scan of `sessions.G` decoded with the project's `record::decode_session`.

use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use sessionctl::registry::Registry;
use sessionctl::store::record;

use crate::report::{Row, median, rate, seconds};
use crate::{Bench, READ_RUNS, evaluator};

/// Raw scan of `sessions.G`, each record decoded by `record::decode_session` into the owned
/// `ActiveSession` the registry returns.
pub fn raw_owned_scan(sessions: &sled::Tree) -> (Duration, u64) {
    let started = Instant::now();
    let mut count = 0u64;
    for entry in sessions {
        let (key, value) = entry.expect("raw entry");
        black_box(record::decode_session(&key, &value).expect("raw decode"));
        count += 1;
    }
    (started.elapsed(), count)
}

/// Raw scan of `sessions.G` reading each record's `updated_at` without copying anything out
/// (`record::session_updated_at`, as the console's banner counts live sessions).
fn raw_borrowed_scan(sessions: &sled::Tree) -> (Duration, u64) {
    let started = Instant::now();
    let mut count = 0u64;
    let mut checksum = 0i64;
    for entry in sessions {
        let (key, value) = entry.expect("raw entry");
        checksum ^= record::session_updated_at(&key, &value).expect("raw decode");
        count += 1;
    }
    black_box(checksum);
    (started.elapsed(), count)
}

impl Bench {
    /// Every session read and decoded: by the registry, through the engine, raw.
    pub fn list_all(
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
            "list baseline: raw scan of sessions.G, each record decoded by record::decode_session \
             into an owned ActiveSession {} ({}); for information, reading each record's \
             updated_at without copying (record::session_updated_at, the console banner's count) \
             {} ({})",
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
