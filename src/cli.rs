//! The command line: clap definitions and the dispatch to the console, batch mode and the
//! data commands. Nothing below imports this module: the global options are in
//! [`crate::options`], the exit codes in [`crate::exit`], the default paths in [`crate::paths`].

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::clock::SystemClock;
use crate::exit::CliError;
use crate::host::attach;
use crate::options::{DryRun, Format, FormatArg, Global, ScriptLimits};
use crate::registry::{Actor, Registry};
use crate::script::{Evaluator, Limits, Output};
use crate::store::{Location, Mode};
use crate::transfer::Place;
use crate::{batch, commands, console, demo, stdout, store, transfer};

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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the interactive console (the default on a terminal).
    #[command(after_help = "Example:\n  sessionctl console --db ./sessions.db")]
    Console {
        #[command(flatten)]
        dry_run: DryRun,
    },

    /// Run a saved .rhai script and print its final value as -e does; ARGV holds the
    /// arguments (after `--` if they start with -). FILE may be - for standard input.
    #[command(
        after_help = "Example:\n  sessionctl run scripts/revoke_user.rhai exampleuser --dry-run"
    )]
    Run {
        file: PathBuf,
        args: Vec<String>,
        #[command(flatten)]
        dry_run: DryRun,
        #[command(flatten)]
        format: FormatArg,
        #[command(flatten)]
        limits: ScriptLimits,
    },

    /// Create an empty database at --db (the data commands below create one too).
    #[command(after_help = "Example:\n  sessionctl --db ./sessions.db init")]
    Init,

    /// Write a consistent backup (users, sessions, remember-me tokens, settings and the audit
    /// log) to FILE: the whole backup, or FILE left as it was.
    #[command(
        after_help = "Example:\n  sessionctl --db ./sessions.db backup /backups/sessions.jsonl"
    )]
    Backup { file: PathBuf },

    /// Load a backup into a new database: --db must not hold one yet. All or nothing.
    #[command(
        after_help = "Example:\n  sessionctl --db ./restored.db restore /backups/sessions.jsonl"
    )]
    Restore {
        file: PathBuf,
        #[command(flatten)]
        dry_run: DryRun,
    },

    /// Write what is still readable of a damaged database to FILE, as a backup to restore
    /// into a new database. The damaged database is only read (from a copy).
    #[command(
        after_help = "Example:\n  sessionctl --db ./sessions.db salvage rescued.jsonl\n  sessionctl --db ./new.db restore rescued.jsonl"
    )]
    Salvage { file: PathBuf },

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
        #[command(flatten)]
        dry_run: DryRun,
    },

    /// Write every user and session as JSON Lines (to FILE or standard output).
    #[command(after_help = "Example:\n  sessionctl export backup.jsonl")]
    Export { file: Option<PathBuf> },

    /// Read users and sessions from JSON Lines (FILE, or - for standard input); all or
    /// nothing. With --dry-run, every line is read and checked and nothing is written (on a
    /// path without a database too: nothing is created).
    #[command(after_help = "Example:\n  sessionctl import backup.jsonl --db ./restored.db")]
    Import {
        file: PathBuf,
        #[command(flatten)]
        dry_run: DryRun,
    },

    /// Read or change a setting: `session_limit`, `session_expire_delay` (minutes).
    #[command(
        after_help = "Examples:\n  sessionctl config get session_limit\n  sessionctl config set session_limit 50"
    )]
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },

    /// Print the audit log, newest first (with --format json, one JSON object a line).
    #[command(
        after_help = "Examples:\n  sessionctl audit --limit 20\n  sessionctl audit --user exampleuser --since 7d --action destroy_session\n  sessionctl audit --since 2026-11-01 --format csv > audit.csv"
    )]
    Audit {
        /// The most entries to print (the newest).
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only entries naming this user: a username or an id.
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Only entries since WHEN: a date (2026-11-01, midnight UTC), a time
        /// (2026-11-01T09:30:00Z) or a duration ago (30m, 12h, 7d, 2w).
        #[arg(long, value_name = "WHEN", value_parser = parse_since)]
        since: Option<DateTime<Utc>>,
        /// Only entries of this action, as printed (e.g. `destroy_session`, `import`).
        #[arg(long)]
        action: Option<String>,
        #[command(flatten)]
        format: FormatArg,
    },

    /// Verify that every index agrees with the records (exit 1 listing disagreements).
    #[command(after_help = "Example:\n  sessionctl check --db ./sessions.db")]
    Check,

    /// Serve the HTTP API through which an application signs its users in and authenticates
    /// their requests (docs/api.md), holding the store until SIGINT or SIGTERM.
    #[command(
        after_help = "Examples:\n  sessionctl --db ./sessions.db serve --listen 127.0.0.1:8080\n  sessionctl --redis redis://127.0.0.1:6379 serve --listen unix:/run/sessionctl/api.sock"
    )]
    Serve {
        /// Where to listen: `127.0.0.1:PORT`, `[::1]:PORT` (port 0: any free port) or `unix:PATH`.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Allow an address other than loopback (the API trusts its caller: put it behind
        /// your own network controls).
        #[arg(long)]
        listen_public: bool,
    },

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
    Set {
        key: String,
        value: String,
        #[command(flatten)]
        dry_run: DryRun,
    },
}

/// Parses the command line and runs it.
pub fn run() -> Result<(), CliError> {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    let color_err = cli.global.color.enabled(std::io::stderr().is_terminal());
    match settle(&mut cli, &matches).and_then(|()| dispatch(cli)) {
        // The reader went away (`| head`): a quiet success, as ripgrep does.
        Err(CliError::Closed) => Ok(()),
        Err(error @ CliError::Script(_)) => {
            let code = error.exit_code();
            if let CliError::Script(error) = &error {
                batch::report_error(error, color_err);
            }
            Err(CliError::Reported(code))
        }
        result => result,
    }
}

/// Checks the options against the command, and copies the subcommand's `--dry-run`,
/// `--format` and `--max-operations` into the global options. Given before a subcommand,
/// those act on the console and `-e` only: before another subcommand they are a usage error,
/// as is `-e` with a subcommand.
fn settle(cli: &mut Cli, matches: &ArgMatches) -> Result<(), CliError> {
    let Some(name) = matches.subcommand_name() else {
        return Ok(());
    };
    if cli.eval.is_some() {
        return Err(CliError::Usage(format!(
            "-e CODE runs alone: it cannot be combined with the `{name}` subcommand (run them one after the other)"
        )));
    }
    let given = |id: &str| matches.value_source(id) == Some(ValueSource::CommandLine);
    let not_here = |option: &str| {
        CliError::Usage(format!(
            "{option} does nothing for `{name}`: see sessionctl {name} --help"
        ))
    };
    let (dry_run, format, limits) = match &mut cli.command {
        Some(Command::Run {
            dry_run,
            format,
            limits,
            ..
        }) => (
            Some(dry_run.dry_run),
            Some(format.format),
            Some((limits.max_operations, limits.timeout)),
        ),
        Some(
            Command::Console { dry_run }
            | Command::Seed { dry_run, .. }
            | Command::Import { dry_run, .. }
            | Command::Restore { dry_run, .. }
            | Command::Config {
                action: ConfigAction::Set { dry_run, .. },
            },
        ) => (Some(dry_run.dry_run), None, None),
        Some(Command::Audit { format, .. }) => (None, Some(format.format), None),
        _ => (None, None, None),
    };
    let global = &mut cli.global;
    match dry_run {
        Some(dry_run) => global.dry_run |= dry_run,
        None if global.dry_run => return Err(not_here("--dry-run")),
        None => {}
    }
    match format {
        Some(format) => global.format = format.unwrap_or(global.format),
        None if given("format") => return Err(not_here("--format")),
        None => {}
    }
    match limits {
        Some((max, timeout)) => {
            global.max_operations = max.unwrap_or(global.max_operations);
            global.timeout = timeout.or(global.timeout);
        }
        None if given("max_operations") => return Err(not_here("--max-operations")),
        None if given("timeout") => return Err(not_here("--timeout")),
        None => {}
    }
    Ok(())
}

/// Parses `--since`: an RFC 3339 time, a date (midnight UTC), or a duration ago (`30m`,
/// `12h`, `7d`, `2w`).
fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    let bad = || {
        format!(
            "{text:?} is not a date (2026-11-01), a time (2026-11-01T09:30:00Z) or a duration ago (30m, 12h, 7d, 2w)"
        )
    };
    let digits = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let number: i64 = text[..digits].parse().map_err(|_| bad())?;
    let ago = match &text[digits..] {
        "s" => chrono::Duration::try_seconds(number),
        "m" => chrono::Duration::try_minutes(number),
        "h" => chrono::Duration::try_hours(number),
        "d" => chrono::Duration::try_days(number),
        "w" => chrono::Duration::try_weeks(number),
        _ => None,
    }
    .ok_or_else(bad)?;
    Utc::now().checked_sub_signed(ago).ok_or_else(bad)
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
        return demo_database(&cli);
    }
    let location = crate::paths::location(global)?;
    check_arguments(cli.command.as_ref())?;
    // `init` and `restore` write a new database: on a held one they are refused below, as on
    // any database.
    if let Location::Sled(dir) = &location
        && !matches!(cli.command, Some(Command::Init | Command::Restore { .. }))
        && let Some(connection) = attach::connect(dir).map_err(|e| attach::fail(&e))?
    {
        return attached(connection, cli, &location);
    }
    if let Some(code) = &cli.eval {
        let mut evaluator = evaluator(
            &location,
            "-e",
            global,
            limits(global),
            batch::script_output(global.format),
        )?;
        let holder = hold(&evaluator, &location, "-e");
        let done = batch::eval(&mut evaluator, code, global.format);
        drop(holder);
        return batch::leave_to_exit(evaluator, done);
    }
    match cli.command {
        None if !std::io::stdin().is_terminal() => Err(CliError::Usage(
            "standard input is not a terminal: use `sessionctl run -` to run a script from it, or -e CODE".into(),
        )),
        None | Some(Command::Console { .. }) => {
            let evaluator = evaluator(&location, "console", global, Limits::CONSOLE, Output::stdout())?;
            let holder = hold(&evaluator, &location, "console");
            let local = console::Local::new(evaluator, global).before_close(move || drop(holder));
            console::run(Box::new(local), global, &location.describe())
        }
        Some(Command::Run { file, args, .. }) => {
            let mut evaluator = evaluator(&location, &run_origin(&file), global, limits(global), batch::script_output(global.format))?;
            let holder = hold(&evaluator, &location, "run");
            let done = batch::run_file(&mut evaluator, &file, args, global.format);
            drop(holder);
            batch::leave_to_exit(evaluator, done)
        }
        Some(Command::Init) => init(sled_only(&location, "init", "a Redis server needs no creating")?, global.dry_run),
        Some(Command::Restore { file, .. }) => {
            let directory = sled_only(&location, "restore", "it writes a new database; load users and sessions into Redis with `import`")?;
            if store::holds_database(directory) {
                return Err(CliError::Usage(format!(
                    "{} already holds a database: restore writes a new one (give a new path, or move the old database away first)",
                    directory.display()
                )));
            }
            let origin = format!("restore {}", file.display());
            creating(&location, &origin, global.dry_run, |registry| {
                let done = transfer::restore(registry, &file);
                commands::report_dry_run(registry);
                done
            })
        }
        Some(command) => match data_command(command, global.format) {
            Ok(data) => local_data(&location, global, data),
            Err(Command::Serve { listen, listen_public }) => serve(&location, &listen, listen_public),
            Err(_) => unreachable!("handled above"),
        },
    }
}

/// The data command of `command`, or the command given back when it is not one.
fn data_command(command: Command, format: Format) -> Result<commands::Command, Command> {
    let local = |file: PathBuf| Place::local(&file);
    Ok(match command {
        Command::Seed {
            users,
            sessions_per_user,
            seed,
            ..
        } => commands::Command::Seed {
            users,
            sessions_per_user,
            seed,
        },
        Command::Import { file, .. } => commands::Command::Import { file: local(file) },
        Command::Export { file } => commands::Command::Export {
            file: file.map(local),
        },
        Command::Backup { file } => commands::Command::Backup { file: local(file) },
        Command::Salvage { file } => commands::Command::Salvage { file: local(file) },
        Command::Config {
            action: ConfigAction::Get { key },
        } => commands::Command::ConfigGet { key },
        Command::Config {
            action: ConfigAction::Set { key, value, .. },
        } => commands::Command::ConfigSet { key, value },
        Command::Audit {
            limit,
            user,
            since,
            action,
            ..
        } => commands::Command::Audit {
            limit,
            user,
            since,
            action,
            format,
        },
        Command::Check => commands::Command::Check,
        other => return Err(other),
    })
}

/// A data command on a store this process opens: each opens it as it needs (creating it for
/// `seed` and `import`), and closes it.
fn local_data(
    location: &Location,
    global: &Global,
    data: commands::Command,
) -> Result<(), CliError> {
    use commands::Command as Data;
    let origin = data.origin();
    let mode = match &data {
        Data::Seed { .. } | Data::Import { .. } => None,
        Data::Salvage { .. } => {
            sled_only(
                location,
                "salvage",
                "it reads what is left of a damaged sled database",
            )?;
            Some(Mode::Salvage)
        }
        Data::ConfigSet { .. } if !global.dry_run => Some(Mode::Write),
        _ => Some(Mode::Read),
    };
    let check = matches!(data, Data::Check);
    let work =
        |registry: &Registry| commands::run(registry, data, commands::Context::local(global.yes));
    let Some(mode) = mode else {
        return creating(location, &origin, global.dry_run, work);
    };
    match open_registry(location, &origin, mode) {
        // Damage is what `check` looks for: reported as its finding, exit 1.
        Err(CliError::Core(error @ crate::Error::Damaged { .. })) if check => {
            stdout::line(&error).and(Err(CliError::Reported(1)))
        }
        opened => close(opened?.dry_run(global.dry_run), work),
    }
}

/// Refuses bad arguments before a database is opened (or a holder asked): a setting's key or
/// value, a listening address.
fn check_arguments(command: Option<&Command>) -> Result<(), CliError> {
    match command {
        Some(Command::Config {
            action: ConfigAction::Set { key, value, .. },
        }) => {
            crate::model::Settings::default().set(key, value)?;
        }
        Some(Command::Serve {
            listen,
            listen_public,
        }) => {
            crate::host::serve::Listen::parse(listen, *listen_public)?;
        }
        _ => {}
    }
    Ok(())
}

/// `serve`: the application API on `listen`; on a sled store, an attach holder too.
fn serve(location: &Location, listen: &str, public: bool) -> Result<(), CliError> {
    let listen = crate::host::serve::Listen::parse(listen, public)?;
    let dir = match location {
        Location::Sled(dir) => Some(dir.as_path()),
        Location::Redis { .. } => None,
    };
    let registry = open_registry(location, "serve", Mode::Write)?;
    crate::host::serve::run(registry, location.describe(), dir, &listen)
}

/// `--demo`: a fresh temporary database of demo data, for the console or `-e`.
fn demo_database(cli: &Cli) -> Result<(), CliError> {
    let global = &cli.global;
    let dir = tempfile::Builder::new()
        .prefix("sessionctl-demo-")
        .tempdir()
        .map_err(anyhow::Error::from)?;
    let location = Location::Sled(dir.path().join("db"));
    close(
        open_registry(&location, "demo", Mode::Create)?,
        |registry| {
            demo::build(registry, demo::DEMO)?;
            Ok(())
        },
    )?;
    match (&cli.eval, &cli.command) {
        (Some(code), _) => {
            let mut evaluator = evaluator(
                &location,
                "-e",
                global,
                Limits::BATCH,
                batch::script_output(global.format),
            )?;
            let done = batch::eval(&mut evaluator, code, global.format);
            batch::leave_to_exit(evaluator, done)
        }
        (None, None | Some(Command::Console { .. })) => {
            let evaluator = evaluator(
                &location,
                "console",
                global,
                Limits::CONSOLE,
                Output::stdout(),
            )?;
            let local = console::Local::new(evaluator, global);
            console::run(Box::new(local), global, "a temporary demo database")
        }
        (None, Some(_)) => Err(CliError::Usage(
            "--demo opens the console or runs -e; give --db for other commands".into(),
        )),
    }
}

/// `sessionctl init`: an empty database where there is none.
fn init(path: &Path, dry_run: bool) -> Result<(), CliError> {
    if store::holds_database(path) {
        return Err(CliError::Usage(format!(
            "{} already holds a database",
            path.display()
        )));
    }
    creating(
        &Location::Sled(path.to_owned()),
        "init",
        dry_run,
        |_| Ok(()),
    )?;
    stdout::warn(format!("created an empty database at {}", path.display()));
    Ok(())
}

/// Runs `work` on the registry, then closes the store cleanly (after a failure too).
fn close(
    registry: Registry,
    work: impl FnOnce(&Registry) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let done = work(&registry);
    let closed = registry.close();
    done?;
    closed.map_err(CliError::from)
}

/// Runs a command that may create the database (`init`, `seed`, `import`, `restore`). On a
/// path without one, the new database is built in a staging directory beside it and renamed
/// into place once complete: a failure or a kill leaves no database behind. On an existing
/// database (and on Redis, which always holds one) the command writes to it as any other (its
/// writes are all or nothing). In dry run nothing is created.
fn creating(
    location: &Location,
    origin: &str,
    dry_run: bool,
    work: impl FnOnce(&Registry) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let path = match location {
        Location::Sled(path) if dry_run && !store::holds_database(path) => {
            // Nothing to read: the work is checked against an empty temporary database, as it
            // would run on a new one, and nothing is created at `path`.
            let scratch = tempfile::Builder::new()
                .prefix("sessionctl-dry-run-")
                .tempdir()
                .map_err(anyhow::Error::from)?;
            let registry = open_registry(
                &Location::Sled(scratch.path().join("db")),
                origin,
                Mode::Create,
            )?;
            return close(registry.dry_run(true), work);
        }
        Location::Sled(path) if !dry_run && !store::holds_database(path) => path,
        _ => {
            let mode = if dry_run { Mode::Read } else { Mode::Write };
            let registry = open_registry(location, origin, mode)?.dry_run(dry_run);
            return close(registry, work);
        }
    };
    if path.exists() && !path.is_dir() {
        return Err(crate::Error::NotADatabase {
            path: path.to_owned(),
            reason: "it is not a directory".into(),
        }
        .into());
    }
    let staging = store::staging_path(path);
    store::remove_staging(&staging)?;
    let built = open_registry(&Location::Sled(staging.clone()), origin, Mode::Create)
        .and_then(|r| close(r, work));
    if let Err(error) = built {
        let _ = store::remove_staging(&staging);
        return Err(error);
    }
    if let Err(error) = store::move_into_place(&staging, path) {
        let _ = store::remove_staging(&staging);
        return Err(error.into());
    }
    Ok(())
}

/// The directory of a sled database, for the commands that only work on one (`why` says
/// why not on Redis).
fn sled_only<'a>(location: &'a Location, command: &str, why: &str) -> Result<&'a Path, CliError> {
    match location {
        Location::Sled(path) => Ok(path),
        Location::Redis { .. } => Err(CliError::Usage(format!(
            "`{command}` works on a database directory (--db), not on {}: {why}",
            location.describe()
        ))),
    }
}

fn limits(global: &Global) -> Limits {
    Limits {
        max_operations: (global.max_operations > 0).then_some(global.max_operations),
        timeout: global.timeout,
        ..Limits::BATCH
    }
}

/// Opens the registry of `location` for the command `origin`, audited as the current user.
fn open_registry(location: &Location, origin: &str, mode: Mode) -> Result<Registry, CliError> {
    let bar = Bar(indicatif::ProgressBar::hidden());
    let store = location.open(mode, Some(Arc::new(bar)))?;
    let registry = Registry::new(store, Arc::new(SystemClock))?;
    Ok(registry.audited_as(Actor::current(origin)))
}

/// The store's progress reports (`destroy_all` on Redis), as a bar on a terminal: hidden until
/// work starts, so that a store that reports nothing draws nothing.
struct Bar(indicatif::ProgressBar);

impl store::Progress for Bar {
    fn start(&self, total: u64) {
        if std::io::stderr().is_terminal() {
            self.0
                .set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
        self.0.reset();
        self.0.set_length(total);
    }

    fn advance(&self, done: u64) {
        self.0.inc(done);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// An evaluator on `location` whose `puts` and `print` write to `out`.
fn evaluator(
    location: &Location,
    origin: &str,
    global: &Global,
    limits: Limits,
    out: Output,
) -> Result<Evaluator, CliError> {
    let mode = if global.dry_run {
        Mode::Read
    } else {
        Mode::Write
    };
    let registry = open_registry(location, origin, mode)?.dry_run(global.dry_run);
    Ok(Evaluator::new(
        Rc::new(registry),
        limits,
        out,
        Output::stderr(),
    ))
}

/// The audit origin of `run FILE`: the path, or `stdin`.
fn run_origin(file: &Path) -> String {
    if file == Path::new("-") {
        "stdin".to_owned()
    } else {
        file.display().to_string()
    }
}

/// [`attach::hold`] on the sled store the evaluator holds (none on Redis).
fn hold(evaluator: &Evaluator, location: &Location, role: &str) -> Option<attach::Holder> {
    let Location::Sled(dir) = location else {
        return None;
    };
    attach::hold(evaluator.registry(), dir, role)
}

/// The command on a store another process holds, through that process (see [`attach`]):
/// `-e`, `run`, the console and the data commands; `serve` is refused, naming the holder.
fn attached(connection: attach::Connection, cli: Cli, location: &Location) -> Result<(), CliError> {
    let global = &cli.global;
    let terminal = std::io::stdin().is_terminal();
    let look = console::Look {
        width: Some(attach::terminal_width()),
        ..console::Look::of_terminal(global)
    };
    let request = |origin: String, job| attach::wire::Request {
        origin,
        dry_run: global.dry_run,
        yes: global.yes,
        terminal,
        look,
        tz: crate::zone::env_tz(),
        job,
    };
    let batch = |source: String, code: String, args: Option<Vec<String>>| {
        let limits = limits(global);
        attach::wire::Job::Batch {
            show_unit: args.is_none(),
            source,
            code,
            args,
            format: global.format,
            max_operations: limits.max_operations,
            timeout_ms: limits.timeout.map(|t| t.as_millis() as u64),
        }
    };
    if let Some(code) = cli.eval {
        let job = batch("-e".into(), code, None);
        return connection.run_batch(request("-e".into(), job), global.format);
    }
    match cli.command {
        None if !terminal => Err(CliError::Usage(
            "standard input is not a terminal: use `sessionctl run -` to run a script from it, or -e CODE".into(),
        )),
        None | Some(Command::Console { .. }) => {
            let remote = attach::Remote::start(connection, request("console".into(), attach::wire::Job::Console))?;
            console::run(Box::new(remote), global, &location.describe())
        }
        Some(Command::Run { file, args, .. }) => {
            let (source, code) = batch::read_script(&file)?;
            let job = batch(source, code, Some(args));
            connection.run_batch(request(run_origin(&file), job), global.format)
        }
        Some(Command::Serve { .. }) => Err(CliError::Usage(format!(
            "database {} is in use by another process ({}): `serve` does not attach, it must hold the database itself; run it once that process has ended",
            location.describe(),
            connection.holder()
        ))),
        Some(command) => {
            let Ok(data) = data_command(command, global.format) else {
                unreachable!("init, restore and completions do not attach")
            };
            let cwd = std::env::current_dir().map_err(|e| {
                CliError::Other(anyhow::anyhow!("cannot read the working directory: {e}"))
            })?;
            let data = data.resolved(&cwd)?;
            let origin = data.origin();
            let job = attach::wire::Job::Data { command: data };
            connection.run_batch(request(origin, job), global.format)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
