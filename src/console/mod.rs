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
use crate::registry::Registry;
use crate::script::{Confirm, ErrorKind, Evaluator, ScriptError, Shown};
use crate::stdout;
use editor::ConsoleHelper;
use pager::{Pager, Paging};
use ruby_hint::ruby_hint;
pub use table::thousands;
use table::{Expanded, Layout};

const PROMPT: &str = "sessionctl> ";

/// The name of errors' source, as in `console:1:5: ...`.
const SOURCE: &str = "console";

/// Runs the console on `evaluator` until Ctrl-D, `exit` or `quit`; `database` names the
/// database in the banner.
///
/// The prompt does not wait for the banner's counts (reading every session takes a while on a
/// large database): they are counted on another thread and printed above the prompt.
pub fn run(evaluator: Evaluator, global: &Global, database: &str) -> Result<(), CliError> {
    let color = global.color.enabled(std::io::stdout().is_terminal());
    let color_err = global.color.enabled(std::io::stderr().is_terminal());
    banner(evaluator.registry(), database, color)?;

    let flag = evaluator.interrupt_flag();
    if let Err(error) = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed)) {
        warn(
            &format!("Ctrl-C will not stop a running statement: {error}"),
            color_err,
        );
    }
    evaluator.confirm_destroy_all(confirmation(global));

    let registry = evaluator.shared_registry();
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

    let counting: &Registry = &registry;
    let done = std::thread::scope(|scope| {
        match editor.create_external_printer() {
            Ok(mut printer) => {
                scope.spawn(move || {
                    // Counted once the prompt is up (so that the count does not slow the
                    // start down), and printed above it; not at all if the console ended first.
                    if prompt_shown.recv().is_ok() {
                        let _ = printer.print(counts(counting, color));
                    }
                });
            }
            // Not a terminal: nobody waits for a prompt.
            Err(_) => stdout::line(counts(counting, color))?,
        }
        let done = read_eval_print(&mut editor, history, &evaluator, color, color_err);
        // The editor's helper shares the evaluator and tells the counting thread about the
        // prompt: once it is gone, that thread ends and the store can be closed.
        drop(editor);
        done
    });
    drop(registry);
    done?;
    match Rc::try_unwrap(evaluator) {
        Ok(evaluator) => evaluator.into_inner().close().map_err(CliError::from),
        Err(_) => Ok(()),
    }
}

/// Reads, evaluates and prints until Ctrl-D, `exit` or `quit`.
fn read_eval_print(
    editor: &mut Editor<ConsoleHelper, FileHistory>,
    mut history: History,
    evaluator: &RefCell<Evaluator>,
    color: bool,
    color_err: bool,
) -> Result<(), CliError> {
    let mut view = View {
        pager: Pager::from_env(),
        expanded: Expanded::Off,
        color,
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
            _ => evaluate(&mut evaluator.borrow_mut(), &line, &view, color_err)?,
        }
    }
}

/// `exit` and `quit`, as IRB and psql users also type them: `exit()`, `quit;`, `\q`.
fn is_exit(input: &str) -> bool {
    let word = input.trim_end_matches(';').trim_end();
    let word = word.strip_suffix("()").unwrap_or(word);
    matches!(word, "exit" | "quit" | "\\q")
}

/// The banner: which database, whether this is a dry run, how to get help.
fn banner(registry: &Registry, database: &str, color: bool) -> Result<(), CliError> {
    let first = format!(
        "sessionctl console on {database}{}",
        if registry.is_dry_run() {
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
fn counts(registry: &Registry, color: bool) -> String {
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

/// How results are shown: through which pager, expanded or not (psql's `\pager`, `\x`).
struct View {
    pager: Pager,
    expanded: Expanded,
    color: bool,
}

impl View {
    fn layout(&self) -> Layout {
        Layout {
            color: self.color,
            width: None,
            expanded: self.expanded,
        }
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

    /// Prints a result: through the pager when it is longer than the terminal.
    fn show(&self, text: &str, evaluator: &Evaluator, color_err: bool) {
        match self.pager.page(text) {
            Paging::Shown => {}
            Paging::Skipped => evaluator.output().line(text),
            Paging::Failed(why) => {
                warn(&why, color_err);
                evaluator.output().line(text);
            }
        }
    }
}

/// Runs one input and prints its value or its error. A failed standard output ends the
/// console (see `stdout::check`); the error its closing caused is not the input's.
fn evaluate(
    evaluator: &mut Evaluator,
    code: &str,
    view: &View,
    color_err: bool,
) -> Result<(), CliError> {
    let color = view.color;
    let result = evaluator.eval_shown(SOURCE, code);
    stdout::check(&evaluator.output())?;
    let text = match result {
        Ok(Shown::Nothing) => None,
        Ok(Shown::Users(rows)) => Some(table::users(rows, view.layout())),
        Ok(Shown::Sessions(rows)) => {
            Some(table::sessions(rows, evaluator.registry(), view.layout()))
        }
        Ok(Shown::Records { header, rows }) => Some(table::records(&header, rows, view.layout())),
        Ok(Shown::Value(inspected)) => Some(if color {
            format!("{} {inspected}", "=>".dimmed())
        } else {
            format!("=> {inspected}")
        }),
        Err(error) => {
            report(&error, code, color_err);
            None
        }
    };
    for note in ruby_hint::notes(code) {
        warn_hint(&note, color_err);
    }
    if let Some(text) = text {
        view.show(&text, evaluator, color_err);
    }
    stdout::check(&evaluator.output())
}

/// Prints an error with its place and, for a Ruby habit, the rhai spelling.
fn report(error: &ScriptError, code: &str, color: bool) {
    if error.kind == ErrorKind::Interrupted {
        stdout::warn(if color {
            "Interrupted.".yellow().to_string()
        } else {
            "Interrupted.".to_owned()
        });
        return;
    }
    crate::batch::report_error(error, color);
    if let Some(hint) = ruby_hint(code).filter(|_| error.unknown_name) {
        let label = "In rhai:";
        if color {
            stdout::warn(format_args!("{} {}", label.yellow().bold(), hint.yellow()));
        } else {
            stdout::warn(format_args!("{label} {hint}"));
        }
    }
}

fn warn_hint(note: &str, color: bool) {
    if color {
        stdout::warn(note.yellow());
    } else {
        stdout::warn(note);
    }
}

/// What `ActiveSession.destroy_all` asks before revoking: nothing with `--yes` (or in a dry
/// run when nobody is there to ask), the person at the terminal, else nobody: then it is
/// refused. An answer is only ever read from a terminal: piped input is code, never an answer.
fn confirmation(global: &Global) -> Confirm {
    if global.yes {
        Box::new(|_, _| Ok(true))
    } else if std::io::stdin().is_terminal() {
        Box::new(|_, revoked| Ok(ask_destroy_all(revoked)))
    } else if global.dry_run {
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

/// Asks at the terminal before `ActiveSession.destroy_all` or `.where(..).destroy()`; only
/// "y" or "yes" goes ahead.
fn ask_destroy_all(revoked: Revoked) -> bool {
    if revoked.sessions == 0 {
        return true;
    }
    let question = format!("Revoke {}? [y/N] ", sessions_of_users(revoked));
    let Ok(mut editor) = DefaultEditor::new() else {
        return false;
    };
    editor
        .readline(&question)
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
}
