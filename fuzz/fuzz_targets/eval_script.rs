//! Fuzz target: arbitrary script text evaluated against a small database (dry run, limits
//! on) must end in a value or a `ScriptError` with a message, never a panic, and must leave
//! the database unchanged.
#![no_main]

use std::rc::Rc;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use sessionctl::clock::SystemClock;
use sessionctl::registry::Registry;
use sessionctl::script::{Evaluator, Limits, Output};

fn database() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new(sessionctl::store::open(dir.path(), sessionctl::store::Mode::Create).unwrap(), Arc::new(SystemClock)).unwrap();
        sessionctl::demo::build(&registry, sessionctl::demo::Plan { users: 20, sessions_per_user: 2, seed: 1, heavy_users: 0 }).unwrap();
        dir
    })
    .path()
}

thread_local! {
    static EVALUATOR: std::cell::RefCell<Evaluator> = std::cell::RefCell::new({
        let registry = Registry::new(sessionctl::store::open(database(), sessionctl::store::Mode::Create).unwrap(), Arc::new(SystemClock)).unwrap();
        let limits = Limits { max_operations: Some(100_000), ..Limits::BATCH };
        Evaluator::new(Rc::new(registry.dry_run(true)), limits, Output::capture().0, Output::capture().0)
    });
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(code) = std::str::from_utf8(bytes) else { return };
    EVALUATOR.with(|evaluator| {
        let mut evaluator = evaluator.borrow_mut();
        let before = evaluator.registry().stored_session_count().unwrap();
        if let Err(error) = evaluator.eval("fuzz.rhai", code) {
            assert!(!error.message.is_empty());
        }
        assert_eq!(evaluator.registry().stored_session_count().unwrap(), before);
    });
});
