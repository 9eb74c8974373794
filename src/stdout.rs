//! Writing to standard output; a closed pipe ends the command quietly. When the reader goes
//! away (`sessionctl audit | head -1`) the command stops with exit 0 and no message, as ripgrep
//! does ([`CliError::Closed`]); any other failure to write (a full disk) is an error
//! ([`CliError::Output`]), never a panic. Standard error is written with its failures ignored:
//! there is nowhere left to report them.
//!
//! A thread running a data command for an attached client ([`to_client`]) writes that
//! client's standard output and error instead of the process's own, and draws no progress.

use std::cell::RefCell;
use std::fmt::Display;
use std::io::{self, BufWriter, IsTerminal, Write};

use crate::exit::CliError;
use crate::script::Output;

/// The standard output and error of the attached client this thread runs a command for.
struct Client {
    out: Box<dyn Write>,
    err: Box<dyn Write>,
}

thread_local! {
    static CLIENT: RefCell<Option<Client>> = const { RefCell::new(None) };
}

/// Runs `work` with this thread's standard output and error (as written through this module)
/// sent to `out` and `err`: a command an attach holder runs for its client.
pub fn to_client<T>(
    out: impl Write + 'static,
    err: impl Write + 'static,
    work: impl FnOnce() -> T,
) -> T {
    /// Puts back what was there, however `work` ends.
    struct Restore(Option<Client>);
    impl Drop for Restore {
        fn drop(&mut self) {
            CLIENT.set(self.0.take());
        }
    }
    let client = Client {
        out: Box::new(out),
        err: Box::new(err),
    };
    let _restore = Restore(CLIENT.replace(Some(client)));
    work()
}

/// Whether progress may be drawn on standard error: a terminal, and not a client's.
pub fn stderr_is_terminal() -> bool {
    CLIENT.with_borrow(Option::is_none) && io::stderr().is_terminal()
}

/// This thread's standard output (see [`to_client`]), unbuffered.
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        CLIENT.with_borrow_mut(|client| match client {
            Some(client) => client.out.write(buf),
            None => io::stdout().write(buf),
        })
    }

    fn flush(&mut self) -> io::Result<()> {
        CLIENT.with_borrow_mut(|client| match client {
            Some(client) => client.out.flush(),
            None => io::stdout().flush(),
        })
    }
}

/// Runs `write` on standard output, buffered, then flushes it.
pub fn with(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), CliError> {
    let mut out = BufWriter::new(Stdout);
    write(&mut out).and_then(|()| out.flush()).map_err(error)
}

/// Writes `text` and a newline to standard output.
pub fn line(text: impl Display) -> Result<(), CliError> {
    with(|out| writeln!(out, "{text}"))
}

/// The error that a failed write to standard output ends the command with.
pub fn error(error: io::Error) -> CliError {
    if error.kind() == io::ErrorKind::BrokenPipe {
        CliError::Closed
    } else {
        CliError::Output(error)
    }
}

/// Whether writing to a script's `out` failed, as [`error`] tells it.
pub fn check(out: &Output) -> Result<(), CliError> {
    out.error().map_or(Ok(()), |e| Err(error(e)))
}

/// Writes `text` and a newline to standard error, ignoring a failure.
pub fn warn(text: impl Display) {
    let line = format!("{text}\n");
    CLIENT.with_borrow_mut(|client| {
        let _ = match client {
            Some(client) => client.err.write_all(line.as_bytes()),
            None => io::stderr().write_all(line.as_bytes()),
        };
    });
}

/// Writes records as CSV: a header of their fields in the order first met, then one row per
/// record. A field a record lacks is an empty cell; text is written as is, numbers and
/// booleans as in JSON, `null` as nothing, a nested list or map as its JSON text. A row that
/// is not a map is one cell under `value`. No records: nothing at all.
pub fn csv(rows: &[serde_json::Value]) -> Result<(), CliError> {
    use serde_json::Value;
    if rows.is_empty() {
        return Ok(());
    }
    let mut header: Vec<&str> = Vec::new();
    for row in rows {
        match row {
            Value::Object(map) => {
                for key in map.keys() {
                    if !header.contains(&key.as_str()) {
                        header.push(key);
                    }
                }
            }
            _ if !header.contains(&"value") => header.push("value"),
            _ => {}
        }
    }
    let cell = |value: Option<&Value>| match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    };
    with(|out| {
        let mut writer = ::csv::Writer::from_writer(out);
        writer.write_record(&header).map_err(io::Error::from)?;
        for row in rows {
            let cells = header.iter().map(|key| match row {
                Value::Object(map) => cell(map.get(*key)),
                other if *key == "value" => cell(Some(other)),
                _ => String::new(),
            });
            writer.write_record(cells).map_err(io::Error::from)?;
        }
        writer.flush()
    })
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::io::Write;
    use std::rc::Rc;

    /// A writer whose bytes the test reads afterwards.
    #[derive(Clone, Default)]
    struct Shared(Rc<RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_clients_output_and_errors_go_to_the_client_while_its_command_runs() {
        let (out, err) = (Shared::default(), Shared::default());
        let drew = super::to_client(out.clone(), err.clone(), || {
            super::line("a line").unwrap();
            super::with(|w| write!(w, "more")).unwrap();
            super::warn("a warning");
            super::stderr_is_terminal()
        });
        assert!(!drew, "progress is never drawn for a client");
        assert_eq!(&*out.0.borrow(), b"a line\nmore");
        assert_eq!(&*err.0.borrow(), b"a warning\n");
        // Afterwards, this thread writes its own standard output again.
        assert!(super::CLIENT.with_borrow(Option::is_none));
    }
}
