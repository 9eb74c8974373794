//! Opening and closing a sled store without ever making damage permanent.
//!
//! Before sled sees the files, the commit record ([`crate::store::seal`]) is checked:
//! - closed cleanly: the files must be exactly as sealed, else the store is damaged;
//! - left open (a crash, a kill, a full disk): sled must recover to write, and recovery
//!   rewrites the files, so the store is first opened on a copy, which must hold at least
//!   the recorded commit. A reading command then reads that copy and the original is never
//!   touched.
//!
//! Closing a store that was written settles sled's files (sled writes its snapshot when it
//! next opens a store it did not close itself, so the store is opened once more) and seals
//! them: the next reading command then writes no byte.

use std::fs::{self, DirBuilder};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use super::{
    CACHE_CAPACITY, COMMIT_KEY, FORMAT_VERSION_KEY, GENERATION_KEY, Generation, SledStore,
    USERS_GENERATION_KEY, storage,
};
use crate::store::record::{self, FORMAT_VERSION};
use crate::store::seal::{self, Record};
use crate::{Error, Result};

/// What a command may do to the store it opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Create the database when the path holds none (`init`, `seed`, `import`, `restore`).
    Create,
    /// Read and write an existing database.
    Write,
    /// Only read an existing database: nothing is written, not even recovery.
    Read,
    /// Read whatever sled can still recover of a damaged database, from a copy: the commit
    /// record is not checked, and the database is never written.
    Salvage,
}

/// How the store stands against its commit record.
pub(super) struct Commit {
    state: Mutex<CommitState>,
}

struct CommitState {
    /// The last commit made durable.
    seq: u64,
    /// Whether this process marked the record open (its first write does, before anything
    /// reaches sled, whatever the record said when the store was opened).
    open: bool,
    /// Whether the record said the store was left open when it was opened.
    found_open: bool,
    /// The count of finished writes covered by `seq`.
    flushed_writes: u64,
}

impl Commit {
    fn new(seq: u64, found_open: bool) -> Self {
        Self {
            state: Mutex::new(CommitState {
                seq,
                open: false,
                found_open,
                flushed_writes: 0,
            }),
        }
    }

    /// Before a write: refused when reading; the first marks the record open, so that a crash
    /// from here on is never taken for damage.
    pub(super) fn before_write(&self, path: &Path, mode: Mode) -> Result<()> {
        if matches!(mode, Mode::Read | Mode::Salvage) {
            return Err(Error::Storage {
                message: "the database was opened for reading only".into(),
            });
        }
        let mut state = self.state.lock().expect("commit lock");
        if !state.open {
            seal::write(path, &Record::new(state.seq, None))?;
            state.open = true;
        }
        Ok(())
    }

    /// Whether this process marked the record open (or found it so): the store needs
    /// [`close_cleanly`] once it is dropped.
    pub(super) fn is_open(&self) -> bool {
        let state = self.state.lock().expect("commit lock");
        state.open || state.found_open
    }
}

/// How long `open` waits for the lock a just-finished process (or a just-dropped handle in this
/// one) still holds: sled releases it from background threads a moment after the drop.
const LOCK_WAIT: Duration = Duration::from_millis(500);

/// Opens sled at `path`, waiting up to [`LOCK_WAIT`] for its lock before reporting
/// [`Error::DatabaseInUse`] (naming `shown`).
fn open_sled(path: &Path, shown: &Path) -> Result<sled::Db> {
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
                    return Err(in_use(shown));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(sled::Error::Io(e)) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                return Err(Error::Io {
                    path: path.join("db"),
                    operation: "cannot open".into(),
                    source: e,
                });
            }
            Err(other @ sled::Error::Corruption { .. }) if path != shown => {
                return Err(Error::Damaged {
                    path: shown.to_owned(),
                    problem: storage(other).to_string(),
                });
            }
            Err(other) => return Err(storage(other)),
        }
    }
}

fn in_use(path: &Path) -> Error {
    Error::DatabaseInUse {
        path: path.to_owned(),
    }
}

/// Checks that `path` can hold a database for `mode`, creating the directory (owner-only)
/// for [`Mode::Create`].
fn prepare(path: &Path, mode: Mode) -> Result<()> {
    let io = |operation: &str| seal::io_error(path, operation);
    let holds_files = fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_some());
    if !holds_files {
        if path.exists() && !path.is_dir() {
            return Err(Error::NotADatabase {
                path: path.to_owned(),
                reason: "it is not a directory".into(),
            });
        }
        if mode != Mode::Create {
            return Err(Error::NoDatabase {
                path: path.to_owned(),
            });
        }
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)
            .map_err(io("cannot create"))?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))
            .map_err(io("cannot set permissions of"))?;
        return Ok(());
    }
    if !path.join("conf").exists() && !path.join(seal::FILE).exists() {
        return Err(Error::NotADatabase {
            path: path.to_owned(),
            reason: "the directory holds other files".into(),
        });
    }
    Ok(())
}

impl SledStore {
    /// Opens the database at `path` for `mode`, after checking it against its commit record.
    pub fn open(path: &Path, mode: Mode) -> Result<Self> {
        prepare(path, mode)?;
        // Held while the files are checked and copied: no other process opens the store
        // (and so changes its files) meanwhile.
        let Some(lock) = seal::lock(path, LOCK_WAIT)? else {
            return Err(in_use(path));
        };
        let record = if mode == Mode::Salvage {
            None
        } else {
            seal::read(path)?
        };
        match &record {
            None if mode == Mode::Salvage => {
                let (copy, mut store) = Self::open_copy(path, None)?;
                store.copy = Some(copy);
                return Ok(store);
            }
            Some(Record {
                closed: Some(files),
                ..
            }) => {
                let changed = seal::differences(path, files)?;
                if !changed.is_empty() {
                    return Err(Error::Damaged {
                        path: path.to_owned(),
                        problem: changed.join("; "),
                    });
                }
            }
            Some(Record { closed: None, .. }) => {
                // Left without closing: sled must recover, which writes. Recover a copy first.
                let (copy, mut verified) = Self::open_copy(path, record.as_ref())?;
                if mode == Mode::Read {
                    verified.copy = Some(copy);
                    return Ok(verified);
                }
            }
            None => {}
        }
        if matches!(mode, Mode::Create | Mode::Write) {
            seal::remove_unfinished_snapshots(path)?;
        }
        // sled takes the lock itself.
        drop(lock);
        let store = Self::open_at(path, path, mode, record.as_ref())?;
        if let Some(Record {
            closed: Some(files),
            ..
        }) = &record
        {
            seal::restore_times(path, files)?;
        }
        if matches!(mode, Mode::Create | Mode::Write) {
            store.drop_other_generations()?;
        }
        Ok(store)
    }

    /// Opens a copy of the store at `path` for reading, checked against `record`.
    fn open_copy(path: &Path, record: Option<&Record>) -> Result<(tempfile::TempDir, Self)> {
        let copy = tempfile::Builder::new()
            .prefix("sessionctl-verify-")
            .tempdir()
            .map_err(|source| Error::Io {
                path: std::env::temp_dir(),
                operation: "cannot create a directory in".into(),
                source,
            })?;
        seal::copy_store(path, copy.path())?;
        seal::remove_unfinished_snapshots(copy.path())?;
        let mode = if record.is_some() {
            Mode::Read
        } else {
            Mode::Salvage
        };
        let store = Self::open_at(copy.path(), path, mode, record)?;
        Ok((copy, store))
    }

    /// Opens the sled files under `dir` (the database `shown`, or a copy of it) and checks
    /// that they hold at least the commit the record names.
    fn open_at(dir: &Path, shown: &Path, mode: Mode, record: Option<&Record>) -> Result<Self> {
        let db = open_sled(dir, shown)?;
        let meta = db.open_tree("meta").map_err(storage)?;
        let number = |key: &[u8], absent: u64| -> Result<u64> {
            match meta.get(key).map_err(storage)? {
                Some(bytes) => record::decode_id(&bytes, "meta"),
                None => Ok(absent),
            }
        };
        let held = number(COMMIT_KEY, 0)?;
        let generation = Generation::open(
            &db,
            number(USERS_GENERATION_KEY, 0)?,
            number(GENERATION_KEY, 1)?,
        )?;
        match record {
            Some(record) if held < record.seq => {
                return Err(Error::Damaged {
                    path: shown.to_owned(),
                    problem: format!(
                        "it holds commit {held}, but commit {} was made: the changes after commit {held} are lost",
                        record.seq
                    ),
                });
            }
            None if held > 0 && mode != Mode::Salvage => {
                return Err(Error::Damaged {
                    path: shown.to_owned(),
                    problem: format!("its commit record {} is missing", seal::FILE),
                });
            }
            _ => {}
        }
        let store = Self {
            path: shown.to_owned(),
            mode,
            audit: db.open_tree("audit").map_err(storage)?,
            meta,
            generation: RwLock::new(generation),
            format: AtomicU32::new(FORMAT_VERSION),
            commit: Commit::new(held, record.is_some_and(|r| r.closed.is_none())),
            writes: AtomicU64::new(0),
            copy: None,
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
            None if self.current().users.is_empty() && self.current().sessions.is_empty() => {
                // A new database (or one whose creation was cut short): recorded when written.
                if self.mode == Mode::Create {
                    self.write(|| {
                        self.meta
                            .insert(FORMAT_VERSION_KEY, &FORMAT_VERSION.to_be_bytes())
                            .map(drop)
                            .map_err(storage)
                    })?;
                    crate::store::Backend::flush(self)?;
                }
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

    /// Makes every write so far durable and records the commit: the next number goes into
    /// `meta`, sled flushes, then the commit record names it.
    pub(super) fn commit_writes(&self) -> Result<()> {
        let mut state = self.commit.state.lock().expect("commit lock");
        let done = self.writes.load(Ordering::SeqCst);
        if done == state.flushed_writes {
            return Ok(());
        }
        let next = state.seq + 1;
        self.meta
            .insert(COMMIT_KEY, &next.to_be_bytes())
            .map_err(storage)?;
        self.db.flush().map_err(storage)?;
        seal::write(&self.path, &Record::new(next, None))?;
        state.seq = next;
        state.flushed_writes = done;
        Ok(())
    }

    /// Whether the store must be closed with [`close_cleanly`] after it is dropped.
    pub fn needs_closing(&self) -> bool {
        matches!(self.mode, Mode::Create | Mode::Write)
            && self.copy.is_none()
            && self.commit.is_open()
    }
}

/// Closes the store at `path` cleanly, once every handle on it is dropped: when its commit
/// record says it is open, sled is opened again until its files stop changing (it writes its
/// snapshot when it opens a store it did not close itself), and the files are sealed. Does
/// nothing when the store was not left open, or when another process holds it now.
pub fn close_cleanly(path: &Path) -> Result<()> {
    let Some(record) = seal::read(path)? else {
        return Ok(());
    };
    if record.closed.is_some() || seal::is_locked(path, seal::RELEASE_WAIT)? {
        return Ok(());
    }
    for pass in 0..4 {
        let before = seal::fingerprint(path)?;
        let db = open_sled(path, path)?;
        // One walk completes the pending splits and merges; the next opens only let sled
        // write the snapshot of what the walk changed.
        if pass == 0 {
            settle(&db)?;
        }
        drop(db);
        if seal::is_locked(path, seal::RELEASE_WAIT)? {
            return Ok(());
        }
        if seal::fingerprint(path)? == before {
            break;
        }
    }
    // Sealed under the lock: another process that opened the store meanwhile has changed
    // the record (or holds the lock), and then it is left to that process.
    let Some(_lock) = seal::lock(path, seal::RELEASE_WAIT)? else {
        return Ok(());
    };
    if seal::read(path)? != Some(record.clone()) {
        return Ok(());
    }
    seal::write(path, &Record::new(record.seq, Some(seal::seal(path)?)))
}

/// Walks every tree once: sled completes node splits and merges left pending by writes on
/// the next walk that meets them, reads included, so they are made here rather than by the
/// next reading command.
fn settle(db: &sled::Db) -> Result<()> {
    for name in db.tree_names() {
        let tree = db.open_tree(name).map_err(storage)?;
        for entry in &tree {
            entry.map_err(storage)?;
        }
    }
    db.flush().map_err(storage)?;
    Ok(())
}

/// Whether `path` holds anything (a database, or files that make it unfit for a new one).
pub fn holds_database(path: &Path) -> bool {
    fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_some())
}

/// Where a new database for `path` is built before it is moved into place: beside it, hidden.
pub fn staging_path(path: &Path) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "sessionctl".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.staging"))
}

/// Removes a staging directory (what a kill or a failure left), if there is one.
pub fn remove_staging(staging: &Path) -> Result<()> {
    match fs::remove_dir_all(staging) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
            path: staging.to_owned(),
            operation: "cannot remove".into(),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Moves a complete new database from `staging` to `path` (absent or an empty directory)
/// with one rename, and makes the rename durable.
pub fn move_into_place(staging: &Path, path: &Path) -> Result<()> {
    let io = |operation: &str, at: &Path| seal::io_error(at, operation);
    fs::rename(staging, path).map_err(io("cannot move the new database to", path))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs::File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(io("cannot sync", parent))
}
