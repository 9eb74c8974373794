//! The sled backend. Trees: `meta` (format version, next user id, settings, sessions
//! generation), `users` (id → record, with the user's session count), `users_by_username`
//! (lower-cased username → id and a copy of the user, so a look-up by username is one read),
//! `users_by_email` (lower-cased email → id), `sessions.G` (user id ‖ SHA-256 of the public id
//! → record, so one user's sessions are one prefix), `remember_tokens.G` (user id → that
//! user's token hashes) and `audit` (sequence → entry).
//!
//! `G` is the sessions generation. Revoking everything starts a new generation with one
//! atomic write to `meta`, then drops the old trees: fast, and consistent at any crash point
//! (trees of other generations are dropped when the database is opened).

use std::collections::HashMap;
use std::fs::{self, DirBuilder};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};
use sled::{Transactional, Tree};

use super::record::{
    self, FORMAT_VERSION, SessionCount, UsernameEntry, index_key, session_key, user_key,
};
use super::{Applied, Backend, Changes, Disagreement, Stream};
use crate::model::{ActiveSession, AuditEntry, RememberToken, Settings, User};
use crate::{Error, Result};

const FORMAT_VERSION_KEY: &[u8] = b"format_version";
const NEXT_USER_ID_KEY: &[u8] = b"next_user_id";
const SETTINGS_KEY: &[u8] = b"settings";
const GENERATION_KEY: &[u8] = b"sessions_generation";
const SESSIONS_PREFIX: &str = "sessions.";
const TOKENS_PREFIX: &str = "remember_tokens.";
const USERNAME_INDEX: &str = "users_by_username";
const EMAIL_INDEX: &str = "users_by_email";

/// sled's page cache size. Its default (1 GiB) lets the process grow far past what a console
/// needs. A scan grows the process by about 1.7x this figure (sled counts serialized bytes),
/// so 32 MiB keeps `User.find_each` over a million users under 64 MB of growth. Username
/// look-ups measured as fast as with 64 MiB; writes to data that no longer fits the cache
/// (sign-ins on a large database) are slower (docs/performance.md).
pub const CACHE_CAPACITY: u64 = 32 * 1024 * 1024;

/// A sessionctl database in a sled directory.
pub struct SledStore {
    path: PathBuf,
    db: sled::Db,
    meta: Tree,
    users: Tree,
    by_username: Tree,
    by_email: Tree,
    audit: Tree,
    /// The current sessions generation. Held for reading by every operation on sessions or
    /// tokens, and for writing while `remove_all_sessions` switches generations.
    generation: RwLock<Generation>,
    /// The format version the database records (1 or [`FORMAT_VERSION`]).
    format: AtomicU32,
}

/// One generation of the session and remember-me trees.
#[derive(Clone)]
struct Generation {
    number: u64,
    sessions: Tree,
    tokens: Tree,
}

impl Generation {
    fn open(db: &sled::Db, number: u64) -> Result<Self> {
        Ok(Self {
            number,
            sessions: db
                .open_tree(format!("{SESSIONS_PREFIX}{number}"))
                .map_err(storage)?,
            tokens: db
                .open_tree(format!("{TOKENS_PREFIX}{number}"))
                .map_err(storage)?,
        })
    }
}

fn storage(error: sled::Error) -> Error {
    Error::Storage {
        message: error.to_string(),
    }
}

/// How long `open` waits for the lock a just-finished process (or a just-dropped handle in this
/// one) still holds: sled releases it from background threads a moment after the drop.
const LOCK_WAIT: Duration = Duration::from_millis(500);

/// Opens sled at `path`, waiting up to [`LOCK_WAIT`] for its lock before reporting
/// [`Error::DatabaseInUse`].
fn open_sled(path: &Path) -> Result<sled::Db> {
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_CAPACITY)
            .open()
        {
            Ok(db) => return Ok(db),
            // sled 0.34 reports a held lock as this `Other` I/O error.
            Err(sled::Error::Io(ref e)) if e.to_string().contains("could not acquire lock") => {
                if Instant::now() >= deadline {
                    return Err(Error::DatabaseInUse {
                        path: path.to_owned(),
                    });
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(other) => return Err(storage(other)),
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

        let db = open_sled(path)?;
        let tree = |name: &str| db.open_tree(name).map_err(storage);
        let meta = tree("meta")?;
        let number = match meta.get(GENERATION_KEY).map_err(storage)? {
            Some(bytes) => record::decode_id(&bytes, "meta")?,
            None => 1,
        };
        let store = Self {
            path: path.to_owned(),
            meta,
            users: tree("users")?,
            by_username: tree(USERNAME_INDEX)?,
            by_email: tree(EMAIL_INDEX)?,
            audit: tree("audit")?,
            generation: RwLock::new(Generation::open(&db, number)?),
            format: AtomicU32::new(FORMAT_VERSION),
            db,
        };
        store.check_format()?;
        store.drop_other_generations(number)?;
        Ok(store)
    }

    /// Drops the session and token trees of generations other than `current`: what a crash
    /// during `remove_all_sessions` left behind.
    fn drop_other_generations(&self, current: u64) -> Result<()> {
        let keep = [
            format!("{SESSIONS_PREFIX}{current}"),
            format!("{TOKENS_PREFIX}{current}"),
        ];
        for name in self.db.tree_names() {
            let name = String::from_utf8_lossy(&name).into_owned();
            let generational = name.starts_with(SESSIONS_PREFIX) || name.starts_with(TOKENS_PREFIX);
            if generational && !keep.contains(&name) {
                self.db.drop_tree(name).map_err(storage)?;
            }
        }
        Ok(())
    }

    /// How many sessions of how many users generation `number` holds, from the counts the
    /// user records keep: no scan of the sessions.
    fn totals(&self, number: u64) -> Result<(u64, u64)> {
        let (mut sessions, mut users) = (0u64, 0u64);
        for entry in &self.users {
            let (key, value) = entry.map_err(storage)?;
            let count = record::decode_session_count(&value)
                .map_err(|reason| Error::CorruptRecord {
                    what: "user",
                    key: hex::encode(&key),
                    reason,
                })?
                .in_generation(number);
            if count > 0 {
                sessions += u64::from(count);
                users += 1;
            }
        }
        Ok((sessions, users))
    }

    /// Writes one `meta` entry and, atomically with it, the audit entry recording it.
    fn write_meta(&self, key: &[u8], value: &[u8], audit: Option<&AuditEntry>) -> Result<()> {
        let Some(entry) = audit else {
            self.meta.insert(key, value).map_err(storage)?;
            return Ok(());
        };
        let entry = record::encode_audit(entry);
        (&self.meta, &self.audit)
            .transaction(|(meta, audit)| {
                meta.insert(key, value)?;
                audit.insert(&audit.generate_id()?.to_be_bytes(), entry.as_slice())?;
                Ok(())
            })
            .map_err(tx_error)
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
            self.meta
                .insert(FORMAT_VERSION_KEY, &FORMAT_VERSION.to_be_bytes())
                .map_err(storage)?;
            self.format.store(FORMAT_VERSION, Ordering::Relaxed);
        }
        Ok(())
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
                if found == 1 || found == FORMAT_VERSION {
                    self.format.store(found, Ordering::Relaxed);
                } else {
                    return Err(Error::UnsupportedFormat {
                        path: self.path.clone(),
                        found,
                        supported: FORMAT_VERSION,
                    });
                }
            }
            None if self.users.is_empty() && self.current().sessions.is_empty() => {
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

    /// Reads a raw value from a tree: for tests that corrupt data and put it back.
    #[doc(hidden)]
    pub fn raw_get(&self, tree: &str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let tree = self.db.open_tree(tree).map_err(storage)?;
        Ok(tree.get(key).map_err(storage)?.map(|v| v.to_vec()))
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

    /// Writes back an existing user, moving the session count it keeps by `change`, and the
    /// copy of the user in the username index. Usernames and emails do not change (nothing
    /// renames users), so the index keys stay as they are.
    fn update_user(&self, user: &User, change: i64) -> TxResult<()> {
        let users = self.tree(Role::Users);
        let Some(old) = users.get(user_key(user.id))? else {
            return abort(Error::UserNotFound { id: user.id });
        };
        let (old, sessions) = record::decode_user_record(user.id, &old).or_else(abort)?;
        if index_key(&old.username) != index_key(&user.username)
            || index_key(&old.email) != index_key(&user.email)
        {
            return abort(Error::InvalidField {
                field: "user",
                reason: format!("user id={} cannot be renamed", user.id),
            });
        }
        users.insert(
            &user_key(user.id),
            record::encode_user(user, self.moved(sessions, change)),
        )?;
        self.tree(Role::ByUsername).insert(
            index_key(&user.username).as_bytes(),
            record::encode_username_entry(user),
        )?;
        Ok(())
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
        let mut applied = Applied::default();
        for user in &changes.new_users {
            applied.created_users.push(self.create_user(user.clone())?);
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
        // A user written back takes its count change in the same write (a sign-in writes its
        // user once); the other users' counts are moved on their own.
        for user in &changes.users {
            self.update_user(user, delta.remove(&user.id).unwrap_or(0))?;
        }
        self.count_sessions(&delta)?;
        for user_id in &changes.revoke_tokens_of {
            if let Some(old) = self.tree(Role::Tokens).remove(&user_key(*user_id))? {
                applied.tokens_revoked +=
                    record::decode_tokens(*user_id, &old).map_or(1, |t| t.len() as u64);
            }
        }
        for (user_id, token) in &changes.tokens {
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
            let seq = audit.generate_id()?;
            audit.insert(&seq.to_be_bytes(), record::encode_audit(&entry))?;
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

    fn put_settings(&self, settings: &Settings, audit: Option<&AuditEntry>) -> Result<()> {
        let bytes = postcard::to_stdvec(settings).expect("encoding to memory cannot fail");
        self.write_meta(SETTINGS_KEY, &bytes, audit)
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
            .map(|entry| record::decode_username_id(&entry))
            .transpose()
    }

    fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let Some(entry) = self.by_username.get(index_key(username)).map_err(storage)? else {
            return Ok(None);
        };
        match record::decode_username_entry(&entry)? {
            UsernameEntry::User(user) => Ok(Some(user)),
            UsernameEntry::Id(id) => self.user(id),
        }
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
        self.current()
            .sessions
            .get(key)
            .map_err(storage)?
            .map(|bytes| record::decode_session(&key, &bytes))
            .transpose()
    }

    fn sessions_of(&self, user_id: u64) -> Result<Vec<ActiveSession>> {
        self.current()
            .sessions
            .scan_prefix(user_key(user_id))
            .map(|entry| {
                let (key, value) = entry.map_err(storage)?;
                record::decode_session(&key, &value)
            })
            .collect()
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
        let number = self.current().number;
        self.totals(number)
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

    fn apply(&self, changes: Changes) -> Result<Applied> {
        let generation = self.current();
        let touches_sessions = !changes.sessions.is_empty() || !changes.removed_sessions.is_empty();
        let creates = !changes.new_users.is_empty();
        let roles: [(Role, bool, &Tree); 7] = [
            (Role::Meta, creates, &self.meta),
            (
                Role::Users,
                creates || !changes.users.is_empty() || touches_sessions,
                &self.users,
            ),
            (
                Role::ByUsername,
                creates || !changes.users.is_empty(),
                &self.by_username,
            ),
            (Role::ByEmail, creates, &self.by_email),
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
        if creates || !changes.users.is_empty() {
            self.before_writing_users()?;
        }
        trees
            .as_slice()
            .transaction(|taking_part| {
                let tx = Tx {
                    trees: slots.map(|slot| slot.map(|i| &taking_part[i])),
                    generation: generation.number,
                };
                tx.apply(&changes)
            })
            .map_err(tx_error)
    }

    fn user_with_session_count(&self, id: u64) -> Result<Option<(User, u64)>> {
        let generation = self.current().number;
        self.users
            .get(user_key(id))
            .map_err(storage)?
            .map(|bytes| {
                record::decode_user_record(id, &bytes)
                    .map(|(user, count)| (user, u64::from(count.in_generation(generation))))
            })
            .transpose()
    }

    fn remove_all_sessions(
        &self,
        audit: &dyn Fn(u64, u64) -> Option<AuditEntry>,
    ) -> Result<(u64, u64)> {
        let mut generation = self.generation.write().expect("generation lock");
        let (sessions, users) = self.totals(generation.number)?;
        // One atomic write switches to empty trees; then the old ones go.
        let next = Generation::open(&self.db, generation.number + 1)?;
        self.write_meta(
            GENERATION_KEY,
            &next.number.to_be_bytes(),
            audit(sessions, users).as_ref(),
        )?;
        self.db.flush().map_err(storage)?;
        let old = std::mem::replace(&mut *generation, next);
        drop(generation);
        for name in [
            format!("{SESSIONS_PREFIX}{}", old.number),
            format!("{TOKENS_PREFIX}{}", old.number),
        ] {
            self.db.drop_tree(name).map_err(storage)?;
        }
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
        let generation = self.current();
        let mut found = Vec::new();
        let counts = self.check_users(generation.number, &mut found)?;
        self.check_index(
            &self.by_username,
            USERNAME_INDEX,
            |u| &u.username,
            &mut found,
        )?;
        self.check_index(&self.by_email, EMAIL_INDEX, |u| &u.email, &mut found)?;
        self.check_owned(&generation, &counts, &mut found)?;
        Ok(found)
    }
}

impl SledStore {
    /// Every user decodes and is indexed under its username and email; ids stay below the
    /// next id to assign.
    /// Returns the session count each user record keeps.
    fn check_users(
        &self,
        generation: u64,
        found: &mut Vec<Disagreement>,
    ) -> Result<HashMap<u64, u32>> {
        let mut max_id = 0;
        let mut counts = HashMap::new();
        for entry in &self.users {
            let (key, value) = entry.map_err(storage)?;
            let user = match record::decode_id(&key, "user")
                .and_then(|id| record::decode_user_record(id, &value))
            {
                Ok((user, sessions)) => {
                    counts.insert(user.id, sessions.in_generation(generation));
                    user
                }
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
                (&self.by_username, USERNAME_INDEX, &user.username),
                (&self.by_email, EMAIL_INDEX, &user.email),
            ] {
                let indexed = index.get(index_key(value)).map_err(storage)?;
                let points_here = indexed.as_deref().map(|v| indexed_id(place, v));
                if !matches!(points_here, Some(Ok(id)) if id == user.id) {
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
        Ok(counts)
    }

    /// Every entry of an index points at a user whose field, lower-cased, is the entry's key;
    /// the username index's copy of the user equals the user's record.
    fn check_index(
        &self,
        index: &Tree,
        place: &'static str,
        field: fn(&User) -> &String,
        found: &mut Vec<Disagreement>,
    ) -> Result<()> {
        let holds_copies = place == USERNAME_INDEX;
        for entry in index {
            let (key, value) = entry.map_err(storage)?;
            let key = String::from_utf8_lossy(&key).into_owned();
            let problem = match indexed_id(place, &value) {
                Err(error) => Some(error.to_string()),
                Ok(id) => match self.users.get(user_key(id)).map_err(storage)? {
                    None => Some(format!("points at user id={id}, which does not exist")),
                    Some(bytes) => match record::decode_user(id, &bytes) {
                        Ok(user) if index_key(field(&user)) != key => Some(format!(
                            "points at user id={id}, whose value is {:?}",
                            field(&user)
                        )),
                        Ok(user) if holds_copies => match record::decode_username_entry(&value) {
                            Ok(UsernameEntry::User(copy)) if copy != user => Some(format!(
                                "its copy of user id={id} differs from the user's record"
                            )),
                            Ok(_) => None,
                            Err(error) => Some(error.to_string()),
                        },
                        Ok(_) | Err(_) => None, // a corrupt user is reported with the users
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

    /// Every session and token list decodes and belongs to an existing user, whose record
    /// keeps the right session count.
    fn check_owned(
        &self,
        generation: &Generation,
        counts: &HashMap<u64, u32>,
        found: &mut Vec<Disagreement>,
    ) -> Result<()> {
        let mut actual: HashMap<u64, u32> = HashMap::new();
        for entry in &generation.sessions {
            let (key, value) = entry.map_err(storage)?;
            if let Ok((user_id, _)) = record::decode_session_key(&key) {
                *actual.entry(user_id).or_default() += 1;
            }
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
        for (&user_id, &kept) in counts {
            let real = actual.get(&user_id).copied().unwrap_or(0);
            if kept != real {
                found.push(Disagreement {
                    place: "users",
                    key: format!("user id={user_id}"),
                    problem: format!("keeps a session count of {kept}, but has {real} sessions"),
                });
            }
        }
        for entry in &generation.tokens {
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

/// The user id an index entry points at: a username entry starts with it, an email entry is
/// exactly it.
fn indexed_id(place: &'static str, bytes: &[u8]) -> Result<u64> {
    if place == USERNAME_INDEX {
        record::decode_username_id(bytes)
    } else {
        record::decode_id(bytes, place)
    }
}

fn describe_id(bytes: &[u8]) -> String {
    record::decode_username_id(bytes).map_or_else(|_| hex::encode(bytes), |id| format!("id={id}"))
}
