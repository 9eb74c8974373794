//! A private `redis-server` for the tests and the Redis bench: on a Unix socket in a temporary
//! directory (no TCP port, nothing kept on disk), stopped when dropped, never a system server.
//! Without `redis-server` installed, [`Server::start`] says loudly that the caller is skipped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to accept connections (a loaded machine is slow).
const READY_WAIT: Duration = Duration::from_secs(20);

/// A running server.
pub struct Server {
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Extra `redis-server` arguments (a password, ACL users, TLS), kept for restarts.
    args: Vec<String>,
}

impl Server {
    /// Starts a server with `args` added, or returns `None` after printing a SKIPPED line
    /// when `redis-server` is not installed.
    pub fn start(args: &[&str]) -> Option<Self> {
        if version().is_none() {
            eprintln!(
                "SKIPPED: redis-server is not installed; this Redis test or bench did not run"
            );
            return None;
        }
        let mut server = Self {
            child: None,
            dir: tempfile::tempdir().expect("a temporary directory"),
            args: args.iter().map(ToString::to_string).collect(),
        };
        server.restart();
        Some(server)
    }

    /// The socket's path.
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// The temporary directory the socket is in, for files a caller writes.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's URL, without a password.
    pub fn url(&self) -> String {
        format!("redis+unix://{}", self.socket().display())
    }

    /// Stops the server (its data is lost).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(self.socket());
    }

    /// Starts the server (again) on the same socket, and waits until it accepts a connection
    /// (the socket file appears at bind, before listen).
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", "0", "--unixsocket"])
            .arg(self.socket())
            .args([
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let started = Instant::now();
        while std::os::unix::net::UnixStream::connect(self.socket()).is_err() {
            assert!(
                started.elapsed() < READY_WAIT,
                "redis-server did not accept connections on {} within {READY_WAIT:?}",
                self.socket().display()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `redis-server --version`'s first three words, or `None` when it is not installed.
pub fn version() -> Option<String> {
    let output = Command::new("redis-server")
        .arg("--version")
        .stderr(Stdio::null())
        .output()
        .ok()?;
    Some(
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}
