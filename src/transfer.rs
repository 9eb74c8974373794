//! Data in and out: `sessionctl export`/`import` and `backup`/`restore`, as JSON Lines. The
//! first line names the format and its version; then one user, session or remember-me token
//! a line, and in a backup the settings and the audit log too. Public ids and raw tokens are
//! never exported (they are never stored): only private ids and token hashes.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use crate::exit::CliError;
use crate::model::{ActiveSession, AuditEntry, RememberToken, Settings, User};
use crate::registry::{Import, Registry};

/// The version of the export format: 2 added the settings and audit lines of a backup.
/// Version 1 files are read too.
pub const EXPORT_VERSION: u32 = 2;
const FORMAT_NAME: &str = "sessionctl-export";

/// One line of an export.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line {
    Header(Header),
    User(User),
    Session(ActiveSession),
    RememberToken(Token),
    Settings(Settings),
    Audit(AuditEntry),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: String,
    version: u32,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Token {
    user_id: u64,
    #[serde(rename = "token_hash")]
    hash: String,
    created_at: DateTime<Utc>,
}

/// Reads a record, naming the field at fault.
fn read<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        if field == "." {
            e.inner().to_string()
        } else {
            format!("field `{field}`: {}", e.inner())
        }
    })
}

/// Reads one line: its `type` picks the record, then the record is read naming the field at
/// fault.
fn parse_line(line: &str) -> Result<Line, String> {
    let mut value: serde_json::Value =
        serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let kind = match value.as_object_mut().map(|object| object.remove("type")) {
        None => return Err("expected a JSON object".into()),
        Some(Some(serde_json::Value::String(kind))) => kind,
        Some(_) => return Err("field `type`: missing or not a string".into()),
    };
    match kind.as_str() {
        "header" => read(value).map(Line::Header),
        "user" => read(value).map(Line::User),
        "session" => read(value).map(Line::Session),
        "remember_token" => read(value).map(Line::RememberToken),
        "settings" => read(value).map(Line::Settings),
        "audit" => read(value).map(Line::Audit),
        other => Err(format!("field `type`: unknown record type {other:?}")),
    }
}

/// Writes every user, session and remember-me token to `file`, or standard output.
pub fn export(registry: &Registry, file: Option<&Path>) -> Result<(), CliError> {
    let sink: Box<dyn Write> = match file {
        Some(path) => Box::new(
            File::create(path)
                .map_err(|e| CliError::Usage(format!("cannot create {}: {e}", path.display())))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    match write_all(registry, sink, false) {
        Err(CliError::Other(error)) if is_broken_pipe(&error) => Ok(()),
        other => other,
    }
}

/// `sessionctl backup FILE`: the export, the settings and the audit log, written to a
/// temporary file beside FILE, synced, then renamed over it: FILE is the whole backup or is
/// left as it was.
pub fn backup(registry: &Registry, path: &Path) -> Result<(), CliError> {
    let name = path
        .file_name()
        .ok_or_else(|| CliError::Usage(format!("{} is not a file name", path.display())))?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(".partial");
    let temporary = path.with_file_name(temporary_name);
    let cannot = |e: std::io::Error| {
        CliError::Other(anyhow::anyhow!("cannot write {}: {e}", temporary.display()))
    };
    let file = File::create(&temporary).map_err(cannot)?;
    let written = write_all(registry, Box::new(file.try_clone().map_err(cannot)?), true)
        .and_then(|()| file.sync_all().map_err(cannot));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(error);
    }
    std::fs::rename(&temporary, path).map_err(cannot)?;
    let users = registry.user_count()?;
    crate::stdout::warn(format!("backed up {users} users to {}", path.display()));
    Ok(())
}

fn write_all(registry: &Registry, sink: Box<dyn Write>, backup: bool) -> Result<(), CliError> {
    let mut out = BufWriter::new(sink);
    let progress = progress(registry.user_count()?);
    let result = (|| -> Result<(), CliError> {
        write_line(
            &mut out,
            &Line::Header(Header {
                format: FORMAT_NAME.into(),
                version: EXPORT_VERSION,
            }),
        )?;
        if backup {
            write_line(&mut out, &Line::Settings(registry.settings()?))?;
        }
        for user in registry.users(None) {
            write_line(&mut out, &Line::User(user?))?;
            progress.inc(1);
        }
        for session in registry.list_all() {
            write_line(&mut out, &Line::Session(session?))?;
        }
        for user in registry.users(None) {
            let user = user?;
            for token in registry.remember_tokens(user.id)? {
                write_line(
                    &mut out,
                    &Line::RememberToken(Token {
                        user_id: user.id,
                        hash: token.token_hash,
                        created_at: token.created_at,
                    }),
                )?;
            }
        }
        if backup {
            for entry in registry.recent_audit(usize::MAX)?.into_iter().rev() {
                write_line(&mut out, &Line::Audit(entry))?;
            }
        }
        out.flush().map_err(write_error)
    })();
    progress.finish_and_clear();
    result
}

fn write_line(out: &mut impl Write, line: &Line) -> Result<(), CliError> {
    serde_json::to_writer(&mut *out, line).map_err(|e| CliError::Other(e.into()))?;
    out.write_all(b"\n").map_err(write_error)
}

fn write_error(error: std::io::Error) -> CliError {
    CliError::Other(error.into())
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .is_some_and(|e| e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
    })
}

/// What an export or a backup file holds.
#[derive(Debug, Default)]
pub struct Contents {
    pub records: Import,
    pub settings: Option<Settings>,
    /// The audit log, oldest first.
    pub audit: Vec<AuditEntry>,
    /// Where the records were read: `name`, and the line of each user, session and token.
    pub name: String,
    pub lines: [Vec<usize>; 3],
}

impl Contents {
    /// A refusal of the import, naming the line of the record at fault:
    /// `FILE:LINE: nothing imported: why`.
    fn refused(&self, error: crate::Error, what: &str) -> CliError {
        use crate::error::RecordKind;
        if let crate::Error::InRecord {
            kind,
            index,
            source,
        } = &error
        {
            let lines = &self.lines[match kind {
                RecordKind::User => 0,
                RecordKind::Session => 1,
                RecordKind::RememberToken => 2,
            }];
            if let Some(line) = lines.get(*index) {
                return CliError::Usage(format!("{}:{line}: nothing {what}: {source}", self.name));
            }
        }
        CliError::Usage(format!("{}: nothing {what}: {error}", self.name))
    }
}

/// Reads a whole export or backup, checking every line; a bad line is an error naming it.
/// `-` is standard input, named `stdin` in messages.
pub fn read_file(path: &Path) -> Result<Contents, CliError> {
    let (reader, size, name): (Box<dyn BufRead>, u64, String) = if path == Path::new("-") {
        (Box::new(std::io::stdin().lock()), 0, "stdin".to_owned())
    } else {
        let file = File::open(path)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
        let size = file.metadata().map_or(0, |m| m.len());
        (
            Box::new(BufReader::new(file)),
            size,
            path.display().to_string(),
        )
    };
    let progress = progress(size);
    let mut contents = Contents {
        name: name.clone(),
        ..Contents::default()
    };
    let batch = &mut contents.records;
    let bad =
        |number: usize, message: String| CliError::Usage(format!("{name}:{number}: {message}"));
    for (index, line) in reader.lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| bad(number, format!("cannot read: {e}")))?;
        progress.inc(line.len() as u64 + 1);
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(&line).map_err(|message| bad(number, message))? {
            Line::Header(Header { format, version }) => {
                if number != 1 || format != FORMAT_NAME {
                    return Err(bad(number, format!("unexpected header {format:?}")));
                }
                if !(1..=EXPORT_VERSION).contains(&version) {
                    return Err(bad(
                        number,
                        format!(
                            "export version {version} is not supported (this sessionctl reads versions 1 to {EXPORT_VERSION})"
                        ),
                    ));
                }
            }
            Line::User(user) => {
                batch.users.push(user);
                contents.lines[0].push(number);
            }
            Line::Session(session) => {
                batch.sessions.push(session);
                contents.lines[1].push(number);
            }
            Line::RememberToken(Token {
                user_id,
                hash: token_hash,
                created_at,
            }) => {
                if token_hash.len() != 64 || !token_hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(bad(
                        number,
                        "field `token_hash`: expected 64 hex digits".into(),
                    ));
                }
                contents.lines[2].push(number);
                batch.tokens.push((
                    user_id,
                    RememberToken {
                        token_hash: token_hash.to_lowercase(),
                        created_at,
                    },
                ));
            }
            Line::Settings(settings) => contents.settings = Some(settings),
            Line::Audit(entry) => contents.audit.push(entry),
        }
    }
    progress.finish_and_clear();
    Ok(contents)
}

/// Reads a whole export, checks every line, then writes it all; a bad line writes nothing.
/// The settings and audit log of a backup are not imported (`restore` loads them).
pub fn import(registry: &Registry, path: &Path) -> Result<(), CliError> {
    let mut contents = read_file(path)?;
    if contents.settings.is_some() || !contents.audit.is_empty() {
        crate::stdout::warn(format!(
            "note: the settings and the {} audit entries in {} are not imported (restore loads them into a new database)",
            contents.audit.len(),
            path.display()
        ));
    }
    let records = std::mem::take(&mut contents.records);
    let (users, sessions, tokens) = registry
        .import(records, &contents.name)
        .map_err(|e| contents.refused(e, "imported"))?;
    let done = if registry.is_dry_run() {
        "would import"
    } else {
        "imported"
    };
    crate::stdout::warn(format!(
        "{done} {users} users, {sessions} sessions, {tokens} remember-me tokens"
    ));
    Ok(())
}

/// Loads a backup into the new, empty database of `registry`: the settings, the audit log,
/// then every record (all or nothing, as an import).
pub fn restore(registry: &Registry, path: &Path) -> Result<(), CliError> {
    let mut contents = read_file(path)?;
    if let Some(settings) = contents.settings {
        registry.restore_settings(settings)?;
    }
    registry.restore_audit(&contents.audit)?;
    let records = std::mem::take(&mut contents.records);
    let (users, sessions, tokens) = registry
        .import(records, &format!("restore {}", contents.name))
        .map_err(|e| contents.refused(e, "restored"))?;
    crate::stdout::warn(format!(
        "restored {users} users, {sessions} sessions, {tokens} remember-me tokens and {} audit entries",
        contents.audit.len()
    ));
    Ok(())
}

/// A ticking spinner with `message` on a terminal, hidden otherwise: for long work whose
/// size is unknown.
pub fn spinner(message: &'static str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let spinner = ProgressBar::new_spinner().with_message(message);
    spinner.enable_steady_tick(std::time::Duration::from_millis(100));
    spinner
}

/// A progress bar on a terminal, hidden otherwise.
pub fn progress(length: u64) -> ProgressBar {
    if std::io::stderr().is_terminal() {
        ProgressBar::new(length)
    } else {
        ProgressBar::hidden()
    }
}
