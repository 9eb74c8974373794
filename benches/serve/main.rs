//! The `serve` load bench (issue 14): `GET /v1/sessions/whoami` on the real `sessionctl serve`
//! over loopback, with 1 and with 8 keep-alive connections (one client thread each, our own
//! minimal HTTP/1.1 client: a fixed request, the answer read to its `Content-Length`), requests
//! per second and p99, against the registry's touch (`Registry::authenticate`, what whoami
//! calls) in-process with 1 and 8 threads on the same database. Beside it, for comparison, a
//! raw Redis `GET` + `SETEX` round trip on a private `redis-server` (Unix socket) of the same
//! machine. Prints one table in the style of `benches/store/` (its `report` module is shared).
//!
//! Run: `cargo bench --bench serve [-- --quick]` (quick: 1 s a measurement instead of 5 s).

// Shared with the store and Redis benches; this one uses only part of it.
#[allow(dead_code)]
#[path = "../store/report.rs"]
mod report;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
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

/// One keep-alive connection sending the same whoami request again and again.
struct Connection {
    stream: TcpStream,
    request: Vec<u8>,
    buffer: Vec<u8>,
}

impl Connection {
    fn new(address: &str, token: &str) -> Self {
        let stream = TcpStream::connect(address).expect("connect to serve");
        stream.set_nodelay(true).expect("nodelay");
        let request = format!(
            "GET /v1/sessions/whoami HTTP/1.1\r\nHost: {address}\r\nX-Session-Token: {token}\r\nX-Forwarded-For: 203.0.113.9\r\nUser-Agent: {FIREFOX}\r\n\r\n"
        );
        Self {
            stream,
            request: request.into_bytes(),
            buffer: Vec::with_capacity(4096),
        }
    }

    /// Sends the request and reads the whole answer; panics unless it is a 200.
    fn whoami(&mut self) {
        self.stream.write_all(&self.request).expect("send");
        self.buffer.clear();
        let mut chunk = [0u8; 4096];
        let (head_end, length) = loop {
            let n = self.stream.read(&mut chunk).expect("read");
            assert!(n > 0, "serve closed the connection");
            self.buffer.extend_from_slice(&chunk[..n]);
            if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = std::str::from_utf8(&self.buffer[..end]).expect("a text head");
                assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse::<usize>().expect("a length"))
                    })
                    .expect("a Content-Length");
                break (end + 4, length);
            }
        };
        while self.buffer.len() < head_end + length {
            let n = self.stream.read(&mut chunk).expect("read");
            assert!(n > 0, "serve closed the connection");
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }
}

fn over_http(
    address: &str,
    sessions: &[(u64, String)],
    connections: usize,
    time: Duration,
) -> Load {
    let connections: Vec<std::sync::Mutex<Connection>> = (0..connections)
        .map(|n| {
            let (user, id) = &sessions[n % sessions.len()];
            std::sync::Mutex::new(Connection::new(address, &format!("{user}.{id}")))
        })
        .collect();
    // Warm up each connection once.
    for connection in &connections {
        connection.lock().expect("a connection").whoami();
    }
    measure(connections.len(), time, |thread| {
        connections[thread].lock().expect("a connection").whoami();
    })
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
    let http: Vec<Load> = [1, 8]
        .into_iter()
        .map(|connections| over_http(&address, &sessions, connections, time))
        .collect();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(serve.id().to_string())
        .status();
    let _ = serve.wait();

    let mut rows = Vec::new();
    for (n, (http, local)) in [1, 8].into_iter().zip(http.iter().zip(&local)) {
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
    println!("total run time: {:.1} s", started.elapsed().as_secs_f64());
}
