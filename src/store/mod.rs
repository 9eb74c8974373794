//! Storage: the narrow interface the rules are written against ([`Backend`]) and its two
//! implementations, sled (the default) and Redis in GitLab's layout ([`Location`] says which).
//! Nothing outside this module touches sled or Redis.

#[cfg(test)]
pub mod conformance;
#[cfg(test)]
pub(crate) mod memory;
/// The on-disk encoding, for the bench's raw baselines (not an API).
#[doc(hidden)]
pub mod record;
#[doc(hidden)]
pub mod redis_server;
pub mod redis_store;
pub mod seal;
mod sled_store;

use std::fmt;

use chrono::{DateTime, Utc};

use crate::Result;
use crate::model::{ActiveSession, AuditEntry, RememberToken, Settings, User};

pub use record::FORMAT_VERSION;
pub use sled_store::{
    CACHE_CAPACITY, Mode, SledStore, close_cleanly, holds_database, move_into_place,
    remove_staging, staging_path,
};

/// A boxed stream of records, read lazily from the store.
pub type Stream<'a, T> = Box<dyn Iterator<Item = Result<T>> + 'a>;

/// A set of writes that must agree, applied all together or not at all.
#[derive(Debug, Default, Clone)]
pub struct Changes {
    /// New users. An id of 0 is assigned by the store (increasing, never reused); any other id
    /// is kept. A clash of id, username or email aborts everything.
    pub new_users: Vec<User>,
    /// Users whose own fields are replaced, matched by id: email, name, state and admin. The
    /// username, creation time, `last_sign_in_at` and session count stay as stored. A new
    /// email taken by another user aborts everything ([`crate::Error::EmailTaken`]), and so
    /// does an unknown id ([`crate::Error::UserNotFound`]).
    pub updated_users: Vec<User>,
    /// Users whose `last_sign_in_at` is set (only that field is written: whatever else a
    /// concurrent writer changed in the record stays). A blocked user aborts everything
    /// ([`crate::Error::UserBlocked`]): a sign-in racing a block never lands after it.
    pub signed_in: Vec<(u64, DateTime<Utc>)>,
    /// A guard: the write fails with [`crate::Error::WriteConflict`] unless the user's stored
    /// session count is `count` before it and at most `limit` after it.
    pub expect_sessions: Option<SessionGuard>,
    /// Sessions created or refreshed.
    pub sessions: Vec<ActiveSession>,
    /// Sessions removed, as (user id, private id).
    pub removed_sessions: Vec<(u64, String)>,
    /// Remember-me tokens added.
    pub tokens: Vec<(u64, RememberToken)>,
    /// Users all of whose remember-me tokens are revoked (before `tokens` are added).
    pub revoke_tokens_of: Vec<u64>,
    /// The audit entry recording this change; the ids of `new_users` are added to its users
    /// once assigned.
    pub audit: Option<AuditEntry>,
    /// Where `audit` goes: `None`, appended; `Some(key)` (from [`Backend::new_audit_key`]),
    /// written under `key`, replacing the entry an earlier write put there, which keeps its
    /// place in the log. A run's many mutations of one action are one entry this way,
    /// rewritten by each in the same atomic write as the mutation.
    pub audit_key: Option<u64>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.new_users.is_empty()
            && self.updated_users.is_empty()
            && self.signed_in.is_empty()
            && self.sessions.is_empty()
            && self.removed_sessions.is_empty()
            && self.tokens.is_empty()
            && self.revoke_tokens_of.is_empty()
    }
}

/// See [`Changes::expect_sessions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionGuard {
    pub user_id: u64,
    pub count: u64,
    pub limit: u32,
}

/// A sign-in, described as data: one atomic write of the new session, the removal of what
/// [`crate::model::sign_in_removals`] picks (expired sessions, and beyond the limit the least
/// recently used), the user's `last_sign_in_at`, and the audit entry.
#[derive(Debug, Clone)]
pub struct SignInWrite {
    pub session: ActiveSession,
    pub limit: u32,
    pub now: DateTime<Utc>,
    pub expire_delay: chrono::Duration,
    /// Completed with the eviction count ([`AuditEntry::with_evicted`]).
    pub audit: Option<AuditEntry>,
    /// Where `audit` goes, as [`Changes::audit_key`]: a run's entry of sign-ins is rewritten
    /// by each of them in its own atomic write.
    pub audit_key: Option<u64>,
}

impl SignInWrite {
    /// The write a store applies for this sign-in, given how many sessions the user has
    /// stored (`count`, also the guard's version) and, read only when that is at the limit,
    /// the sessions themselves; with what the write removes.
    pub fn plan(
        &self,
        count: u64,
        stored: impl FnOnce() -> Result<Vec<ActiveSession>>,
    ) -> Result<(Changes, SignInOutcome)> {
        let user_id = self.session.user_id;
        let (expired, evicted) = if count + 1 > u64::from(self.limit) {
            crate::model::sign_in_removals(
                stored()?,
                &self.session.session_private_id,
                self.limit,
                self.now,
                self.expire_delay,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        let changes = Changes {
            sessions: vec![self.session.clone()],
            removed_sessions: expired
                .iter()
                .chain(&evicted)
                .map(|id| (user_id, id.clone()))
                .collect(),
            signed_in: vec![(user_id, self.session.updated_at)],
            expect_sessions: Some(SessionGuard {
                user_id,
                count,
                limit: self.limit,
            }),
            audit: self.audit.clone().map(|a| a.with_evicted(evicted.len())),
            audit_key: self.audit_key,
            ..Changes::default()
        };
        let outcome = SignInOutcome {
            expired: expired.len() as u64,
            evicted,
        };
        Ok((changes, outcome))
    }
}

/// What a touch keeps of the stored session, besides when it was signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Nothing more: the request says the rest (GitLab's `ActiveSession.set`, where the
    /// request knows whether it is impersonated and in admin mode).
    SignInTime,
    /// Its flags too (`is_impersonated`, `admin_mode`): what a request that only
    /// authenticates cannot say.
    SignInTimeAndFlags,
}

/// `stored` as a touch by `updated` leaves it, keeping what `keep` says.
pub(crate) fn touched(
    stored: &ActiveSession,
    updated: &ActiveSession,
    keep: Keep,
) -> ActiveSession {
    let (is_impersonated, admin_mode) =
        keep.flags((stored.is_impersonated, stored.admin_mode), updated);
    ActiveSession {
        created_at: stored.created_at,
        is_impersonated,
        admin_mode,
        ..updated.clone()
    }
}

impl Touch {
    /// [`Touch::Touched`], with what `session`, as the touch left it, holds.
    pub fn touched(session: &ActiveSession) -> Self {
        Touch::Touched {
            created_at: session.created_at,
            is_impersonated: session.is_impersonated,
            admin_mode: session.admin_mode,
        }
    }
}

impl Keep {
    /// The flags (`is_impersonated`, `admin_mode`) a touch by `updated` writes over a session
    /// stored with `stored`.
    pub fn flags(self, stored: (bool, bool), updated: &ActiveSession) -> (bool, bool) {
        match self {
            Keep::SignInTime => (updated.is_impersonated, updated.admin_mode),
            Keep::SignInTimeAndFlags => stored,
        }
    }
}

/// What [`SessionStore::touch`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Touch {
    /// The session was live and now holds the new values but what was kept: it was signed in
    /// at `created_at`, and holds these flags.
    Touched {
        created_at: DateTime<Utc>,
        is_impersonated: bool,
        admin_mode: bool,
    },
    /// No live session has this id (never stored, revoked or expired): nothing written.
    Missing,
    /// The session was there when read and gone when written (revoked in between): nothing
    /// written.
    Revoked,
}

/// What a sign-in removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignInOutcome {
    /// Live sessions evicted by the limit (private ids).
    pub evicted: Vec<String>,
    /// Expired sessions removed on the way.
    pub expired: u64,
}

/// Complete records written together by [`Backend::import`]: all of them or none.
#[derive(Debug, Default, Clone)]
pub struct Records {
    pub users: Vec<User>,
    pub sessions: Vec<ActiveSession>,
    pub tokens: Vec<(u64, RememberToken)>,
}

impl Records {
    pub fn len(&self) -> usize {
        self.users.len() + self.sessions.len() + self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What applying [`Changes`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The users created, with their assigned ids.
    pub created_users: Vec<User>,
    /// How many of `removed_sessions` actually existed.
    pub sessions_removed: u64,
    /// How many remember-me tokens were revoked.
    pub tokens_revoked: u64,
}

/// One way in which the stored data disagrees with itself, found by [`Backend::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disagreement {
    /// The tree or index at fault.
    pub place: &'static str,
    /// The key at fault, readable.
    pub key: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for Disagreement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]: {}", self.place, self.key, self.problem)
    }
}

/// The user directory: who the users are. GitLab keeps them in `PostgreSQL`; here they share
/// the sled database with the sessions, but nothing above the store assumes that.
pub trait UserDirectory {
    fn user(&self, id: u64) -> Result<Option<User>>;
    /// The id of the user with this username, compared case-insensitively.
    fn user_id_by_username(&self, username: &str) -> Result<Option<u64>>;
    /// The user with this username, compared case-insensitively, in one read.
    fn user_by_username(&self, username: &str) -> Result<Option<User>>;
    /// The id of the user with this email, compared case-insensitively.
    fn user_id_by_email(&self, email: &str) -> Result<Option<u64>>;
    fn user_count(&self) -> Result<u64>;
    /// Every user with an id above `after`, in id order, read lazily.
    fn users(&self, after: Option<u64>) -> Stream<'_, User>;
}

/// The session store: each user's active sessions and remember-me tokens (GitLab keeps them
/// in Redis). Reads return what is stored, expired sessions included: deciding what is live
/// is a rule, not storage.
pub trait SessionStore {
    fn session(&self, user_id: u64, private_id: &str) -> Result<Option<ActiveSession>>;
    /// One user's sessions, in no particular order.
    fn sessions_of(&self, user_id: u64) -> Result<Vec<ActiveSession>>;
    /// Every session of the users with ids above `after_user`, grouped by user in user-id
    /// order, read lazily.
    fn sessions(&self, after_user: Option<u64>) -> Stream<'_, ActiveSession>;
    /// How many sessions are stored, expired ones included.
    fn session_count(&self) -> Result<u64>;
    /// How many sessions one user has stored, expired ones included, without reading them.
    fn session_count_of(&self, user_id: u64) -> Result<u64>;
    /// How many sessions of how many users are stored, expired ones included: the figures
    /// [`SessionStore::remove_all_sessions`] would report now.
    fn session_totals(&self) -> Result<(u64, u64)>;
    /// How many stored sessions were last updated after `after` (the live ones, for the
    /// registry's expiry rule). Reads every session, writes nothing.
    fn count_sessions_updated_after(&self, after: DateTime<Utc>) -> Result<u64>;
    fn remember_tokens(&self, user_id: u64) -> Result<Vec<RememberToken>>;

    /// Signs a user in: see [`SignInWrite`]. Never leaves the user above the limit, whatever
    /// runs at the same time.
    fn sign_in(&self, write: SignInWrite) -> Result<SignInOutcome>;

    /// An authenticated request on a stored session: the live session with `updated`'s user
    /// and private id (live: last updated after `live_after`, if given) takes `updated`'s
    /// values but keeps its `created_at` (and what `keep` says), in one atomic single-key
    /// write checked against what was read (a compare-and-swap). A session revoked a moment
    /// before is never brought back.
    fn touch(
        &self,
        updated: &ActiveSession,
        live_after: Option<DateTime<Utc>>,
        keep: Keep,
    ) -> Result<Touch>;

    /// Removes every session and every remember-me token of every user, returning how many
    /// sessions of how many users were removed. The audit entry, completed with those counts
    /// ([`AuditEntry::with_revoked`]), is written atomically with the removal.
    fn remove_all_sessions(&self, audit: Option<AuditEntry>) -> Result<crate::model::Revoked>;
}

/// A deployment's store: its user directory and session store, its settings and audit log,
/// and the writes that must agree across them. Each write is one call, described as data.
pub trait Backend: UserDirectory + SessionStore {
    fn settings(&self) -> Result<Settings>;
    /// Stores the settings and, in the same atomic write, the audit entry of the change.
    fn put_settings(&self, settings: &Settings, audit: Option<&AuditEntry>) -> Result<()>;

    /// Applies `changes` atomically.
    fn apply(&self, changes: Changes) -> Result<Applied>;

    /// Writes `records` (users keep their ids) and the audit entry of the import, all or
    /// nothing, whatever stops the process part-way: a rerun of the same import works.
    fn import(&self, records: Records, audit: Option<AuditEntry>) -> Result<Applied>;

    fn append_audit(&self, entry: &AuditEntry) -> Result<()>;
    /// A key no audit entry has had, for [`Changes::audit_key`].
    fn new_audit_key(&self) -> Result<u64>;
    /// The newest `limit` audit entries, newest first.
    fn recent_audit(&self, limit: usize) -> Result<Vec<AuditEntry>>;

    /// Makes every write so far durable.
    fn flush(&self) -> Result<()>;

    /// The directory to close with [`close_cleanly`] once the store is dropped, when it
    /// needs that (it was written, or it was found left open).
    fn closing(&self) -> Option<std::path::PathBuf>;

    /// Whether the store keeps temporary files (a verified copy it reads) that only dropping
    /// it removes: a process must not leave it undropped.
    fn holds_temporary_files(&self) -> bool {
        false
    }

    /// Verifies that every index agrees with the records and every record decodes.
    fn check(&self) -> Result<Vec<Disagreement>>;
}

/// Decodes `bytes` as every kind of stored record, for the fuzzer: each must give a record or
/// a `CorruptRecord` error, never panic.
#[doc(hidden)]
pub fn decode_any(bytes: &[u8]) -> Vec<Result<()>> {
    let key = record::session_key(1, &crate::secret::private_id("fuzz")).expect("a valid key");
    vec![
        record::decode_user(1, bytes).map(drop),
        record::decode_session(&key, bytes).map(drop),
        record::decode_session(bytes, bytes).map(drop),
        record::decode_tokens(1, bytes).map(drop),
        record::decode_username_entry(bytes).map(drop),
        record::decode_audit(1, bytes).map(drop),
        record::decode_session_count(bytes)
            .map(drop)
            .map_err(|reason| crate::Error::CorruptRecord {
                what: "user",
                key: "fuzz".into(),
                reason,
            }),
    ]
}

/// Where a long store operation (`destroy_all` on Redis) reports how far it got, for a
/// progress bar drawn above the store, which knows nothing of terminals.
pub trait Progress: Send + Sync {
    /// Work of about `total` units starts (an estimate: more may be reported).
    fn start(&self, total: u64);
    /// `done` more units are finished.
    fn advance(&self, done: u64);
    /// The work is over, finished or failed.
    fn finish(&self);
}

/// Where the data lives: a sled database directory (the default, needing no server) or a
/// Redis server.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    Sled(std::path::PathBuf),
    /// `url` may hold a password: show it only through [`Location::describe`].
    Redis {
        url: String,
        prefix: String,
    },
}

/// The redacted form: a password must not reach a log through `{:?}` either.
impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Location {
    /// How people see it: the directory, or the URL with any password redacted.
    pub fn describe(&self) -> String {
        match self {
            Location::Sled(path) => path.display().to_string(),
            Location::Redis { url, prefix } => {
                format!("Redis {} (prefix {prefix})", redis_store::redact(url))
            }
        }
    }

    /// Opens the store for `mode` (see [`open`]). A Redis server always holds a store: every
    /// mode opens it alike (what a reading command or a dry run does not write, the registry
    /// does not write); the sled-only commands are refused above, by the command line.
    pub fn open(
        &self,
        mode: Mode,
        progress: Option<std::sync::Arc<dyn Progress>>,
    ) -> Result<Box<dyn Backend + Send + Sync>> {
        match self {
            Location::Sled(path) => open(path, mode),
            Location::Redis { url, prefix } => {
                let store = redis_store::RedisStore::open(url, prefix)?;
                Ok(Box::new(match progress {
                    Some(progress) => store.with_progress(progress),
                    None => store,
                }))
            }
        }
    }
}

/// Opens the database at `path` with the default backend, for `mode`: only
/// [`Mode::Create`] creates one ([`crate::Error::NoDatabase`] otherwise), and
/// [`Mode::Read`] writes nothing.
pub fn open(path: &std::path::Path, mode: Mode) -> Result<Box<dyn Backend + Send + Sync>> {
    Ok(Box::new(SledStore::open(path, mode)?))
}
