//! Data in and out: `sessionctl export`/`import` and `backup`/`restore`, as JSON Lines. The
//! first line names the format and its version; then one user, session or remember-me token
//! a line, and in a backup the settings and the audit log too. Public ids and raw tokens are
//! never exported (they are never stored): only private ids and token hashes.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

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

/// A file named on the command line: as given (for messages and the audit log), and where
/// it is opened (absolute when a holder opens it for an attached client, whose working
/// directory is not the holder's). `-` is standard input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Place {
    pub given: PathBuf,
    pub path: PathBuf,
}

impl Place {
    /// A file opened where this process runs.
    pub fn local(given: &Path) -> Self {
        Self {
            given: given.to_owned(),
            path: given.to_owned(),
        }
    }

    /// The same file for a holder to open: resolved against `cwd` (standard input stays `-`).
    /// A path that is not UTF-8 cannot be sent.
    pub fn resolved(self, cwd: &Path) -> Result<Self, CliError> {
        if self.given.to_str().is_none() {
            return Err(CliError::Usage(format!(
                "{}: a path that is not UTF-8 cannot be sent to the process holding the database; run the command once it has ended",
                self.given.display()
            )));
        }
        let path = if self.is_stdin() {
            self.given.clone()
        } else {
            cwd.join(&self.given)
        };
        Ok(Self { path, ..self })
    }

    pub fn is_stdin(&self) -> bool {
        self.given == Path::new("-")
    }

    /// The file as given, or `stdin`.
    pub fn name(&self) -> String {
        if self.is_stdin() {
            "stdin".to_owned()
        } else {
            self.given.display().to_string()
        }
    }
}

/// Writes every user, session and remember-me token to `file` (whole, or left as it was), or
/// standard output. `stop` (Ctrl-C in an attach holder) ends it between records.
pub fn export(
    registry: &Registry,
    file: Option<&Place>,
    stop: &dyn Fn() -> bool,
) -> Result<(), CliError> {
    if let Some(file) = file {
        return write_file(registry, file, false, stop);
    }
    match write_all(registry, Box::new(crate::stdout::Stdout), false, stop) {
        Err(CliError::Other(error)) if is_broken_pipe(&error) => Ok(()),
        Err(CliError::Interrupted { .. }) => Err(CliError::Interrupted {
            left: "the export on standard output is incomplete".into(),
        }),
        other => other,
    }
}

/// `sessionctl backup FILE`: the export, the settings and the audit log, written as
/// [`write_file`] does.
pub fn backup(registry: &Registry, file: &Place, stop: &dyn Fn() -> bool) -> Result<(), CliError> {
    write_file(registry, file, true, stop)?;
    let users = registry.user_count()?;
    crate::stdout::warn(format!("backed up {users} users to {}", file.name()));
    Ok(())
}

/// An export (a backup with `backup`) written to a temporary file beside `file`, synced, then
/// renamed over it: `file` is the whole export or is left as it was.
fn write_file(
    registry: &Registry,
    file: &Place,
    backup: bool,
    stop: &dyn Fn() -> bool,
) -> Result<(), CliError> {
    let path = &file.path;
    let name = path
        .file_name()
        .ok_or_else(|| CliError::Usage(format!("{} is not a file name", file.name())))?;
    let mut temporary_name = std::ffi::OsString::from(".");
    temporary_name.push(name);
    temporary_name.push(".partial");
    let temporary = path.with_file_name(temporary_name);
    let cannot = |e: std::io::Error| {
        CliError::Other(anyhow::anyhow!("cannot write {}: {e}", temporary.display()))
    };
    let created = File::create(&temporary)
        .map_err(|e| CliError::Usage(format!("cannot create {}: {e}", file.name())))?;
    let written = created
        .try_clone()
        .map_err(cannot)
        .and_then(|sink| write_all(registry, Box::new(sink), backup, stop))
        .and_then(|()| created.sync_all().map_err(cannot))
        .and_then(|()| std::fs::rename(&temporary, path).map_err(cannot));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(match error {
            CliError::Interrupted { .. } => CliError::Interrupted {
                left: format!("{} left as it was", file.name()),
            },
            other => other,
        });
    }
    Ok(())
}

fn write_all(
    registry: &Registry,
    sink: Box<dyn Write>,
    backup: bool,
    stop: &dyn Fn() -> bool,
) -> Result<(), CliError> {
    let mut out = BufWriter::new(sink);
    let progress = progress(registry.user_count()?);
    let put = |out: &mut BufWriter<Box<dyn Write>>, line: &Line| {
        if stop() {
            return Err(CliError::Interrupted {
                left: String::new(),
            });
        }
        write_line(out, line)
    };
    let result = (|| -> Result<(), CliError> {
        put(
            &mut out,
            &Line::Header(Header {
                format: FORMAT_NAME.into(),
                version: EXPORT_VERSION,
            }),
        )?;
        if backup {
            put(&mut out, &Line::Settings(registry.settings()?))?;
        }
        for user in registry.users(None) {
            put(&mut out, &Line::User(user?))?;
            progress.inc(1);
        }
        for session in registry.list_all() {
            put(&mut out, &Line::Session(session?))?;
        }
        for user in registry.users(None) {
            let user = user?;
            for token in registry.remember_tokens(user.id)? {
                put(
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
                put(&mut out, &Line::Audit(entry))?;
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
/// `-` is `stdin` (this process's standard input when `None`), named `stdin` in messages.
/// `stop` (Ctrl-C in an attach holder) ends it between lines.
pub fn read_file(
    file: &Place,
    stdin: Option<Box<dyn BufRead + '_>>,
    stop: &dyn Fn() -> bool,
) -> Result<Contents, CliError> {
    let name = file.name();
    let (reader, size): (Box<dyn BufRead + '_>, u64) = if file.is_stdin() {
        (
            stdin.unwrap_or_else(|| Box::new(std::io::stdin().lock())),
            0,
        )
    } else {
        let opened = File::open(&file.path)
            .map_err(|e| CliError::Usage(format!("cannot read {name}: {e}")))?;
        let size = opened.metadata().map_or(0, |m| m.len());
        (Box::new(BufReader::new(opened)), size)
    };
    let progress = progress(size);
    let mut contents = Contents {
        name: name.clone(),
        ..Contents::default()
    };
    let batch = &mut contents.records;
    let bad =
        |number: usize, message: String| CliError::Usage(format!("{name}:{number}: {message}"));
    let interrupted = || CliError::Interrupted {
        left: format!("nothing read from {name} was written"),
    };
    for (index, line) in reader.lines().enumerate() {
        let number = index + 1;
        if stop() {
            return Err(interrupted());
        }
        let line = line.map_err(|e| {
            if stop() {
                interrupted()
            } else {
                bad(number, format!("cannot read: {e}"))
            }
        })?;
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
pub fn import(
    registry: &Registry,
    file: &Place,
    stdin: Option<Box<dyn BufRead + '_>>,
    stop: &dyn Fn() -> bool,
) -> Result<(), CliError> {
    let mut contents = read_file(file, stdin, stop)?;
    if contents.settings.is_some() || !contents.audit.is_empty() {
        crate::stdout::warn(format!(
            "note: the settings and the {} audit entries in {} are not imported (restore loads them into a new database)",
            contents.audit.len(),
            file.given.display()
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
    let mut contents = read_file(&Place::local(path), None, &|| false)?;
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
    if !crate::stdout::stderr_is_terminal() {
        return ProgressBar::hidden();
    }
    let spinner = ProgressBar::new_spinner().with_message(message);
    spinner.enable_steady_tick(std::time::Duration::from_millis(100));
    spinner
}

/// A progress bar on a terminal, hidden otherwise (and for an attached client).
pub fn progress(length: u64) -> ProgressBar {
    if crate::stdout::stderr_is_terminal() {
        ProgressBar::new(length)
    } else {
        ProgressBar::hidden()
    }
}
