//! The options of the command line, shared by it, batch mode and the console: those every
//! command takes (`--db`, `--yes`, `--color`), and `--dry-run`, `--format` and
//! `--max-operations`, which only the commands they act on take (see [`Global`]).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// The options of a command. `--db`, `--yes` and `--color` are global; `--dry-run`,
/// `--format` and `--max-operations` are taken before a subcommand for the console and `-e`,
/// and by the subcommands they act on ([`DryRun`], [`FormatArg`], [`MaxOperations`]), whose
/// values the command line copies here.
#[derive(Debug, Args)]
pub struct Global {
    /// The database directory [default: the user data directory].
    #[arg(long, global = true, env = "SESSIONCTL_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

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

/// `--max-operations`, for `run`.
#[derive(Debug, Args)]
pub struct MaxOperations {
    /// The most operations the script may run (0 for no limit) [default: 2000000000].
    #[arg(long, value_name = "N")]
    pub max_operations: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
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
