//! The command line: clap definitions and the dispatch to the console, batch mode and the
//! data commands. Errors are typed until here; [`CliError`] maps them to exit codes.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::clock::SystemClock;
use crate::registry::{Actor, Registry};
use crate::script::{ErrorKind, Evaluator, Limits, Output, ScriptError};
use crate::{batch, console, demo, stdout, store, transfer};

/// See every device signed in to your users' accounts, and revoke sessions: one, a user's
/// all, or everyone's — GitLab's `ActiveSession` from a rhai console or saved scripts.
#[derive(Debug, Parser)]
#[command(name = "sessionctl", version, about, long_about = None, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    /// Evaluate CODE, print its value as plain text (or JSON) and exit.
    #[arg(short = 'e', long = "eval", value_name = "CODE")]
    pub eval: Option<String>,

    /// Open a fresh temporary database filled with demo data.
    /// (`--db` and `SESSIONCTL_DB` are ignored then.)
    #[arg(long)]
    pub demo: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

const EXAMPLES: &str = "\
Examples:
  sessionctl --demo                                  console on a demo database
  sessionctl --db ./sessions.db                      console on a database
  sessionctl -e 'ActiveSession.list(User.find_by_username(\"exampleuser\")).len()'
  sessionctl run scripts/revoke_idle.rhai 30 --dry-run
";

/// Options every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// The database directory [default: the user data directory].
    #[arg(long, global = true, env = "SESSIONCTL_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// Write nothing: every mutation is listed as what it would have done.
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// Answer yes to confirmation questions (needed for mass revocation when standard input
    /// is not a terminal).
    #[arg(long, global = true)]
    pub yes: bool,

    /// How results are printed by -e and `run`.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// When to use colour.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// The most operations one batch script may run (0 for no limit).
    #[arg(long, global = true, value_name = "N", default_value_t = 2_000_000_000)]
    pub max_operations: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour a stream: `always`, or `auto` on a terminal without `NO_COLOR`.
    pub fn enabled(self, terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the interactive console (the default on a terminal).
    #[command(after_help = "Example:\n  sessionctl console --db ./sessions.db")]
    Console,

    /// Run a saved .rhai script; ARGV holds the arguments (after `--` if they start with -).
    /// FILE may be - for standard input.
    #[command(
        after_help = "Example:\n  sessionctl run scripts/revoke_user.rhai exampleuser --dry-run"
    )]
    Run { file: PathBuf, args: Vec<String> },

    /// Fill the database with realistic synthetic users and sessions.
    #[command(
        after_help = "Example:\n  sessionctl seed --users 1000 --sessions-per-user 10 --seed 7"
    )]
    Seed {
        #[arg(long, default_value_t = 100)]
        users: u64,
        #[arg(long, default_value_t = 5)]
        sessions_per_user: u32,
        /// The random seed: the same seed gives the same data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },

    /// Write every user and session as JSON Lines (to FILE or standard output).
    #[command(after_help = "Example:\n  sessionctl export backup.jsonl")]
    Export { file: Option<PathBuf> },

    /// Read users and sessions from JSON Lines; all or nothing.
    #[command(after_help = "Example:\n  sessionctl import backup.jsonl --db ./restored.db")]
    Import { file: PathBuf },

    /// Read or change a setting: `session_limit`, `session_expire_delay` (minutes).
    #[command(
        after_help = "Examples:\n  sessionctl config get session_limit\n  sessionctl config set session_limit 50"
    )]
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },

    /// Print the audit log, newest first.
    #[command(after_help = "Example:\n  sessionctl audit --limit 20")]
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },

    /// Verify that every index agrees with the records (exit 1 listing disagreements).
    #[command(after_help = "Example:\n  sessionctl check --db ./sessions.db")]
    Check,

    /// Print shell completions.
    #[command(
        after_help = "Example:\n  sessionctl completions bash > /etc/bash_completion.d/sessionctl"
    )]
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print one setting, or all.
    Get { key: Option<String> },
    /// Change a setting.
    Set { key: String, value: String },
}

/// Why sessionctl stops with a non-zero exit.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A script failed; its message carries the place.
    #[error("{0}")]
    Script(ScriptError),
    #[error("{0}")]
    Core(#[from] crate::Error),
    #[error("{0}")]
    Usage(String),
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
    /// Already reported (e.g. `check` listed what it found); just exit with this code.
    #[error("")]
    Reported(u8),
    /// The reader of standard output went away (`| head`): stop quietly, exit 0.
    #[error("")]
    Closed,
    /// Standard output cannot be written (other than a closed pipe: a full disk).
    #[error("cannot write to standard output: {0}")]
    Output(std::io::Error),
}

impl CliError {
    /// 1 for script and runtime errors, 2 for usage, database and output errors; 0 for a
    /// closed standard output.
    pub fn exit_code(&self) -> u8 {
        let usage_or_database = match self {
            CliError::Script(error) => error.kind == ErrorKind::Database,
            CliError::Core(error) => {
                error.is_database_error()
                    || matches!(
                        error,
                        crate::Error::UnknownSetting { .. } | crate::Error::InvalidSetting { .. }
                    )
            }
            CliError::Usage(_) | CliError::Output(_) => true,
            CliError::Other(_) => false,
            CliError::Reported(code) => return *code,
            CliError::Closed => return 0,
        };
        if usage_or_database { 2 } else { 1 }
    }

    /// Whether the message was already shown.
    pub fn is_reported(&self) -> bool {
        matches!(self, CliError::Reported(_) | CliError::Closed)
    }
}

/// Parses the command line and runs it.
pub fn run() -> Result<(), CliError> {
    let cli = Cli::parse();
    let color_err = cli.global.color.enabled(std::io::stderr().is_terminal());
    match dispatch(cli) {
        // The reader went away (`| head`): a quiet success, as ripgrep does.
        Err(CliError::Closed) => Ok(()),
        Err(CliError::Script(error)) => {
            batch::report_error(&error, color_err);
            Err(CliError::Reported(if error.kind == ErrorKind::Database {
                2
            } else {
                1
            }))
        }
        result => result,
    }
}

fn dispatch(cli: Cli) -> Result<(), CliError> {
    let global = &cli.global;
    if let Some(Command::Completions { shell }) = cli.command {
        // Generated in memory: clap_complete panics when its writer fails.
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "sessionctl", &mut script);
        return stdout::with(|out| out.write_all(&script));
    }
    if cli.demo {
        let dir = tempfile::Builder::new()
            .prefix("sessionctl-demo-")
            .tempdir()
            .map_err(anyhow::Error::from)?;
        let path = dir.path().join("db");
        demo::build(&open_registry(&path, "demo", false, true)?, demo::DEMO)?;
        return match (&cli.eval, &cli.command) {
            (Some(code), _) => batch::eval(
                evaluator(&path, "-e", global, Limits::BATCH)?,
                code,
                global.format,
            ),
            (None, None | Some(Command::Console)) => console::run(
                evaluator(&path, "console", global, Limits::CONSOLE)?,
                global,
                "a temporary demo database",
            ),
            (None, Some(_)) => Err(CliError::Usage(
                "--demo opens the console or runs -e; give --db for other commands".into(),
            )),
        };
    }
    let path = database_path(global)?;
    if let Some(code) = &cli.eval {
        return batch::eval(
            evaluator(&path, "-e", global, limits(global))?,
            code,
            global.format,
        );
    }
    match cli.command {
        None if !std::io::stdin().is_terminal() => Err(CliError::Usage(
            "standard input is not a terminal: use `sessionctl run -` to run a script from it, or -e CODE".into(),
        )),
        None | Some(Command::Console) => console::run(evaluator(&path, "console", global, Limits::CONSOLE)?, global, &path.display().to_string()),
        Some(Command::Run { file, args }) => {
            let origin = if file == Path::new("-") { "stdin".to_owned() } else { file.display().to_string() };
            batch::run_file(evaluator(&path, &origin, global, limits(global))?, &file, args, global.format)
        }
        Some(Command::Seed { users, sessions_per_user, seed }) => {
            let registry = open_registry(&path, "seed", global.dry_run, true)?;
            demo::build(&registry, demo::Plan { users, sessions_per_user, seed, ..demo::Plan::default() })?;
            report_dry_run(&registry);
            Ok(())
        }
        Some(Command::Export { file }) => transfer::export(&open_registry(&path, "export", false, false)?, file.as_deref()),
        Some(Command::Import { file }) => {
            let registry = open_registry(&path, &format!("import {}", file.display()), global.dry_run, true)?;
            transfer::import(&registry, &file)?;
            report_dry_run(&registry);
            Ok(())
        }
        Some(Command::Config { action }) => {
            // A bad key or value is refused before a database is opened, or created.
            if let ConfigAction::Set { key, value } = &action {
                crate::model::Settings::default().set(key, value)?;
            }
            let set = matches!(action, ConfigAction::Set { .. });
            config(&open_registry(&path, "config", global.dry_run, set)?, action)
        }
        Some(Command::Audit { limit }) => audit(&open_registry(&path, "audit", false, false)?, limit),
        Some(Command::Check) => check(&open_registry(&path, "check", false, false)?),
        Some(Command::Completions { .. }) => unreachable!("handled above"),
    }
}

fn limits(global: &Global) -> Limits {
    Limits {
        max_operations: (global.max_operations > 0).then_some(global.max_operations),
        ..Limits::BATCH
    }
}

/// `--db`, else `SESSIONCTL_DB` (both via clap), else the user data directory.
fn database_path(global: &Global) -> Result<PathBuf, CliError> {
    if let Some(path) = &global.db {
        return Ok(path.clone());
    }
    directories::ProjectDirs::from("", "", "sessionctl")
        .map(|dirs| dirs.data_dir().join("db"))
        .ok_or_else(|| {
            CliError::Usage("no home directory to keep the database in: give --db PATH".into())
        })
}

/// The data directory for console history.
pub fn data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "sessionctl").map(|dirs| dirs.data_dir().to_owned())
}

/// Opens the registry of `path` for the command `origin`. A dry run never creates a
/// database, and neither does a command that only reads (`create` false).
fn open_registry(
    path: &Path,
    origin: &str,
    dry_run: bool,
    create: bool,
) -> Result<Registry, CliError> {
    let store = if create && !dry_run {
        store::open(path)?
    } else {
        store::open_existing(path)?
    };
    let registry = Registry::new(store, Arc::new(SystemClock))?;
    Ok(registry.audited_as(Actor::current(origin)).dry_run(dry_run))
}

fn evaluator(
    path: &Path,
    origin: &str,
    global: &Global,
    limits: Limits,
) -> Result<Evaluator, CliError> {
    let registry = open_registry(path, origin, global.dry_run, true)?;
    Ok(Evaluator::new(
        Rc::new(registry),
        limits,
        Output::stdout(),
        Output::stderr(),
    ))
}

fn report_dry_run(registry: &Registry) {
    for entry in registry.take_planned() {
        stdout::warn(format_args!(
            "dry run: would {}: {}",
            entry.action, entry.detail
        ));
    }
}

fn config(registry: &Registry, action: ConfigAction) -> Result<(), CliError> {
    match action {
        ConfigAction::Get { key: Some(key) } => stdout::line(registry.settings().get(&key)?),
        ConfigAction::Get { key: None } => {
            let settings = registry.settings();
            let mut lines = Vec::new();
            for key in crate::model::Settings::KEYS {
                lines.push(format!("{key} = {}", settings.get(key)?));
            }
            stdout::with(|out| lines.iter().try_for_each(|line| writeln!(out, "{line}")))
        }
        ConfigAction::Set { key, value } => {
            let settings = registry.set_setting(&key, &value)?;
            report_dry_run(registry);
            registry.flush()?;
            stdout::line(format_args!("{key} = {}", settings.get(&key)?))
        }
    }
}

fn audit(registry: &Registry, limit: usize) -> Result<(), CliError> {
    let entries = registry.recent_audit(limit)?;
    stdout::with(|out| {
        for entry in entries {
            let users = if entry.user_ids.is_empty() {
                String::new()
            } else {
                let ids: Vec<String> = entry.user_ids.iter().map(ToString::to_string).collect();
                format!(" users={}", ids.join(","))
            };
            writeln!(
                out,
                "{}  {}  {}  {}{users}  {}",
                crate::script::Time(entry.at),
                entry.os_user,
                entry.origin,
                entry.action,
                entry.detail
            )?;
        }
        Ok(())
    })
}

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
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
