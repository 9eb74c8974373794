//! Where sessionctl keeps its data: the store a command works on (a Redis server, or the
//! database directory, by default in the user data directory) and the console history.

use std::path::PathBuf;

use crate::exit::CliError;
use crate::options::Global;
use crate::store::Location;

/// The store the command works on: `--redis` (or `SESSIONCTL_REDIS`), else the database
/// directory. Both given is a usage error.
pub fn location(global: &Global) -> Result<Location, CliError> {
    match (&global.redis, &global.db) {
        (Some(_), Some(_)) => Err(CliError::Usage(
            "--db (or SESSIONCTL_DB) and --redis (or SESSIONCTL_REDIS) both given: choose one store"
                .into(),
        )),
        (Some(url), None) => {
            let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
            if !matches!(scheme, "redis" | "rediss" | "unix" | "redis+unix") {
                return Err(CliError::Usage(format!(
                    "--redis {}: the URL must start with redis://, rediss://, unix:// or redis+unix://",
                    crate::store::redis_store::redact(url)
                )));
            }
            Ok(Location::Redis {
                url: url.clone(),
                prefix: global.redis_prefix.clone(),
            })
        }
        (None, _) => database_path(global).map(Location::Sled),
    }
}

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
