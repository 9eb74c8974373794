//! The performance harness (issues 6 and 11): sessionctl against raw sled on the same data,
//! from the store up to the rhai engine and the whole `sessionctl` process. Prints one table.
//!
//! NOTE: unlike the library (where only `src/store` touches sled), this bench opens the sled
//! database directly, on copies of the directory made while it is closed cleanly, to measure
//! the raw baselines: plain scans, gets, inserts, transactions, `clear` and `drop_tree`, with
//! the project's own record encoding (`sessionctl::store::record`), in the trees of the current
//! generations (see `raw`). A raw open changes sled's files, which sessionctl would then refuse
//! as damaged against its commit record, so every raw side works on its own copy.
//!
//! Modules, one per group of rows: `build` (the data), `scans` (list all), `wheres`
//! (`ActiveSession.where`), `lookups`
//! (usernames), `sign_ins` (sign-ins and touches), `destroy` (`destroy_all`), `startup`
//! (process start-up, the console's prompt, the in-use error), `memory` (`find_each`), with
//! `raw` (raw sled access) and `report` (the table and its units).
//!
//! Run: `cargo bench --bench store [-- --quick | --users N --sessions M --memory-users U]`.
//! Some rows run in child processes: this binary re-executed with `--child-rss`,
//! `--child-open` or `--child-console`.

mod build;
mod destroy;
mod lookups;
mod memory;
mod options;
mod raw;
mod report;
mod scans;
mod sign_ins;
mod startup;
mod wheres;

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use chrono::{TimeZone, Utc};
use sessionctl::clock::ManualClock;
use sessionctl::registry::{Actor, Registry};
use sessionctl::script::{Evaluator, Limits, Output};

use build::{copy_dir, dir_size};
use options::Options;
use report::{MIB, cpu_model, nproc, print_table, ram};

/// Repetitions of the non-destructive read measurements (the median is reported).
const READ_RUNS: usize = 3;
/// What the table's ratios are.
const RATIOS: &str = "time ours/raw for list, destroy, -e 1 start-up and in-use, ours/(-e 1 \
     start-up) for the console; rate ours/raw for sign-in, touch and find_by_username; growth \
     ours/raw for memory";
/// Runs of the process start-up measurements (the median is reported).
const STARTUP_RUNS: usize = 7;

/// What every measurement needs.
struct Bench {
    options: Options,
    clock: Arc<ManualClock>,
    /// Notes printed under the table: baselines, breakdowns.
    notes: Vec<String>,
}

/// Runs the child-process side of a row when this binary was re-executed as one; whether it
/// was.
fn child() -> bool {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("--child-rss") => {
            let side = args.next().expect("--child-rss ours|raw DIR");
            let dir = PathBuf::from(args.next().expect("--child-rss ours|raw DIR"));
            memory::child_rss(&side, &dir);
            true
        }
        Some("--child-console") => {
            let dir = PathBuf::from(args.next().expect("--child-console DIR HISTORY"));
            let history = PathBuf::from(args.next().expect("--child-console DIR HISTORY"));
            startup::child_console(&dir, &history);
            true
        }
        Some("--child-open") => {
            startup::child_open(&PathBuf::from(args.next().expect("--child-open DIR")));
            true
        }
        _ => false,
    }
}

fn main() {
    if child() {
        return;
    }
    let started = Instant::now();
    let mut bench = Bench {
        options: Options::from_args(10_000),
        // A fixed time: nothing expires while the bench runs, whatever its length.
        clock: Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        )),
        notes: Vec::new(),
    };
    let o = &bench.options;
    let sizes = format!(
        "{} mode: N = {} users x M = {} sessions/user on average (demo generator, 0..=2M each, \
         session_limit = {}); find_each memory over U = {} users",
        if o.quick { "quick" } else { "full" },
        o.users,
        o.sessions,
        o.limit(),
        o.memory_users
    );
    println!("sessionctl performance harness (benches/store/)");
    println!("{sizes}");
    println!(
        "machine: nproc = {}, CPU = {}, RAM = {}",
        nproc(),
        cpu_model(),
        ram()
    );
    println!("started: {}", Utc::now().format("%Y-%m-%d %H:%M:%S UTC"));

    let temp = tempfile::tempdir().expect("temp dir");
    let original = temp.path().join("ours");
    let built = bench.build(&original);
    let copy_started = Instant::now();
    // `pristine` stays as built: each destroy_all run works on fresh copies of it.
    let copies = ["raw", "raw_clear", "pristine"].map(|name| {
        let to = temp.path().join(name);
        copy_dir(&original, &to);
        to
    });
    let [raw_dir, clear_dir, pristine_dir] = &copies;
    println!(
        "copied the closed database 3x ({:.0} MiB each) in {:.1} s",
        dir_size(&original) as f64 / MIB,
        copy_started.elapsed().as_secs_f64()
    );

    let mut rows = Vec::new();
    {
        // Audited, as the console's: a sign-in writes its audit entry.
        let registry = Rc::new(open_registry(&original, &bench.clock, true));
        let raw = raw::open(raw_dir);
        let trees = raw::Trees::current(&raw);
        rows.extend(bench.list_all(&registry, &trees.sessions, built.sessions));
        rows.extend(bench.wheres(&registry, &trees.sessions, built.sessions));
        rows.extend(bench.lookups(&registry, &trees, &built.users));
        rows.extend(bench.sign_ins(&registry, &raw, &built));
        // Closed cleanly, so that the start-up rows open it as a console would.
        close(registry);
    }
    rows.extend(bench.destroy_all(pristine_dir, clear_dir, built.sessions));
    // The raw sides of the process rows open copies of the database as the sign-ins left it.
    let [open_dir, in_use_dir] = ["raw_open", "in_use"].map(|name| {
        let to = temp.path().join(name);
        copy_dir(&original, &to);
        to
    });
    let (startup, eval) = bench.startup(&original, &open_dir, built.sessions);
    rows.push(startup);
    rows.push(bench.console(&original, eval, built.sessions));
    rows.push(bench.in_use(&in_use_dir));
    rows.push(bench.memory(&temp.path().join("memory")));

    println!();
    println!("{sizes}");
    println!(
        "machine: nproc = {}, CPU = {}, RAM = {}",
        nproc(),
        cpu_model(),
        ram()
    );
    println!(
        "data build (demo::build through Registry::import): {} users, {} sessions, {} remember-me tokens in {:.1} s",
        built.users.len(),
        built.sessions,
        built.tokens,
        built.time.as_secs_f64()
    );
    print_table(&rows, "raw sled", RATIOS);
    for note in &bench.notes {
        println!("{note}");
    }
    println!("total run time: {:.1} s", started.elapsed().as_secs_f64());
}

fn open_registry(path: &Path, clock: &Arc<ManualClock>, audited: bool) -> Registry {
    let store =
        sessionctl::store::open(path, sessionctl::store::Mode::Create).expect("open the store");
    let registry = Registry::new(store, clock.clone()).expect("registry");
    if audited {
        registry.audited_as(Actor::current("bench"))
    } else {
        registry
    }
}

/// Closes the registry's store cleanly (sealed, as the CLI leaves it), once no evaluator holds
/// it any more.
fn close(registry: Rc<Registry>) {
    Rc::try_unwrap(registry)
        .unwrap_or_else(|_| panic!("an evaluator still holds the registry"))
        .close()
        .expect("close the store");
}

/// An evaluator as the console builds one, writing its output to memory.
fn evaluator(registry: Rc<Registry>) -> Evaluator {
    Evaluator::new(
        registry,
        Limits::CONSOLE,
        Output::capture().0,
        Output::capture().0,
    )
}
