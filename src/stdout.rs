//! Writing to standard output; a closed pipe ends the command quietly. When the reader goes
//! away (`sessionctl audit | head -1`) the command stops with exit 0 and no message, as ripgrep
//! does ([`CliError::Closed`]); any other failure to write (a full disk) is an error
//! ([`CliError::Output`]), never a panic. Standard error is written with its failures ignored:
//! there is nowhere left to report them.

use std::fmt::Display;
use std::io::{self, BufWriter, Write};

use crate::exit::CliError;
use crate::script::Output;

/// Runs `write` on standard output, locked and buffered, then flushes it.
pub fn with(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<(), CliError> {
    let mut out = BufWriter::new(io::stdout().lock());
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
    let _ = writeln!(io::stderr(), "{text}");
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
