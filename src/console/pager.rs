//! Paging, as psql does: a result taller than the terminal goes through `$PAGER` when standard
//! output is a terminal. `PAGER` is run by `sh -c` as given (`less -S`, `most`); unset, it is
//! `less` with `LESS=FRX` when `LESS` is unset (as git does: quit when it fits, keep colours,
//! leave the text on the screen); set and empty, nothing is paged. `\pager` turns it off and on.

use std::io::{IsTerminal, Write};
use std::process::{Command, Stdio};

use crate::exit::CliError;

/// The pager command, or `None` when paging is off.
pub struct Pager {
    command: Option<String>,
    /// What `\pager on` turns back on.
    configured: String,
}

/// What a write through the pager came to.
enum Paging {
    /// The pager showed it (or its reader quit early).
    Shown,
    /// Not paged: too short, paging off, or not a terminal; the caller prints it.
    Skipped,
    /// The pager could not be run: why; the caller prints the text itself.
    Failed(String),
}

impl Pager {
    /// The pager `PAGER` names (see the module's documentation).
    pub fn from_env() -> Self {
        match std::env::var("PAGER") {
            Ok(command) if command.trim().is_empty() => Self {
                command: None,
                configured: "less".into(),
            },
            Ok(command) => Self {
                command: Some(command.clone()),
                configured: command,
            },
            Err(_) => Self {
                command: Some("less".into()),
                configured: "less".into(),
            },
        }
    }

    /// `\pager ARG`: no argument toggles; `on`, `off`. What it says, or `None` for another
    /// argument.
    pub fn set(&mut self, arg: &str) -> Option<String> {
        let on = match arg {
            "" => self.command.is_none(),
            "on" => true,
            "off" => false,
            _ => return None,
        };
        self.command = on.then(|| self.configured.clone());
        Some(match &self.command {
            Some(command) => format!("Pager is used for long output: {command}"),
            None => "Pager usage is off.".to_owned(),
        })
    }

    /// Shows a console result: through the pager when [`Pager::page`] pages it, else with
    /// `print` (after a warning, coloured when `color_err`, if the pager could not run).
    pub fn show(
        &self,
        text: &str,
        color_err: bool,
        print: impl FnOnce(&str) -> Result<(), CliError>,
    ) -> Result<(), CliError> {
        match self.page(text) {
            Paging::Shown => Ok(()),
            Paging::Skipped => print(text),
            Paging::Failed(why) => {
                super::warn(&why, color_err);
                print(text)
            }
        }
    }

    /// Shows `text` (and a newline) through the pager when paging is on, standard output is a
    /// terminal and `text` has more lines than it has rows.
    fn page(&self, text: &str) -> Paging {
        let Some(command) = &self.command else {
            return Paging::Skipped;
        };
        let stdout = std::io::stdout();
        if !stdout.is_terminal() {
            return Paging::Skipped;
        }
        let Some((_, terminal_size::Height(rows))) = terminal_size::terminal_size_of(&stdout)
        else {
            return Paging::Skipped;
        };
        // The prompt takes the last row.
        if text.lines().count() < usize::from(rows) {
            return Paging::Skipped;
        }
        let mut pager = Command::new("sh");
        pager.arg("-c").arg(command).stdin(Stdio::piped());
        if std::env::var_os("LESS").is_none() {
            pager.env("LESS", "FRX");
        }
        let mut child = match pager.spawn() {
            Ok(child) => child,
            Err(error) => {
                return Paging::Failed(format!("cannot run the pager {command:?}: {error}"));
            }
        };
        if let Some(mut stdin) = child.stdin.take() {
            // The reader may quit before reading it all (q in less): not an error.
            let _ = stdin
                .write_all(text.as_bytes())
                .and_then(|()| stdin.write_all(b"\n"));
        }
        match child.wait() {
            // sh's "command not found" and "cannot execute": nothing was shown.
            Ok(status) if matches!(status.code(), Some(126 | 127)) => Paging::Failed(format!(
                "the pager {command:?} did not run (exit {}); \\pager off turns paging off",
                status.code().unwrap_or_default()
            )),
            Ok(_) => Paging::Shown,
            Err(error) => Paging::Failed(format!("the pager {command:?} failed: {error}")),
        }
    }
}
