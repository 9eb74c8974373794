//! The holder's side: a thread accepting on the socket, and one thread per client, on which
//! that client's [`Evaluator`] lives (a view of the held registry with the client's actor and
//! dry run). A second thread per client reads its frames: Ctrl-C and answers reach the
//! evaluation while it runs, and a client that goes away stops it. A data command runs on the
//! client's thread through [`crate::commands`], its output sent to the client
//! ([`stdout::to_client`]).

use std::cell::RefCell;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::Shutdown;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::wire::{self, Job, Outcome, Request, ToClient, ToHolder, VERSION};
use super::{Error, socket_path};
use crate::commands;
use crate::console::{self, Look};
use crate::exit::CliError;
use crate::options::Format;
use crate::registry::{Actor, Registry};
use crate::script::{ErrorKind, Evaluator, Limits, Output};
use crate::stdout;

/// How long a client may take to say hello.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// How long a holder that exits waits for its clients' evaluations to stop before cutting
/// their connections.
const GRACE: Duration = Duration::from_secs(5);

/// A process holding a sled store, serving attached clients until [`Holder::stop`] (or its
/// drop).
pub struct Holder {
    shared: Arc<Shared>,
    accepting: Option<JoinHandle<()>>,
}

struct Shared {
    /// The registry the clients' views come from.
    base: Registry,
    /// `pid 4242 (console)`.
    holder: String,
    socket: PathBuf,
    closing: AtomicBool,
    clients: Mutex<Vec<Client>>,
}

struct Client {
    /// A handle on the connection, to cut it when the holder exits.
    stream: UnixStream,
    thread: JoinHandle<()>,
}

impl Holder {
    /// Listens on `DIR/sessionctl.sock` for clients of the store held through `registry` (a
    /// view of the holder's own: see [`Registry::view`]), the process being described as
    /// `role` (`console`, `-e`, `serve`…). The caller holds the store's lock, so a socket
    /// already there was left by a holder that died: it is replaced. The directory must be
    /// the owner's alone (0700).
    pub fn start(registry: Registry, dir: &Path, role: &str) -> Result<Holder, Error> {
        let socket = socket_path(dir);
        let mode = std::fs::metadata(dir)
            .map_err(|source| Error::Listen {
                socket: socket.clone(),
                source,
            })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(Error::OpenDirectory {
                dir: dir.to_owned(),
                mode: mode & 0o777,
            });
        }
        let listen = |source| Error::Listen {
            socket: socket.clone(),
            source,
        };
        match std::fs::remove_file(&socket) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(listen(error)),
            _ => {}
        }
        let listener = UnixListener::bind(&socket).map_err(listen)?;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
            .map_err(listen)?;
        let shared = Arc::new(Shared {
            base: registry,
            holder: format!("pid {} ({role})", std::process::id()),
            socket: socket.clone(),
            closing: AtomicBool::new(false),
            clients: Mutex::new(Vec::new()),
        });
        let accepting = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("attach".into())
                .spawn(move || accept(&listener, &shared))
                .map_err(listen)?
        };
        Ok(Holder {
            shared,
            accepting: Some(accepting),
        })
    }

    /// Stops serving: no new client is accepted and the socket is removed; the clients'
    /// running evaluations are stopped (each is told the holder is exiting) and their
    /// registries dropped, so that the caller can close the store next.
    pub fn stop(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        let Some(accepting) = self.accepting.take() else {
            return;
        };
        let shared = &self.shared;
        shared.closing.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then sees `closing`.
        let _ = UnixStream::connect(&shared.socket);
        let _ = accepting.join();
        let _ = std::fs::remove_file(&shared.socket);
        let clients = std::mem::take(&mut *shared.clients.lock().expect("clients lock"));
        // Their readers see the end of the stream: each evaluation stops, and is answered
        // with `Closing`.
        for client in &clients {
            let _ = client.stream.shutdown(Shutdown::Read);
        }
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline && clients.iter().any(|c| !c.thread.is_finished()) {
            std::thread::sleep(Duration::from_millis(5));
        }
        for client in clients {
            if !client.thread.is_finished() {
                // Stuck writing to a client that does not read: cut it.
                let _ = client.stream.shutdown(Shutdown::Both);
            }
            let _ = client.thread.join();
        }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn accept(listener: &UnixListener, shared: &Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.closing.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let Ok(handle) = stream.try_clone() else {
            continue;
        };
        let client_shared = Arc::clone(shared);
        let Ok(thread) = std::thread::Builder::new()
            .name("attached".into())
            .spawn(move || serve(stream, &client_shared))
        else {
            continue;
        };
        let mut clients = shared.clients.lock().expect("clients lock");
        clients.retain(|c| !c.thread.is_finished());
        clients.push(Client {
            stream: handle,
            thread,
        });
    }
}

/// Whether the peer of `stream` runs as `uid`, by its credentials (`SO_PEERCRED`).
pub(super) fn admit(stream: &UnixStream, uid: u32) -> Result<(), String> {
    let peer = rustix::net::sockopt::socket_peercred(stream)
        .map_err(|e| format!("cannot read the peer's credentials: {e}"))?;
    let peer_uid = peer.uid.as_raw();
    if peer_uid == uid {
        Ok(())
    } else {
        Err(format!(
            "uid {peer_uid} (pid {}) is not the owner of this database (uid {uid})",
            peer.pid.as_raw_nonzero()
        ))
    }
}

/// One client, from its hello to its end; then its connection is closed (the holder keeps
/// another handle on it).
fn serve(stream: UnixStream, shared: &Shared) {
    let Ok(handle) = stream.try_clone() else {
        return;
    };
    converse(stream, shared);
    let _ = handle.shutdown(Shutdown::Both);
}

fn converse(stream: UnixStream, shared: &Shared) {
    let Ok(reading) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(reading);
    let writer = Rc::new(RefCell::new(stream));
    let send = |frame: &ToClient| wire::send(&mut *writer.borrow_mut(), frame);
    let refuse = |reason: String| {
        stdout::warn(format_args!(
            "sessionctl: refused an attached client: {reason}"
        ));
        let _ = send(&ToClient::Refused { reason });
    };
    if let Err(reason) = admit(&writer.borrow(), rustix::process::getuid().as_raw()) {
        return refuse(reason);
    }
    let _ = writer.borrow().set_read_timeout(Some(HANDSHAKE));
    match wire::receive::<ToHolder>(&mut reader) {
        Ok(Some(ToHolder::Hello { version: VERSION })) => {}
        Ok(Some(ToHolder::Hello { version })) => {
            return refuse(format!(
                "it speaks attach protocol version {version}, this holder version {VERSION}: use the same sessionctl for both"
            ));
        }
        _ => return,
    }
    let welcome = ToClient::Welcome {
        version: VERSION,
        holder: shared.holder.clone(),
    };
    if send(&welcome).is_err() {
        return;
    }
    let Ok(Some(ToHolder::Start { request })) = wire::receive::<ToHolder>(&mut reader) else {
        return;
    };
    let _ = writer.borrow().set_read_timeout(None);
    let reads_only = matches!(&request.job, Job::Data { command } if !command.writes());
    if shared.base.is_dry_run() && !request.dry_run && !reads_only {
        let message = format!(
            "the process holding the database ({}) opened it for reading only (a dry run): attach with --dry-run, or run the command again once it has ended",
            shared.holder
        );
        let _ = send(&ToClient::Done {
            outcome: Outcome::Failed { message, code: 2 },
        });
        return;
    }
    // This thread serves this client alone: its times are shown in the client's zone.
    crate::zone::show_in(crate::zone::resolve(request.tz.as_deref()));
    if let Job::Data { command } = &request.job {
        return run_data(&request, command.clone(), shared, &writer, reader);
    }
    let session = Session::new(&request, shared, &writer);
    let (requests, answers) = read_frames(reader, session.evaluator.interrupt_flag());
    session.run(request, &requests, answers);
}

/// What a client's reader thread passes on to the client's evaluation.
struct Frames {
    requests: Receiver<ToHolder>,
    /// Set once the evaluation ended, so that the reader stops interrupting it.
    finished: Arc<AtomicBool>,
}

impl Drop for Frames {
    fn drop(&mut self) {
        self.finished.store(true, Ordering::SeqCst);
    }
}

/// Starts the thread reading a client's frames: Ctrl-C sets `interrupt`, answers go to the
/// second receiver, the rest to the first. Once the client is gone (or the holder cut its
/// reading side) the evaluation is interrupted, again and again until it has ended (an
/// evaluation starting clears the flag).
fn read_frames(
    mut reader: BufReader<UnixStream>,
    interrupt: Arc<std::sync::atomic::AtomicBool>,
) -> (Frames, Receiver<bool>) {
    let (requests_tx, requests) = mpsc::channel();
    let (answers_tx, answers) = mpsc::channel();
    let finished = Arc::new(AtomicBool::new(false));
    let done = Arc::clone(&finished);
    std::thread::spawn(move || {
        loop {
            match wire::receive::<ToHolder>(&mut reader) {
                Ok(Some(ToHolder::Interrupt)) => interrupt.store(true, Ordering::Relaxed),
                Ok(Some(ToHolder::Answer { yes })) => {
                    let _ = answers_tx.send(yes);
                }
                Ok(Some(request)) => {
                    if requests_tx.send(request).is_err() {
                        break;
                    }
                }
                Ok(None) | Err(_) => break,
            }
        }
        drop((requests_tx, answers_tx));
        while !done.load(Ordering::SeqCst) {
            interrupt.store(true, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    (Frames { requests, finished }, answers)
}

/// What a client is told when the holder's exit stopped its work.
fn closing(shared: &Shared) -> ToClient {
    ToClient::Closing {
        reason: format!(
            "the process holding the database ({}) is exiting",
            shared.holder
        ),
    }
}

/// A client's data command, run on this thread as the command line runs it, its output and
/// questions sent to the client; Ctrl-C (or the client going away, or the holder exiting)
/// stops it between records.
fn run_data(
    request: &Request,
    command: commands::Command,
    shared: &Shared,
    writer: &Rc<RefCell<UnixStream>>,
    reader: BufReader<UnixStream>,
) {
    let interrupt = Arc::new(AtomicBool::new(false));
    let (frames, answers) = read_frames(reader, Arc::clone(&interrupt));
    let registry = shared
        .base
        .view(Actor::current(request.origin.clone()), request.dry_run);
    let ask = |question: &str| {
        let question = question.to_owned();
        wire::send(&mut *writer.borrow_mut(), &ToClient::Ask { question }).is_ok()
            && answers.recv().unwrap_or(false)
    };
    let stop = || interrupt.load(Ordering::Relaxed);
    let stdin = command.reads_stdin().then(|| {
        let input = Input {
            frames: &frames.requests,
            interrupt: &interrupt,
            chunk: Vec::new(),
            at: 0,
            ended: false,
        };
        Box::new(BufReader::new(input)) as Box<dyn BufRead + '_>
    });
    let context = commands::Context {
        yes: request.yes,
        terminal: request.terminal,
        ask: &ask,
        stop: &stop,
        stdin,
    };
    let sink = |error| FrameSink {
        writer: Rc::clone(writer),
        error,
    };
    let done = stdout::to_client(sink(false), sink(true), || {
        commands::run(&registry, command, context)
    });
    let frame = match done {
        Ok(()) => ToClient::Done {
            outcome: Outcome::Ok,
        },
        Err(CliError::Interrupted { .. }) if shared.closing.load(Ordering::SeqCst) => {
            closing(shared)
        }
        Err(error) => ToClient::Done {
            outcome: Outcome::Failed {
                message: if error.is_reported() {
                    String::new()
                } else {
                    error.to_string()
                },
                code: error.exit_code(),
            },
        },
    };
    let _ = wire::send(&mut *writer.borrow_mut(), &frame);
}

/// The client's standard input (`import -`), read from its [`ToHolder::Input`] frames as they
/// come; an error once Ctrl-C was pressed or the client went away.
struct Input<'a> {
    frames: &'a Receiver<ToHolder>,
    interrupt: &'a AtomicBool,
    chunk: Vec<u8>,
    at: usize,
    ended: bool,
}

impl Read for Input<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            if self.ended {
                return Ok(0);
            }
            if self.interrupt.load(Ordering::Relaxed) {
                return Err(io::Error::other("interrupted"));
            }
            match self.frames.recv_timeout(Duration::from_millis(10)) {
                Ok(ToHolder::Input { hex }) => {
                    self.chunk = hex::decode(hex).map_err(|e| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("a bad input frame: {e}"),
                        )
                    })?;
                    self.at = 0;
                }
                Ok(ToHolder::InputEnd { error: None }) => self.ended = true,
                Ok(ToHolder::InputEnd { error: Some(error) }) => {
                    return Err(io::Error::other(error));
                }
                Ok(_) | Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(io::Error::other("the attached client went away"));
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// A client's evaluation.
struct Session<'a> {
    evaluator: Evaluator,
    shared: &'a Shared,
    writer: Rc<RefCell<UnixStream>>,
    look: Look,
}

impl<'a> Session<'a> {
    fn new(request: &Request, shared: &'a Shared, writer: &Rc<RefCell<UnixStream>>) -> Self {
        // Only the owner is admitted (by its credentials): the attaching OS user is ours.
        let actor = Actor::current(request.origin.clone());
        let registry = shared.base.view(actor, request.dry_run);
        let limits = match &request.job {
            Job::Batch {
                max_operations,
                timeout_ms,
                ..
            } => Limits {
                max_operations: *max_operations,
                timeout: timeout_ms.map(Duration::from_millis),
                ..Limits::BATCH
            },
            Job::Console | Job::Data { .. } => Limits::CONSOLE,
        };
        let out = Output::new(FrameSink {
            writer: Rc::clone(writer),
            error: false,
        });
        let err = Output::new(FrameSink {
            writer: Rc::clone(writer),
            error: true,
        });
        // As locally: with JSON and CSV, what a script prints goes to standard error.
        let out = match &request.job {
            Job::Batch {
                format: Format::Json | Format::Csv,
                ..
            } => err.clone(),
            _ => out,
        };
        let evaluator = Evaluator::new(Rc::new(registry), limits, out, err);
        Self {
            evaluator,
            shared,
            writer: Rc::clone(writer),
            look: request.look,
        }
    }

    fn send(&self, frame: &ToClient) -> io::Result<()> {
        wire::send(&mut *self.writer.borrow_mut(), frame)
    }

    /// What a finished evaluation answers: [`ToClient::Closing`] when the holder's exit
    /// stopped it.
    fn answer(&self, outcome: Outcome) -> io::Result<()> {
        let stopped = match &outcome {
            Outcome::Script { error } => error.kind == ErrorKind::Interrupted,
            Outcome::Ok => false,
            Outcome::Failed { .. } => true,
        };
        if stopped && self.shared.closing.load(Ordering::SeqCst) {
            self.closing()
        } else {
            self.send(&ToClient::Done { outcome })
        }
    }

    fn closing(&self) -> io::Result<()> {
        self.send(&closing(self.shared))
    }

    fn run(mut self, request: Request, frames: &Frames, answers: Receiver<bool>) {
        match request.job {
            Job::Batch {
                source,
                code,
                args,
                format,
                show_unit,
                ..
            } => {
                if let Some(args) = args {
                    self.evaluator.set_args(args);
                }
                let outcome = self.batch(&source, &code, format, show_unit);
                let _ = self.answer(outcome);
            }
            Job::Console => {
                let writer = Rc::clone(&self.writer);
                let ask = move |question: String| {
                    wire::send(&mut *writer.borrow_mut(), &ToClient::Ask { question }).is_ok()
                        && answers.recv().unwrap_or(false)
                };
                self.evaluator.confirm_destroy_all(console::confirmation(
                    request.yes,
                    request.terminal,
                    request.dry_run,
                    ask,
                ));
                self.console(&frames.requests);
            }
            // Run without an evaluator, by `run_data`.
            Job::Data { .. } => {}
        }
    }

    fn batch(&mut self, source: &str, code: &str, format: Format, show_unit: bool) -> Outcome {
        let value =
            match crate::batch::evaluate(&mut self.evaluator, source, code, format, show_unit) {
                Ok(value) => value,
                Err(error) => return Outcome::Script { error },
            };
        match format {
            Format::Text => match value.write_plain(&self.evaluator.output()) {
                Ok(()) => Outcome::Ok,
                Err(message) => Outcome::Failed { message, code: 1 },
            },
            Format::Json | Format::Csv => {
                let frame = ToClient::Value {
                    json: value.to_json(),
                    type_name: value.type_name(),
                };
                match self.send(&frame) {
                    Ok(()) => Outcome::Ok,
                    Err(error) => Outcome::Failed {
                        message: error.to_string(),
                        code: 2,
                    },
                }
            }
        }
    }

    fn console(&mut self, requests: &Receiver<ToHolder>) {
        while let Ok(request) = requests.recv() {
            let sent = match request {
                ToHolder::Eval { code, expanded } => {
                    let look = Look {
                        expanded,
                        ..self.look
                    };
                    // The result goes in one frame, for the client's pager.
                    let writer = &self.writer;
                    let shown = console::show(&mut self.evaluator, &code, look, |text| {
                        let frame = ToClient::Shown {
                            text: text.to_owned(),
                        };
                        // A client gone is found when the outcome is sent.
                        let _ = wire::send(&mut *writer.borrow_mut(), &frame);
                        Ok(())
                    });
                    let outcome = match shown {
                        Ok(()) => Outcome::Ok,
                        Err(error) => Outcome::Failed {
                            message: error.to_string(),
                            code: error.exit_code(),
                        },
                    };
                    if self.shared.closing.load(Ordering::SeqCst) {
                        let _ = self.closing();
                        return;
                    }
                    self.send(&ToClient::Done { outcome })
                }
                ToHolder::Variables => self.send(&ToClient::Variables {
                    names: self.evaluator.variables(),
                }),
                ToHolder::Incomplete { code } => self.send(&ToClient::Incomplete {
                    incomplete: self.evaluator.is_incomplete(&code),
                }),
                ToHolder::Counts => self.send(&ToClient::Counts {
                    line: console::counts(self.evaluator.registry(), self.look.color),
                }),
                _ => return,
            };
            if sent.is_err() {
                return;
            }
        }
        if self.shared.closing.load(Ordering::SeqCst) {
            let _ = self.closing();
        }
    }
}

/// Standard output or error of an attached client: each write is one frame.
struct FrameSink {
    writer: Rc<RefCell<UnixStream>>,
    error: bool,
}

impl Write for FrameSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf).into_owned();
        let frame = if self.error {
            ToClient::Err { text }
        } else {
            ToClient::Out { text }
        };
        wire::send(&mut *self.writer.borrow_mut(), &frame)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
