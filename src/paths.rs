//! Where sessionctl keeps its files by default: the database and the console history, in the
//! user data directory.

use std::path::PathBuf;

use crate::exit::CliError;
use crate::options::Global;

/// `--db`, else `SESSIONCTL_DB` (both via clap), else the user data directory.
pub fn database_path(global: &Global) -> Result<PathBuf, CliError> {
    if let Some(path) = &global.db {
        return Ok(path.clone());
    }
    data_dir().map(|dir| dir.join("db")).ok_or_else(|| {
        CliError::Usage("no home directory to keep the database in: give --db PATH".into())
    })
}

/// The user data directory (the default database and the console history live there).
pub fn data_dir() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "sessionctl").map(|dirs| dirs.data_dir().to_owned())
}
