//! The attach protocol: newline-delimited JSON frames on the holder's Unix socket.
//!
//! A client sends [`ToHolder::Hello`] with its [`VERSION`]; the holder answers
//! [`ToClient::Welcome`] with its own, or [`ToClient::Refused`] (another version, another
//! user) and closes. The client then sends [`ToHolder::Start`] with its [`Request`]: a batch
//! job, answered by output frames and one [`ToClient::Done`]; or a console, after which each
//! [`ToHolder::Eval`], [`ToHolder::Variables`], [`ToHolder::Incomplete`] and
//! [`ToHolder::Counts`] gets its answer in turn. [`ToHolder::Interrupt`] (Ctrl-C) and
//! [`ToHolder::Answer`] (to a [`ToClient::Ask`]) may come at any time. A holder that exits
//! sends [`ToClient::Closing`] instead of the next answer. A data command ([`Job::Data`])
//! is answered as a batch job; `import -` is sent the client's standard input in
//! [`ToHolder::Input`] frames of at most [`INPUT_CHUNK`] bytes, then [`ToHolder::InputEnd`].

use std::io::{self, BufRead, Read, Write};

use serde::{Deserialize, Serialize};

use crate::console::Look;
use crate::options::Format;
use crate::script::ScriptError;
use crate::script::catalogue::Kind;

/// The protocol's version: a holder and a client of different versions refuse each other.
/// (2: data commands, standard input; a console's results come as [`ToClient::Shown`], for
/// the client's pager.)
pub const VERSION: u32 = 2;

/// The most bytes of standard input one [`ToHolder::Input`] frame carries.
pub const INPUT_CHUNK: usize = 256 * 1024;

/// The longest frame read (a script, a value): more is refused, never buffered without end.
const MAX_FRAME: u64 = 64 * 1024 * 1024;

/// What a client sends.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToHolder {
    Hello {
        version: u32,
    },
    Start {
        request: Request,
    },
    /// A console input to evaluate and show, in the expanded view (`\x`) or not.
    Eval {
        code: String,
        #[serde(default)]
        expanded: crate::console::Expanded,
    },
    Variables,
    Incomplete {
        code: String,
    },
    Counts,
    /// Ctrl-C: stop the running evaluation.
    Interrupt,
    /// The answer to [`ToClient::Ask`].
    Answer {
        yes: bool,
    },
    /// Bytes of the client's standard input, in hex (any bytes, not only UTF-8 text).
    Input {
        hex: String,
    },
    /// The end of the client's standard input, or why it could not be read.
    InputEnd {
        error: Option<String>,
    },
}

/// What a client asks the holder to do, and how.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    /// The audit log's origin, as locally: `-e`, the script's path, `console`.
    pub origin: String,
    pub dry_run: bool,
    /// `--yes`: mass revocation is not asked about.
    pub yes: bool,
    /// Whether the client's standard input is a terminal, where a question can be asked.
    pub terminal: bool,
    pub look: Look,
    /// The client's `TZ` (`None`: unset), in whose zone the holder shows it times
    /// (`crate::zone`).
    #[serde(default)]
    pub tz: Option<String>,
    pub job: Job,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// `-e CODE` (`show_unit`) or `run FILE` (with `args`).
    Batch {
        source: String,
        code: String,
        args: Option<Vec<String>>,
        format: Format,
        show_unit: bool,
        max_operations: Option<u64>,
        timeout_ms: Option<u64>,
    },
    Console,
    /// A data command (`export`, `import`, `config`…), its files resolved by the client.
    Data {
        command: crate::commands::Command,
    },
}

/// What the holder sends.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToClient {
    /// `holder` says which process holds the store: `pid 4242 (console)`.
    Welcome {
        version: u32,
        holder: String,
    },
    Refused {
        reason: String,
    },
    /// Text for the client's standard output or error, as printed.
    Out {
        text: String,
    },
    Err {
        text: String,
    },
    /// A question for the person at the client's terminal (`Revoke 3 sessions of 2 users? [y/N] `).
    Ask {
        question: String,
    },
    /// A console input's result as shown (a table, `=> …`): the client pages it or prints it.
    Shown {
        text: String,
    },
    /// A batch job's value for `--format json` or `csv`: its JSON (or why it has none) and
    /// the name of its type.
    Value {
        json: Result<serde_json::Value, String>,
        type_name: String,
    },
    Done {
        outcome: Outcome,
    },
    Variables {
        names: Vec<(String, Kind)>,
    },
    Incomplete {
        incomplete: bool,
    },
    Counts {
        line: String,
    },
    /// The holder is exiting: its evaluations were stopped.
    Closing {
        reason: String,
    },
}

/// How an evaluation ended.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Script {
        error: ScriptError,
    },
    /// Another failure: its message and exit code.
    Failed {
        message: String,
        code: u8,
    },
}

/// Writes one frame.
pub fn send(writer: &mut impl Write, frame: &impl Serialize) -> io::Result<()> {
    let mut line = serde_json::to_vec(frame).map_err(io::Error::other)?;
    line.push(b'\n');
    writer.write_all(&line)?;
    writer.flush()
}

/// Reads one frame; `Ok(None)` at the end of the stream.
pub fn receive<T: for<'a> Deserialize<'a>>(reader: &mut impl BufRead) -> io::Result<Option<T>> {
    let mut line = Vec::new();
    reader
        .by_ref()
        .take(MAX_FRAME)
        .read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a frame was cut short or is too long",
        ));
    }
    serde_json::from_slice(&line)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("a bad frame: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_one_a_line() {
        let mut buffer = Vec::new();
        send(&mut buffer, &ToHolder::Hello { version: VERSION }).unwrap();
        send(
            &mut buffer,
            &ToHolder::Eval {
                code: "1\n+1".into(),
                expanded: crate::console::Expanded::Off,
            },
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(buffer.clone()).unwrap().lines().count(),
            2
        );
        let mut reader = io::BufReader::new(&buffer[..]);
        assert!(matches!(
            receive::<ToHolder>(&mut reader).unwrap(),
            Some(ToHolder::Hello { version: VERSION })
        ));
        assert!(matches!(
            receive::<ToHolder>(&mut reader).unwrap(),
            Some(ToHolder::Eval { code, .. }) if code == "1\n+1"
        ));
        assert!(receive::<ToHolder>(&mut reader).unwrap().is_none());
    }

    #[test]
    fn a_garbled_or_cut_frame_is_an_error() {
        let mut reader = io::BufReader::new(&b"{\"type\": \"nonsense\"}\n"[..]);
        assert!(receive::<ToHolder>(&mut reader).is_err());
        let mut reader = io::BufReader::new(&b"{\"type\": \"hel"[..]);
        assert!(receive::<ToHolder>(&mut reader).is_err());
    }
}
