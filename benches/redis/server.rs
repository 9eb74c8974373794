//! The bench's own `redis-server`: on a Unix socket in a temporary directory, no TCP, no
//! persistence; stopped (and its directory removed) when dropped.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Server {
    child: Child,
    pub url: String,
    /// `redis-server --version`, first words.
    pub version: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server; `None` when `redis-server` is not installed.
pub fn start() -> Option<Server> {
    let version = Command::new("redis-server")
        .arg("--version")
        .output()
        .ok()?;
    let version = String::from_utf8_lossy(&version.stdout)
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    let dir = tempfile::tempdir().expect("temp dir");
    let socket = dir.path().join("redis.sock");
    let child = Command::new("redis-server")
        .args(["--port", "0", "--unixsocket"])
        .arg(&socket)
        .args([
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let url = format!("redis+unix://{}", socket.display());
    let server = Server {
        child,
        url,
        version,
        _dir: dir,
    };
    for _ in 0..1000 {
        let ready = redis::Client::open(server.url.as_str())
            .and_then(|client| client.get_connection())
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
        if ready.is_ok() {
            return Some(server);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("redis-server did not answer on {}", server.url);
}
