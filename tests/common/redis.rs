//! A private `redis-server` for one test: on a Unix socket in a temporary directory (or on a
//! TLS port of 127.0.0.1), stopped when dropped, and the real `sessionctl --redis` pointed at
//! it. Without `redis-server` installed, [`Redis::start`] says loudly that the test is skipped.

use std::path::{Path, PathBuf};

use sessionctl::store::redis_server::Server;

/// A running server.
pub struct Redis {
    server: Server,
    /// The URL `sessionctl` is given (may hold a password).
    pub url: String,
}

impl Redis {
    /// A server without a password, or `None` (and a loud SKIPPED line) without
    /// `redis-server`.
    pub fn start() -> Option<Self> {
        Self::start_with(&[], |socket| format!("redis+unix://{}", socket.display()))
    }

    /// A server started with `args` added, reached at `url(socket path)`.
    pub fn start_with(args: &[&str], url: impl FnOnce(&Path) -> String) -> Option<Self> {
        let server = Server::start(args)?;
        let url = url(&server.socket());
        Some(Self { server, url })
    }

    /// The socket's path.
    pub fn socket(&self) -> PathBuf {
        self.server.socket()
    }

    /// A directory beside the socket for files a test writes.
    pub fn scratch(&self) -> &Path {
        self.server.dir()
    }

    /// Stops the server (its data is lost: it keeps nothing on disk).
    pub fn stop(&mut self) {
        self.server.stop();
    }

    /// Starts the server (again) on the same socket, and waits until it answers.
    pub fn restart(&mut self) {
        self.server.restart();
    }

    /// A direct connection to the server as its administrator (over the socket, with the
    /// password given as `auth` when the server has one), to look at the keys themselves.
    pub fn connection_as(&self, auth: &[&str]) -> redis::Connection {
        let client = redis::Client::open(format!("redis+unix://{}", self.socket().display()))
            .expect("a client");
        let mut connection = client.get_connection().expect("connect");
        if !auth.is_empty() {
            redis::cmd("AUTH")
                .arg(auth)
                .exec(&mut connection)
                .expect("AUTH");
        }
        connection
    }

    pub fn connection(&self) -> redis::Connection {
        self.connection_as(&[])
    }

    /// `sessionctl --redis <this server>`, without colour or the user's environment.
    pub fn cmd(&self) -> assert_cmd::Command {
        let mut cmd = super::Db::bare();
        cmd.env_remove("SESSIONCTL_REDIS")
            .arg("--redis")
            .arg(&self.url);
        cmd
    }

    /// Runs `-e CODE` and returns its standard output, trimmed; panics if it fails.
    pub fn eval(&self, code: &str) -> String {
        let output = self.cmd().arg("-e").arg(code).output().expect("runs");
        assert!(
            output.status.success(),
            "{code}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_owned()
    }
}
