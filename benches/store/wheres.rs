//! Incident queries: `ActiveSession.where` over every session, by the registry and in rhai,
//! against the raw scan of `sessions.G` decoded with `record::decode_session` (`scans.rs`).

use std::hint::black_box;
use std::rc::Rc;
use std::time::{Duration, Instant};

use sessionctl::registry::Registry;
use sessionctl::registry::query::{IpRange, SessionFilter};

use crate::report::{Row, median, rate, seconds};
use crate::scans::raw_owned_scan;
use crate::{Bench, READ_RUNS, evaluator};

/// The query measured: a leaked range, as in an incident. It reads and checks every
/// session's address (the demo generator gives 1 in 7 IPv4 sessions a 203.x address).
const RANGE: &str = "203.0.0.0/8";

impl Bench {
    /// Every session read, decoded and checked against a filter: by the registry, through
    /// the engine, and the raw scan with decoding alone.
    pub fn wheres(
        &mut self,
        registry: &Rc<Registry>,
        sessions: &sled::Tree,
        expected: u64,
    ) -> [Row; 2] {
        let filter = SessionFilter {
            ip: Some(IpRange::parse(RANGE).expect("a range")),
            ..SessionFilter::default()
        };
        let code = format!("ActiveSession.where(#{{ip: \"{RANGE}\"}}).count");
        let mut evaluator = evaluator(registry.clone());
        let (mut ours, mut engine, mut raw) = (vec![], vec![], vec![]);
        let mut matched = None;
        // Alternate the sides so that machine noise hits them alike.
        for _ in 0..READ_RUNS {
            let started = Instant::now();
            let mut count = 0u64;
            for session in registry.sessions_where(&filter, None) {
                black_box(session.expect("session"));
                count += 1;
            }
            ours.push(started.elapsed());
            assert!(
                count > 0 && count < expected,
                "the range matched {count} of {expected}"
            );
            assert_eq!(*matched.get_or_insert(count), count);

            let started = Instant::now();
            let n = evaluator
                .eval("bench", &code)
                .expect("eval")
                .as_int()
                .expect("an integer");
            engine.push(started.elapsed());
            assert_eq!(
                n as u64, count,
                "the engine matched a different number of sessions"
            );

            let (time, count) = raw_owned_scan(sessions);
            assert_eq!(
                count, expected,
                "the raw scan saw a different number of sessions"
            );
            raw.push(time);
        }
        let (ours, engine, raw) = (median(ours), median(engine), median(raw));
        self.notes.push(format!(
            "where: ActiveSession.where(#{{ip: \"{RANGE}\"}}) matched {} of {expected} sessions; \
             baseline: the raw owned scan of the list rows",
            matched.unwrap_or(0)
        ));
        let row = |operation, time: Duration| {
            let ratio = time.as_secs_f64() / raw.as_secs_f64();
            Row {
                operation,
                ours: format!("{} ({})", seconds(time), rate(expected, time)),
                raw: format!("{} ({}) owned", seconds(raw), rate(expected, raw)),
                ratio,
                target: "time <= 1.5x",
                pass: Some(ratio <= 1.5),
            }
        };
        [
            row("where ip in a range: Registry::sessions_where", ours),
            row("ActiveSession.where(#{ip: ..}).count in rhai", engine),
        ]
    }
}
