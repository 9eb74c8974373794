//! Data in and out: `sessionctl export` and `sessionctl import`, as JSON Lines. The first line
//! names the format and its version; then one user, session or remember-me token a line.
//! Public ids and raw tokens are never exported (they are never stored): only private ids and
//! token hashes.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, IsTerminal, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use crate::cli::CliError;
use crate::model::{ActiveSession, RememberToken, User};
use crate::registry::{Import, Registry};

/// The version of the export format.
pub const EXPORT_VERSION: u32 = 1;
const FORMAT_NAME: &str = "sessionctl-export";

/// One line of an export.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line {
    Header(Header),
    User(User),
    Session(ActiveSession),
    RememberToken(Token),
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
        out.flush().map_err(write_error)
    })();
    progress.finish_and_clear();
    match result {
        Err(CliError::Other(error)) if is_broken_pipe(&error) => Ok(()),
        other => other,
    }
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

/// Reads a whole export, checks every line, then writes it all; a bad line writes nothing.
pub fn import(registry: &Registry, path: &Path) -> Result<(), CliError> {
    let file = File::open(path)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    let size = file.metadata().map_or(0, |m| m.len());
    let progress = progress(size);
    let mut batch = Import::default();
    let bad = |number: usize, message: String| {
        CliError::Usage(format!("{}:{number}: {message}", path.display()))
    };
    for (index, line) in BufReader::new(file).lines().enumerate() {
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
                if version != EXPORT_VERSION {
                    return Err(bad(
                        number,
                        format!(
                            "export version {version} is not supported (this sessionctl reads version {EXPORT_VERSION})"
                        ),
                    ));
                }
            }
            Line::User(user) => batch.users.push(user),
            Line::Session(session) => batch.sessions.push(session),
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
                batch.tokens.push((
                    user_id,
                    RememberToken {
                        token_hash: token_hash.to_lowercase(),
                        created_at,
                    },
                ));
            }
        }
    }
    progress.finish_and_clear();
    let (users, sessions, tokens) = registry
        .import(batch, &path.display().to_string())
        .map_err(|e| CliError::Usage(format!("{}: nothing imported: {e}", path.display())))?;
    registry.flush()?;
    eprintln!("imported {users} users, {sessions} sessions, {tokens} remember-me tokens");
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
