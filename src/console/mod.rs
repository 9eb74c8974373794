//! The interactive console: the banner, the read-eval-print loop with rustyline (history,
//! completion, highlighting, multi-line entry), results printed IRB-style or as tables, errors
//! with a caret and a Ruby-habit hint, Ctrl-C to stop a statement, and the question before
//! `ActiveSession.destroy_all`.

mod editor;
mod help;
mod pager;
mod ruby_hint;
mod table;

use std::cell::RefCell;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use owo_colors::OwoColorize;
use rustyline::config::{ColorMode, CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{DefaultEditor, Editor, ExternalPrinter as _};

use crate::exit::CliError;
use crate::model::Revoked;
use crate::options::Global;
use crate::registry::{Actor, Registry};
use crate::script::catalogue::Kind;
use crate::script::{Confirm, ErrorKind, Evaluator, Output, ScriptError, Shown};
use crate::stdout;
use editor::ConsoleHelper;
pub use pager::Pager;
use ruby_hint::ruby_hint;
pub use table::Expanded;
use table::Layout;
pub use table::thousands;

const PROMPT: &str = "sessionctl> ";

/// The name of errors' source, as in `console:1:5: ...`.
const SOURCE: &str = "console";

/// How results are shown: colour on standard output and error, the width tables fit (the
/// terminal's when `None`), and psql's expanded view (`\x`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Look {
    pub color: bool,
    pub color_err: bool,
    pub width: Option<u16>,
    #[serde(default)]
    pub expanded: Expanded,
}

impl Look {
    /// The look of this process's terminal, as `global` asks.
    pub fn of_terminal(global: &Global) -> Self {
        Self {
            color: global.color.enabled(std::io::stdout().is_terminal()),
            color_err: global.color.enabled(std::io::stderr().is_terminal()),
            width: None,
            expanded: Expanded::Off,
        }
    }
}

/// What the console evaluates through: the [`Evaluator`] of this process ([`Local`]), or that
/// of the process holding the store, when attached (`crate::host::attach`). The REPL, its
/// editor and its help are the same either way.
pub trait Evaluate {
    /// Whether mutations only report what they would do.
    fn is_dry_run(&self) -> bool;
    /// For the banner: the process this console is attached to, if any.
    fn attached_to(&self) -> Option<String>;
    /// Evaluates one input and prints its result or its error as the console shows them, as
    /// `view` (the pager, the expanded view) says.
    fn run(&mut self, code: &str, view: &View) -> Result<(), CliError>;
    /// The variables defined so far and the kinds of their values, for completion.
    fn variables(&self) -> Vec<(String, Kind)>;
    /// Whether `code` is an unfinished snippet that more lines could complete.
    fn is_incomplete(&self, code: &str) -> bool;
    /// What stops the running input (Ctrl-C), called from another thread.
    fn interrupter(&self) -> Box<dyn Fn() + Send>;
    /// The banner's counts ("30 users, 1,234 live sessions"), computed on another thread.
    fn counter(&self) -> Box<dyn FnOnce(bool) -> String + Send>;
    /// Ends the console's evaluation (the local store is closed cleanly).
    fn close(self: Box<Self>) -> Result<(), CliError>;
}

/// The console's evaluation in this process.
pub struct Local {
    evaluator: Evaluator,
    look: Look,
    /// Run before the store is closed (a holder stops serving its clients).
    before_close: Option<Box<dyn FnOnce()>>,
}

impl Local {
    /// The console on `evaluator`, asking before mass revocation as `global` says.
    pub fn new(evaluator: Evaluator, global: &Global) -> Self {
        evaluator.confirm_destroy_all(confirmation(
            global.yes,
            std::io::stdin().is_terminal(),
            global.dry_run,
            |question| ask(&question),
        ));
        Self {
            evaluator,
            look: Look::of_terminal(global),
            before_close: None,
        }
    }

    /// Runs `stop` before the store is closed.
    #[must_use]
    pub fn before_close(mut self, stop: impl FnOnce() + 'static) -> Self {
        self.before_close = Some(Box::new(stop));
        self
    }
}

impl Evaluate for Local {
    fn is_dry_run(&self) -> bool {
        self.evaluator.registry().is_dry_run()
    }

    fn attached_to(&self) -> Option<String> {
        None
    }

    fn run(&mut self, code: &str, view: &View) -> Result<(), CliError> {
        let look = Look {
            expanded: view.expanded,
            ..self.look
        };
        let out = self.evaluator.output();
        show(&mut self.evaluator, code, look, |text| {
            view.pager.show(text, look.color_err, |text| {
                out.line(text);
                Ok(())
            })
        })
    }

    fn variables(&self) -> Vec<(String, Kind)> {
        self.evaluator.variables()
    }

    fn is_incomplete(&self, code: &str) -> bool {
        self.evaluator.is_incomplete(code)
    }

    fn interrupter(&self) -> Box<dyn Fn() + Send> {
        let flag = self.evaluator.interrupt_flag();
        Box::new(move || flag.store(true, Ordering::Relaxed))
    }

    fn counter(&self) -> Box<dyn FnOnce(bool) -> String + Send> {
        let registry = self.evaluator.registry();
        let view = registry.view(Actor::current(SOURCE), registry.is_dry_run());
        Box::new(move |color| counts(&view, color))
    }

    fn close(self: Box<Self>) -> Result<(), CliError> {
        let Local {
            evaluator,
            before_close,
            ..
        } = *self;
        if let Some(stop) = before_close {
            stop();
        }
        evaluator.close().map_err(CliError::from)
    }
}

/// Runs the console until Ctrl-D, `exit` or `quit`; `database` names the database in the
/// banner.
///
/// The prompt does not wait for the banner's counts (reading every session takes a while on a
/// large database): they are counted on another thread and printed above the prompt.
pub fn run(evaluator: Box<dyn Evaluate>, global: &Global, database: &str) -> Result<(), CliError> {
    let Look {
        color, color_err, ..
    } = Look::of_terminal(global);
    banner(&*evaluator, database, color)?;

    let interrupt = evaluator.interrupter();
    if let Err(error) = ctrlc::set_handler(interrupt) {
        warn(
            &format!("Ctrl-C will not stop a running statement: {error}"),
            color_err,
        );
    }

    let counter = evaluator.counter();
    let evaluator = Rc::new(RefCell::new(evaluator));
    let config = Config::builder()
        .max_history_size(10_000)
        .map_err(|e| CliError::Other(e.into()))?
        .history_ignore_space(true)
        .completion_type(CompletionType::List)
        .color_mode(if color {
            ColorMode::Forced
        } else {
            ColorMode::Disabled
        })
        .build();
    let mut editor: Editor<ConsoleHelper, FileHistory> =
        Editor::with_config(config).map_err(|e| CliError::Other(e.into()))?;
    let mut helper = ConsoleHelper::new(evaluator.clone());
    let (prompted, prompt_shown) = mpsc::channel();
    helper.tell_when_prompted(prompted);
    editor.set_helper(Some(helper));
    let history = History::open(&mut editor, color_err);

    let done = std::thread::scope(|scope| {
        match editor.create_external_printer() {
            Ok(mut printer) => {
                scope.spawn(move || {
                    // Counted once the prompt is up (so that the count does not slow the
                    // start down), and printed above it; not at all if the console ended first.
                    if prompt_shown.recv().is_ok() {
                        let _ = printer.print(counter(color));
                    }
                });
            }
            // Not a terminal: nobody waits for a prompt.
            Err(_) => stdout::line(counter(color))?,
        }
        let done = read_eval_print(&mut editor, history, &evaluator, color_err);
        // The editor's helper shares the evaluator and tells the counting thread about the
        // prompt: once it is gone, that thread ends and the store can be closed.
        drop(editor);
        done
    });
    let closed = match Rc::try_unwrap(evaluator) {
        Ok(evaluator) => evaluator.into_inner().close(),
        Err(_) => Ok(()),
    };
    done?;
    closed
}

/// Reads, evaluates and prints until Ctrl-D, `exit` or `quit`.
fn read_eval_print(
    editor: &mut Editor<ConsoleHelper, FileHistory>,
    mut history: History,
    evaluator: &RefCell<Box<dyn Evaluate>>,
    color_err: bool,
) -> Result<(), CliError> {
    let mut view = View {
        pager: Pager::from_env(),
        expanded: Expanded::Off,
    };
    loop {
        let line = match editor.readline(PROMPT) {
            Ok(line) => line,
            // Ctrl-C on a line being typed clears it.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return Ok(()),
            Err(error) => {
                return Err(CliError::Other(anyhow::anyhow!(
                    "cannot read the terminal: {error}"
                )));
            }
        };
        let input = line.trim();
        if input.is_empty() {
            continue;
        }
        // Not kept in history: Up and Enter in the next console should not leave it.
        if is_exit(input) {
            return Ok(());
        }
        history.add(editor, &line, color_err);
        match input {
            "help" => stdout::line(help::help("").unwrap_or_default())?,
            _ if input.starts_with("help ") => {
                let topic = input["help ".len()..].trim();
                match help::help(topic) {
                    Some(text) => stdout::line(text)?,
                    None => stdout::warn(format_args!(
                        "No help on {topic:?}; try help User, help ActiveSession, help Audit or help functions."
                    )),
                }
            }
            _ if input.starts_with('\\') => view.command(input)?,
            _ => evaluator.borrow_mut().run(&line, &view)?,
        }
    }
}

/// `exit` and `quit`, as IRB and psql users also type them: `exit()`, `quit;`, `\q`.
fn is_exit(input: &str) -> bool {
    let word = input.trim_end_matches(';').trim_end();
    let word = word.strip_suffix("()").unwrap_or(word);
    matches!(word, "exit" | "quit" | "\\q")
}

/// The banner: which database (and, attached, which process holds it), whether this is a dry
/// run, how to get help.
fn banner(evaluator: &dyn Evaluate, database: &str, color: bool) -> Result<(), CliError> {
    let first = format!(
        "sessionctl console on {database}{}{}",
        evaluator
            .attached_to()
            .map(|holder| format!(", attached to {holder}"))
            .unwrap_or_default(),
        if evaluator.is_dry_run() {
            " (dry run: nothing is written)"
        } else {
            ""
        },
    );
    let second = "Type help for the objects and commands; Tab completes; exit or Ctrl-D leaves.";
    if color {
        stdout::line(format_args!("{}\n{}", first.bold(), second.dimmed()))
    } else {
        stdout::line(format_args!("{first}\n{second}"))
    }
}

/// How much is in the database: "30 users, 1,234 live sessions" (reads every session).
pub fn counts(registry: &Registry, color: bool) -> String {
    let counted = registry.user_count().and_then(|users| {
        let sessions = registry.live_session_count()?;
        Ok(format!(
            "{} user{}, {} live session{}",
            thousands(users),
            plural(users),
            thousands(sessions),
            plural(sessions),
        ))
    });
    match (counted, color) {
        (Ok(line), true) => line.bold().to_string(),
        (Ok(line), false) => line,
        (Err(error), true) => format!(
            "{} cannot count the sessions: {error}",
            "warning:".yellow().bold()
        ),
        (Err(error), false) => format!("warning: cannot count the sessions: {error}"),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// What the person at the console chose for results: the pager and the expanded view (psql's
/// `\pager` and `\x`).
pub struct View {
    pager: Pager,
    expanded: Expanded,
}

impl View {
    /// The expanded view chosen.
    pub fn expanded(&self) -> Expanded {
        self.expanded
    }

    /// The pager, as `\pager` left it.
    pub fn pager(&self) -> &Pager {
        &self.pager
    }

    /// A backslash command: `\x [on|off|auto]`, `\pager [on|off]`.
    fn command(&mut self, input: &str) -> Result<(), CliError> {
        let (name, arg) = input.split_once(char::is_whitespace).unwrap_or((input, ""));
        let said = match name {
            "\\x" => self.expanded.after(arg.trim()).map(|expanded| {
                self.expanded = expanded;
                format!("Expanded display is {}.", expanded.as_str())
            }),
            "\\pager" => self.pager.set(arg.trim()),
            _ => {
                stdout::warn(format_args!(
                    "Unknown command {name}: the console knows \\x [on|off|auto] and \\pager [on|off]; help lists the rest."
                ));
                return Ok(());
            }
        };
        if let Some(said) = said {
            stdout::line(said)
        } else {
            stdout::warn(format_args!(
                "{name} takes on, off{}, not {arg:?}",
                if name == "\\x" { " or auto" } else { "" }
            ));
            Ok(())
        }
    }
}

/// Runs one console input on `evaluator`, writes its error and any Ruby-habit hint to the
/// evaluator's outputs and gives its value as shown (a table, `=> …`, as `look` says) to
/// `present` (which prints it or pages it: [`Pager::show`]). A failed output ends the console
/// (see `stdout::check`); the error its closing caused is not the input's.
pub fn show(
    evaluator: &mut Evaluator,
    code: &str,
    look: Look,
    present: impl FnOnce(&str) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let Look {
        color,
        color_err,
        width,
        expanded,
    } = look;
    let layout = Layout {
        color,
        width,
        expanded,
    };
    let result = evaluator.eval_shown(SOURCE, code);
    let out = evaluator.output();
    let err = evaluator.error_output();
    stdout::check(&out)?;
    let text = match result {
        Ok(Shown::Nothing) => None,
        Ok(Shown::Users(rows)) => Some(table::users(rows, layout)),
        Ok(Shown::Sessions(rows)) => Some(table::sessions(rows, evaluator.registry(), layout)),
        Ok(Shown::Records { header, rows }) => Some(table::records(&header, rows, layout)),
        Ok(Shown::Value(inspected)) => Some(if color {
            format!("{} {inspected}", "=>".dimmed())
        } else {
            format!("=> {inspected}")
        }),
        Err(error) => {
            report(&err, &error, code, color_err);
            None
        }
    };
    for note in ruby_hint::notes(code) {
        err.line(&if color_err {
            note.yellow().to_string()
        } else {
            note
        });
    }
    if let Some(text) = text {
        present(&text)?;
    }
    stdout::check(&out)
}

/// Prints an error with its place and, for a Ruby habit, the rhai spelling.
fn report(err: &Output, error: &ScriptError, code: &str, color: bool) {
    if error.kind == ErrorKind::Interrupted {
        err.line(&if color {
            "Interrupted.".yellow().to_string()
        } else {
            "Interrupted.".to_owned()
        });
        return;
    }
    crate::batch::report_error_to(err, error, color);
    if let Some(hint) = ruby_hint(code).filter(|_| error.unknown_name) {
        let label = "In rhai:";
        err.line(&if color {
            format!("{} {}", label.yellow().bold(), hint.yellow())
        } else {
            format!("{label} {hint}")
        });
    }
}

/// What `ActiveSession.destroy_all` asks before revoking: nothing with `yes` (or in a dry
/// run when nobody is there to ask), the person at the terminal through `ask` (given the
/// question) when `terminal`, else nobody: then it is refused. An answer is only ever read
/// from a terminal: piped input is code, never an answer.
pub fn confirmation(
    yes: bool,
    terminal: bool,
    dry_run: bool,
    ask: impl Fn(String) -> bool + 'static,
) -> Confirm {
    if yes {
        Box::new(|_, _| Ok(true))
    } else if terminal {
        Box::new(move |_, revoked| Ok(revoked.sessions == 0 || ask(question(revoked))))
    } else if dry_run {
        Box::new(|_, _| Ok(true))
    } else {
        Box::new(refuse_destroy_all)
    }
}

/// "N sessions of M users".
fn sessions_of_users(revoked: Revoked) -> String {
    format!(
        "{} session{} of {} user{}",
        thousands(revoked.sessions),
        plural(revoked.sessions),
        thousands(revoked.users),
        plural(revoked.users)
    )
}

/// The question before `ActiveSession.destroy_all` or `.where(..).destroy()` revokes.
fn question(revoked: Revoked) -> String {
    format!("Revoke {}? [y/N] ", sessions_of_users(revoked))
}

/// Asks `question` at the terminal; only "y" or "yes" goes ahead.
pub fn ask(question: &str) -> bool {
    let Ok(mut editor) = DefaultEditor::new() else {
        return false;
    };
    editor
        .readline(question)
        .is_ok_and(|answer| matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

/// Without a terminal to ask at, and without `--yes`: refuses, unless there is nothing to
/// revoke.
fn refuse_destroy_all(operation: &str, revoked: Revoked) -> Result<bool, String> {
    if revoked.sessions == 0 {
        return Ok(true);
    }
    Err(format!(
        "{operation} needs confirmation: standard input is not a terminal; run again with --yes to revoke {}",
        sessions_of_users(revoked)
    ))
}

/// The history file: `SESSIONCTL_HISTORY`, else `history.txt` in the data directory. Any
/// problem with it is a warning, once; the console goes on without saving.
struct History {
    path: Option<PathBuf>,
}

impl History {
    fn open(editor: &mut Editor<ConsoleHelper, FileHistory>, color: bool) -> Self {
        let path = std::env::var_os("SESSIONCTL_HISTORY")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| crate::paths::data_dir().map(|dir| dir.join("history.txt")));
        let Some(path) = path else {
            warn("no data directory: history is not kept", color);
            return Self { path: None };
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && let Err(error) = std::fs::create_dir_all(parent)
        {
            warn(
                &format!(
                    "history is not kept: cannot create {}: {error}",
                    parent.display()
                ),
                color,
            );
            return Self { path: None };
        }
        match editor.load_history(&path) {
            Ok(()) => {}
            Err(ReadlineError::Io(error)) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => warn(
                &format!("cannot read the history in {}: {error}", path.display()),
                color,
            ),
        }
        Self { path: Some(path) }
    }

    /// Records `line` and appends it to the file (merging with other open consoles).
    fn add(&mut self, editor: &mut Editor<ConsoleHelper, FileHistory>, line: &str, color: bool) {
        let _ = editor.add_history_entry(line);
        if let Some(path) = &self.path
            && let Err(error) = editor.append_history(path)
        {
            warn(
                &format!(
                    "history is not saved: cannot write {}: {error}",
                    path.display()
                ),
                color,
            );
            self.path = None;
        }
    }
}

fn warn(message: &str, color: bool) {
    if color {
        stdout::warn(format_args!("{} {message}", "warning:".yellow().bold()));
    } else {
        stdout::warn(format_args!("warning: {message}"));
    }
}

#[cfg(test)]
mod testing {
    use std::rc::Rc;
    use std::sync::Arc;

    use crate::registry::Registry;
    use crate::script::{Evaluator, Limits, Output};

    /// An evaluator on an empty temporary database, which lives as long as the directory.
    pub fn evaluator() -> (tempfile::TempDir, Evaluator) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::open(&dir.path().join("db"), crate::store::Mode::Create).unwrap();
        let registry = Registry::new(store, Arc::new(crate::clock::SystemClock)).unwrap();
        let (out, _) = Output::capture();
        let (err, _) = Output::capture();
        (
            dir,
            Evaluator::new(Rc::new(registry), Limits::BATCH, out, err),
        )
    }

    /// The console's local evaluation on `evaluator`, without colour.
    pub fn local(evaluator: Evaluator) -> super::Local {
        super::Local {
            evaluator,
            look: super::Look {
                color: false,
                color_err: false,
                width: Some(80),
                expanded: super::Expanded::Off,
            },
            before_close: None,
        }
    }
}
