//! The Redis store: sessions laid out exactly as GitLab lays them out, so that one code path
//! can later read a real GitLab, and users, remember-me tokens, settings and the audit log
//! under sessionctl's own prefix (default `sessionctl:`).
//!
//! GitLab's keys (see docs/ARCHITECTURE.md): `session:user:gitlab::v2:<user id>:<private id>`
//! holds `"v2:" + JSON` with a TTL of `session_expire_delay` minutes; the set
//! `session:lookup:user:gitlab:<user id>` lists a user's private ids; a revoke also deletes the
//! legacy v1 entry and the rack session `session:gitlab:<private id>`.
//!
//! Atomic where GitLab is not: a sign-in is one Lua script when it evicts nothing, else one
//! `WATCH`/`MULTI` transaction guarded by the user's lookup set (a concurrent sign-in or
//! revoke of the same user makes it plan again), so no user is left above the limit; a revoke
//! and its remember-me revocation are one `MULTI`; a touch is one `SET … XX`, which never
//! recreates a revoked session.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use chrono::{DateTime, SecondsFormat, Utc};
use redis::{Commands, Connection, Pipeline};
use serde::{Deserialize, Serialize};

use super::{
    Applied, Backend, Changes, Disagreement, Keep, Progress, Records, SessionStore, SignInOutcome,
    SignInWrite, Stream, Touch, UserDirectory, touched,
};
use crate::model::{ActiveSession, AuditEntry, RememberToken, Revoked, Settings, User, UserState};
use crate::{Error, Result};

/// GitLab's namespaces: literal, with no prefix of ours.
const ENTRY_V2: &str = "session:user:gitlab::v2:";
const ENTRY_V1: &str = "session:user:gitlab:";
const LOOKUP: &str = "session:lookup:user:gitlab:";
const RACK: &str = "session:gitlab:";
/// Users read per round trip when walking every user.
const PAGE: isize = 500;
/// Keys unlinked per pipelined batch by `destroy_all`.
const BATCH: usize = 1000;
/// How long to wait for a connection, and for a reply: a server that went away is an error,
/// never a hang.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
const REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_mins(1);

/// A sign-in that needs no eviction, in one round trip (a script runs atomically): when the
/// user exists, is not blocked, and its live sessions (lookup members whose entry exists,
/// counted only when the lookup set alone is at the limit) leave room for one more, writes the
/// entry (TTL from the settings), its lookup member, the last sign-in and the audit entry;
/// returns -2. Returns -1 for a missing user, -3 for a blocked one, and otherwise the live
/// count, leaving the sign-in to the planned transaction. KEYS: users, lookup set, entry,
/// `last_sign_in`, audit, settings, `audit_runs`; ARGV: user id, limit, value, private id,
/// time, the user's entry key prefix, audit JSON (empty: none), the default expire delay
/// (minutes), the run entry's key (empty: the entry is appended; else it is written in
/// `audit_runs` under that key, and the stream lists the key from its first write).
static SIGN_IN: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r#"
local user = redis.call('HGET', KEYS[1], ARGV[1])
if not user then return -1 end
if string.find(user, '"state":"blocked"', 1, true) then return -3 end
local limit = tonumber(ARGV[2])
if redis.call('SCARD', KEYS[2]) + 1 > limit then
  local members = redis.call('SMEMBERS', KEYS[2])
  local live = 0
  for first = 1, #members, 500 do
    local keys = {}
    for i = first, math.min(first + 499, #members) do keys[#keys + 1] = ARGV[6] .. members[i] end
    live = live + redis.call('EXISTS', unpack(keys))
  end
  if live + 1 > limit then return live end
end
local delay = redis.call('HGET', KEYS[6], 'session_expire_delay') or ARGV[8]
redis.call('SET', KEYS[3], ARGV[3], 'EX', tonumber(delay) * 60)
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[5])
if ARGV[7] ~= '' then
  if ARGV[9] == '' then
    redis.call('XADD', KEYS[5], '*', 'entry', ARGV[7])
  else
    if redis.call('HEXISTS', KEYS[7], ARGV[9]) == 0 then
      redis.call('XADD', KEYS[5], '*', 'run', ARGV[9])
    end
    redis.call('HSET', KEYS[7], ARGV[9], ARGV[7])
  end
end
return -2
"#,
    )
});

/// A session entry as GitLab writes it (`v2:` + this JSON). Unknown fields are ignored and
/// every field may be missing or null.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Entry {
    #[serde(default)]
    ip_address: Option<String>,
    #[serde(default)]
    browser: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    device_name: Option<String>,
    #[serde(default)]
    device_type: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    updated_at: Option<String>,
    #[serde(default)]
    session_private_id: Option<String>,
    #[serde(default)]
    is_impersonated: Option<bool>,
    #[serde(default)]
    admin_mode: Option<bool>,
}

/// GitLab's time format: `2025-03-12T09:06:00.000Z`.
fn gitlab_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `v2:` + the JSON GitLab writes for `session` (public for the bench's raw side only).
#[doc(hidden)]
pub fn encode_entry(session: &ActiveSession) -> String {
    let entry = Entry {
        ip_address: Some(session.ip_address.to_string()),
        browser: Some(session.browser.to_string()),
        os: Some(session.os.to_string()),
        device_name: Some(session.device_name.to_string()),
        device_type: Some(session.device_type.to_string()),
        created_at: Some(gitlab_time(session.created_at)),
        updated_at: Some(gitlab_time(session.updated_at)),
        session_private_id: Some(session.session_private_id.clone()),
        is_impersonated: Some(session.is_impersonated),
        admin_mode: Some(session.admin_mode),
    };
    format!(
        "v2:{}",
        serde_json::to_string(&entry).expect("an entry serializes")
    )
}

/// A `v2:` entry read as the store reads it (public for the bench's raw side only).
#[doc(hidden)]
pub fn decode_entry(user_id: u64, private_id: &str, value: &str) -> Result<ActiveSession> {
    let corrupt = |reason: String| Error::CorruptRecord {
        what: "session",
        key: format!("{ENTRY_V2}{user_id}:{private_id}"),
        reason,
    };
    let json = value
        .strip_prefix("v2:")
        .ok_or_else(|| corrupt("no v2: prefix".into()))?;
    let entry: Entry = serde_json::from_str(json).map_err(|e| corrupt(e.to_string()))?;
    let time = |text: Option<String>| -> Result<DateTime<Utc>> {
        match text {
            Some(text) => DateTime::parse_from_rfc3339(&text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| corrupt(format!("time {text:?}: {e}"))),
            None => Ok(DateTime::<Utc>::UNIX_EPOCH),
        }
    };
    let updated_at = time(entry.updated_at)?;
    let text = |value: Option<String>| value.unwrap_or_default().into();
    Ok(ActiveSession {
        session_private_id: private_id.to_owned(),
        user_id,
        ip_address: text(entry.ip_address),
        browser: text(entry.browser),
        os: text(entry.os),
        device_name: text(entry.device_name),
        device_type: text(entry.device_type),
        is_impersonated: entry.is_impersonated.unwrap_or(false),
        admin_mode: entry.admin_mode.unwrap_or(false),
        created_at: entry.created_at.map_or(Ok(updated_at), |t| time(Some(t)))?,
        updated_at,
    })
}

/// What marks a legacy session in listings: its device type (GitLab's `human_device_type`
/// shows it as "Legacy").
pub const LEGACY_DEVICE_TYPE: &str = "legacy";

/// A session entry as read.
enum Stored {
    /// GitLab's current entry: `v2:` + JSON.
    V2 { id: String, value: String },
    /// A legacy v1 entry (Ruby Marshal, not decoded): only its id, and when it was last
    /// written (from its TTL), are known.
    Legacy { id: String, written: DateTime<Utc> },
}

impl Stored {
    fn decode(self, user_id: u64) -> Result<ActiveSession> {
        match self {
            Stored::V2 { id, value } => decode_entry(user_id, &id, &value),
            Stored::Legacy { id, written } => Ok(ActiveSession {
                session_private_id: id,
                user_id,
                ip_address: "".into(),
                browser: "".into(),
                os: "".into(),
                device_name: "legacy v1 entry (not decoded)".into(),
                device_type: LEGACY_DEVICE_TYPE.into(),
                is_impersonated: false,
                admin_mode: false,
                created_at: written,
                updated_at: written,
            }),
        }
    }
}

fn entry_key(user_id: u64, private_id: &str) -> String {
    format!("{ENTRY_V2}{user_id}:{private_id}")
}

fn lookup_key(user_id: u64) -> String {
    format!("{LOOKUP}{user_id}")
}

/// A Redis error in plain words, naming the server by its redacted URL. A lost or refused
/// connection says so: the next call connects afresh.
fn redis_error(server: &str) -> impl Fn(redis::RedisError) -> Error + '_ {
    move |error| Error::Storage {
        message: if error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
        {
            format!("cannot reach Redis at {server}: {error}")
        } else {
            format!("Redis at {server}: {error}")
        },
    }
}

/// `url` with any password replaced by `***`, for every message, banner and log: the one in
/// the authority (`redis://user:PASSWORD@host`) and the `pass` or `password` query parameter
/// of a Unix-socket URL (`unix:///run/redis.sock?pass=PASSWORD`).
pub fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    // The credentials end at the last `@` before the query, whatever they hold (even a `/`).
    let head = &rest[..rest.find(['?', '#']).unwrap_or(rest.len())];
    let (authority, path) = match head.rfind('@') {
        Some(at) => {
            let user = rest[..at].split_once(':').map_or("", |(user, _)| user);
            (format!("{user}:***@"), &rest[at + 1..])
        }
        None => (String::new(), rest),
    };
    let path = match path.split_once('?') {
        Some((path, query)) => {
            let (query, fragment) = query
                .split_once('#')
                .map_or((query, None), |(q, f)| (q, Some(f)));
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if matches!(name, "pass" | "password") => format!("{name}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
            format!("{path}?{}{fragment}", query.join("&"))
        }
        None => path.to_owned(),
    };
    if scheme.is_empty() {
        format!("{authority}{path}")
    } else {
        format!("{scheme}://{authority}{path}")
    }
}

/// The store on one Redis server.
pub struct RedisStore {
    client: redis::Client,
    /// Idle connections, reused: every operation takes one for its whole duration.
    idle: Mutex<Vec<Connection>>,
    /// The server's URL with the password redacted.
    server: String,
    prefix: String,
    /// Where `destroy_all` reports its batches.
    progress: Option<Arc<dyn Progress>>,
    /// The session TTL (s) the last touch found in the settings: a touch writes with it and
    /// reads the setting in the same round trip, correcting the TTL when it changed.
    touch_ttl: AtomicU64,
}

impl RedisStore {
    /// Connects to the Redis server at `url` (`redis://`, `rediss://`, `redis+unix://`),
    /// keeping sessionctl's own keys under `prefix`.
    pub fn open(url: &str, prefix: &str) -> Result<Self> {
        let server = redact(url);
        let client = redis::Client::open(url).map_err(redis_error(&server))?;
        let store = Self {
            client,
            idle: Mutex::new(Vec::new()),
            server,
            prefix: prefix.to_owned(),
            progress: None,
            touch_ttl: AtomicU64::new(u64::from(Settings::default().session_expire_delay) * 60),
        };
        store.with(|c| redis::cmd("PING").query::<String>(c))?;
        Ok(store)
    }

    /// Reports the progress of `destroy_all` to `progress`.
    #[must_use]
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Runs `f` on a connection (a new one when none is idle). After a failure every idle
    /// connection is dropped too (the server may have gone away and come back), so the next
    /// call connects afresh.
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>) -> Result<T> {
        let idle = self.idle.lock().expect("connections lock").pop();
        let mut connection = match idle {
            Some(connection) => connection,
            None => self.connect()?,
        };
        let result = f(&mut connection);
        let mut idle = self.idle.lock().expect("connections lock");
        if result.is_ok() {
            idle.push(connection);
        } else {
            idle.clear();
        }
        result.map_err(redis_error(&self.server))
    }

    fn connect(&self) -> Result<Connection> {
        let unreachable = |error: redis::RedisError| Error::Storage {
            message: format!("cannot reach Redis at {}: {error}", self.server),
        };
        let connection = self
            .client
            .get_connection_with_timeout(CONNECT_TIMEOUT)
            .map_err(unreachable)?;
        connection
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .and_then(|()| connection.set_write_timeout(Some(REPLY_TIMEOUT)))
            .map_err(unreachable)?;
        Ok(connection)
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn users_key(&self) -> String {
        self.key("users")
    }

    fn tokens_key(&self, user_id: u64) -> String {
        self.key(&format!("remember_tokens:{user_id}"))
    }

    fn decode_user(id: u64, json: &str, signed_in: Option<String>) -> Result<User> {
        let mut user: User = serde_json::from_str(json).map_err(|e| Error::CorruptRecord {
            what: "user",
            key: format!("user id={id}"),
            reason: e.to_string(),
        })?;
        if let Some(at) = signed_in {
            user.last_sign_in_at = DateTime::parse_from_rfc3339(&at)
                .ok()
                .map(|t| t.with_timezone(&Utc));
        }
        Ok(user)
    }

    fn users_by_id(&self, ids: &[u64]) -> Result<Vec<User>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (records, times): (Vec<Option<String>>, Vec<Option<String>>) = self.with(|c| {
            redis::pipe()
                .cmd("HMGET")
                .arg(self.users_key())
                .arg(ids)
                .cmd("HMGET")
                .arg(self.key("last_sign_in"))
                .arg(ids)
                .query(c)
        })?;
        ids.iter()
            .zip(records.into_iter().zip(times))
            .filter_map(|(id, (record, time))| record.map(|r| Self::decode_user(*id, &r, time)))
            .collect()
    }

    /// The user's stored sessions (members of the lookup set with neither a v2 nor a legacy
    /// v1 entry left, expired by their TTL, are left out: reading never writes), read on `c`.
    fn sessions_on(&self, c: &mut Connection, user_id: u64) -> redis::RedisResult<Vec<Stored>> {
        let mut members: Vec<String> = c.smembers(lookup_key(user_id))?;
        members.sort();
        self.entries_on(c, user_id, members)
    }

    /// The entries of `ids` that exist, as GitLab reads them: the v2 entry, else the legacy v1
    /// one (whose last write is known from its TTL alone).
    fn entries_on(
        &self,
        c: &mut Connection,
        user_id: u64,
        ids: Vec<String>,
    ) -> redis::RedisResult<Vec<Stored>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = ids.iter().map(|id| entry_key(user_id, id)).collect();
        let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(c)?;
        let mut found = Vec::with_capacity(ids.len());
        let mut missed = Vec::new();
        for (id, value) in ids.into_iter().zip(values) {
            match value {
                Some(value) => found.push(Stored::V2 { id, value }),
                None => missed.push(id),
            }
        }
        if missed.is_empty() {
            return Ok(found);
        }
        let mut pipe = redis::pipe();
        pipe.cmd("TIME")
            .hget(self.key("settings"), "session_expire_delay");
        for id in &missed {
            pipe.ttl(format!("{ENTRY_V1}{user_id}:{id}"));
        }
        let mut replies: Vec<redis::Value> = pipe.query(c)?;
        let ttls: Vec<i64> = redis::from_redis_value(redis::Value::Array(replies.split_off(2)))?;
        // Whole seconds, as the TTL: the same entry read twice gets the same time.
        let (seconds, _micros): (i64, u32) = redis::from_redis_value(replies[0].clone())?;
        let delay: Option<i64> = redis::from_redis_value(replies[1].clone())?;
        let lifetime =
            delay.unwrap_or_else(|| Settings::default().session_expire_delay.into()) * 60;
        let now = DateTime::from_timestamp(seconds, 0).unwrap_or_default();
        for (id, ttl) in missed.into_iter().zip(ttls) {
            // TTL: -2 no such key, -1 no expiry (taken as written now), else seconds left.
            if ttl != -2 {
                let age = if ttl < 0 { 0 } else { (lifetime - ttl).max(0) };
                let written = now - chrono::Duration::seconds(age);
                found.push(Stored::Legacy { id, written });
            }
        }
        Ok(found)
    }

    fn decode_all(user_id: u64, stored: Vec<Stored>) -> Result<Vec<ActiveSession>> {
        stored.into_iter().map(|s| s.decode(user_id)).collect()
    }

    fn ttl(&self) -> Result<u64> {
        Ok(u64::from(self.settings()?.session_expire_delay) * 60)
    }

    /// Adds the commands of `changes` to the transaction `pipe`; returns what they do. Reads
    /// (under `WATCH` of the keys they depend on) happen here, on `c`.
    fn plan_changes(
        &self,
        c: &mut Connection,
        changes: &Changes,
        pipe: &mut Pipeline,
        ttl: u64,
    ) -> std::result::Result<Applied, Error> {
        let server = self.server.clone();
        let fail = |e: redis::RedisError| redis_error(&server)(e);
        let mut applied = Applied {
            created_users: self.plan_new_users(c, &changes.new_users, pipe)?,
            ..Applied::default()
        };
        self.plan_updated_users(c, &changes.updated_users, pipe)?;
        let mut counts: HashMap<u64, i64> = HashMap::new();
        // A session is stored while its v2 or its legacy v1 entry is.
        let present = |c: &mut Connection, user_id: u64, id: &str| -> Result<bool> {
            c.exists(&[entry_key(user_id, id), format!("{ENTRY_V1}{user_id}:{id}")])
                .map_err(redis_error(&self.server))
        };
        for (user_id, private_id) in &changes.removed_sessions {
            if present(c, *user_id, private_id)? {
                applied.sessions_removed += 1;
                *counts.entry(*user_id).or_default() -= 1;
            }
            pipe.srem(lookup_key(*user_id), private_id)
                .ignore()
                .del(entry_key(*user_id, private_id))
                .ignore()
                .del(format!("{ENTRY_V1}{user_id}:{private_id}"))
                .ignore()
                .del(format!("{RACK}{private_id}"))
                .ignore();
        }
        for session in &changes.sessions {
            if !crate::secret::is_private_id(&session.session_private_id) {
                return Err(Error::InvalidField {
                    field: "session_private_id",
                    reason: format!("{:?} is not a private id", session.session_private_id),
                });
            }
            let removed_here = changes
                .removed_sessions
                .iter()
                .any(|(u, id)| *u == session.user_id && *id == session.session_private_id);
            if removed_here || !present(c, session.user_id, &session.session_private_id)? {
                *counts.entry(session.user_id).or_default() += 1;
            }
            pipe.set_ex(
                entry_key(session.user_id, &session.session_private_id),
                encode_entry(session),
                ttl,
            )
            .ignore()
            .sadd(lookup_key(session.user_id), &session.session_private_id)
            .ignore();
        }
        for &(user_id, at) in &changes.signed_in {
            let stored: Option<String> = c.hget(self.users_key(), user_id).map_err(fail)?;
            let Some(stored) = stored else {
                return Err(Error::UserNotFound { id: user_id });
            };
            let user = Self::decode_user(user_id, &stored, None)?;
            if user.state == UserState::Blocked {
                return Err(Error::UserBlocked {
                    id: user_id,
                    username: user.username,
                });
            }
            pipe.hset(self.key("last_sign_in"), user_id, gitlab_time(at))
                .ignore();
        }
        if let Some(guard) = changes.expect_sessions {
            let now = self.sessions_on(c, guard.user_id).map_err(fail)?.len() as u64;
            let after = now.saturating_add_signed(counts.get(&guard.user_id).copied().unwrap_or(0));
            if now != guard.count || after > u64::from(guard.limit) {
                return Err(Error::WriteConflict);
            }
        }
        for user_id in &changes.revoke_tokens_of {
            let count: u64 = c.hlen(self.tokens_key(*user_id)).map_err(fail)?;
            applied.tokens_revoked += count;
            pipe.del(self.tokens_key(*user_id)).ignore();
        }
        for (user_id, token) in &changes.tokens {
            if !crate::secret::is_token_hash(&token.token_hash) {
                return Err(Error::InvalidField {
                    field: "token_hash",
                    reason: format!("{:?} is not a token hash", token.token_hash),
                });
            }
            pipe.hset(
                self.tokens_key(*user_id),
                &token.token_hash,
                gitlab_time(token.created_at),
            )
            .ignore();
        }
        self.plan_audit(c, changes, &applied, pipe)?;
        Ok(applied)
    }

    /// Adds the creation of `users` (ids of 0 assigned from the counter) to `pipe`, after
    /// checking their usernames and emails against the indexes and each other.
    fn plan_new_users(
        &self,
        c: &mut Connection,
        users: &[User],
        pipe: &mut Pipeline,
    ) -> std::result::Result<Vec<User>, Error> {
        let server = self.server.clone();
        let fail = |e: redis::RedisError| redis_error(&server)(e);
        let mut created = Vec::new();
        let mut new_names: HashMap<String, u64> = HashMap::new();
        let mut new_emails: HashMap<String, u64> = HashMap::new();
        for user in users {
            let mut user = user.clone();
            let username = user.username.to_lowercase();
            let email = user.email.to_lowercase();
            let taken: Option<u64> = c
                .hget(self.key("users_by_username"), &username)
                .map_err(fail)?;
            if let Some(id) = taken.or(new_names.get(&username).copied()) {
                return Err(Error::UsernameTaken {
                    username: user.username,
                    id,
                });
            }
            let taken: Option<u64> = c.hget(self.key("users_by_email"), &email).map_err(fail)?;
            if let Some(id) = taken.or(new_emails.get(&email).copied()) {
                return Err(Error::EmailTaken {
                    email: user.email,
                    id,
                });
            }
            if user.id == 0 {
                user.id = c.incr(self.key("next_user_id"), 1).map_err(fail)?;
            } else {
                let exists: bool = c.hexists(self.users_key(), user.id).map_err(fail)?;
                if exists {
                    return Err(Error::UserIdTaken { id: user.id });
                }
                let next: Option<u64> = c.get(self.key("next_user_id")).map_err(fail)?;
                if next.unwrap_or(0) < user.id {
                    pipe.set(self.key("next_user_id"), user.id).ignore();
                }
            }
            new_names.insert(username.clone(), user.id);
            new_emails.insert(email.clone(), user.id);
            pipe.hset(
                self.users_key(),
                user.id,
                serde_json::to_string(&User {
                    last_sign_in_at: None,
                    ..user.clone()
                })
                .expect("a user serializes"),
            )
            .ignore()
            .zadd(self.key("user_ids"), user.id, user.id)
            .ignore()
            .hset(self.key("users_by_username"), &username, user.id)
            .ignore()
            .hset(self.key("users_by_email"), &email, user.id)
            .ignore();
            if let Some(at) = user.last_sign_in_at {
                pipe.hset(self.key("last_sign_in"), user.id, gitlab_time(at))
                    .ignore();
            }
            created.push(user);
        }
        Ok(created)
    }

    /// Adds the replacement of `users`' own fields (see [`Changes::updated_users`]) to
    /// `pipe`, moving their email index entries; the indexes and the users hash are watched.
    fn plan_updated_users(
        &self,
        c: &mut Connection,
        users: &[User],
        pipe: &mut Pipeline,
    ) -> std::result::Result<(), Error> {
        let server = self.server.clone();
        let fail = |e: redis::RedisError| redis_error(&server)(e);
        for new in users {
            let stored: Option<String> = c.hget(self.users_key(), new.id).map_err(fail)?;
            let Some(stored) = stored else {
                return Err(Error::UserNotFound { id: new.id });
            };
            let mut user = Self::decode_user(new.id, &stored, None)?;
            let (old_email, new_email) = (user.email.to_lowercase(), new.email.to_lowercase());
            if old_email != new_email {
                let taken: Option<u64> = c
                    .hget(self.key("users_by_email"), &new_email)
                    .map_err(fail)?;
                if let Some(id) = taken {
                    return Err(Error::EmailTaken {
                        email: new.email.clone(),
                        id,
                    });
                }
                pipe.hdel(self.key("users_by_email"), &old_email)
                    .ignore()
                    .hset(self.key("users_by_email"), &new_email, new.id)
                    .ignore();
            }
            user.email.clone_from(&new.email);
            user.name.clone_from(&new.name);
            user.state = new.state;
            user.admin = new.admin;
            pipe.hset(
                self.users_key(),
                new.id,
                serde_json::to_string(&user).expect("a user serializes"),
            )
            .ignore();
        }
        Ok(())
    }

    /// Adds the audit entry of `changes` to `pipe`, with the ids of the users created. A run's
    /// entry under its key: a stream entry cannot be rewritten, so the entry lives in the
    /// `audit_runs` hash (watched), and the stream lists its key once, from its first write.
    fn plan_audit(
        &self,
        c: &mut Connection,
        changes: &Changes,
        applied: &Applied,
        pipe: &mut Pipeline,
    ) -> Result<()> {
        let Some(entry) = &changes.audit else {
            return Ok(());
        };
        let mut entry = entry.clone();
        entry
            .user_ids
            .extend(applied.created_users.iter().map(|u| u.id));
        let Some(key) = changes.audit_key else {
            self.audit_command(pipe, &entry);
            return Ok(());
        };
        let runs = self.key("audit_runs");
        let listed: bool = c.hexists(&runs, key).map_err(redis_error(&self.server))?;
        if !listed {
            pipe.cmd("XADD")
                .arg(self.key("audit"))
                .arg("*")
                .arg("run")
                .arg(key)
                .ignore();
        }
        pipe.hset(
            runs,
            key,
            serde_json::to_string(&entry).expect("an entry serializes"),
        )
        .ignore();
        Ok(())
    }

    fn audit_command(&self, pipe: &mut Pipeline, entry: &AuditEntry) {
        pipe.cmd("XADD")
            .arg(self.key("audit"))
            .arg("*")
            .arg("entry")
            .arg(serde_json::to_string(entry).expect("an entry serializes"))
            .ignore();
    }

    /// Applies `changes` in one `MULTI`, planned under `WATCH` of every key it reads;
    /// planned again when one of them changed meanwhile.
    fn transact(&self, changes: &Changes) -> Result<Applied> {
        let ttl = self.ttl()?;
        let mut watched: Vec<String> = vec![
            self.key("users_by_username"),
            self.key("users_by_email"),
            self.users_key(),
        ];
        let users = changes
            .removed_sessions
            .iter()
            .map(|(u, _)| *u)
            .chain(changes.sessions.iter().map(|s| s.user_id))
            .chain(changes.expect_sessions.map(|g| g.user_id));
        for user_id in users {
            watched.push(lookup_key(user_id));
        }
        for user_id in &changes.revoke_tokens_of {
            watched.push(self.tokens_key(*user_id));
        }
        if changes.audit_key.is_some() {
            watched.push(self.key("audit_runs"));
        }
        for _ in 0..1000 {
            let outcome = self.with(|c| {
                redis::cmd("WATCH").arg(&watched).exec(c)?;
                let mut pipe = redis::pipe();
                pipe.atomic();
                let planned = self.plan_changes(c, changes, &mut pipe, ttl);
                let Ok(applied) = planned else {
                    redis::cmd("UNWATCH").exec(c)?;
                    return Ok(Err(planned.unwrap_err()));
                };
                let done: Option<()> = pipe.query(c)?;
                Ok(Ok(done.map(|()| applied)))
            })?;
            match outcome {
                Err(error) => return Err(error),
                Ok(Some(applied)) => return Ok(applied),
                Ok(None) => {}
            }
        }
        Err(Error::Storage {
            message: format!(
                "Redis at {}: a write kept meeting concurrent changes",
                self.server
            ),
        })
    }

    /// A sign-in that evicts nothing, in one round trip (`SIGN_IN`); `None` when the user is
    /// at the limit, for the planned transaction to evict.
    fn sign_in_below_limit(&self, write: &SignInWrite) -> Result<Option<SignInOutcome>> {
        let session = &write.session;
        if !crate::secret::is_private_id(&session.session_private_id) {
            return Err(Error::InvalidField {
                field: "session_private_id",
                reason: format!("{:?} is not a private id", session.session_private_id),
            });
        }
        let audit = write.audit.clone().map_or_else(String::new, |entry| {
            serde_json::to_string(&entry.with_evicted(0)).expect("an entry serializes")
        });
        let done: i64 = self.with(|c| {
            SIGN_IN
                .key(self.users_key())
                .key(lookup_key(session.user_id))
                .key(entry_key(session.user_id, &session.session_private_id))
                .key(self.key("last_sign_in"))
                .key(self.key("audit"))
                .key(self.key("settings"))
                .key(self.key("audit_runs"))
                .arg(session.user_id)
                .arg(write.limit)
                .arg(encode_entry(session))
                .arg(&session.session_private_id)
                .arg(gitlab_time(session.updated_at))
                .arg(format!("{ENTRY_V2}{}:", session.user_id))
                .arg(audit)
                .arg(Settings::default().session_expire_delay)
                .arg(
                    write
                        .audit_key
                        .map_or_else(String::new, |key| key.to_string()),
                )
                .invoke(c)
        })?;
        match done {
            -1 => Err(Error::UserNotFound {
                id: session.user_id,
            }),
            -3 => Err(Error::UserBlocked {
                id: session.user_id,
                username: self
                    .user(session.user_id)?
                    .map(|u| u.username)
                    .unwrap_or_default(),
            }),
            -2 => Ok(Some(SignInOutcome {
                evicted: Vec::new(),
                expired: 0,
            })),
            _ => Ok(None),
        }
    }

    fn all_user_ids(&self, after: Option<u64>, count: isize) -> Result<Vec<u64>> {
        let min = after.map_or("-inf".to_owned(), |a| format!("({a}"));
        self.with(|c| {
            redis::cmd("ZRANGE")
                .arg(self.key("user_ids"))
                .arg(&min)
                .arg("+inf")
                .arg("BYSCORE")
                .arg("LIMIT")
                .arg(0)
                .arg(count)
                .query(c)
        })
    }

    /// The keys matching `pattern` that `remove` takes (`Some(counted)`), removed with `UNLINK`
    /// in batches (never one blocking command), each sent with the `SCAN` of the next batch
    /// in one round trip and reported to `progress`; returns how many counted keys the server
    /// removed (a key `SCAN` returns twice is removed, and counted, once).
    fn unlink_matching(
        &self,
        pattern: &str,
        progress: &dyn Progress,
        mut remove: impl FnMut(&str) -> Option<bool>,
    ) -> Result<u64> {
        let mut removed = 0;
        let mut cursor = Some(0u64);
        let (mut counted, mut other): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
        loop {
            let mut pipe = redis::pipe();
            // `UNLINK` of no key is an error.
            if !counted.is_empty() {
                pipe.cmd("UNLINK").arg(&counted);
            }
            if !other.is_empty() {
                pipe.cmd("UNLINK").arg(&other).ignore();
            }
            if let Some(cursor) = cursor {
                pipe.cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(pattern)
                    .arg("COUNT")
                    .arg(BATCH);
            }
            if pipe.is_empty() {
                return Ok(removed);
            }
            let unlinked_counted = !counted.is_empty();
            let (count, scanned) = self.with(|c| {
                let mut replies: Vec<redis::Value> = pipe.query(c)?;
                let scanned: Option<(u64, Vec<String>)> = match cursor {
                    Some(_) => Some(redis::from_redis_value(replies.pop().unwrap_or_default())?),
                    None => None,
                };
                let count: u64 = match replies.pop() {
                    Some(reply) if unlinked_counted => redis::from_redis_value(reply)?,
                    _ => 0,
                };
                Ok((count, scanned))
            })?;
            removed += count;
            progress.advance((counted.len() + other.len()) as u64);
            counted.clear();
            other.clear();
            if let Some((next, keys)) = scanned {
                for key in keys {
                    match remove(&key) {
                        Some(true) => counted.push(key),
                        Some(false) => other.push(key),
                        None => {}
                    }
                }
                cursor = (next != 0).then_some(next);
            }
        }
    }
}

/// No progress bar.
struct Quiet;

impl Progress for Quiet {
    fn start(&self, _total: u64) {}
    fn advance(&self, _done: u64) {}
    fn finish(&self) {}
}

impl UserDirectory for RedisStore {
    fn user(&self, id: u64) -> Result<Option<User>> {
        Ok(self.users_by_id(&[id])?.pop())
    }

    fn user_id_by_username(&self, username: &str) -> Result<Option<u64>> {
        self.with(|c| c.hget(self.key("users_by_username"), username.to_lowercase()))
    }

    fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        match self.user_id_by_username(username)? {
            Some(id) => self.user(id),
            None => Ok(None),
        }
    }

    fn user_id_by_email(&self, email: &str) -> Result<Option<u64>> {
        self.with(|c| c.hget(self.key("users_by_email"), email.to_lowercase()))
    }

    fn user_count(&self) -> Result<u64> {
        self.with(|c| c.hlen(self.users_key()))
    }

    fn users(&self, after: Option<u64>) -> Stream<'_, User> {
        let mut last = after;
        let mut page: std::vec::IntoIter<User> = Vec::new().into_iter();
        let mut done = false;
        Box::new(std::iter::from_fn(move || {
            loop {
                if let Some(user) = page.next() {
                    last = Some(user.id);
                    return Some(Ok(user));
                }
                if done {
                    return None;
                }
                let ids = match self.all_user_ids(last, PAGE) {
                    Ok(ids) => ids,
                    Err(error) => {
                        done = true;
                        return Some(Err(error));
                    }
                };
                done = ids.len() < PAGE as usize;
                match self.users_by_id(&ids) {
                    Ok(users) => page = users.into_iter(),
                    Err(error) => {
                        done = true;
                        return Some(Err(error));
                    }
                }
            }
        }))
    }
}

impl SessionStore for RedisStore {
    fn session(&self, user_id: u64, private_id: &str) -> Result<Option<ActiveSession>> {
        let stored = self.with(|c| self.entries_on(c, user_id, vec![private_id.to_owned()]))?;
        stored
            .into_iter()
            .next()
            .map(|s| s.decode(user_id))
            .transpose()
    }

    fn sessions_of(&self, user_id: u64) -> Result<Vec<ActiveSession>> {
        Self::decode_all(user_id, self.with(|c| self.sessions_on(c, user_id))?)
    }

    fn sessions(&self, after_user: Option<u64>) -> Stream<'_, ActiveSession> {
        let mut users = self.users(after_user);
        let mut page: std::vec::IntoIter<ActiveSession> = Vec::new().into_iter();
        Box::new(std::iter::from_fn(move || {
            loop {
                if let Some(session) = page.next() {
                    return Some(Ok(session));
                }
                match users.next()? {
                    Ok(user) => match self.sessions_of(user.id) {
                        Ok(sessions) => page = sessions.into_iter(),
                        Err(error) => return Some(Err(error)),
                    },
                    Err(error) => return Some(Err(error)),
                }
            }
        }))
    }

    fn session_count(&self) -> Result<u64> {
        Ok(self.session_totals()?.0)
    }

    fn session_count_of(&self, user_id: u64) -> Result<u64> {
        Ok(self.with(|c| self.sessions_on(c, user_id))?.len() as u64)
    }

    fn session_totals(&self) -> Result<(u64, u64)> {
        let (mut sessions, mut users) = (0, 0);
        for user in self.users(None) {
            let count = self.session_count_of(user?.id)?;
            if count > 0 {
                sessions += count;
                users += 1;
            }
        }
        Ok((sessions, users))
    }

    fn count_sessions_updated_after(&self, after: DateTime<Utc>) -> Result<u64> {
        let mut count = 0;
        for session in self.sessions(None) {
            if session?.updated_at > after {
                count += 1;
            }
        }
        Ok(count)
    }

    fn remember_tokens(&self, user_id: u64) -> Result<Vec<RememberToken>> {
        let tokens: HashMap<String, String> = self.with(|c| c.hgetall(self.tokens_key(user_id)))?;
        let mut tokens: Vec<RememberToken> = tokens
            .into_iter()
            .map(|(token_hash, at)| RememberToken {
                token_hash,
                created_at: DateTime::parse_from_rfc3339(&at)
                    .map_or(DateTime::<Utc>::UNIX_EPOCH, |t| t.with_timezone(&Utc)),
            })
            .collect();
        tokens.sort_by_key(|t| t.created_at);
        Ok(tokens)
    }

    fn sign_in(&self, write: SignInWrite) -> Result<SignInOutcome> {
        let user_id = write.session.user_id;
        if let Some(outcome) = self.sign_in_below_limit(&write)? {
            return Ok(outcome);
        }
        for _ in 0..1000 {
            if self.user(user_id)?.is_none() {
                return Err(Error::UserNotFound { id: user_id });
            }
            let stored = self.sessions_of(user_id)?;
            let (changes, outcome) = write.plan(stored.len() as u64, || Ok(stored))?;
            match self.transact(&changes) {
                Err(Error::WriteConflict) => {}
                Err(error) => return Err(error),
                Ok(_) => return Ok(outcome),
            }
        }
        Err(Error::Storage {
            message: format!(
                "Redis at {}: sign-in of user id={user_id} kept meeting concurrent changes",
                self.server
            ),
        })
    }

    fn touch(
        &self,
        updated: &ActiveSession,
        live_after: Option<DateTime<Utc>>,
        keep: Keep,
    ) -> Result<Touch> {
        let stored = self.with(|c| {
            self.entries_on(c, updated.user_id, vec![updated.session_private_id.clone()])
        })?;
        // A legacy v1 entry is not touched: the request signs in anew, writing the v2 entry
        // (as GitLab's `set` does).
        let Some(stored) = stored
            .into_iter()
            .find(|s| matches!(s, Stored::V2 { .. }))
            .map(|s| s.decode(updated.user_id))
            .transpose()?
            .filter(|s| live_after.is_none_or(|after| s.updated_at > after))
        else {
            return Ok(Touch::Missing);
        };
        let updated = &touched(&stored, updated, keep);
        // One round trip: the write (`XX`: only over the entry read, never recreating one
        // revoked since) with the last TTL seen, and the setting; when it changed, the TTL is
        // corrected (`EXPIRE` never recreates a key either).
        let key = entry_key(updated.user_id, &updated.session_private_id);
        let ttl = self.touch_ttl.load(Ordering::Relaxed);
        let (set, delay): (Option<String>, Option<u64>) = self.with(|c| {
            redis::pipe()
                .cmd("SET")
                .arg(&key)
                .arg(encode_entry(updated))
                .arg("XX")
                .arg("EX")
                .arg(ttl)
                .hget(self.key("settings"), "session_expire_delay")
                .query(c)
        })?;
        let current = delay.unwrap_or(u64::from(Settings::default().session_expire_delay)) * 60;
        if set.is_some() && current != ttl {
            self.touch_ttl.store(current, Ordering::Relaxed);
            self.with(|c| c.expire::<_, ()>(&key, current as i64))?;
        }
        Ok(if set.is_some() {
            Touch::touched(updated)
        } else {
            Touch::Revoked
        })
    }

    /// Not one transaction (a million keys would block the server): the session entries (v2
    /// and v1), then the lookup sets, rack sessions and remember-me tokens are scanned and
    /// unlinked batch by batch, and the audit entry is written once all are gone. Whatever
    /// a crash leaves part-way is a state the next `destroy_all` finishes: sessions whose
    /// entry is gone are no longer listed, and every step removes what is left of its keys.
    fn remove_all_sessions(&self, audit: Option<AuditEntry>) -> Result<Revoked> {
        let progress = self.progress.as_deref().unwrap_or(&Quiet);
        // The bar's length is an estimate: every key of the database, counted by the server.
        let keys: u64 = self.with(|c| redis::cmd("DBSIZE").query(c))?;
        progress.start(keys);
        // GitLab's keys in one pass over `session:*`, counting the v2 entries removed and
        // their users; then the remember-me tokens.
        let mut users = HashSet::new();
        let removed = self
            .unlink_matching("session:*", progress, |key| {
                if let Some((user, _)) = key
                    .strip_prefix(ENTRY_V2)
                    .and_then(|rest| rest.split_once(':'))
                {
                    users.insert(user.to_owned());
                    Some(true)
                } else {
                    [ENTRY_V1, LOOKUP, RACK]
                        .iter()
                        .any(|prefix| key.starts_with(prefix))
                        .then_some(false)
                }
            })
            .and_then(|sessions| {
                self.unlink_matching(&self.key("remember_tokens:*"), progress, |_| Some(false))
                    .map(|_| sessions)
            });
        progress.finish();
        let revoked = Revoked {
            sessions: removed?,
            users: users.len() as u64,
        };
        if let Some(entry) = audit {
            self.append_audit(&entry.with_revoked(revoked))?;
        }
        Ok(revoked)
    }
}

impl Backend for RedisStore {
    fn settings(&self) -> Result<Settings> {
        let fields: HashMap<String, u32> = self.with(|c| c.hgetall(self.key("settings")))?;
        let mut settings = Settings::default();
        if let Some(limit) = fields.get("session_limit") {
            settings.session_limit = *limit;
        }
        if let Some(delay) = fields.get("session_expire_delay") {
            settings.session_expire_delay = *delay;
        }
        Ok(settings)
    }

    fn put_settings(&self, settings: &Settings, audit: Option<&AuditEntry>) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset(
                self.key("settings"),
                "session_limit",
                settings.session_limit,
            )
            .ignore()
            .hset(
                self.key("settings"),
                "session_expire_delay",
                settings.session_expire_delay,
            )
            .ignore();
        if let Some(entry) = audit {
            self.audit_command(&mut pipe, entry);
        }
        self.with(|c| pipe.exec(c))
    }

    fn apply(&self, changes: Changes) -> Result<Applied> {
        self.transact(&changes)
    }

    fn import(&self, records: Records, audit: Option<AuditEntry>) -> Result<Applied> {
        self.transact(&Changes {
            new_users: records.users,
            sessions: records.sessions,
            tokens: records.tokens,
            audit,
            ..Changes::default()
        })
    }

    fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        let mut pipe = redis::pipe();
        self.audit_command(&mut pipe, entry);
        self.with(|c| pipe.exec(c))
    }

    fn recent_audit(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        let reply: redis::streams::StreamRangeReply = self.with(|c| {
            redis::cmd("XREVRANGE")
                .arg(self.key("audit"))
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(limit.min(1_000_000))
                .query(c)
        })?;
        // A run's entry is in the `audit_runs` hash, under the key the stream lists.
        let runs: Vec<String> = reply
            .ids
            .iter()
            .filter_map(|id| id.get::<String>("run"))
            .collect();
        let mut run_entries: HashMap<String, String> = HashMap::new();
        for keys in runs.chunks(1000) {
            let jsons: Vec<Option<String>> = self.with(|c| {
                redis::cmd("HMGET")
                    .arg(self.key("audit_runs"))
                    .arg(keys)
                    .query(c)
            })?;
            run_entries.extend(
                keys.iter()
                    .cloned()
                    .zip(jsons)
                    .filter_map(|(key, json)| Some((key, json?))),
            );
        }
        reply
            .ids
            .into_iter()
            .map(|id| {
                let json = match id.get::<String>("run") {
                    Some(run) => run_entries.remove(&run).unwrap_or_default(),
                    None => id.get("entry").unwrap_or_default(),
                };
                serde_json::from_str(&json).map_err(|e| Error::CorruptRecord {
                    what: "audit",
                    key: id.id.clone(),
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    fn new_audit_key(&self) -> Result<u64> {
        self.with(|c| c.incr(self.key("audit_run_seq"), 1))
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn closing(&self) -> Option<std::path::PathBuf> {
        None
    }

    fn check(&self) -> Result<Vec<Disagreement>> {
        let mut found = Vec::new();
        for user in self.users(None) {
            let user = match user {
                Ok(user) => user,
                Err(error) => {
                    found.push(Disagreement {
                        place: "users",
                        key: String::new(),
                        problem: error.to_string(),
                    });
                    continue;
                }
            };
            for (place, indexed) in [
                (
                    "users_by_username",
                    self.user_id_by_username(&user.username)?,
                ),
                ("users_by_email", self.user_id_by_email(&user.email)?),
            ] {
                if indexed != Some(user.id) {
                    found.push(Disagreement {
                        place,
                        key: format!("user id={}", user.id),
                        problem: format!("the index holds {indexed:?}"),
                    });
                }
            }
            if let Err(error) = self.sessions_of(user.id) {
                found.push(Disagreement {
                    place: "sessions",
                    key: format!("user id={}", user.id),
                    problem: error.to_string(),
                });
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_never_shows() {
        assert_eq!(
            redact("redis://:s3cret@cache:6379/2"),
            "redis://:***@cache:6379/2"
        );
        assert_eq!(
            redact("redis://admin:s3/cr@et@cache/0"),
            "redis://admin:***@cache/0"
        );
        assert_eq!(
            redact("unix:///run/redis.sock?user=admin&pass=s3cret&db=1"),
            "unix:///run/redis.sock?user=admin&pass=***&db=1"
        );
        assert_eq!(
            redact("rediss://:s3cret@cache/0#insecure"),
            "rediss://:***@cache/0#insecure"
        );
        assert_eq!(redact("s3cret@cache"), ":***@cache");
        assert_eq!(
            redact("rediss://admin:s3cret@cache/0"),
            "rediss://admin:***@cache/0"
        );
        assert_eq!(
            redact("redis+unix:///run/redis.sock"),
            "redis+unix:///run/redis.sock"
        );
    }

    use crate::model::UserState;
    use redis::Commands;

    /// GitLab's spec's unknown-attribute payload (`spec/models/active_session_spec.rb`).
    const SPEC_PAYLOAD: &str = r#"v2:{"ip_address":"127.0.0.1","browser":"Mobile Safari","os":"iOS","device_name":"iPhone 6","device_type":"smartphone","created_at":"2021-01-01T00:00:00.000+09:00","updated_at":"2021-01-01T00:00:00.000Z","session_private_id":"2::418729c72310bbf349a032f0bb6e3fce9f5a69df8f000d8ae0ac5d159d8f21ae","is_impersonated":false,"new_attribute":"unknown attribute","admin_mode":null}"#;
    const SPEC_ID: &str = "2::418729c72310bbf349a032f0bb6e3fce9f5a69df8f000d8ae0ac5d159d8f21ae";

    /// A store on a fresh server with one user, alice (id 1); `None` without redis-server.
    fn store_with_alice() -> Option<(
        RedisStore,
        crate::store::redis_server::Server,
        redis::Connection,
    )> {
        let server = crate::store::redis_server::Server::start(&[])?;
        let store = RedisStore::open(&server.url(), "sessionctl:").unwrap();
        let alice = User {
            id: 0,
            username: "alice".into(),
            email: "alice@example.com".into(),
            name: "Alice".into(),
            state: UserState::Active,
            admin: false,
            created_at: Utc::now(),
            last_sign_in_at: None,
        };
        store
            .apply(Changes {
                new_users: vec![alice],
                ..Changes::default()
            })
            .unwrap();
        let connection = redis::Client::open(server.url().as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        Some((store, server, connection))
    }

    fn signed_in(at: DateTime<Utc>) -> ActiveSession {
        ActiveSession {
            session_private_id: crate::secret::private_id("6919a6f1bb119dd7396fadc38fd18d0d"),
            user_id: 1,
            ip_address: "10.0.0.1".into(),
            browser: "Firefox".into(),
            os: "Linux".into(),
            device_name: "Other".into(),
            device_type: "desktop".into(),
            is_impersonated: false,
            admin_mode: true,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn a_sign_in_writes_what_gitlabs_reader_expects() {
        let Some((store, _server, mut c)) = store_with_alice() else {
            return;
        };
        store
            .put_settings(
                &Settings {
                    session_expire_delay: 90,
                    ..Settings::default()
                },
                None,
            )
            .unwrap();
        let at = DateTime::parse_from_rfc3339("2025-03-12T09:06:00.5Z")
            .unwrap()
            .with_timezone(&Utc);
        store
            .sign_in(SignInWrite {
                session: signed_in(at),
                limit: 100,
                now: at,
                expire_delay: chrono::Duration::minutes(90),
                audit: None,
                audit_key: None,
            })
            .unwrap();
        // GitLab's golden vector: public 6919a6f1… is private 2::418729c7….
        let key = format!("session:user:gitlab::v2:1:{SPEC_ID}");
        let mut keys: Vec<String> = c.keys("session:*").unwrap();
        keys.sort();
        assert_eq!(
            keys,
            ["session:lookup:user:gitlab:1".to_owned(), key.clone()]
        );
        let value: String = c.get(&key).unwrap();
        assert_eq!(
            value,
            format!(
                r#"v2:{{"ip_address":"10.0.0.1","browser":"Firefox","os":"Linux","device_name":"Other","device_type":"desktop","created_at":"2025-03-12T09:06:00.500Z","updated_at":"2025-03-12T09:06:00.500Z","session_private_id":"{SPEC_ID}","is_impersonated":false,"admin_mode":true}}"#
            )
        );
        let ttl: i64 = c.ttl(&key).unwrap();
        assert!((90 * 60 - 5..=90 * 60).contains(&ttl), "{ttl}");
        let members: Vec<String> = c.smembers("session:lookup:user:gitlab:1").unwrap();
        assert_eq!(members, [SPEC_ID]);
        let lookup_ttl: i64 = c.ttl("session:lookup:user:gitlab:1").unwrap();
        assert_eq!(lookup_ttl, -1, "GitLab's lookup set has no TTL");
    }

    #[test]
    fn what_gitlab_writes_is_listed_and_revoked() {
        let Some((store, _server, mut c)) = store_with_alice() else {
            return;
        };
        // A current entry with an unknown attribute and a null, as GitLab's spec writes it;
        // a legacy v1 entry (Ruby Marshal) written 10 minutes into its week; both rack
        // sessions.
        let legacy = crate::secret::private_id("legacy");
        let v1_key = format!("session:user:gitlab:1:{legacy}");
        redis::pipe()
            .set_ex(
                format!("session:user:gitlab::v2:1:{SPEC_ID}"),
                SPEC_PAYLOAD,
                3600,
            )
            .set_ex(
                &v1_key,
                b"\x04\x08o:\x12ActiveSession\x06:\x0f@ip_address".as_slice(),
                10080 * 60 - 600,
            )
            .sadd("session:lookup:user:gitlab:1", SPEC_ID)
            .sadd("session:lookup:user:gitlab:1", &legacy)
            .set(format!("session:gitlab:{SPEC_ID}"), "rack")
            .set(format!("session:gitlab:{legacy}"), "rack")
            .exec(&mut c)
            .unwrap();
        let (server_now, _): (i64, u32) = redis::cmd("TIME").query(&mut c).unwrap();
        let mut sessions = store.sessions_of(1).unwrap();
        sessions.sort_by_key(|s| s.device_type.clone());
        assert_eq!(sessions.len(), 2);
        let (old, current) = (&sessions[0], &sessions[1]);
        assert_eq!(old.session_private_id, legacy);
        assert_eq!(old.device_type, LEGACY_DEVICE_TYPE);
        let age = server_now - old.updated_at.timestamp();
        assert!((598..=605).contains(&age), "written {age} s ago");
        assert_eq!(current.browser, "Mobile Safari");
        let read = store.session(1, &legacy).unwrap().unwrap();
        assert_eq!(read.device_type, LEGACY_DEVICE_TYPE);
        assert!((read.updated_at - old.updated_at).num_seconds().abs() <= 1);
        assert_eq!(store.session_count_of(1).unwrap(), 2);

        let applied = store
            .apply(Changes {
                removed_sessions: vec![(1, SPEC_ID.to_owned()), (1, legacy.clone())],
                ..Changes::default()
            })
            .unwrap();
        assert_eq!(applied.sessions_removed, 2);
        let left: Vec<String> = c.keys("session:*").unwrap();
        assert!(left.is_empty(), "{left:?}");
        assert!(store.sessions_of(1).unwrap().is_empty());
    }

    #[test]
    fn destroy_all_reports_its_batches_and_leaves_no_session_key() {
        use std::sync::atomic::{AtomicU64, Ordering};

        #[derive(Default)]
        struct Count {
            total: AtomicU64,
            done: AtomicU64,
            finished: AtomicU64,
        }
        impl Progress for Count {
            fn start(&self, total: u64) {
                self.total.store(total, Ordering::Relaxed);
            }
            fn advance(&self, done: u64) {
                self.done.fetch_add(done, Ordering::Relaxed);
            }
            fn finish(&self) {
                self.finished.fetch_add(1, Ordering::Relaxed);
            }
        }
        let Some((store, _server, mut c)) = store_with_alice() else {
            return;
        };
        let count = Arc::new(Count::default());
        let store = store.with_progress(count.clone());
        // 2,500 sessions of alice: three batches and more.
        let mut pipe = redis::pipe();
        for n in 0..2500 {
            let id = crate::secret::private_id(&n.to_string());
            pipe.set_ex(
                format!("session:user:gitlab::v2:1:{id}"),
                SPEC_PAYLOAD,
                3600,
            )
            .sadd("session:lookup:user:gitlab:1", id);
        }
        pipe.set("unrelated", "kept").exec(&mut c).unwrap();
        let keys_before: u64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
        let revoked = store.remove_all_sessions(None).unwrap();
        assert_eq!((revoked.sessions, revoked.users), (2500, 1));
        // The bar's length is the server's key count; it advances by the keys removed.
        assert_eq!(count.total.load(Ordering::Relaxed), keys_before);
        assert_eq!(count.done.load(Ordering::Relaxed), 2501);
        assert_eq!(count.finished.load(Ordering::Relaxed), 1);
        let keys: Vec<String> = c.keys("*").unwrap();
        let mut keys: Vec<&str> = keys
            .iter()
            .map(String::as_str)
            .filter(|k| !k.starts_with("sessionctl:"))
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["unrelated"]);
    }

    #[test]
    fn entries_read_what_gitlab_writes() {
        // GitLab's spec stores an unknown attribute; nulls and any offset are accepted.
        let value = r#"v2:{"ip_address":"127.0.0.1","browser":"Mobile Safari","os":"iOS","device_name":"iPhone 6","device_type":"smartphone","created_at":"2021-01-01T00:00:00.000+09:00","updated_at":"2021-01-01T00:00:00.000Z","session_private_id":"2::418729c72310bbf349a032f0bb6e3fce9f5a69df8f000d8ae0ac5d159d8f21ae","is_impersonated":false,"new_attribute":"unknown attribute","admin_mode":null}"#;
        let id = "2::418729c72310bbf349a032f0bb6e3fce9f5a69df8f000d8ae0ac5d159d8f21ae";
        let session = decode_entry(7, id, value).unwrap();
        assert_eq!(session.browser, "Mobile Safari");
        assert_eq!(session.created_at.to_rfc3339(), "2020-12-31T15:00:00+00:00");
        assert!(!session.admin_mode);
        let written = encode_entry(&session);
        assert!(
            written.starts_with("v2:{\"ip_address\":\"127.0.0.1\""),
            "{written}"
        );
        assert!(
            written.contains("\"updated_at\":\"2021-01-01T00:00:00.000Z\""),
            "{written}"
        );
        assert_eq!(decode_entry(7, id, &written).unwrap(), session);
    }

    /// The one-round-trip sign-in (a server-side script) and touch, and the one-pass
    /// `destroy_all`: the TTL comes from the settings, a missing user is refused, and only
    /// GitLab's session keys go.
    #[test]
    fn one_round_trip_writes_keep_the_ttl_and_destroy_all_takes_only_session_keys() {
        let Some(server) = crate::store::redis_server::Server::start(&[]) else {
            return;
        };
        let store = RedisStore::open(&server.url(), "sessionctl:").unwrap();
        let mut raw = redis::Client::open(server.url().as_str())
            .unwrap()
            .get_connection()
            .unwrap();
        let settings = Settings {
            session_expire_delay: 30,
            ..Settings::default()
        };
        store.put_settings(&settings, None).unwrap();
        let user = User {
            id: 0,
            username: "alice".into(),
            email: "alice@example.com".into(),
            name: "Alice".into(),
            state: crate::model::UserState::Active,
            admin: false,
            created_at: Utc::now(),
            last_sign_in_at: None,
        };
        let alice = store
            .apply(Changes {
                new_users: vec![user],
                ..Changes::default()
            })
            .unwrap()
            .created_users
            .remove(0);
        let now = Utc::now();
        let session = |user_id, public: &str| ActiveSession {
            session_private_id: crate::secret::private_id(public),
            user_id,
            ip_address: "10.0.0.1".into(),
            browser: "Firefox".into(),
            os: "Linux".into(),
            device_name: "Other".into(),
            device_type: "desktop".into(),
            is_impersonated: false,
            admin_mode: false,
            created_at: now,
            updated_at: now,
        };
        let write = |session: ActiveSession| SignInWrite {
            session,
            limit: 5,
            now,
            expire_delay: chrono::Duration::days(7),
            audit: None,
            audit_key: None,
        };
        let first = session(alice.id, "one");
        store.sign_in(write(first.clone())).unwrap();
        let key = entry_key(alice.id, &first.session_private_id);
        let ttl: i64 = raw.ttl(&key).unwrap();
        assert!((1790..=1800).contains(&ttl), "sign-in TTL {ttl}");
        let _: () = raw.expire(&key, 5).unwrap();
        assert!(matches!(
            store.touch(&first, None, Keep::SignInTime).unwrap(),
            Touch::Touched { .. }
        ));
        let ttl: i64 = raw.ttl(&key).unwrap();
        assert!((1790..=1800).contains(&ttl), "touch TTL {ttl}");
        assert!(matches!(
            store.sign_in(write(session(alice.id + 1, "two"))),
            Err(Error::UserNotFound { .. })
        ));

        let private = &first.session_private_id;
        let _: () = raw
            .mset(&[
                (format!("{ENTRY_V1}{}:{private}", alice.id), "v1"),
                (format!("{RACK}{private}"), "rack"),
                ("session:other:kept".to_owned(), "kept"),
            ])
            .unwrap();
        let revoked = store.remove_all_sessions(None).unwrap();
        assert_eq!((revoked.sessions, revoked.users), (1, 1));
        let left: Vec<String> = raw.keys("session:*").unwrap();
        assert_eq!(left, ["session:other:kept"]);
    }
}
