//! The global options every command takes (`--db`, `--redis`, `--dry-run`, `--yes`,
//! `--format`, `--color`, `--max-operations`, `--timeout`), shared by the command line, batch
//! mode and the console.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Options every command takes.
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

    /// The longest a batch script (-e, run) may run: e.g. 500ms, 30s, 5m, 2h [default: none].
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
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
