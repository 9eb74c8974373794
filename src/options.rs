//! The global options every command takes (`--db`, `--redis`, `--dry-run`, `--yes`, `--format`,
//! `--color`, `--max-operations`), shared by the command line, batch mode and the console.

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
