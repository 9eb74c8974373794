//! sessionctl: an admin console for users' login sessions.
//!
//! The layers, bottom up: [`model`] (the records), [`store`] (the only code that touches the
//! database), [`registry`] (every domain rule: limits, expiry, revocation), [`script`] (the
//! rhai API that the console and batch mode share), the console, batch mode and data commands,
//! and on top the command line in [`cli`], which nothing imports: the global options
//! ([`options`]), the exit codes ([`exit`]) and the default paths ([`paths`]) sit below it.

pub mod batch;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod console;
pub mod demo;
pub mod error;
pub mod exit;
pub mod host;
pub mod model;
pub mod options;
pub mod paths;
pub mod registry;
pub mod script;
pub mod secret;
pub mod stdout;
pub mod store;
pub mod transfer;
pub mod useragent;
pub mod zone;

pub use error::{Error, Result};

/// Runs the command line; the binary maps the error to its exit code.
pub fn run() -> Result<(), exit::CliError> {
    cli::run()
}
