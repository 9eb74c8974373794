//! The sled backend. Trees: `meta` (format version, next user id, settings, generations, the
//! commit number), `users` (id → record, with the user's session count), `users_by_username`
//! (lower-cased username → id and a copy of the user, so a look-up by username is one read),
//! `users_by_email` (lower-cased email → id), `sessions` (user id ‖ SHA-256 of the public id
//! → record, so one user's sessions are one prefix), `remember_tokens` (user id → that
//! user's token hashes) and `audit` (sequence → entry).
//!
//! The user trees and the session trees each come in generations (see [`Generation`]): an
//! import writes a whole new generation of both and switches to it with one atomic write to
//! `meta`; revoking everything switches to an empty generation of the session trees. Trees of
//! other generations are what a crash left, dropped when the store is next opened for writing.
//!
//! Opening, closing and the commit record that proves nothing was lost are in [`open`]; the
//! integrity check is in [`check`].

mod check;
mod open;

use check::indexed_id;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::{DateTime, Utc};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{Transactional, Tree};

use super::record::{
    self, FORMAT_VERSION, SessionCount, UsernameEntry, index_key, session_key, user_key,
};
use super::{
    Applied, Backend, Changes, Disagreement, Keep, Records, SessionStore, SignInOutcome,
    SignInWrite, Stream, Touch, UserDirectory,
};
use crate::model::{ActiveSession, AuditEntry, RememberToken, Revoked, Settings, User, UserState};
use crate::{Error, Result};

pub use open::{
    Mode, close_cleanly, holds_database, move_into_place, remove_staging, staging_path,
};

const FORMAT_VERSION_KEY: &[u8] = b"format_version";
const NEXT_USER_ID_KEY: &[u8] = b"next_user_id";
const SETTINGS_KEY: &[u8] = b"settings";
const GENERATION_KEY: &[u8] = b"sessions_generation";
const USERS_GENERATION_KEY: &[u8] = b"users_generation";
const COMMIT_KEY: &[u8] = b"commit_seq";
const USERS: &str = "users";
const USERNAME_INDEX: &str = "users_by_username";
const EMAIL_INDEX: &str = "users_by_email";
const SESSIONS: &str = "sessions";
const TOKENS: &str = "remember_tokens";

/// sled's page cache size. Its default (1 GiB) lets the process grow far past what a console
/// needs. A scan grows the process by about 1.7x this figure (sled counts serialized bytes),
/// so 32 MiB keeps `User.find_each` over a million users under 64 MB of growth. Username
/// look-ups measured as fast as with 64 MiB; writes to data that no longer fits the cache
/// (sign-ins on a large database) are slower (docs/performance.md).
pub const CACHE_CAPACITY: u64 = 32 * 1024 * 1024;

/// A sessionctl database in a sled directory.
pub struct SledStore {
    /// The database directory as the user named it (errors and the commit record use it).
    path: PathBuf,
    mode: Mode,
    db: sled::Db,
    meta: Tree,
    audit: Tree,
    /// The current generations. Held for reading by every operation, and for writing while
    /// `remove_all_sessions` or `import` switches generations.
    generation: RwLock<Generation>,
    /// The format version the database records (1 or [`FORMAT_VERSION`]).
    format: AtomicU32,
    /// Writes finished in this process, and how they stand against the commit record.
    commit: open::Commit,
    writes: AtomicU64,
    /// When reading a store that was not closed cleanly: the verified copy read instead.
    copy: Option<tempfile::TempDir>,
}

/// The tree name of `base` in generation `number`: generation 0 of the user trees keeps the
/// plain names of older databases.
fn tree_name(base: &str, number: u64) -> String {
    if number == 0 {
        base.to_owned()
    } else {
        format!("{base}.{number}")
    }
}

/// One generation of the user trees (`users`, both indexes) and one of the session trees
/// (`sessions`, `remember_tokens`).
#[derive(Clone)]
struct Generation {
    users_number: u64,
    sessions_number: u64,
    users: Tree,
    by_username: Tree,
    by_email: Tree,
    sessions: Tree,
    tokens: Tree,
}

impl Generation {
    fn open(db: &sled::Db, users_number: u64, sessions_number: u64) -> Result<Self> {
        let tree = |base: &str, number: u64| db.open_tree(tree_name(base, number)).map_err(storage);
        Ok(Self {
            users_number,
            sessions_number,
            users: tree(USERS, users_number)?,
            by_username: tree(USERNAME_INDEX, users_number)?,
            by_email: tree(EMAIL_INDEX, users_number)?,
            sessions: tree(SESSIONS, sessions_number)?,
            tokens: tree(TOKENS, sessions_number)?,
        })
    }

    /// The names of its trees.
    fn names(&self) -> [String; 5] {
        [
            tree_name(USERS, self.users_number),
            tree_name(USERNAME_INDEX, self.users_number),
            tree_name(EMAIL_INDEX, self.users_number),
            tree_name(SESSIONS, self.sessions_number),
            tree_name(TOKENS, self.sessions_number),
        ]
    }
}

/// A sled error in plain words: a full disk and damage are named, and sled's `Debug` text
/// never reaches the user.
fn storage(error: sled::Error) -> Error {
    match error {
        sled::Error::Io(e)
            if e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28) =>
        {
            Error::DiskFull
        }
        sled::Error::Io(e) => Error::Storage {
            message: format!("I/O error: {e}"),
        },
        sled::Error::Corruption { .. } => Error::Storage {
            message: "the database files are damaged (sled found corrupt data)".into(),
        },
        sled::Error::CollectionNotFound(name) => Error::Storage {
            message: format!("tree {} not found", String::from_utf8_lossy(&name)),
        },
        sled::Error::Unsupported(message) | sled::Error::ReportableBug(message) => {
            Error::Storage { message }
        }
    }
}

fn tx_error(error: TransactionError<Error>) -> Error {
    match error {
        TransactionError::Abort(error) => error,
        TransactionError::Storage(error) => storage(error),
    }
}

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<Error>>;

fn abort<T>(error: Error) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(error))
}

impl SledStore {
    /// Runs one write: refused on a store opened for reading; the first write of the process
    /// marks the commit record open before anything reaches sled.
    fn write<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.commit.before_write(&self.path, self.mode)?;
        let result = f();
        self.writes.fetch_add(1, Ordering::SeqCst);
        result
    }

    /// Drops the trees of generations other than the current ones: what a crash during
    /// `remove_all_sessions` or `import` left behind.
    fn drop_other_generations(&self) -> Result<()> {
        let keep = self.current().names();
        for name in self.db.tree_names() {
            let name = String::from_utf8_lossy(&name).into_owned();
            let generational = [USERS, USERNAME_INDEX, EMAIL_INDEX, SESSIONS, TOKENS]
                .iter()
                .any(|base| {
                    name == *base
                        || name
                            .strip_prefix(base)
                            .and_then(|rest| rest.strip_prefix('.'))
                            .is_some_and(|n| n.parse::<u64>().is_ok())
                });
            if generational && !keep.contains(&name) {
                self.write(|| self.db.drop_tree(name).map(drop).map_err(storage))?;
            }
        }
        Ok(())
    }

    /// How many sessions of how many users the current generation holds, from the counts the
    /// user records keep: no scan of the sessions.
    fn totals(generation: &Generation) -> Result<(u64, u64)> {
        let (mut sessions, mut users) = (0u64, 0u64);
        for entry in &generation.users {
            let (key, value) = entry.map_err(storage)?;
            let count = record::decode_session_count(&value)
                .map_err(|reason| Error::CorruptRecord {
                    what: "user",
                    key: hex::encode(&key),
                    reason,
                })?
                .in_generation(generation.sessions_number);
            if count > 0 {
                sessions += u64::from(count);
                users += 1;
            }
        }
        Ok((sessions, users))
    }

    /// Writes `meta` entries and, atomically with them, the audit entry recording them.
    fn write_meta(&self, entries: &[(&[u8], &[u8])], audit: Option<&AuditEntry>) -> Result<()> {
        let entry = audit.map(record::encode_audit);
        self.write(|| {
            (&self.meta, &self.audit)
                .transaction(|(meta, audit)| {
                    for (key, value) in entries {
                        meta.insert(*key, *value)?;
                    }
                    if let Some(entry) = &entry {
                        audit.insert(&audit.generate_id()?.to_be_bytes(), entry.as_slice())?;
                    }
                    Ok(())
                })
                .map_err(tx_error)
        })
    }

    /// The current generation, held for reading.
    fn current(&self) -> RwLockReadGuard<'_, Generation> {
        self.generation.read().expect("generation lock")
    }

    /// Records the current format version before the first write that needs it: format 1
    /// databases are read as they are, and become format 2 when a username entry first gets
    /// a copy of its user (a version older builds refuse).
    fn before_writing_users(&self) -> Result<()> {
        if self.format.load(Ordering::Relaxed) < FORMAT_VERSION {
            self.write(|| {
                self.meta
                    .insert(FORMAT_VERSION_KEY, &FORMAT_VERSION.to_be_bytes())
                    .map_err(storage)
            })?;
            self.format.store(FORMAT_VERSION, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The directory of the database.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a raw value into a tree (for the user trees, the current generation's),
    /// bypassing every rule: for tests that corrupt data on purpose.
    #[doc(hidden)]
    pub fn raw_insert(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<()> {
        let tree = self.raw_tree(tree)?;
        self.write(|| tree.insert(key, value).map(drop).map_err(storage))
    }

    /// Reads a raw value from a tree: for tests that corrupt data and put it back.
    #[doc(hidden)]
    pub fn raw_get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let tree = self.raw_tree(tree)?;
        Ok(tree.get(key).map_err(storage)?.map(|v| v.to_vec()))
    }

    /// Removes a raw key from a tree, bypassing every rule: for tests that break indexes.
    #[doc(hidden)]
    pub fn raw_remove(&self, tree: &str, key: &[u8]) -> Result<()> {
        let tree = self.raw_tree(tree)?;
        self.write(|| tree.remove(key).map(drop).map_err(storage))
    }

    /// A tree by its base name, in the current generation.
    fn raw_tree(&self, name: &str) -> Result<Tree> {
        let generation = self.current();
        Ok(match name {
            USERS => generation.users.clone(),
            USERNAME_INDEX => generation.by_username.clone(),
            EMAIL_INDEX => generation.by_email.clone(),
            SESSIONS => generation.sessions.clone(),
            TOKENS => generation.tokens.clone(),
            other => self.db.open_tree(other).map_err(storage)?,
        })
    }
}

/// The roles of the trees a transaction may take part in.
#[derive(Clone, Copy)]
enum Role {
    Meta,
    Users,
    ByUsername,
    ByEmail,
    Sessions,
    Tokens,
    Audit,
}

/// The trees of one transaction, by role: only those the changes touch take part (sled pays
/// for every tree in a transaction).
struct Tx<'a> {
    trees: [Option<&'a TransactionalTree>; 7],
    generation: u64,
}

impl<'a> Tx<'a> {
    fn tree(&self, role: Role) -> &'a TransactionalTree {
        self.trees[role as usize].expect("the transaction covers the trees its changes touch")
    }

    fn next_user_id(&self) -> TxResult<u64> {
        Ok(match self.tree(Role::Meta).get(NEXT_USER_ID_KEY)? {
            Some(bytes) => record::decode_id(&bytes, "meta").or_else(abort)?,
            None => 1,
        })
    }

    fn create_user(&self, mut user: User) -> TxResult<User> {
        let (meta, users) = (self.tree(Role::Meta), self.tree(Role::Users));
        let next = self.next_user_id()?;
        if user.id == 0 {
            user.id = next;
        } else if users.get(user_key(user.id))?.is_some() {
            return abort(Error::UserIdTaken { id: user.id });
        }
        if user.id >= next {
            let Some(after) = user.id.checked_add(1) else {
                return abort(Error::InvalidField {
                    field: "id",
                    reason: format!("{} is too large", user.id),
                });
            };
            meta.insert(NEXT_USER_ID_KEY, &after.to_be_bytes())?;
        }
        let id = user_key(user.id);
        for (role, value) in [
            (Role::ByUsername, &user.username),
            (Role::ByEmail, &user.email),
        ] {
            let index = self.tree(role);
            if let Some(other) = index.get(index_key(value))? {
                let place = match role {
                    Role::ByUsername => USERNAME_INDEX,
                    _ => EMAIL_INDEX,
                };
                let other = indexed_id(place, &other).or_else(abort)?;
                return abort(match role {
                    Role::ByUsername => Error::UsernameTaken {
                        username: value.clone(),
                        id: other,
                    },
                    _ => Error::EmailTaken {
                        email: value.clone(),
                        id: other,
                    },
                });
            }
        }
        self.tree(Role::ByUsername).insert(
            index_key(&user.username).as_bytes(),
            record::encode_username_entry(&user),
        )?;
        self.tree(Role::ByEmail)
            .insert(index_key(&user.email).as_bytes(), &id)?;
        users.insert(&id, record::encode_user(&user, SessionCount::default()))?;
        Ok(user)
    }

    /// Replaces an existing user's own fields (see [`Changes::updated_users`]), moving the
    /// email index entry when the email changes and rewriting the copy in the username index.
    fn update_user(&self, new: &User) -> TxResult<()> {
        let users = self.tree(Role::Users);
        let Some(old) = users.get(user_key(new.id))? else {
            return abort(Error::UserNotFound { id: new.id });
        };
        let (mut user, sessions) = record::decode_user_record(new.id, &old).or_else(abort)?;
        let by_email = self.tree(Role::ByEmail);
        let (old_email, new_email) = (index_key(&user.email), index_key(&new.email));
        if old_email != new_email {
            if let Some(other) = by_email.get(new_email.as_bytes())? {
                let id = indexed_id(EMAIL_INDEX, &other).or_else(abort)?;
                return abort(Error::EmailTaken {
                    email: new.email.clone(),
                    id,
                });
            }
            by_email.remove(old_email.as_bytes())?;
            by_email.insert(new_email.as_bytes(), &user_key(new.id))?;
        }
        user.email.clone_from(&new.email);
        user.name.clone_from(&new.name);
        user.state = new.state;
        user.admin = new.admin;
        users.insert(&user_key(new.id), record::encode_user(&user, sessions))?;
        self.tree(Role::ByUsername).insert(
            index_key(&user.username).as_bytes(),
            record::encode_username_entry(&user),
        )?;
        Ok(())
    }

    /// Sets an existing user's `last_sign_in_at`, moving the session count it keeps by
    /// `change`, and the copy of the user in the username index. Only that field changes.
    fn sign_in_user(
        &self,
        user_id: u64,
        at: chrono::DateTime<chrono::Utc>,
        change: i64,
    ) -> TxResult<()> {
        let users = self.tree(Role::Users);
        let Some(old) = users.get(user_key(user_id))? else {
            return abort(Error::UserNotFound { id: user_id });
        };
        let (mut user, sessions) = record::decode_user_record(user_id, &old).or_else(abort)?;
        if user.state == UserState::Blocked {
            return abort(Error::UserBlocked {
                id: user_id,
                username: user.username,
            });
        }
        user.last_sign_in_at = Some(at);
        users.insert(
            &user_key(user_id),
            record::encode_user(&user, self.moved(sessions, change)),
        )?;
        self.tree(Role::ByUsername).insert(
            index_key(&user.username).as_bytes(),
            record::encode_username_entry(&user),
        )?;
        Ok(())
    }

    /// The session count the user record keeps, in this generation (0 for no user).
    fn stored_count(&self, user_id: u64) -> TxResult<u64> {
        Ok(match self.tree(Role::Users).get(user_key(user_id))? {
            Some(bytes) => u64::from(
                record::decode_session_count(&bytes)
                    .map_err(|reason| Error::CorruptRecord {
                        what: "user",
                        key: format!("user id={user_id}"),
                        reason,
                    })
                    .or_else(abort)?
                    .in_generation(self.generation),
            ),
            None => 0,
        })
    }

    /// A session count in the current generation, moved by `change` (never below zero).
    fn moved(&self, sessions: SessionCount, change: i64) -> SessionCount {
        let count = (i64::from(sessions.in_generation(self.generation)) + change).max(0);
        SessionCount {
            generation: self.generation,
            count: u32::try_from(count).unwrap_or(u32::MAX),
        }
    }

    /// Moves the session counts kept in the user records by `delta`.
    fn count_sessions(&self, delta: &HashMap<u64, i64>) -> TxResult<()> {
        for (&user_id, &change) in delta {
            if change == 0 {
                continue;
            }
            let users = self.tree(Role::Users);
            // An orphan session (its user gone) has no count to keep.
            let Some(bytes) = users.get(user_key(user_id))? else {
                continue;
            };
            let (user, sessions) = record::decode_user_record(user_id, &bytes).or_else(abort)?;
            users.insert(
                &user_key(user_id),
                record::encode_user(&user, self.moved(sessions, change)),
            )?;
        }
        Ok(())
    }

    fn apply(&self, changes: &Changes) -> TxResult<Applied> {
        if let Some(guard) = changes.expect_sessions
            && self.stored_count(guard.user_id)? != guard.count
        {
            return abort(Error::WriteConflict);
        }
        let mut applied = Applied::default();
        for user in &changes.new_users {
            applied.created_users.push(self.create_user(user.clone())?);
        }
        for user in &changes.updated_users {
            self.update_user(user)?;
        }
        let mut delta: HashMap<u64, i64> = HashMap::new();
        for (user_id, private_id) in &changes.removed_sessions {
            if let Some(key) = session_key(*user_id, private_id)
                && self.tree(Role::Sessions).remove(&key[..])?.is_some()
            {
                applied.sessions_removed += 1;
                *delta.entry(*user_id).or_default() -= 1;
            }
        }
        for session in &changes.sessions {
            let key =
                session_key(session.user_id, &session.session_private_id).ok_or_else(|| {
                    ConflictableTransactionError::Abort(Error::InvalidField {
                        field: "session_private_id",
                        reason: format!("{:?} is not a private id", session.session_private_id),
                    })
                })?;
            if self
                .tree(Role::Sessions)
                .insert(&key[..], record::encode_session(session))?
                .is_none()
            {
                *delta.entry(session.user_id).or_default() += 1;
            }
        }
        // A user signed in takes its count change in the same write (a sign-in writes its
        // user once); the other users' counts are moved on their own.
        for &(user_id, at) in &changes.signed_in {
            self.sign_in_user(user_id, at, delta.remove(&user_id).unwrap_or(0))?;
        }
        self.count_sessions(&delta)?;
        if let Some(guard) = changes.expect_sessions
            && self.stored_count(guard.user_id)? > u64::from(guard.limit)
        {
            return abort(Error::WriteConflict);
        }
        for user_id in &changes.revoke_tokens_of {
            if let Some(old) = self.tree(Role::Tokens).remove(&user_key(*user_id))? {
                applied.tokens_revoked +=
                    record::decode_tokens(*user_id, &old).map_or(1, |t| t.len() as u64);
            }
        }
        for (user_id, token) in &changes.tokens {
            if !crate::secret::is_token_hash(&token.token_hash) {
                return abort(Error::InvalidField {
                    field: "token_hash",
                    reason: format!("{:?} is not a token hash", token.token_hash),
                });
            }
            let tokens_tree = self.tree(Role::Tokens);
            let key = user_key(*user_id);
            let mut tokens = match tokens_tree.get(key)? {
                Some(bytes) => record::decode_tokens(*user_id, &bytes).or_else(abort)?,
                None => Vec::new(),
            };
            tokens.push(token.clone());
            tokens_tree.insert(&key, record::encode_tokens(&tokens))?;
        }
        if let Some(entry) = &changes.audit {
            let mut entry = entry.clone();
            entry
                .user_ids
                .extend(applied.created_users.iter().map(|u| u.id));
            let audit = self.tree(Role::Audit);
            let seq = match changes.audit_key {
                Some(key) => key,
                None => audit.generate_id()?,
            };
            audit.insert(&seq.to_be_bytes(), record::encode_audit(&entry))?;
        }
        Ok(applied)
    }
}

impl UserDirectory for SledStore {
    fn user(&self, id: u64) -> Result<Option<User>> {
        self.current()
            .users
            .get(user_key(id))
            .map_err(storage)?
            .map(|bytes| record::decode_user(id, &bytes))
            .transpose()
    }

    fn user_id_by_username(&self, username: &str) -> Result<Option<u64>> {
        self.current()
            .by_username
            .get(index_key(username))
            .map_err(storage)?
            .map(|entry| record::decode_username_id(&entry))
            .transpose()
    }

    fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let entry = self.current().by_username.get(index_key(username));
        let Some(entry) = entry.map_err(storage)? else {
            return Ok(None);
        };
        match record::decode_username_entry(&entry)? {
            UsernameEntry::User(user) => Ok(Some(user)),
            UsernameEntry::Id(id) => self.user(id),
        }
    }

    fn user_id_by_email(&self, email: &str) -> Result<Option<u64>> {
        self.current()
            .by_email
            .get(index_key(email))
            .map_err(storage)?
            .map(|id| record::decode_id(&id, "email index"))
            .transpose()
    }

    fn user_count(&self) -> Result<u64> {
        Ok(self.current().users.len() as u64)
    }

    fn users(&self, after: Option<u64>) -> Stream<'_, User> {
        let users = self.current().users.clone();
        let range = match after {
            Some(id) if id == u64::MAX => return Box::new(std::iter::empty()),
            Some(id) => users.range(user_key(id + 1)..),
            None => users.iter(),
        };
        Box::new(range.map(|entry| {
            let (key, value) = entry.map_err(storage)?;
            record::decode_user(record::decode_id(&key, "user")?, &value)
        }))
    }
}

impl SessionStore for SledStore {
    fn session_count_of(&self, user_id: u64) -> Result<u64> {
        Ok(Self::user_with_session_count_in(&self.current(), user_id)?.map_or(0, |(_, n)| n))
    }

    fn session(&self, user_id: u64, private_id: &str) -> Result<Option<ActiveSession>> {
        let Some(key) = session_key(user_id, private_id) else {
            return Ok(None);
        };
        self.current()
            .sessions
            .get(key)
            .map_err(storage)?
            .map(|bytes| record::decode_session(&key, &bytes))
            .transpose()
    }

    fn sessions_of(&self, user_id: u64) -> Result<Vec<ActiveSession>> {
        Self::sessions_of_in(&self.current(), user_id)
    }

    fn sessions(&self, after_user: Option<u64>) -> Stream<'_, ActiveSession> {
        let sessions = self.current().sessions.clone();
        let range = match after_user {
            Some(id) if id == u64::MAX => return Box::new(std::iter::empty()),
            Some(id) => sessions.range(user_key(id + 1)..),
            None => sessions.iter(),
        };
        Box::new(range.map(|entry| {
            let (key, value) = entry.map_err(storage)?;
            record::decode_session(&key, &value)
        }))
    }

    fn session_count(&self) -> Result<u64> {
        Ok(self.current().sessions.len() as u64)
    }

    fn session_totals(&self) -> Result<(u64, u64)> {
        Self::totals(&self.current())
    }

    fn count_sessions_updated_after(&self, after: chrono::DateTime<chrono::Utc>) -> Result<u64> {
        let after = after.timestamp_micros();
        let sessions = self.current().sessions.clone();
        let mut count = 0;
        for entry in &sessions {
            let (key, value) = entry.map_err(storage)?;
            if record::session_updated_at(&key, &value)? > after {
                count += 1;
            }
        }
        Ok(count)
    }

    fn remember_tokens(&self, user_id: u64) -> Result<Vec<RememberToken>> {
        match self
            .current()
            .tokens
            .get(user_key(user_id))
            .map_err(storage)?
        {
            Some(bytes) => record::decode_tokens(user_id, &bytes),
            None => Ok(Vec::new()),
        }
    }

    fn sign_in(&self, write: SignInWrite) -> Result<SignInOutcome> {
        let generation = self.current();
        let user_id = write.session.user_id;
        // The user's stored count is the version the write is guarded by: a concurrent
        // change to the user's sessions makes it conflict, and it is planned again.
        for _ in 0..MAX_ATTEMPTS {
            let Some((_, count)) = Self::user_with_session_count_in(&generation, user_id)? else {
                return Err(Error::UserNotFound { id: user_id });
            };
            let (changes, outcome) =
                write.plan(count, || Self::sessions_of_in(&generation, user_id))?;
            match self.apply_to(&generation, &changes) {
                Err(Error::WriteConflict) => {}
                Err(error) => return Err(error),
                Ok(_) => return Ok(outcome),
            }
        }
        Err(Error::Storage {
            message: format!("sign-in of user id={user_id} kept meeting concurrent changes"),
        })
    }

    fn touch(
        &self,
        updated: &ActiveSession,
        live_after: Option<DateTime<Utc>>,
        keep: Keep,
    ) -> Result<Touch> {
        let Some(key) = session_key(updated.user_id, &updated.session_private_id) else {
            return Ok(Touch::Missing);
        };
        let live_after = live_after.map(|at| at.timestamp_micros());
        let generation = self.current();
        // Only the times are read out, and the bytes read are what the write is checked
        // against: no decoding or encoding of the stored session.
        let Some(mut old) = generation.sessions.get(key).map_err(storage)? else {
            return Ok(Touch::Missing);
        };
        for _ in 0..MAX_ATTEMPTS {
            let kept = record::session_kept(&key, &old)?;
            if live_after.is_some_and(|after| kept.updated_at <= after) {
                return Ok(Touch::Missing);
            }
            let flags = keep.flags((kept.is_impersonated, kept.admin_mode), updated);
            let new =
                record::encode_touched(updated, kept.created_at.timestamp_micros(), Some(flags));
            let swapped = self.write(|| {
                generation
                    .sessions
                    .compare_and_swap(key, Some(&old), Some(new))
                    .map_err(storage)
            })?;
            match swapped {
                Ok(()) => {
                    return Ok(Touch::Touched {
                        created_at: kept.created_at,
                        is_impersonated: flags.0,
                        admin_mode: flags.1,
                    });
                }
                // Revoked since it was read: never brought back.
                Err(sled::CompareAndSwapError { current: None, .. }) => return Ok(Touch::Revoked),
                // Touched by another request meanwhile: the newer request wins.
                Err(sled::CompareAndSwapError {
                    current: Some(current),
                    ..
                }) => old = current,
            }
        }
        Err(Error::Storage {
            message: "a session touch kept meeting concurrent changes".into(),
        })
    }

    fn remove_all_sessions(&self, audit: Option<AuditEntry>) -> Result<Revoked> {
        let generation = self.generation.write().expect("generation lock");
        let (sessions, users) = Self::totals(&generation)?;
        let revoked = Revoked { sessions, users };
        self.commit.before_write(&self.path, self.mode)?;
        // One atomic write switches to empty trees; then the old ones go.
        let next = Generation::open(
            &self.db,
            generation.users_number,
            generation.sessions_number + 1,
        )?;
        self.switch(
            generation,
            next,
            audit.map(|a| a.with_revoked(revoked)).as_ref(),
        )?;
        Ok(revoked)
    }
}

impl Backend for SledStore {
    fn settings(&self) -> Result<Settings> {
        match self.meta.get(SETTINGS_KEY).map_err(storage)? {
            Some(bytes) => postcard::from_bytes(&bytes).map_err(|e| Error::CorruptRecord {
                what: "settings",
                key: "settings".into(),
                reason: e.to_string(),
            }),
            None => Ok(Settings::default()),
        }
    }

    fn put_settings(&self, settings: &Settings, audit: Option<&AuditEntry>) -> Result<()> {
        let bytes = postcard::to_stdvec(settings).expect("encoding to memory cannot fail");
        self.write_meta(&[(SETTINGS_KEY, &bytes)], audit)
    }

    fn apply(&self, changes: Changes) -> Result<Applied> {
        let generation = self.current();
        self.apply_to(&generation, &changes)
    }

    fn import(&self, records: Records, audit: Option<AuditEntry>) -> Result<Applied> {
        let generation = self.generation.write().expect("generation lock");
        // Opening the new generation's trees writes to sled: the record says "open" first.
        self.commit.before_write(&self.path, self.mode)?;
        let next = Generation::open(
            &self.db,
            generation.users_number + 1,
            generation.sessions_number + 1,
        )?;
        self.write(|| {
            // What an import cut short may have left under these names.
            for tree in [
                &next.users,
                &next.by_username,
                &next.by_email,
                &next.sessions,
                &next.tokens,
            ] {
                tree.clear().map_err(storage)?;
            }
            Ok(())
        })?;
        self.before_writing_users()?;
        self.copy_generation(&generation, &next)?;
        let mut applied = Applied::default();
        for users in records.users.chunks(CHUNK) {
            let changes = Changes {
                new_users: users.to_vec(),
                ..Changes::default()
            };
            applied
                .created_users
                .extend(self.apply_to(&next, &changes)?.created_users);
        }
        for sessions in records.sessions.chunks(CHUNK) {
            let changes = Changes {
                sessions: sessions.to_vec(),
                ..Changes::default()
            };
            self.apply_to(&next, &changes)?;
        }
        for tokens in records.tokens.chunks(CHUNK) {
            let changes = Changes {
                tokens: tokens.to_vec(),
                ..Changes::default()
            };
            self.apply_to(&next, &changes)?;
        }
        self.switch(generation, next, audit.as_ref())?;
        Ok(applied)
    }

    fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        self.write(|| {
            let seq = self.db.generate_id().map_err(storage)?;
            self.audit
                .insert(seq.to_be_bytes(), record::encode_audit(entry))
                .map_err(storage)?;
            Ok(())
        })
    }

    /// A sequence number as the audit tree's keys are: later keys sort after it, so an entry
    /// rewritten under it keeps the place it had when the key was taken. (sled persists its
    /// counter: a write.)
    fn new_audit_key(&self) -> Result<u64> {
        self.write(|| self.db.generate_id().map_err(storage))
    }

    fn recent_audit(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        self.audit
            .iter()
            .rev()
            .take(limit)
            .map(|entry| {
                let (key, value) = entry.map_err(storage)?;
                record::decode_audit(record::decode_id(&key, "audit")?, &value)
            })
            .collect()
    }

    fn flush(&self) -> Result<()> {
        self.commit_writes()
    }

    fn closing(&self) -> Option<PathBuf> {
        self.needs_closing().then(|| self.path.clone())
    }

    fn holds_temporary_files(&self) -> bool {
        self.copy.is_some()
    }

    fn check(&self) -> Result<Vec<Disagreement>> {
        self.check_all()
    }
}

/// Records copied, or written by an import, per batch: bounded memory however large the
/// database.
const CHUNK: usize = 10_000;

/// How often a guarded write is planned again after meeting a concurrent change.
const MAX_ATTEMPTS: usize = 1000;

impl SledStore {
    fn user_with_session_count_in(generation: &Generation, id: u64) -> Result<Option<(User, u64)>> {
        generation
            .users
            .get(user_key(id))
            .map_err(storage)?
            .map(|bytes| {
                record::decode_user_record(id, &bytes).map(|(user, count)| {
                    (
                        user,
                        u64::from(count.in_generation(generation.sessions_number)),
                    )
                })
            })
            .transpose()
    }

    fn sessions_of_in(generation: &Generation, user_id: u64) -> Result<Vec<ActiveSession>> {
        generation
            .sessions
            .scan_prefix(user_key(user_id))
            .map(|entry| {
                let (key, value) = entry.map_err(storage)?;
                record::decode_session(&key, &value)
            })
            .collect()
    }

    /// Makes `next` the current generation with one atomic write to `meta` (with `audit`),
    /// commits it, then drops the trees of the old generation that `next` does not share.
    /// Once committed the switch reports success: a tree that cannot be dropped now is dropped
    /// at the next open for writing.
    fn switch(
        &self,
        mut generation: RwLockWriteGuard<'_, Generation>,
        next: Generation,
        audit: Option<&AuditEntry>,
    ) -> Result<()> {
        self.write_meta(
            &[
                (USERS_GENERATION_KEY, &next.users_number.to_be_bytes()),
                (GENERATION_KEY, &next.sessions_number.to_be_bytes()),
            ],
            audit,
        )?;
        self.commit_writes()?;
        let kept = next.names();
        let old = std::mem::replace(&mut *generation, next);
        drop(generation);
        for name in old.names().into_iter().filter(|n| !kept.contains(n)) {
            let _ = self.write(|| self.db.drop_tree(name).map(drop).map_err(storage));
        }
        Ok(())
    }

    /// Applies `changes` to `generation` in one transaction.
    fn apply_to(&self, generation: &Generation, changes: &Changes) -> Result<Applied> {
        let touches_sessions = !changes.sessions.is_empty() || !changes.removed_sessions.is_empty();
        let creates = !changes.new_users.is_empty();
        let updates = !changes.updated_users.is_empty();
        let roles: [(Role, bool, &Tree); 7] = [
            (Role::Meta, creates, &self.meta),
            (
                Role::Users,
                creates || updates || !changes.signed_in.is_empty() || touches_sessions,
                &generation.users,
            ),
            (
                Role::ByUsername,
                creates || updates || !changes.signed_in.is_empty(),
                &generation.by_username,
            ),
            (Role::ByEmail, creates || updates, &generation.by_email),
            (Role::Sessions, touches_sessions, &generation.sessions),
            (
                Role::Tokens,
                !changes.tokens.is_empty() || !changes.revoke_tokens_of.is_empty(),
                &generation.tokens,
            ),
            (Role::Audit, changes.audit.is_some(), &self.audit),
        ];
        let mut trees = Vec::new();
        let mut slots = [None; 7];
        for (role, needed, tree) in roles {
            if needed {
                slots[role as usize] = Some(trees.len());
                trees.push(tree);
            }
        }
        if trees.is_empty() {
            return Ok(Applied::default());
        }
        if creates || updates || !changes.signed_in.is_empty() {
            self.before_writing_users()?;
        }
        self.write(|| {
            trees
                .as_slice()
                .transaction(|taking_part| {
                    let tx = Tx {
                        trees: slots.map(|slot| slot.map(|i| &taking_part[i])),
                        generation: generation.sessions_number,
                    };
                    tx.apply(changes)
                })
                .map_err(tx_error)
        })
    }

    /// Copies every record of generation `from` into the empty generation `to`, in batches;
    /// the session counts kept in the user records move to `to`'s session generation.
    fn copy_generation(&self, from: &Generation, to: &Generation) -> Result<()> {
        let copy = |source: &Tree, target: &Tree, users: bool| -> Result<()> {
            let mut batch = sled::Batch::default();
            let mut size = 0;
            for entry in source {
                let (key, mut value) = entry.map_err(storage)?;
                if users {
                    let id = record::decode_id(&key, "user")?;
                    let (user, count) = record::decode_user_record(id, &value)?;
                    let count = SessionCount {
                        generation: to.sessions_number,
                        count: count.in_generation(from.sessions_number),
                    };
                    value = record::encode_user(&user, count).into();
                }
                batch.insert(key, value);
                size += 1;
                if size == CHUNK {
                    let full = std::mem::take(&mut batch);
                    self.write(|| target.apply_batch(full).map_err(storage))?;
                    size = 0;
                }
            }
            self.write(|| target.apply_batch(batch).map_err(storage))
        };
        copy(&from.users, &to.users, true)?;
        copy(&from.by_username, &to.by_username, false)?;
        copy(&from.by_email, &to.by_email, false)?;
        copy(&from.sessions, &to.sessions, false)?;
        copy(&from.tokens, &to.tokens, false)
    }
}
