//! The `serve` load bench (issue 14): `GET /v1/sessions/whoami` on the real `sessionctl serve`
//! over loopback, with 1 and with 8 keep-alive connections (our own minimal HTTP/1.1 client on
//! one event-loop thread: a fixed request, the answer read to its `Content-Length`), requests
//! per second and p99, against the registry's touch (`Registry::authenticate`, what whoami
//! calls) in-process with 1 and 8 threads on the same database. Beside it, for comparison, a
//! raw Redis `GET` + `SETEX` round trip on a private `redis-server` (Unix socket) of the same
//! machine, and the server's CPU time a request, with `GET /v1/health` (one settings read: the
//! server's HTTP floor). Prints one table in the style of `benches/store/` (its `report`
//! module is shared).
//!
//! Run: `cargo bench --bench serve [-- --quick]` (quick: 1 s a measurement instead of 5 s).

// Shared with the store and Redis benches; this one uses only part of it.
#[allow(dead_code)]
#[path = "../store/report.rs"]
mod report;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use sessionctl::clock::SystemClock;
use sessionctl::model::{NewUser, SignIn};
use sessionctl::registry::Registry;
use sessionctl::store::redis_server::{self, Server};
use sessionctl::store::{self, Mode};

use report::{Row, cpu_model, nproc, print_table, ram};

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
/// Users (one session each): one per connection or thread at most.
const USERS: u64 = 8;

/// Requests done in a measurement and the latency of each.
struct Load {
    requests: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Load {
    fn merge(parts: Vec<Load>, elapsed: Duration) -> Self {
        let mut latencies = Vec::new();
        let mut requests = 0;
        for part in parts {
            requests += part.requests;
            latencies.extend(part.latencies);
        }
        latencies.sort();
        Self {
            requests,
            elapsed,
            latencies,
        }
    }

    fn rate(&self) -> f64 {
        report::per_second(self.requests, self.elapsed)
    }

    fn p99(&self) -> Duration {
        self.latencies[(self.latencies.len() * 99 / 100).min(self.latencies.len() - 1)]
    }

    fn describe(&self) -> String {
        format!(
            "{}, p99 {:.0} µs",
            report::rate(self.requests, self.elapsed),
            self.p99().as_secs_f64() * 1e6
        )
    }
}

/// Runs `work` on `threads` threads for `time` each; `work(thread)` does one operation.
fn measure<W: Fn(usize) + Sync>(threads: usize, time: Duration, work: W) -> Load {
    let started = Instant::now();
    let parts = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                let work = &work;
                scope.spawn(move || {
                    let mut latencies = Vec::new();
                    let end = Instant::now() + time;
                    while Instant::now() < end {
                        let start = Instant::now();
                        work(thread);
                        latencies.push(start.elapsed());
                    }
                    Load {
                        requests: latencies.len() as u64,
                        elapsed: time,
                        latencies,
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a load thread"))
            .collect()
    });
    Load::merge(parts, started.elapsed())
}

/// A database of [`USERS`] users signed in once each; returns their `(user id, public id)`.
fn build(path: &Path) -> Vec<(u64, String)> {
    let registry = Registry::new(
        store::open(path, Mode::Create).expect("create the database"),
        Arc::new(SystemClock),
    )
    .expect("a registry");
    let mut sessions = Vec::new();
    for n in 0..USERS {
        let user = registry
            .create_user(NewUser {
                username: format!("user{n}"),
                email: format!("user{n}@example.com"),
                name: format!("User {n}"),
                ..NewUser::default()
            })
            .expect("a user");
        let signed = registry.sign_in(user.id, request(None)).expect("a sign-in");
        sessions.push((user.id, signed.public_id));
    }
    registry.close().expect("close");
    sessions
}

fn request(public_id: Option<&str>) -> SignIn {
    SignIn {
        public_id: public_id.map(str::to_owned),
        ip_address: "203.0.113.9".into(),
        user_agent: FIREFOX.into(),
        ..SignIn::default()
    }
}

/// The registry's touch in-process: `Registry::authenticate`, as whoami calls it.
fn in_process(path: &Path, sessions: &[(u64, String)], threads: usize, time: Duration) -> Load {
    let registry = Registry::new(
        store::open(path, Mode::Write).expect("open the database"),
        Arc::new(SystemClock),
    )
    .expect("a registry");
    let requests: Vec<(u64, SignIn)> = sessions
        .iter()
        .map(|(user, id)| (*user, request(Some(id))))
        .collect();
    let load = measure(threads, time, |thread| {
        let (user, request) = &requests[thread % requests.len()];
        let session = registry.authenticate(*user, request).expect("a touch");
        assert!(session.is_some(), "the session is live");
    });
    registry.close().expect("close");
    load
}

/// `sessionctl --db PATH serve --listen 127.0.0.1:0`, and the address it printed.
fn start_serve(path: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .arg("--db")
        .arg(path)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start sessionctl serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut line)
        .expect("read where it listens");
    let address = line
        .trim()
        .strip_prefix("sessionctl serve: listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, address)
}

/// `route` on `connections` keep-alive connections for `time`, driven by one client thread
/// (an event loop over all of them, as wrk does), so that the client's own thread switches
/// take as little as possible of the two sides' shared CPUs. Each connection sends the same
/// request again and again and reads each answer to its `Content-Length`; anything but a 200
/// stops the bench.
fn over_http(
    address: &str,
    route: &str,
    sessions: &[(u64, String)],
    connections: usize,
    time: Duration,
) -> Load {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a client runtime");
    let started = Instant::now();
    let parts = runtime.block_on(async {
        let tasks: Vec<_> = (0..connections)
            .map(|n| {
                let (user, id) = &sessions[n % sessions.len()];
                let request = format!(
                    "GET {route} HTTP/1.1\r\nHost: {address}\r\nX-Session-Token: {user}.{id}\r\nX-Forwarded-For: 203.0.113.9\r\nUser-Agent: {FIREFOX}\r\n\r\n"
                );
                let address = address.to_owned();
                tokio::spawn(async move {
                    let mut connection = Connection::new(&address, request.into_bytes()).await;
                    connection.get().await; // warm-up
                    let mut latencies = Vec::new();
                    let end = Instant::now() + time;
                    while Instant::now() < end {
                        let start = Instant::now();
                        connection.get().await;
                        latencies.push(start.elapsed());
                    }
                    Load {
                        requests: latencies.len() as u64,
                        elapsed: time,
                        latencies,
                    }
                })
            })
            .collect();
        let mut parts = Vec::new();
        for task in tasks {
            parts.push(task.await.expect("a connection's task"));
        }
        parts
    });
    Load::merge(parts, started.elapsed())
}

/// One keep-alive connection sending the same request.
struct Connection {
    stream: tokio::net::TcpStream,
    request: Vec<u8>,
    buffer: Vec<u8>,
}

impl Connection {
    async fn new(address: &str, request: Vec<u8>) -> Self {
        let stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect to serve");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream,
            request,
            buffer: Vec::with_capacity(4096),
        }
    }

    /// Sends the request and reads the whole answer; panics unless it is a 200.
    async fn get(&mut self) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        self.stream.write_all(&self.request).await.expect("send");
        self.buffer.clear();
        let mut chunk = [0u8; 4096];
        let mut answer = None;
        loop {
            if let Some((head_end, length)) = answer
                && self.buffer.len() >= head_end + length
            {
                return;
            }
            let n = self.stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "serve closed the connection");
            self.buffer.extend_from_slice(&chunk[..n]);
            if answer.is_none() {
                answer = head(&self.buffer);
            }
        }
    }
}

/// Where the head of the answer in `buffer` ends, and its `Content-Length`, once it is whole.
fn head(buffer: &[u8]) -> Option<(usize, usize)> {
    let end = buffer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buffer[..end]).expect("a text head");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().expect("a length"))
        })
        .expect("a Content-Length");
    Some((end + 4, length))
}

/// The CPU time (user + system) process `pid` has used so far, from `/proc/PID/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the server's stat");
    // The fields after the command name (which is in parentheses): utime and stime are the
    // 12th and 13th of them, in clock ticks.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("a stat line") + 2..]
        .split(' ')
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second())
}

fn clock_ticks_per_second() -> f64 {
    let out = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf CLK_TCK");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("a tick rate")
}

/// A raw `GET` + `SETEX` round trip (one session entry read, then written with its TTL).
fn redis_round_trips(url: &str, connections: usize, time: Duration) -> Load {
    let client = redis::Client::open(url).expect("a client");
    let connections: Vec<std::sync::Mutex<redis::Connection>> = (0..connections)
        .map(|n| {
            let mut connection = client.get_connection().expect("connect");
            redis::cmd("SET")
                .arg(format!("bench:{n}"))
                .arg("v2:{\"session_private_id\":\"2::x\"}")
                .exec(&mut connection)
                .expect("SET");
            std::sync::Mutex::new(connection)
        })
        .collect();
    measure(connections.len(), time, |thread| {
        let mut connection = connections[thread].lock().expect("a connection");
        let key = format!("bench:{thread}");
        let value: String = redis::cmd("GET")
            .arg(&key)
            .query(&mut *connection)
            .expect("GET");
        redis::cmd("SETEX")
            .arg(&key)
            .arg(604_800)
            .arg(value)
            .exec(&mut *connection)
            .expect("SETEX");
    })
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let time = Duration::from_secs(if quick { 1 } else { 5 });
    let started = Instant::now();
    let machine = format!(
        "machine: nproc = {}, CPU = {}, RAM = {}",
        nproc(),
        cpu_model(),
        ram()
    );
    println!("sessionctl serve bench (benches/serve/)");
    println!(
        "{} mode: {} s a measurement, {USERS} users with one session each",
        if quick { "quick" } else { "full" },
        time.as_secs()
    );
    println!("{machine}");
    println!("started: {}", Utc::now().format("%Y-%m-%d %H:%M:%S UTC"));

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("db");
    let sessions = build(&path);

    let local: Vec<Load> = [1, 8]
        .into_iter()
        .map(|threads| in_process(&path, &sessions, threads, time))
        .collect();
    let (mut serve, address) = start_serve(&path);
    // Each HTTP measurement with the server's CPU time per request.
    let on_serve = |route: &str, connections: usize| {
        let before = cpu_time(serve.id());
        let load = over_http(&address, route, &sessions, connections, time);
        let cpu = cpu_time(serve.id()).saturating_sub(before);
        let per_request = cpu.as_secs_f64() * 1e6 / (load.requests + connections as u64) as f64;
        (load, per_request)
    };
    let whoami: Vec<(Load, f64)> = [1, 8]
        .into_iter()
        .map(|connections| on_serve("/v1/sessions/whoami", connections))
        .collect();
    let health = on_serve("/v1/health", 8);
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(serve.id().to_string())
        .status();
    let _ = serve.wait();

    let mut rows = Vec::new();
    for (n, ((http, _), local)) in [1, 8].into_iter().zip(whoami.iter().zip(&local)) {
        let ratio = http.rate() / local.rate();
        rows.push(Row {
            operation: if n == 1 {
                "whoami, 1 connection (1 thread)"
            } else {
                "whoami, 8 connections (8 threads)"
            },
            ours: http.describe(),
            raw: local.describe(),
            ratio,
            target: if n == 1 { "-" } else { ">= 0.50x" },
            pass: (n == 8).then_some(ratio >= 0.5),
        });
    }
    let redis = Server::start(&[]).map(|server| {
        let loads: Vec<Load> = [1, 8]
            .into_iter()
            .map(|connections| redis_round_trips(&server.url(), connections, time))
            .collect();
        (loads, redis_server::version().unwrap_or_default())
    });
    println!();
    println!("{machine}");
    print_table(
        &rows,
        "in-process touch",
        "requests per second over HTTP / touches per second in-process (same database, same thread count)",
    );
    match redis {
        Some((loads, version)) => {
            for (n, load) in [1, 8].into_iter().zip(&loads) {
                println!(
                    "for comparison, raw Redis GET+SETEX round trip ({version}, Unix socket), {n} connection{}: {}",
                    if n == 1 { "" } else { "s" },
                    load.describe()
                );
            }
        }
        None => println!("SKIPPED: redis-server is not installed; no Redis round trip to compare"),
    }
    for (what, (load, cpu)) in [
        ("whoami, 1 connection", &whoami[0]),
        ("whoami, 8 connections", &whoami[1]),
        ("GET /v1/health (one settings read), 8 connections", &health),
    ] {
        println!(
            "serve, {what}: {}; the server's CPU time {cpu:.1} µs a request",
            load.describe()
        );
    }
    println!("total run time: {:.1} s", started.elapsed().as_secs_f64());
}
