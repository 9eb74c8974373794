//! The sled backend. Trees: `meta` (format version, next user id, settings), `users` (id →
//! record), `users_by_username` and `users_by_email` (lower-cased value → id), `sessions`
//! (user id ‖ SHA-256 of the public id → record, so one user's sessions are one prefix),
//! `remember_tokens` (user id → that user's token hashes) and `audit` (sequence → entry).

use std::fs::{self, DirBuilder};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{Transactional, Tree};

use super::record::{self, FORMAT_VERSION, index_key, session_key, user_key};
use super::{Applied, Backend, Changes, Disagreement, Stream};
use crate::model::{ActiveSession, AuditEntry, RememberToken, Settings, User};
use crate::{Error, Result};

const FORMAT_VERSION_KEY: &[u8] = b"format_version";
const NEXT_USER_ID_KEY: &[u8] = b"next_user_id";
const SETTINGS_KEY: &[u8] = b"settings";

/// Page cache size. sled's default (1 GiB) lets the process grow far past what a console
/// needs; 64 MiB keeps a 1M-session database fast to scan.
const CACHE_CAPACITY: u64 = 64 * 1024 * 1024;

/// A sessionctl database in a sled directory.
pub struct SledStore {
    path: PathBuf,
    db: sled::Db,
    meta: Tree,
    users: Tree,
    by_username: Tree,
    by_email: Tree,
    sessions: Tree,
    tokens: Tree,
    audit: Tree,
}

fn storage(error: sled::Error) -> Error {
    Error::Storage {
        message: error.to_string(),
    }
}

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<Error>>;

fn abort<T>(error: Error) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(error))
}

impl SledStore {
    /// Opens the database at `path`, creating it (owner-only) when absent.
    pub fn open(path: &Path) -> Result<Self> {
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        if path.exists() {
            if !path.is_dir() {
                return Err(Error::NotADatabase {
                    path: path.to_owned(),
                    reason: "it is not a directory".into(),
                });
            }
            let mut entries = fs::read_dir(path).map_err(io)?;
            if entries.next().is_some() && !path.join("conf").exists() {
                return Err(Error::NotADatabase {
                    path: path.to_owned(),
                    reason: "the directory holds other files".into(),
                });
            }
        } else {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(path)
                .map_err(io)?;
        }
        fs::set_permissions(path, fs::Permissions::from_mode(0o700)).map_err(io)?;

        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_CAPACITY)
            .open()
            .map_err(|error| match error {
                sled::Error::Io(ref e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    Error::DatabaseInUse {
                        path: path.to_owned(),
                    }
                }
                sled::Error::Io(ref e) if e.to_string().contains("could not acquire lock") => {
                    Error::DatabaseInUse {
                        path: path.to_owned(),
                    }
                }
                other => storage(other),
            })?;
        let tree = |name: &str| db.open_tree(name).map_err(storage);
        let store = Self {
            path: path.to_owned(),
            meta: tree("meta")?,
            users: tree("users")?,
            by_username: tree("users_by_username")?,
            by_email: tree("users_by_email")?,
            sessions: tree("sessions")?,
            tokens: tree("remember_tokens")?,
            audit: tree("audit")?,
            db,
        };
        store.check_format()?;
        Ok(store)
    }

    fn check_format(&self) -> Result<()> {
        match self.meta.get(FORMAT_VERSION_KEY).map_err(storage)? {
            Some(bytes) => {
                let found = <[u8; 4]>::try_from(bytes.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| Error::NotADatabase {
                        path: self.path.clone(),
                        reason: "its format version is unreadable".into(),
                    })?;
                if found != FORMAT_VERSION {
                    return Err(Error::UnsupportedFormat {
                        path: self.path.clone(),
                        found,
                        supported: FORMAT_VERSION,
                    });
                }
            }
            None if self.users.is_empty() && self.sessions.is_empty() => {
                self.meta
                    .insert(FORMAT_VERSION_KEY, &FORMAT_VERSION.to_be_bytes())
                    .map_err(storage)?;
                self.db.flush().map_err(storage)?;
            }
            None => {
                return Err(Error::NotADatabase {
                    path: self.path.clone(),
                    reason: "it holds data but no format version".into(),
                });
            }
        }
        Ok(())
    }

    /// The directory of the database.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a raw value into a tree, bypassing every rule: for tests that corrupt data on
    /// purpose.
    #[doc(hidden)]
    pub fn raw_insert(&self, tree: &str, key: &[u8], value: &[u8]) -> Result<()> {
        self.db
            .open_tree(tree)
            .map_err(storage)?
            .insert(key, value)
            .map_err(storage)?;
        Ok(())
    }

    /// Removes a raw key from a tree, bypassing every rule: for tests that break indexes.
    #[doc(hidden)]
    pub fn raw_remove(&self, tree: &str, key: &[u8]) -> Result<()> {
        self.db
            .open_tree(tree)
            .map_err(storage)?
            .remove(key)
            .map_err(storage)?;
        Ok(())
    }

    fn all_trees(&self) -> [&Tree; 7] {
        [
            &self.meta,
            &self.users,
            &self.by_username,
            &self.by_email,
            &self.sessions,
            &self.tokens,
            &self.audit,
        ]
    }
}

/// The trees of one transaction, by role.
struct Tx<'a> {
    meta: &'a TransactionalTree,
    users: &'a TransactionalTree,
    by_username: &'a TransactionalTree,
    by_email: &'a TransactionalTree,
    sessions: &'a TransactionalTree,
    tokens: &'a TransactionalTree,
    audit: &'a TransactionalTree,
}

impl Tx<'_> {
    fn next_user_id(&self) -> TxResult<u64> {
        Ok(match self.meta.get(NEXT_USER_ID_KEY)? {
            Some(bytes) => record::decode_id(&bytes, "meta").or_else(abort)?,
            None => 1,
        })
    }

    fn index_user(&self, user: &User) -> TxResult<()> {
        let id = user_key(user.id);
        if let Some(other) = self.by_username.get(index_key(&user.username))? {
            let other = record::decode_id(&other, "username index").or_else(abort)?;
            if other != user.id {
                return abort(Error::UsernameTaken {
                    username: user.username.clone(),
                    id: other,
                });
            }
        }
        if let Some(other) = self.by_email.get(index_key(&user.email))? {
            let other = record::decode_id(&other, "email index").or_else(abort)?;
            if other != user.id {
                return abort(Error::EmailTaken {
                    email: user.email.clone(),
                    id: other,
                });
            }
        }
        self.by_username
            .insert(index_key(&user.username).as_bytes(), &id)?;
        self.by_email
            .insert(index_key(&user.email).as_bytes(), &id)?;
        self.users.insert(&id, record::encode_user(user))?;
        Ok(())
    }

    fn create_user(&self, mut user: User) -> TxResult<User> {
        let next = self.next_user_id()?;
        if user.id == 0 {
            user.id = next;
        } else if self.users.get(user_key(user.id))?.is_some() {
            return abort(Error::UserIdTaken { id: user.id });
        }
        if user.id >= next {
            self.meta
                .insert(NEXT_USER_ID_KEY, &(user.id + 1).to_be_bytes())?;
        }
        self.index_user(&user)?;
        Ok(user)
    }

    fn update_user(&self, user: &User) -> TxResult<()> {
        let Some(old) = self.users.get(user_key(user.id))? else {
            return abort(Error::UserNotFound { id: user.id });
        };
        let old = record::decode_user(user.id, &old).or_else(abort)?;
        if index_key(&old.username) != index_key(&user.username) {
            self.by_username
                .remove(index_key(&old.username).as_bytes())?;
        }
        if index_key(&old.email) != index_key(&user.email) {
            self.by_email.remove(index_key(&old.email).as_bytes())?;
        }
        self.index_user(user)
    }

    fn apply(&self, changes: &Changes) -> TxResult<Applied> {
        let mut applied = Applied::default();
        for user in &changes.new_users {
            applied.created_users.push(self.create_user(user.clone())?);
        }
        for user in &changes.users {
            self.update_user(user)?;
        }
        for (user_id, private_id) in &changes.removed_sessions {
            if let Some(key) = session_key(*user_id, private_id)
                && self.sessions.remove(&key[..])?.is_some()
            {
                applied.sessions_removed += 1;
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
            self.sessions
                .insert(&key[..], record::encode_session(session))?;
        }
        for user_id in &changes.revoke_tokens_of {
            if let Some(old) = self.tokens.remove(&user_key(*user_id))? {
                applied.tokens_revoked +=
                    record::decode_tokens(*user_id, &old).map_or(1, |t| t.len() as u64);
            }
        }
        for (user_id, token) in &changes.tokens {
            let key = user_key(*user_id);
            let mut tokens = match self.tokens.get(key)? {
                Some(bytes) => record::decode_tokens(*user_id, &bytes).or_else(abort)?,
                None => Vec::new(),
            };
            tokens.push(token.clone());
            self.tokens.insert(&key, record::encode_tokens(&tokens))?;
        }
        if let Some(entry) = &changes.audit {
            let mut entry = entry.clone();
            entry
                .user_ids
                .extend(applied.created_users.iter().map(|u| u.id));
            let seq = self.audit.generate_id()?;
            self.audit
                .insert(&seq.to_be_bytes(), record::encode_audit(&entry))?;
        }
        Ok(applied)
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

    fn put_settings(&self, settings: &Settings) -> Result<()> {
        let bytes = postcard::to_stdvec(settings).expect("encoding to memory cannot fail");
        self.meta.insert(SETTINGS_KEY, bytes).map_err(storage)?;
        Ok(())
    }

    fn user(&self, id: u64) -> Result<Option<User>> {
        self.users
            .get(user_key(id))
            .map_err(storage)?
            .map(|bytes| record::decode_user(id, &bytes))
            .transpose()
    }

    fn user_id_by_username(&self, username: &str) -> Result<Option<u64>> {
        self.by_username
            .get(index_key(username))
            .map_err(storage)?
            .map(|id| record::decode_id(&id, "username index"))
            .transpose()
    }

    fn user_id_by_email(&self, email: &str) -> Result<Option<u64>> {
        self.by_email
            .get(index_key(email))
            .map_err(storage)?
            .map(|id| record::decode_id(&id, "email index"))
            .transpose()
    }

    fn user_count(&self) -> Result<u64> {
        Ok(self.users.len() as u64)
    }

    fn users(&self, after: Option<u64>) -> Stream<'_, User> {
        let range = match after {
            Some(id) if id == u64::MAX => return Box::new(std::iter::empty()),
            Some(id) => self.users.range(user_key(id + 1)..),
            None => self.users.iter(),
        };
        Box::new(range.map(|entry| {
            let (key, value) = entry.map_err(storage)?;
            record::decode_user(record::decode_id(&key, "user")?, &value)
        }))
    }

    fn session(&self, user_id: u64, private_id: &str) -> Result<Option<ActiveSession>> {
        let Some(key) = session_key(user_id, private_id) else {
            return Ok(None);
        };
        self.sessions
            .get(key)
            .map_err(storage)?
            .map(|bytes| record::decode_session(&key, &bytes))
            .transpose()
    }

    fn sessions_of(&self, user_id: u64) -> Result<Vec<ActiveSession>> {
        self.sessions
            .scan_prefix(user_key(user_id))
            .map(|entry| {
                let (key, value) = entry.map_err(storage)?;
                record::decode_session(&key, &value)
            })
            .collect()
    }

    fn sessions(&self, after_user: Option<u64>) -> Stream<'_, ActiveSession> {
        let range = match after_user {
            Some(id) if id == u64::MAX => return Box::new(std::iter::empty()),
            Some(id) => self.sessions.range(user_key(id + 1)..),
            None => self.sessions.iter(),
        };
        Box::new(range.map(|entry| {
            let (key, value) = entry.map_err(storage)?;
            record::decode_session(&key, &value)
        }))
    }

    fn session_count(&self) -> Result<u64> {
        Ok(self.sessions.len() as u64)
    }

    fn remember_tokens(&self, user_id: u64) -> Result<Vec<RememberToken>> {
        match self.tokens.get(user_key(user_id)).map_err(storage)? {
            Some(bytes) => record::decode_tokens(user_id, &bytes),
            None => Ok(Vec::new()),
        }
    }

    fn apply(&self, changes: Changes) -> Result<Applied> {
        self.all_trees()
            .as_slice()
            .transaction(|trees| {
                let tx = Tx {
                    meta: &trees[0],
                    users: &trees[1],
                    by_username: &trees[2],
                    by_email: &trees[3],
                    sessions: &trees[4],
                    tokens: &trees[5],
                    audit: &trees[6],
                };
                tx.apply(&changes)
            })
            .map_err(|error| match error {
                TransactionError::Abort(error) => error,
                TransactionError::Storage(error) => storage(error),
            })
    }

    fn remove_all_sessions(&self) -> Result<(u64, u64)> {
        let (mut sessions, mut users) = (0u64, 0u64);
        let mut last_user: Option<[u8; 8]> = None;
        for key in self.sessions.iter().keys() {
            let key = key.map_err(storage)?;
            let mut owner = [0u8; 8];
            if key.len() >= 8 {
                owner.copy_from_slice(&key[..8]);
            }
            if last_user != Some(owner) {
                users += 1;
                last_user = Some(owner);
            }
            if self.sessions.remove(&key).map_err(storage)?.is_some() {
                sessions += 1;
            }
        }
        self.tokens.clear().map_err(storage)?;
        Ok((sessions, users))
    }

    fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        let seq = self.db.generate_id().map_err(storage)?;
        self.audit
            .insert(seq.to_be_bytes(), record::encode_audit(entry))
            .map_err(storage)?;
        Ok(())
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
        self.db.flush().map_err(storage)?;
        Ok(())
    }

    fn check(&self) -> Result<Vec<Disagreement>> {
        let mut found = Vec::new();
        self.check_users(&mut found)?;
        self.check_index(
            &self.by_username,
            "users_by_username",
            |u| &u.username,
            &mut found,
        )?;
        self.check_index(&self.by_email, "users_by_email", |u| &u.email, &mut found)?;
        self.check_owned(&mut found)?;
        Ok(found)
    }
}

impl SledStore {
    /// Every user decodes and is indexed under its username and email; ids stay below the
    /// next id to assign.
    fn check_users(&self, found: &mut Vec<Disagreement>) -> Result<()> {
        let mut max_id = 0;
        for entry in &self.users {
            let (key, value) = entry.map_err(storage)?;
            let user = match record::decode_id(&key, "user")
                .and_then(|id| record::decode_user(id, &value))
            {
                Ok(user) => user,
                Err(error) => {
                    found.push(Disagreement {
                        place: "users",
                        key: hex::encode(&key),
                        problem: error.to_string(),
                    });
                    continue;
                }
            };
            max_id = max_id.max(user.id);
            for (index, place, value) in [
                (&self.by_username, "users_by_username", &user.username),
                (&self.by_email, "users_by_email", &user.email),
            ] {
                let indexed = index.get(index_key(value)).map_err(storage)?;
                if indexed.as_deref() != Some(&user_key(user.id)[..]) {
                    found.push(Disagreement {
                        place,
                        key: index_key(value),
                        problem: format!(
                            "user id={} is not indexed here (the index holds {})",
                            user.id,
                            indexed.map_or("nothing".into(), |v| describe_id(&v)),
                        ),
                    });
                }
            }
        }
        let next = match self.meta.get(NEXT_USER_ID_KEY).map_err(storage)? {
            Some(bytes) => record::decode_id(&bytes, "meta")?,
            None => 1,
        };
        if max_id >= next {
            found.push(Disagreement {
                place: "meta",
                key: "next_user_id".into(),
                problem: format!("next user id {next} is not above the highest id {max_id}"),
            });
        }
        Ok(())
    }

    /// Every entry of an index points at a user whose field, lower-cased, is the entry's key.
    fn check_index(
        &self,
        index: &Tree,
        place: &'static str,
        field: fn(&User) -> &String,
        found: &mut Vec<Disagreement>,
    ) -> Result<()> {
        for entry in index {
            let (key, value) = entry.map_err(storage)?;
            let key = String::from_utf8_lossy(&key).into_owned();
            let problem = match record::decode_id(&value, place) {
                Err(error) => Some(error.to_string()),
                Ok(id) => match self.users.get(user_key(id)).map_err(storage)? {
                    None => Some(format!("points at user id={id}, which does not exist")),
                    Some(bytes) => match record::decode_user(id, &bytes) {
                        Ok(user) if index_key(field(&user)) == key => None,
                        Ok(user) => Some(format!(
                            "points at user id={id}, whose value is {:?}",
                            field(&user)
                        )),
                        Err(_) => None, // reported with the users
                    },
                },
            };
            if let Some(problem) = problem {
                found.push(Disagreement {
                    place,
                    key,
                    problem,
                });
            }
        }
        Ok(())
    }

    /// Every session and token list decodes and belongs to an existing user.
    fn check_owned(&self, found: &mut Vec<Disagreement>) -> Result<()> {
        for entry in &self.sessions {
            let (key, value) = entry.map_err(storage)?;
            match record::decode_session(&key, &value) {
                Err(error) => found.push(Disagreement {
                    place: "sessions",
                    key: hex::encode(&key),
                    problem: error.to_string(),
                }),
                Ok(session) => {
                    if !self
                        .users
                        .contains_key(user_key(session.user_id))
                        .map_err(storage)?
                    {
                        found.push(Disagreement {
                            place: "sessions",
                            key: session.session_private_id,
                            problem: format!(
                                "belongs to user id={}, which does not exist",
                                session.user_id
                            ),
                        });
                    }
                }
            }
        }
        for entry in &self.tokens {
            let (key, value) = entry.map_err(storage)?;
            let problem = match record::decode_id(&key, "remember-me") {
                Err(error) => Some(error.to_string()),
                Ok(id) => match record::decode_tokens(id, &value) {
                    Err(error) => Some(error.to_string()),
                    Ok(_) if !self.users.contains_key(&key).map_err(storage)? => {
                        Some(format!("tokens of user id={id}, which does not exist"))
                    }
                    Ok(_) => None,
                },
            };
            if let Some(problem) = problem {
                found.push(Disagreement {
                    place: "remember_tokens",
                    key: hex::encode(&key),
                    problem,
                });
            }
        }
        Ok(())
    }
}

fn describe_id(bytes: &[u8]) -> String {
    record::decode_id(bytes, "index").map_or_else(|_| hex::encode(bytes), |id| format!("id={id}"))
}
