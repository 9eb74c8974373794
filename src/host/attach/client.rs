//! The client's side: the handshake, a batch job (`-e`, `run`) or a data command whose output
//! is printed as it comes, and [`Remote`], the console's evaluation in the holder.

use std::io::{BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::wire::{self, Job, Outcome, Request, ToClient, ToHolder, VERSION};
use super::{Error, fail, socket_path};
use crate::console::{self, Evaluate, Pager, View};
use crate::exit::CliError;
use crate::options::Format;
use crate::script::catalogue::Kind;
use crate::stdout;

/// How long the holder may take to answer the hello.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// A connection to the process holding a store, after the handshake.
pub struct Connection {
    reader: BufReader<UnixStream>,
    /// Shared with the Ctrl-C handler, which sends [`ToHolder::Interrupt`] at any time.
    writer: Arc<Mutex<UnixStream>>,
    holder: String,
    db: PathBuf,
    /// Why the holder ended the connection, once it did.
    ended: Option<Error>,
}

/// Attaches to the process holding the store at `db`: `Ok(None)` when none listens (no socket,
/// or one left by a holder that died, or a holder exiting), so that the caller opens the store
/// itself.
pub fn connect(db: &Path) -> Result<Option<Connection>, Error> {
    let Ok(stream) = UnixStream::connect(socket_path(db)) else {
        return Ok(None);
    };
    let (Ok(reading), Ok(())) = (stream.try_clone(), stream.set_read_timeout(Some(HANDSHAKE)))
    else {
        return Ok(None);
    };
    let mut reader = BufReader::new(reading);
    let mut writer = stream;
    if wire::send(&mut writer, &ToHolder::Hello { version: VERSION }).is_err() {
        return Ok(None);
    }
    let holder = match wire::receive::<ToClient>(&mut reader) {
        Ok(Some(ToClient::Welcome {
            version: VERSION,
            holder,
        })) => holder,
        Ok(Some(ToClient::Welcome { version, holder })) => {
            return Err(Error::Version {
                db: db.to_owned(),
                holder,
                theirs: version,
                ours: VERSION,
            });
        }
        Ok(Some(ToClient::Refused { reason })) => {
            return Err(Error::Refused {
                db: db.to_owned(),
                reason,
            });
        }
        // The holder is exiting, or this is not a holder.
        _ => return Ok(None),
    };
    let _ = writer.set_read_timeout(None);
    Ok(Some(Connection {
        reader,
        writer: Arc::new(Mutex::new(writer)),
        holder,
        db: db.to_owned(),
        ended: None,
    }))
}

impl Connection {
    /// The process holding the store: `pid 4242 (console)`.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    fn lost(&self, problem: impl ToString) -> Error {
        Error::Lost {
            db: self.db.clone(),
            holder: self.holder.clone(),
            problem: problem.to_string(),
        }
    }

    fn send(&mut self, frame: &ToHolder) -> Result<(), Error> {
        if let Some(ended) = self.ended.take() {
            return Err(ended);
        }
        let sent = wire::send(
            &mut *self.writer.lock().unwrap_or_else(PoisonError::into_inner),
            frame,
        );
        sent.map_err(|error| match self.receive() {
            // The holder said why it went before the connection closed.
            Err(closing @ Error::Closing { .. }) => closing,
            _ => self.lost(error),
        })
    }

    fn receive(&mut self) -> Result<ToClient, Error> {
        match wire::receive::<ToClient>(&mut self.reader) {
            Ok(Some(ToClient::Closing { reason })) => Err(Error::Closing { reason }),
            Ok(Some(frame)) => Ok(frame),
            Ok(None) => Err(self.lost("it closed the connection")),
            Err(error) => Err(self.lost(error)),
        }
    }

    /// Runs a batch job (`-e`, `run`) or a data command in the holder: its output printed as
    /// it comes, its value as `format` says, its error and exit code as locally; standard
    /// input sent as it is read when the command reads it. Ctrl-C stops it there.
    pub fn run_batch(mut self, request: Request, format: Format) -> Result<(), CliError> {
        let stdin = matches!(&request.job, Job::Data { command } if command.reads_stdin());
        self.send(&ToHolder::Start { request })
            .map_err(|e| fail(&e))?;
        if stdin {
            send_stdin(Arc::clone(&self.writer));
        }
        let interrupt = interrupter(&self.writer);
        if let Err(error) = ctrlc::set_handler(interrupt) {
            stdout::warn(format_args!(
                "warning: Ctrl-C will not stop the script in the holder: {error}"
            ));
        }
        self.until_done(format, None)
    }

    /// Prints what the holder sends until the evaluation is done, answering its questions; a
    /// console's result through `pager` (with warnings coloured as its `bool` says).
    fn until_done(
        &mut self,
        format: Format,
        pager: Option<(&Pager, bool)>,
    ) -> Result<(), CliError> {
        loop {
            match self.receive().map_err(|e| fail(&e))? {
                ToClient::Out { text } => stdout::with(|out| out.write_all(text.as_bytes()))?,
                ToClient::Shown { text } => match pager {
                    Some((pager, color_err)) => {
                        pager.show(&text, color_err, |text| stdout::line(text))?;
                    }
                    None => stdout::line(text)?,
                },
                ToClient::Err { text } => {
                    let _ = std::io::stderr().write_all(text.as_bytes());
                }
                ToClient::Ask { question } => {
                    let yes = console::ask(&question);
                    self.send(&ToHolder::Answer { yes }).map_err(|e| fail(&e))?;
                }
                ToClient::Value { json, type_name } => {
                    crate::batch::print_record(json, &type_name, format)?;
                }
                ToClient::Done { outcome } => {
                    return match outcome {
                        Outcome::Ok => Ok(()),
                        Outcome::Script { error } => Err(CliError::Script(error)),
                        Outcome::Failed { message, code } => {
                            if !message.is_empty() {
                                stdout::warn(format_args!("sessionctl: {message}"));
                            }
                            Err(CliError::Reported(code))
                        }
                    };
                }
                other => return Err(fail(&self.lost(format!("unexpected {other:?}")))),
            }
        }
    }

    /// A request answered by one frame (completion, the banner's counts); `None` when the
    /// holder failed to answer (the failure is kept for the next input).
    fn ask(&mut self, request: &ToHolder) -> Option<ToClient> {
        let answer = self.send(request).and_then(|()| self.receive());
        match answer {
            Ok(answer) => Some(answer),
            Err(error) => {
                self.ended = Some(error);
                None
            }
        }
    }
}

/// Sends this process's standard input to the holder, chunk by chunk, on a thread of its own
/// (the holder may answer before it has read it all: a bad line ends the import).
fn send_stdin(writer: Arc<Mutex<UnixStream>>) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut chunk = vec![0; wire::INPUT_CHUNK];
        loop {
            let frame = match stdin.read(&mut chunk) {
                Ok(0) => ToHolder::InputEnd { error: None },
                Ok(n) => ToHolder::Input {
                    hex: hex::encode(&chunk[..n]),
                },
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(error) => ToHolder::InputEnd {
                    error: Some(error.to_string()),
                },
            };
            let last = matches!(frame, ToHolder::InputEnd { .. });
            let mut writer = writer.lock().unwrap_or_else(PoisonError::into_inner);
            if wire::send(&mut *writer, &frame).is_err() || last {
                return;
            }
        }
    });
}

/// Sends [`ToHolder::Interrupt`] when called (from the Ctrl-C handler's thread).
fn interrupter(writer: &Arc<Mutex<UnixStream>>) -> Box<dyn Fn() + Send> {
    let writer = Arc::clone(writer);
    Box::new(move || {
        let mut writer = writer.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = wire::send(&mut *writer, &ToHolder::Interrupt);
    })
}

/// The console's evaluation in the holder.
pub struct Remote {
    connection: Arc<Mutex<Connection>>,
    writer: Arc<Mutex<UnixStream>>,
    holder: String,
    dry_run: bool,
    /// Whether warnings (a pager that failed) are coloured.
    color_err: bool,
}

impl Remote {
    /// Starts a console session in the holder.
    pub fn start(mut connection: Connection, request: Request) -> Result<Self, CliError> {
        let dry_run = request.dry_run;
        let color_err = request.look.color_err;
        connection
            .send(&ToHolder::Start { request })
            .map_err(|e| fail(&e))?;
        Ok(Self {
            holder: connection.holder.clone(),
            writer: Arc::clone(&connection.writer),
            connection: Arc::new(Mutex::new(connection)),
            dry_run,
            color_err,
        })
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Evaluate for Remote {
    fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    fn attached_to(&self) -> Option<String> {
        Some(self.holder.clone())
    }

    fn run(&mut self, code: &str, view: &View) -> Result<(), CliError> {
        let mut connection = self.connection();
        connection
            .send(&ToHolder::Eval {
                code: code.to_owned(),
                expanded: view.expanded(),
            })
            .map_err(|e| fail(&e))?;
        connection.until_done(Format::Text, Some((view.pager(), self.color_err)))
    }

    fn variables(&self) -> Vec<(String, Kind)> {
        match self.connection().ask(&ToHolder::Variables) {
            Some(ToClient::Variables { names }) => names,
            _ => Vec::new(),
        }
    }

    fn is_incomplete(&self, code: &str) -> bool {
        let request = ToHolder::Incomplete {
            code: code.to_owned(),
        };
        matches!(
            self.connection().ask(&request),
            Some(ToClient::Incomplete { incomplete: true })
        )
    }

    fn interrupter(&self) -> Box<dyn Fn() + Send> {
        interrupter(&self.writer)
    }

    fn counter(&self) -> Box<dyn FnOnce(bool) -> String + Send> {
        let connection = Arc::clone(&self.connection);
        Box::new(move |_| {
            let mut connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            match connection.ask(&ToHolder::Counts) {
                Some(ToClient::Counts { line }) => line,
                _ => "warning: cannot count the sessions: the holder did not answer".to_owned(),
            }
        })
    }

    fn close(self: Box<Self>) -> Result<(), CliError> {
        Ok(())
    }
}
