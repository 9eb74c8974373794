//! The typed errors of the core: every failure the store, the rules and the scripting layer can
//! report, each naming what was wrong.

use std::path::PathBuf;

/// A result whose error is the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong below the command line.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("User not found: id={id}")]
    UserNotFound { id: u64 },

    #[error("username {username:?} is already taken by user id={id}")]
    UsernameTaken { username: String, id: u64 },

    #[error("email {email:?} is already taken by user id={id}")]
    EmailTaken { email: String, id: u64 },

    #[error("user id={id} already exists")]
    UserIdTaken { id: u64 },

    #[error("user {username} (id={id}) is blocked and cannot sign in")]
    UserBlocked { id: u64, username: String },

    #[error("invalid {field}: {reason}")]
    InvalidField { field: &'static str, reason: String },

    #[error("session {private_id} was revoked")]
    SessionRevoked { private_id: String },

    #[error("cannot revoke the current session {private_id}: it would sign you out")]
    CannotRevokeCurrent { private_id: String },

    #[error("unknown setting {key:?}; the settings are session_limit and session_expire_delay")]
    UnknownSetting { key: String },

    #[error("invalid value {value:?} for {key}: {reason}")]
    InvalidSetting {
        key: String,
        value: String,
        reason: String,
    },

    #[error("database {} is in use by another process that takes no attached clients (a data command such as import, backup or check works alone): run the command again once it has ended", path.display())]
    DatabaseInUse { path: PathBuf },

    #[error(
        "database {} has format version {found}, but this sessionctl reads version {supported}",
        path.display()
    )]
    UnsupportedFormat {
        path: PathBuf,
        found: u32,
        supported: u32,
    },

    #[error("no database at {}: nothing was created (create one with `sessionctl --db {} init`, or with seed, import or restore)", path.display(), path.display())]
    NoDatabase { path: PathBuf },

    #[error("database {} is not a sessionctl database: {reason}", path.display())]
    NotADatabase { path: PathBuf, reason: String },

    #[error("corrupt {what} record ({key}): {reason}")]
    CorruptRecord {
        what: &'static str,
        key: String,
        reason: String,
    },

    #[error(
        "database {} is damaged: {problem}. Nothing was changed. Restore your last backup into a new database with `sessionctl --db NEW restore BACKUP` (backups: `sessionctl backup FILE`, docs/guide.md), or keep what is still readable with `sessionctl --db {} salvage FILE`",
        path.display(), path.display()
    )]
    Damaged { path: PathBuf, problem: String },

    #[error(
        "the disk holding the database is full: the last change was not saved (everything committed before it is kept). Free some space and run the command again"
    )]
    DiskFull,

    #[error("database error: {message}")]
    Storage { message: String },

    #[error("{operation} {}: {source}", path.display())]
    Io {
        path: PathBuf,
        /// What was being done, e.g. "cannot set permissions of".
        operation: String,
        source: std::io::Error,
    },

    #[error("interrupted")]
    Interrupted,

    /// An imported record refused: which one (its place in the import) and why.
    #[error("{kind} {}: {source}", index + 1)]
    InRecord {
        kind: RecordKind,
        /// The record's index among those of its kind, from 0.
        index: usize,
        source: Box<Error>,
    },

    /// A guarded write met a concurrent change; the store tries again.
    #[error("the write met a concurrent change")]
    WriteConflict,
}

/// The kinds of imported records, for [`Error::InRecord`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    User,
    Session,
    RememberToken,
}

impl std::fmt::Display for RecordKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecordKind::User => "user",
            RecordKind::Session => "session",
            RecordKind::RememberToken => "remember-me token",
        })
    }
}

impl Error {
    /// This error, as the refusal of the `index`th imported record of `kind` (a database
    /// error stays as it is: it is not the record's fault).
    #[must_use]
    pub fn in_record(self, kind: RecordKind, index: usize) -> Self {
        if self.is_database_error() {
            self
        } else {
            Error::InRecord {
                kind,
                index,
                source: Box::new(self),
            }
        }
    }

    /// True for errors about the database itself (opening, format, storage, a record that does
    /// not decode), which the binary maps to exit code 2, under a script too.
    pub fn is_database_error(&self) -> bool {
        matches!(
            self,
            Error::DatabaseInUse { .. }
                | Error::UnsupportedFormat { .. }
                | Error::NotADatabase { .. }
                | Error::CorruptRecord { .. }
                | Error::NoDatabase { .. }
                | Error::Damaged { .. }
                | Error::DiskFull
                | Error::Storage { .. }
                | Error::Io { .. }
        )
    }
}
