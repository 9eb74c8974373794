//! The data commands' bodies — `seed`, `import`, `export`, `backup`, `salvage`, `config`,
//! `audit` and `check` — on an open registry: run by the command line on a store it opened,
//! and by an attach holder (`host::attach`) for a client on the store it holds, the same
//! code either way. Their output goes through [`crate::stdout`], which a holder points at
//! its client; the person's side (`--yes`, a question at the terminal, Ctrl-C, standard
//! input) comes in a [`Context`].

use std::io::BufRead;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::exit::CliError;
use crate::options::Format;
use crate::registry::{AuditFilter, Registry};
use crate::transfer::{self, Place};
use crate::{console, demo, stdout};

/// A data command and its arguments, as parsed from the command line (and sent to a holder).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    Seed {
        users: u64,
        sessions_per_user: u32,
        seed: u64,
    },
    Import {
        file: Place,
    },
    Export {
        file: Option<Place>,
    },
    Backup {
        file: Place,
    },
    /// On a store a holder has open, the live store is read: a backup.
    Salvage {
        file: Place,
    },
    ConfigGet {
        key: Option<String>,
    },
    ConfigSet {
        key: String,
        value: String,
    },
    Audit {
        limit: usize,
        user: Option<String>,
        since: Option<DateTime<Utc>>,
        action: Option<String>,
        format: Format,
    },
    Check,
}

impl Command {
    /// The audit log's origin of the command: its name, with the file for `import`.
    pub fn origin(&self) -> String {
        match self {
            Command::Seed { .. } => "seed".into(),
            Command::Import { file } => format!("import {}", file.given.display()),
            Command::Export { .. } => "export".into(),
            Command::Backup { .. } => "backup".into(),
            Command::Salvage { .. } => "salvage".into(),
            Command::ConfigGet { .. } | Command::ConfigSet { .. } => "config".into(),
            Command::Audit { .. } => "audit".into(),
            Command::Check => "check".into(),
        }
    }

    /// Whether the command may write to the store.
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Command::Seed { .. } | Command::Import { .. } | Command::ConfigSet { .. }
        )
    }

    /// Whether the command reads the person's standard input (`import -`).
    pub fn reads_stdin(&self) -> bool {
        matches!(self, Command::Import { file } if file.is_stdin())
    }

    /// The command for a holder to run: its files resolved against `cwd`.
    pub fn resolved(self, cwd: &Path) -> Result<Self, CliError> {
        Ok(match self {
            Command::Import { file } => Command::Import {
                file: file.resolved(cwd)?,
            },
            Command::Export { file } => Command::Export {
                file: file.map(|file| file.resolved(cwd)).transpose()?,
            },
            Command::Backup { file } => Command::Backup {
                file: file.resolved(cwd)?,
            },
            Command::Salvage { file } => Command::Salvage {
                file: file.resolved(cwd)?,
            },
            other => other,
        })
    }
}

/// The person's side of a command.
pub struct Context<'a> {
    /// `--yes`: lowering a setting is not asked about.
    pub yes: bool,
    /// Whether the person's standard input is a terminal, where a question can be asked.
    pub terminal: bool,
    /// Asks a question ending in `[y/N] ` at the person's terminal: whether they said yes.
    pub ask: &'a dyn Fn(&str) -> bool,
    /// Whether the person pressed Ctrl-C (or went away): the command stops between records.
    pub stop: &'a dyn Fn() -> bool,
    /// The person's standard input, for `import -`: `None` for this process's own.
    pub stdin: Option<Box<dyn BufRead + 'a>>,
}

impl Context<'_> {
    /// A command run by this process for the person at its terminal.
    pub fn local(yes: bool) -> Context<'static> {
        Context {
            yes,
            terminal: std::io::IsTerminal::is_terminal(&std::io::stdin()),
            ask: &console::ask,
            stop: &never,
            stdin: None,
        }
    }
}

/// A local command is not stopped: Ctrl-C ends the process.
fn never() -> bool {
    false
}

/// Runs `command` on `registry` (which the caller opened, with its dry run, and closes);
/// then prints, in one line, what dry run skipped.
pub fn run(registry: &Registry, command: Command, context: Context) -> Result<(), CliError> {
    let stop = context.stop;
    let done = match command {
        Command::Seed {
            users,
            sessions_per_user,
            seed,
        } => {
            let plan = demo::Plan {
                users,
                sessions_per_user,
                seed,
                ..demo::Plan::default()
            };
            self::seed(registry, plan, stop)
        }
        Command::Import { file } => transfer::import(registry, &file, context.stdin, stop),
        Command::Export { file } => transfer::export(registry, file.as_ref(), stop),
        Command::Backup { file } | Command::Salvage { file } => {
            transfer::backup(registry, &file, stop)
        }
        Command::ConfigGet { key } => config_get(registry, key),
        Command::ConfigSet { key, value } => config_set(registry, &key, &value, &context),
        Command::Audit {
            limit,
            user,
            since,
            action,
            format,
        } => find_user(registry, user).and_then(|user_id| {
            let filter = AuditFilter {
                user_id,
                since,
                action,
            };
            audit(registry, &filter, limit, format, stop)
        }),
        Command::Check => check(registry),
    };
    report_dry_run(registry);
    done
}

/// Prints what dry run skipped, in one line.
pub fn report_dry_run(registry: &Registry) {
    if let Some(summary) = registry.take_planned_summary() {
        stdout::warn(summary);
    }
}

/// `sessionctl seed`: the synthetic data, and what was made.
fn seed(registry: &Registry, plan: demo::Plan, stop: &dyn Fn() -> bool) -> Result<(), CliError> {
    let Some((users, sessions)) = demo::build_stopping(registry, plan, stop)? else {
        return Err(CliError::Interrupted {
            left: "nothing seeded".into(),
        });
    };
    let done = if registry.is_dry_run() {
        "would seed"
    } else {
        "seeded"
    };
    stdout::line(format_args!(
        "{done} {} users with {} sessions",
        console::thousands(users),
        console::thousands(sessions)
    ))
}

fn config_get(registry: &Registry, key: Option<String>) -> Result<(), CliError> {
    let settings = registry.settings()?;
    if let Some(key) = key {
        return stdout::line(settings.get(&key)?);
    }
    let mut lines = Vec::new();
    for key in crate::model::Settings::KEYS {
        lines.push(format!("{key} = {}", settings.get(key)?));
    }
    stdout::with(|out| lines.iter().try_for_each(|line| writeln!(out, "{line}")))
}

fn config_set(
    registry: &Registry,
    key: &str,
    value: &str,
    context: &Context,
) -> Result<(), CliError> {
    let before = registry.settings()?;
    let mut after = before;
    after.set(key, value)?;
    // Only lowering a setting can end sessions: raising one reads nothing.
    let lowers = after.session_limit < before.session_limit
        || after.session_expire_delay < before.session_expire_delay;
    let ended = if lowers {
        registry.sessions_ended_by(after)?
    } else {
        crate::model::Revoked::default()
    };
    let sessions_of_users = format!(
        "{} session{} of {} user{}",
        ended.sessions,
        if ended.sessions == 1 { "" } else { "s" },
        ended.users,
        if ended.users == 1 { "" } else { "s" },
    );
    if ended.sessions > 0 && !registry.is_dry_run() && !context.yes {
        let what = format!(
            "{key} {} -> {value} ends {sessions_of_users}",
            before.get(key)?,
        );
        if !context.terminal {
            return Err(CliError::Usage(format!(
                "{what}: standard input is not a terminal to ask; run again with --yes to go ahead"
            )));
        }
        if !(context.ask)(&format!("{what}. Go ahead? [y/N] ")) {
            stdout::warn("Nothing changed.");
            return Ok(());
        }
    }
    let settings = registry.set_setting(key, value)?;
    if registry.is_dry_run() {
        // One line, on standard error: what the change would do, never "key = value".
        if let Some(summary) = registry.take_planned_summary() {
            stdout::warn(if ended.sessions > 0 {
                format!("{summary}, ending {sessions_of_users}")
            } else {
                summary
            });
        }
        return Ok(());
    }
    if ended.sessions > 0 {
        registry.end_sessions_beyond_settings()?;
    }
    registry.flush()?;
    stdout::line(format_args!("{key} = {}", settings.get(key)?))
}

/// A user named on the command line by username or id.
fn find_user(registry: &Registry, user: Option<String>) -> Result<Option<u64>, CliError> {
    let Some(user) = user else {
        return Ok(None);
    };
    if let Ok(id) = user.parse::<u64>() {
        return Ok(Some(id));
    }
    match registry.find_by_username(&user)? {
        Some(found) => Ok(Some(found.id)),
        None => Err(CliError::Usage(format!(
            "--user: no user with username {user:?}"
        ))),
    }
}

/// `sessionctl audit`: lines of text, JSON Lines or CSV.
fn audit(
    registry: &Registry,
    filter: &AuditFilter,
    limit: usize,
    format: Format,
    stop: &dyn Fn() -> bool,
) -> Result<(), CliError> {
    let entries = registry.audit_entries(filter, limit)?;
    let json = |entry| serde_json::to_value(entry).map_err(|e| CliError::Other(e.into()));
    let interrupted = || {
        Err(CliError::Interrupted {
            left: "the list is incomplete".into(),
        })
    };
    let mut stopped = false;
    let mut go_on = || {
        stopped = stop();
        !stopped
    };
    let printed = match format {
        Format::Json => stdout::with(|out| {
            entries
                .iter()
                .take_while(|_| go_on())
                .try_for_each(|entry| {
                    serde_json::to_writer(&mut *out, entry)?;
                    writeln!(out)
                })
        }),
        Format::Csv => {
            let rows = entries.iter().map(json).collect::<Result<Vec<_>, _>>()?;
            if stop() {
                return interrupted();
            }
            stdout::csv(&rows)
        }
        Format::Text => stdout::with(|out| {
            for entry in entries.iter().take_while(|_| go_on()) {
                writeln!(out, "{}", audit_line(entry))?;
            }
            Ok(())
        }),
    };
    printed?;
    if stopped { interrupted() } else { Ok(()) }
}

/// One entry of the audit log as a line of text.
fn audit_line(entry: &crate::model::AuditEntry) -> String {
    let users = if entry.user_ids.is_empty() {
        String::new()
    } else {
        // One line an entry: a run's hundreds of users are in `--format json`.
        let ids: Vec<String> = entry
            .user_ids
            .iter()
            .take(10)
            .map(ToString::to_string)
            .collect();
        let more = entry.user_ids.len().saturating_sub(10);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        format!(" users={}{more}", ids.join(","))
    };
    format!(
        "{}  {}  {}  {}{users}  {}",
        crate::script::Time(entry.at),
        entry.os_user,
        entry.origin,
        entry.action,
        entry.detail
    )
}

/// `sessionctl check`: every index against the records (exit 1 listing disagreements).
fn check(registry: &Registry) -> Result<(), CliError> {
    let spinner = transfer::spinner("checking every index against the records");
    let found = registry.check();
    spinner.finish_and_clear();
    let found = found?;
    if found.is_empty() {
        return stdout::line(format_args!(
            "consistent: {} users, {} sessions",
            registry.user_count()?,
            registry.stored_session_count()?
        ));
    }
    stdout::with(|out| {
        found
            .iter()
            .try_for_each(|disagreement| writeln!(out, "{disagreement}"))
    })?;
    stdout::warn(format_args!(
        "{} disagreement{} found",
        found.len(),
        if found.len() == 1 { "" } else { "s" }
    ));
    Err(CliError::Reported(1))
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::Command;
    use crate::transfer::Place;

    #[test]
    fn a_holder_gets_absolute_paths_and_the_audit_origin_keeps_the_path_as_given() {
        let import = |file: &str| Command::Import {
            file: Place::local(Path::new(file)),
        };
        let resolved = import("backups/x.jsonl")
            .resolved(Path::new("/home/admin"))
            .unwrap();
        assert_eq!(resolved.origin(), "import backups/x.jsonl");
        let Command::Import { file } = &resolved else {
            unreachable!()
        };
        assert_eq!(file.path, PathBuf::from("/home/admin/backups/x.jsonl"));
        assert_eq!(file.name(), "backups/x.jsonl");
        // Standard input stays standard input; an absolute path stays as it is.
        let stdin = import("-").resolved(Path::new("/home/admin")).unwrap();
        assert!(stdin.reads_stdin() && stdin.writes());
        let export = Command::Export {
            file: Some(Place::local(Path::new("/tmp/e.jsonl"))),
        };
        let Command::Export { file: Some(file) } = export.resolved(Path::new("/x")).unwrap() else {
            unreachable!()
        };
        assert_eq!(file.path, PathBuf::from("/tmp/e.jsonl"));
    }
}
