//! The Redis bench (issue 13): sessionctl's Redis store against raw `redis` crate commands
//! doing the same work on the same server, a private `redis-server` on a Unix socket in a
//! temporary directory (the bench says loudly that it skipped when `redis-server` is missing).
//! Prints one table, in the style of the sled harness (`benches/store/`, whose `report` module
//! it shares).
//!
//! NOTE: unlike the library (where only `src/store` touches Redis), the raw sides here send
//! commands directly, in GitLab's key layout (`load` writes the data that way too, so the store
//! is measured reading what GitLab writes).
//!
//! The server is `sessionctl::store::redis_server`, the tests' own. Modules: `load` (the data, pipelined raw writes), `list` (list
//! all), `writes` (sign-in, GitLab's `set`, touch), `destroy` (`destroy_all`).
//!
//! Run: `cargo bench --bench redis [-- --quick | --users N --sessions M]`.

mod destroy;
mod list;
mod load;
#[path = "../store/options.rs"]
mod options;
#[path = "../store/report.rs"]
mod report;
mod writes;

use std::time::Instant;

use chrono::Utc;
use sessionctl::store::redis_server::Server;
use sessionctl::store::redis_store::RedisStore;

use options::Options;
use report::{cpu_model, nproc, print_table, ram};

/// sessionctl's own keys in the bench (the store's default prefix).
const PREFIX: &str = "sessionctl:";
/// Repetitions of the list measurement and of `destroy_all` (the median is reported).
const RUNS: usize = 3;

/// What every measurement needs.
struct Bench {
    options: Options,
    url: String,
    /// Notes printed under the table: what each baseline does.
    notes: Vec<String>,
}

impl Bench {
    fn store(&self) -> RedisStore {
        RedisStore::open(&self.url, PREFIX).expect("open the Redis store")
    }

    fn raw(&self) -> redis::Connection {
        redis::Client::open(self.url.as_str())
            .and_then(|client| client.get_connection())
            .expect("a raw connection")
    }
}

fn main() {
    let options = Options::from_args(5_000);
    let Some(server) = Server::start(&[]) else {
        return;
    };
    let started = Instant::now();
    let mut bench = Bench {
        options,
        url: server.url(),
        notes: Vec::new(),
    };
    let o = &bench.options;
    let sizes = format!(
        "{} mode: N = {} users x M = {} sessions each (session_limit = {})",
        if o.quick { "quick" } else { "full" },
        o.users,
        o.sessions,
        o.limit()
    );
    let machine = format!(
        "machine: nproc = {}, CPU = {}, RAM = {}; {}",
        nproc(),
        cpu_model(),
        ram(),
        sessionctl::store::redis_server::version().unwrap_or_default()
    );
    println!("sessionctl Redis bench (benches/redis/)");
    println!("{sizes}");
    println!("{machine}");
    println!("started: {}", Utc::now().format("%Y-%m-%d %H:%M:%S UTC"));

    let loaded = bench.load();
    let mut rows = Vec::new();
    rows.push(bench.list_all(&loaded));
    rows.extend(bench.writes(&loaded));
    rows.push(bench.destroy_all(&loaded));

    println!();
    println!("{sizes}");
    println!("{machine}");
    print_table(
        &rows,
        "raw redis",
        "time ours/raw for list and destroy_all; rate ours/raw for sign-in, set and touch",
    );
    for note in &bench.notes {
        println!("{note}");
    }
    println!("total run time: {:.1} s", started.elapsed().as_secs_f64());
}
