//! A real `sessionctl serve` for one test, on a port the system picks (read from the line it
//! prints), and a real HTTP client (ureq) speaking to it as an application's server does:
//! the end user's address in `X-Forwarded-For`, the browser in `User-Agent`.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// The browser every request carries unless a test says otherwise.
pub const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";

/// A running `sessionctl serve`.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    agent: ureq::Agent,
}

/// An answer: its status and body (JSON, or `Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
}

impl Server {
    /// `sessionctl STORE serve --listen 127.0.0.1:0 EXTRA`, once it said where it listens.
    pub fn start<S: AsRef<OsStr>>(store: &[S], extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sessionctl"))
            .args(store)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env_remove("SESSIONCTL_DB")
            .env_remove("SESSIONCTL_REDIS")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn sessionctl serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("read the first line");
        let base = line
            .trim()
            .strip_prefix("sessionctl serve: listening on ")
            .unwrap_or_else(|| panic!("serve did not say where it listens: {line:?}"))
            .to_owned();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Self { child, base, agent }
    }

    /// On the database directory `db`.
    pub fn on_db(db: &super::Db) -> Self {
        Self::start(&[OsStr::new("--db"), db.path().as_os_str()], &[])
    }

    /// On the Redis server `redis`.
    pub fn on_redis(redis: &super::redis::Redis) -> Self {
        Self::start(&["--redis", redis.url.as_str()], &[])
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A request from the end user at `ip`, on the session `token` when given.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        ip: &str,
        body: Option<&str>,
    ) -> Reply {
        self.send(method, path, token, ip, body)
            .unwrap_or_else(|error| panic!("{method} {path}: {error}"))
    }

    /// [`Server::request`] from 203.0.113.9, `None` when the server did not answer.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> Option<Reply> {
        self.send(method, path, token, "203.0.113.9", body).ok()
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        ip: &str,
        body: Option<&str>,
    ) -> Result<Reply, ureq::Error> {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("X-Forwarded-For", format!("{ip}, 10.0.0.254"))
            .header("User-Agent", FIREFOX);
        let request = match token {
            Some(token) => request.header("X-Session-Token", token),
            None => request,
        };
        let mut response = match body {
            Some(body) => self.agent.run(
                request
                    .header("Content-Type", "application/json")
                    .body(body.to_owned())
                    .expect("a request"),
            ),
            None => self.agent.run(request.body(()).expect("a request")),
        }?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string()?;
        let body = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        Ok(Reply { status, body })
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request("GET", path, token, "203.0.113.9", None)
    }

    pub fn post(&self, path: &str, body: &str) -> Reply {
        self.request("POST", path, None, "203.0.113.9", Some(body))
    }

    pub fn delete(&self, path: &str, token: &str) -> Reply {
        self.request("DELETE", path, Some(token), "203.0.113.9", None)
    }

    /// Signs `username` in (201 expected): the reply's body.
    pub fn sign_in(&self, username: &str, remember_me: bool) -> serde_json::Value {
        let reply = self.post(
            "/v1/sessions",
            &format!(r#"{{"username": "{username}", "remember_me": {remember_me}}}"#),
        );
        assert_eq!(reply.status, 201, "sign in {username}: {:?}", reply.body);
        reply.body
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        signal(self.child.id(), "TERM");
        self.child.wait().expect("wait for serve")
    }

    /// SIGKILL.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait for serve");
    }
}

/// Sends `SIGNAL` (a name: TERM, INT) to the process `pid` with kill(1).
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid}");
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
