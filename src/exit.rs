//! Why a command stops, and its exit code: [`CliError`] gathers the typed errors of the core
//! and the script layer with the failures of the command line itself, and maps each kind
//! (never its text) to 0, 1 or 2.

use crate::script::{ErrorKind, ScriptError};

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
    /// An attached data command stopped by Ctrl-C in the holder: what it left.
    #[error("interrupted: {left}")]
    Interrupted { left: String },
    /// Standard output cannot be written (other than a closed pipe: a full disk).
    #[error("cannot write to standard output: {0}")]
    Output(std::io::Error),
}

impl CliError {
    /// 1 for script and runtime errors, 2 for usage, database and output errors, 130 for a
    /// script stopped by Ctrl-C; 0 for a closed standard output. A script error is a database error only when its kind says so
    /// ([`ErrorKind::Database`], from the type of what failed), whatever its message reads.
    pub fn exit_code(&self) -> u8 {
        let usage_or_database = match self {
            // Ctrl-C: the shell's code for a command ended by SIGINT.
            CliError::Script(error) if error.kind == ErrorKind::Interrupted => return 130,
            CliError::Interrupted { .. } => return 130,
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
