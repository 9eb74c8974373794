//! The options of the command line, shared by it, batch mode and the console: those every
//! command takes (`--db`, `--redis`, `--redis-prefix`, `--yes`, `--color`), and `--dry-run`,
//! `--format`, `--max-operations` and `--timeout`, which only the commands they act on take
//! (see [`Global`]).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// The options of a command. `--db`, `--yes` and `--color` are global; `--dry-run`,
/// `--format` and `--max-operations` are taken before a subcommand for the console and `-e`,
/// and by the subcommands they act on ([`DryRun`], [`FormatArg`], [`ScriptLimits`]), whose
/// values the command line copies here.
#[derive(Debug, Args)]
pub struct Global {
    /// The database directory [default: the user data directory].
    #[arg(long, global = true, env = "SESSIONCTL_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// A Redis server instead of a database directory: `redis://[USER:PASSWORD@]HOST[:PORT][/DB]`,
    /// `rediss://…` (TLS), `unix:///PATH/redis.sock[?pass=PASSWORD]`. Sessions are kept in
    /// GitLab's layout; a password is never shown.
    #[arg(
        long,
        global = true,
        env = "SESSIONCTL_REDIS",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub redis: Option<String>,

    /// The prefix of sessionctl's own keys on Redis (users, tokens, settings, audit log).
    #[arg(
        long,
        global = true,
        value_name = "PREFIX",
        default_value = "sessionctl:"
    )]
    pub redis_prefix: String,

    /// Write nothing: what the mutations would have done is summed up on standard error.
    #[arg(long)]
    pub dry_run: bool,

    /// Answer yes to confirmation questions (needed for mass revocation when standard input
    /// is not a terminal).
    #[arg(long, global = true)]
    pub yes: bool,

    /// How -e prints its value (json and csv keep `puts`/`print` output on standard error).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// When to use colour.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// The most operations -e may run (0 for no limit).
    #[arg(long, value_name = "N", default_value_t = MAX_OPERATIONS)]
    pub max_operations: u64,

    /// The longest -e may run: e.g. 500ms, 30s, 5m, 2h [default: none].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
}

/// `500ms`, `30s`, `5m` or `2h` (a whole number and a unit).
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("expected a number and a unit such as 30s, got {text:?}"))?;
    let seconds = match unit {
        "ms" => return Ok(std::time::Duration::from_millis(n)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("unknown unit {unit:?}: use ms, s, m or h")),
    };
    n.checked_mul(seconds)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// The default of `--max-operations`.
pub const MAX_OPERATIONS: u64 = 2_000_000_000;

/// `--dry-run`, for the subcommands that write.
#[derive(Debug, Args)]
pub struct DryRun {
    /// Write nothing: what the mutations would have done is summed up on standard error.
    #[arg(long)]
    pub dry_run: bool,
}

/// `--format`, for the subcommands that print values or records.
#[derive(Debug, Args)]
pub struct FormatArg {
    /// How to print: text, json (one JSON document; JSON Lines for `audit`) or csv (a list of
    /// records, one a row). With json and csv, `puts`/`print` output goes to standard error.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

/// `--max-operations` and `--timeout`, for `run`.
#[derive(Debug, Args)]
pub struct ScriptLimits {
    /// The most operations the script may run (0 for no limit) [default: 2000000000].
    #[arg(long, value_name = "N")]
    pub max_operations: Option<u64>,

    /// The longest the script may run: e.g. 500ms, 30s, 5m, 2h [default: none].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Text,
    Json,
    Csv,
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
