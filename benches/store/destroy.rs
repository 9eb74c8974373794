//! `destroy_all`: through the registry and the engine, each on its own copy of the database as
//! built, against raw `Tree::clear` and `Db::drop_tree` of the current session trees.

use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sessionctl::clock::ManualClock;
use sessionctl::store::record;

use crate::build::copy_dir;
use crate::raw::{self, SESSIONS_GENERATION_KEY, Trees};
use crate::report::{Row, median, seconds};
use crate::{Bench, READ_RUNS, evaluator, open_registry};

impl Bench {
    /// Every session and remember-me token revoked, each side on its own copy of the data.
    pub fn destroy_all(&mut self, pristine: &Path, clear_dir: &Path, expected: u64) -> [Row; 2] {
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
    let db = raw::open(dir);
    let trees = Trees::current(&db);
    let generation = trees.sessions_generation;
    let started = Instant::now();
    let mut counted = 0u64;
    for entry in &trees.users {
        let (_, value) = entry.expect("raw entry");
        let count = record::decode_session_count(&value).expect("decode");
        counted += u64::from(count.in_generation(generation));
    }
    black_box(counted);
    let scan = started.elapsed();
    let started = Instant::now();
    trees
        .meta
        .insert(SESSIONS_GENERATION_KEY, &generation.to_be_bytes())
        .expect("insert");
    db.flush().expect("flush");
    let flush = started.elapsed();
    let (sessions, tokens) = (&trees.sessions, &trees.tokens);
    let started = Instant::now();
    sessions.clear().expect("clear");
    tokens.clear().expect("clear");
    let clear = started.elapsed();
    assert!(sessions.is_empty() && tokens.is_empty());
    let steps = format!(
        "the other steps of sessionctl's destroy_all, raw: count from the user records {} \
         (scan of users, record::decode_session_count), meta insert + Db::flush {}",
        seconds(scan),
        seconds(flush)
    );
    (clear, steps)
}

/// `Db::drop_tree` of the current session and token trees, and their re-opening.
fn raw_drop(dir: &Path) -> Duration {
    let db = raw::open(dir);
    let meta = db.open_tree("meta").expect("meta");
    let generation = raw::generation(&meta, SESSIONS_GENERATION_KEY, 1);
    let names = [
        raw::tree_name("sessions", generation),
        raw::tree_name("remember_tokens", generation),
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
