//! The commit record: sessionctl's own evidence of what the store last committed, kept beside
//! sled's files and checked before sled opens them.
//!
//! sled 0.34 treats a bad checksum as the end of its log and, when it opens a store, rewrites
//! the files to match what it recovered: a flipped byte silently becomes lost data. So the
//! store keeps `sessionctl.commit` (JSON, replaced atomically):
//!
//! - `seq`: the number of the last commit. Every flush that follows a write first stores the
//!   next number in sled's `meta` tree, then flushes, then records it here. A store that
//!   opens holding a lower number has lost commits.
//! - `closed`: set once the store was closed cleanly (sled's files settled, see
//!   [`settle`]): the size, times and SHA-256 of every file. Any later change to those files
//!   that sessionctl did not make is damage, found before sled touches them. The first write
//!   of a process clears it before anything reaches sled.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// The commit record's file name, in the database directory.
pub const FILE: &str = "sessionctl.commit";
const TEMPORARY: &str = "sessionctl.commit.tmp";
const NAME: &str = "sessionctl-commit";
const VERSION: u32 = 1;

/// What the commit record holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    format: String,
    version: u32,
    /// The last commit made durable.
    pub seq: u64,
    /// Every file of the store as it was closed, or `None` while it is open (or was left
    /// without closing).
    pub closed: Option<Vec<Sealed>>,
}

impl Record {
    pub fn new(seq: u64, closed: Option<Vec<Sealed>>) -> Self {
        Self {
            format: NAME.into(),
            version: VERSION,
            seq,
            closed,
        }
    }
}

/// One file of a closed store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    /// The path inside the database directory.
    pub name: String,
    pub len: u64,
    pub mtime_ns: i64,
    pub inode: u64,
    /// SHA-256 of the contents, hex.
    pub sha256: String,
}

fn damaged(path: &Path, problem: impl Into<String>) -> Error {
    Error::Damaged {
        path: path.to_owned(),
        problem: problem.into(),
    }
}

pub(crate) fn io_error(path: &Path, what: &str) -> impl FnOnce(std::io::Error) -> Error + use<> {
    let path = path.to_owned();
    let what = what.to_owned();
    move |source| Error::Io {
        path,
        operation: what,
        source,
    }
}

/// Reads the commit record of the store at `dir`, if it has one. An unreadable record is
/// damage.
pub fn read(dir: &Path) -> Result<Option<Record>> {
    let path = dir.join(FILE);
    let text = match fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(&path, "cannot read")(e)),
    };
    let record: Record = serde_json::from_slice(&text)
        .map_err(|e| damaged(dir, format!("its commit record {FILE} is unreadable ({e})")))?;
    if record.format != NAME {
        return Err(damaged(
            dir,
            format!("its commit record {FILE} is unreadable"),
        ));
    }
    if record.version != VERSION {
        return Err(Error::UnsupportedFormat {
            path: path.clone(),
            found: record.version,
            supported: VERSION,
        });
    }
    Ok(Some(record))
}

/// Replaces the commit record atomically: a crash leaves the old one or the new one.
pub fn write(dir: &Path, record: &Record) -> Result<()> {
    let temporary = dir.join(TEMPORARY);
    let text = serde_json::to_vec(record).expect("a record serializes");
    let mut file = File::create(&temporary).map_err(io_error(&temporary, "cannot create"))?;
    file.write_all(&text)
        .and_then(|()| file.sync_all())
        .map_err(io_error(&temporary, "cannot write"))?;
    fs::rename(&temporary, dir.join(FILE)).map_err(io_error(&temporary, "cannot rename"))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir, "cannot sync"))
}

/// Whether `name` (a path inside the directory) is one of sled's files, which the record
/// seals.
fn is_store_file(name: &str) -> bool {
    !name.starts_with("sessionctl.")
}

/// Every file of the store under `dir`, as relative paths in order.
fn store_files(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let full = dir.join(&relative);
        for entry in fs::read_dir(&full).map_err(io_error(&full, "cannot list"))? {
            let entry = entry.map_err(io_error(&full, "cannot list"))?;
            let name = relative.join(entry.file_name());
            let kind = entry.file_type().map_err(io_error(&full, "cannot list"))?;
            if kind.is_dir() {
                pending.push(name);
            } else if kind.is_file() {
                let name = name.to_string_lossy().into_owned();
                if is_store_file(&name) {
                    names.push(name);
                }
            }
        }
    }
    names.sort();
    Ok(names)
}

fn stat(dir: &Path, name: &str) -> Result<fs::Metadata> {
    let path = dir.join(name);
    fs::metadata(&path).map_err(io_error(&path, "cannot read"))
}

fn sha256(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(io_error(path, "cannot read"))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 20];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(io_error(path, "cannot read"))?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buffer[..n]);
    }
}

/// A file's size, times and inode: equal for a file no one wrote since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    len: u64,
    mtime_ns: i64,
    inode: u64,
}

impl From<&fs::Metadata> for Stat {
    fn from(meta: &fs::Metadata) -> Self {
        Self {
            len: meta.len(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            inode: meta.ino(),
        }
    }
}

impl From<&Sealed> for Stat {
    fn from(file: &Sealed) -> Self {
        Self {
            len: file.len,
            mtime_ns: file.mtime_ns,
            inode: file.inode,
        }
    }
}

/// Every file of the store with its length: what changes when sled writes data (a new
/// snapshot, a longer log), and not when it only rewrites the zeros past the end of its log,
/// which it does at every open.
pub fn fingerprint(dir: &Path) -> Result<Vec<(String, u64)>> {
    store_files(dir)?
        .into_iter()
        .map(|name| Ok((name.clone(), stat(dir, &name)?.len())))
        .collect()
}

/// Sets each sealed file's modification time back to the sealed one, after an open whose
/// only write was sled's: at every open sled rewrites the zeros past the end of its log
/// (the bytes stay the same, the file's times do not). Without this, every later open would
/// have to read and hash the whole store to see that nothing changed.
pub fn restore_times(dir: &Path, sealed: &[Sealed]) -> Result<()> {
    for file in sealed {
        let path = dir.join(&file.name);
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if meta.len() != file.len {
            continue;
        }
        let secs = file.mtime_ns.div_euclid(1_000_000_000);
        let nanos = file.mtime_ns.rem_euclid(1_000_000_000);
        let at = std::time::UNIX_EPOCH
            + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
            + Duration::from_nanos(u64::try_from(nanos).unwrap_or(0));
        File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(at))
            .map_err(io_error(&path, "cannot set the modification time of"))?;
    }
    Ok(())
}

/// Seals every file of the store under `dir` as it is now.
pub fn seal(dir: &Path) -> Result<Vec<Sealed>> {
    store_files(dir)?
        .into_iter()
        .map(|name| {
            let stat = Stat::from(&stat(dir, &name)?);
            Ok(Sealed {
                sha256: sha256(&dir.join(&name))?,
                len: stat.len,
                mtime_ns: stat.mtime_ns,
                inode: stat.inode,
                name,
            })
        })
        .collect()
}

/// What differs between the files under `dir` and those sealed at close, in words; empty
/// when nothing does. Files whose size and times are unchanged are taken as unchanged
/// (sled's own rewrite of the zeros at open is undone by [`restore_times`]); the others are
/// read and hashed.
pub fn differences(dir: &Path, sealed: &[Sealed]) -> Result<Vec<String>> {
    let present = store_files(dir)?;
    let mut found = Vec::new();
    for file in sealed {
        if !present.contains(&file.name) {
            found.push(format!("{} is missing", file.name));
            continue;
        }
        let now = Stat::from(&stat(dir, &file.name)?);
        if now == Stat::from(file) {
            continue;
        }
        if now.len != file.len {
            found.push(format!(
                "{} is {} bytes long, but was {} when closed",
                file.name, now.len, file.len
            ));
        } else if sha256(&dir.join(&file.name))? != file.sha256 {
            found.push(format!("{} was changed after it was closed", file.name));
        }
    }
    for name in present {
        if !sealed.iter().any(|f| f.name == name) {
            found.push(format!("{name} appeared after it was closed"));
        }
    }
    Ok(found)
}

/// How long to wait for sled's background threads to let go of a store just dropped.
pub const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// The store's lock (sled's exclusive `flock` on `db`), held while this lives.
pub struct Lock {
    _file: Option<File>,
}

/// Takes the store's lock, waiting up to `wait` for it; `None` when another process holds
/// it. While held, no other process can open the store: the checks made under it stand.
pub fn lock(dir: &Path, wait: Duration) -> Result<Option<Lock>> {
    let path = dir.join("db");
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Some(Lock { _file: None }));
        }
        Err(e) => return Err(io_error(&path, "cannot open")(e)),
    };
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(Lock { _file: Some(file) })),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(io_error(&path, "cannot lock")(e));
            }
        }
    }
}

/// Whether some process holds the store's lock, waiting up to `wait` for it to be released.
pub fn is_locked(dir: &Path, wait: Duration) -> Result<bool> {
    Ok(lock(dir, wait)?.is_none())
}

/// Removes what a snapshot interrupted by a crash or a full disk left (`snap.*.generating`):
/// sled would take it for its newest snapshot and refuse to open.
pub fn remove_unfinished_snapshots(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(io_error(dir, "cannot list"))? {
        let entry = entry.map_err(io_error(dir, "cannot list"))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            let path = entry.path();
            fs::remove_file(&path).map_err(io_error(&path, "cannot remove"))?;
        }
    }
    Ok(())
}

/// Copies the store under `from` into the empty directory `to`: for opening a store that was
/// not closed cleanly without writing to it.
pub fn copy_store(from: &Path, to: &Path) -> Result<()> {
    for name in store_files(from)? {
        let (source, target) = (from.join(&name), to.join(&name));
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_error(parent, "cannot create"))?;
        }
        fs::copy(&source, &target).map_err(io_error(&target, "cannot copy the store to"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_and_a_garbled_one_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let record = Record::new(7, None);
        write(dir.path(), &record).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(record));
        fs::write(dir.path().join(FILE), b"{\"format\":").unwrap();
        assert!(matches!(read(dir.path()), Err(Error::Damaged { .. })));
    }

    #[test]
    fn a_changed_missing_or_new_file_is_a_difference() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("db"), b"0123456789").unwrap();
        fs::write(dir.path().join("conf"), b"conf").unwrap();
        let sealed = seal(dir.path()).unwrap();
        assert!(differences(dir.path(), &sealed).unwrap().is_empty());
        // Same length, one byte changed.
        fs::write(dir.path().join("db"), b"0123456780").unwrap();
        assert_eq!(
            differences(dir.path(), &sealed).unwrap(),
            ["db was changed after it was closed"]
        );
        fs::remove_file(dir.path().join("conf")).unwrap();
        fs::write(dir.path().join("snap.1"), b"").unwrap();
        let found = differences(dir.path(), &sealed).unwrap();
        assert!(found.contains(&"conf is missing".to_owned()), "{found:?}");
        assert!(found.contains(&"snap.1 appeared after it was closed".to_owned()));
    }

    #[test]
    fn a_rewrite_with_the_same_bytes_is_no_difference() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("db"), b"same").unwrap();
        let sealed = seal(dir.path()).unwrap();
        std::thread::sleep(Duration::from_millis(10));
        fs::write(dir.path().join("db"), b"same").unwrap();
        assert!(differences(dir.path(), &sealed).unwrap().is_empty());
    }
}
