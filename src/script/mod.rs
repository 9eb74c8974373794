//! The rhai scripting layer: the only code that touches rhai. It exposes `User`,
//! `ActiveSession` and `Audit` with Rails-console spellings, times and durations, Ruby habits
//! (`puts`, `pp`, `each`, `any`), and one [`Evaluator`] that the console and batch mode share.

mod audit;
pub mod catalogue;
mod error;
mod format;
mod last_result;
mod output;
mod queries;
mod relation;
mod ruby;
pub mod scanner;
mod sessions;
mod shown;
mod time;
mod users;
mod values;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rhai::{AST, Dynamic, Engine, EvalAltResult, Module, Position, Scope};

use crate::registry::Registry;

pub use error::{ErrorKind, ScriptError};
pub use format::{inspect, plain};
pub use output::{Captured, Output};
pub use shown::{Rows, Shown, shows_unit};
pub use values::Time;

/// rhai's keywords, for the console's completion and highlighting.
pub const KEYWORDS: &[&str] = &[
    "let", "const", "fn", "private", "if", "else", "switch", "do", "while", "until", "loop", "for",
    "in", "break", "continue", "return", "throw", "try", "catch", "this", "global", "true",
    "false",
];

/// Limits on what one evaluation may use. `None` means unlimited.
///
/// There is deliberately no limit on the size of strings, arrays and maps: with any of rhai's
/// size limits set, rhai measures the whole of a value after every method call on it (a
/// `push` walks the array it grows), which makes building an array quadratic. A script that
/// grows without end is stopped by the operation limit, `--timeout` or Ctrl-C instead.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_operations: Option<u64>,
    pub max_call_levels: usize,
    /// Wall-clock time one evaluation may take (`--timeout`).
    pub timeout: Option<Duration>,
}

impl Limits {
    /// Batch defaults: generous enough to walk a 1M-session database several times over, and
    /// still stopping a script that loops forever (about a minute of work).
    pub const BATCH: Limits = Limits {
        max_operations: Some(2_000_000_000),
        max_call_levels: 64,
        timeout: None,
    };

    /// The console: no operation limit and no timeout (Ctrl-C stops a runaway loop).
    pub const CONSOLE: Limits = Limits {
        max_operations: None,
        ..Limits::BATCH
    };
}

/// What the API functions share: the registry, where output goes, and the interrupt flag.
pub struct Context {
    pub registry: Rc<Registry>,
    pub out: Output,
    pub err: Output,
    pub interrupted: Arc<AtomicBool>,
    /// The time limit of one evaluation, and when the running one must stop.
    timeout: Option<Duration>,
    deadline: Cell<Option<Instant>>,
    /// Asked before `ActiveSession.destroy_all` or `ActiveSession.where(..).destroy()` revokes
    /// anything (the console sets it).
    pub confirm: RefCell<Option<Confirm>>,
}

/// A question put to the person at the console before the operation named first revokes
/// what the count says: `Ok(true)` to go ahead, `Ok(false)` when they said no, `Err(why)`
/// when nobody can be asked (the mutation fails with that message).
pub type Confirm = Box<dyn Fn(&str, crate::model::Revoked) -> Result<bool, String>>;

impl Context {
    /// Stops a long native function when Ctrl-C was pressed, the output was closed or the
    /// time limit passed.
    pub fn check_interrupt(&self) -> Result<(), Box<EvalAltResult>> {
        match self.stop_reason() {
            Some(reason) => Err(EvalAltResult::ErrorTerminated(reason, Position::NONE).into()),
            None => Ok(()),
        }
    }

    /// Why the running evaluation must stop, if it must: `"interrupted"`, or a
    /// [`error::TimedOut`] value.
    fn stop_reason(&self) -> Option<Dynamic> {
        if self.interrupted.load(Ordering::Relaxed) || self.out.is_closed() {
            return Some("interrupted".into());
        }
        let timeout = self.timeout?;
        let deadline = self.deadline.get()?;
        (Instant::now() >= deadline).then(|| Dynamic::from(error::TimedOut(timeout)))
    }

    /// Runs a mutation of the registry. What dry run skips is reported once, after the
    /// evaluation ([`Context::report_planned`]).
    pub fn mutate<T>(&self, f: impl FnOnce(&Registry) -> crate::Result<T>) -> Ret<T> {
        ret(f(&self.registry))
    }

    /// Prints what dry run skipped since the last call, in one line, to the error stream.
    pub fn report_planned(&self) {
        if let Some(summary) = self.registry.take_planned_summary() {
            self.err.line(&summary);
        }
    }
}

/// A core error as a catchable rhai runtime error; rhai fills in the call site's position.
/// (Boxed because that is what rhai's native functions return.)
#[allow(clippy::unnecessary_box_returns)]
pub(crate) fn runtime_error(error: &crate::Error) -> Box<EvalAltResult> {
    error::raise(error)
}

/// A result of an API function.
pub(crate) type Ret<T> = Result<T, Box<EvalAltResult>>;

/// Converts a core result for rhai.
pub(crate) fn ret<T>(result: crate::Result<T>) -> Ret<T> {
    result.map_err(|e| runtime_error(&e))
}

/// Evaluates rhai code against the database, keeping variables and functions between inputs.
pub struct Evaluator {
    engine: Engine,
    scope: Scope<'static>,
    /// The functions defined so far (statements cleared).
    functions: AST,
    context: Rc<Context>,
}

impl Evaluator {
    pub fn new(registry: Rc<Registry>, limits: Limits, out: Output, err: Output) -> Self {
        let context = Rc::new(Context {
            registry,
            out,
            err,
            interrupted: Arc::new(AtomicBool::new(false)),
            timeout: limits.timeout,
            deadline: Cell::new(None),
            confirm: RefCell::new(None),
        });
        let engine = build_engine(&context, limits);
        let mut scope = Scope::new();
        // Scripts can tell the person what they would have done.
        scope.push_constant("DRY_RUN", context.registry.is_dry_run());
        Self {
            engine,
            scope,
            functions: AST::empty(),
            context,
        }
    }

    /// Asks `confirm` before `ActiveSession.destroy_all` or `.where(..).destroy()` revokes
    /// anything.
    pub fn confirm_destroy_all(&self, confirm: Confirm) {
        *self.context.confirm.borrow_mut() = Some(confirm);
    }

    /// The flag that Ctrl-C sets to stop the running evaluation.
    pub fn interrupt_flag(&self) -> Arc<AtomicBool> {
        self.context.interrupted.clone()
    }

    /// Where `print` and `puts` write.
    pub fn output(&self) -> Output {
        self.context.out.clone()
    }

    /// Where errors, notes and what dry run skipped are written.
    pub fn error_output(&self) -> Output {
        self.context.err.clone()
    }

    pub fn registry(&self) -> &Registry {
        &self.context.registry
    }

    /// The registry, shared: the console counts sessions on another thread while the prompt
    /// is up. It must be dropped before [`Evaluator::close`].
    pub fn shared_registry(&self) -> Rc<Registry> {
        self.context.registry.clone()
    }

    /// Ends the evaluator and closes its store cleanly (see [`Registry::close`]).
    pub fn close(self) -> crate::Result<()> {
        let closing = self.registry().prepare_close()?;
        drop(self);
        closing.finish()
    }

    /// Evaluates `code` for batch mode: its value as an [`Evaluated`], which prints itself (batch
    /// mode reads no rhai value).
    pub fn evaluate(&mut self, source: &str, code: &str) -> Result<Evaluated, ScriptError> {
        self.eval(source, code).map(Evaluated)
    }

    /// Sets `ARGV`, a script's arguments.
    pub fn set_args(&mut self, args: Vec<String>) {
        let values: rhai::Array = args.into_iter().map(Dynamic::from).collect();
        self.set_variable("ARGV", values);
    }

    /// Sets a variable visible to the code evaluated next, e.g. `ARGV`.
    pub fn set_variable(&mut self, name: &str, value: impl Into<Dynamic>) {
        self.scope.set_value(name.to_owned(), value.into());
    }

    /// The variables defined so far and the kinds of their values, for completion (`_` for
    /// the last result).
    pub fn variables(&self) -> Vec<(String, catalogue::Kind)> {
        self.scope
            .iter()
            .map(|(name, _, value)| {
                let name = if name == last_result::VARIABLE {
                    "_"
                } else {
                    name
                };
                (
                    name.to_owned(),
                    catalogue::Kind::of_type_name(&format::type_name(&value)),
                )
            })
            .collect()
    }

    /// Whether `code` is an unfinished snippet that more lines could complete.
    pub fn is_incomplete(&self, code: &str) -> bool {
        // Positions are those of the rewritten text, so the line lengths must be too.
        let rewritten = last_result::rewrite(code);
        match self.engine.compile_with_scope(&self.scope, &rewritten) {
            Ok(_) => false,
            Err(error) => error::is_incomplete(&rewritten, &error),
        }
    }

    /// Evaluates `code` like [`Evaluator::eval`], and tells how the console shows the result.
    pub fn eval_shown(&mut self, source: &str, code: &str) -> Result<Shown, ScriptError> {
        self.eval(source, code).map(|value| Shown::of(&value, code))
    }

    /// Evaluates `code`, named `source` in error messages. The result is also kept in `_`.
    /// Each evaluation (a script, `-e`, a console input) is one run of the audit log
    /// ([`Registry::begin_run`]), which ends with it: what the registry does afterwards for
    /// another caller is audited on its own.
    pub fn eval(&mut self, source: &str, code: &str) -> Result<Dynamic, ScriptError> {
        let registry = Rc::clone(&self.context.registry);
        registry.begin_run();
        let result = self.eval_in_run(source, code);
        registry.end_run();
        result
    }

    fn eval_in_run(&mut self, source: &str, code: &str) -> Result<Dynamic, ScriptError> {
        self.context.interrupted.store(false, Ordering::Relaxed);
        self.context
            .deadline
            .set(self.context.timeout.map(|t| Instant::now() + t));
        let (rewritten, renamed) = last_result::rewrite_with_places(code);
        // Errors are told in the text as written: `_`, not the variable it was renamed to.
        let restore = |mut error: ScriptError| {
            let (column, message) =
                last_result::restore(&renamed, error.line, error.column, &error.message);
            error.column = column;
            error.message = message;
            error
        };
        let mut ast = self
            .engine
            .compile_with_scope(&self.scope, &rewritten)
            .map_err(|e| restore(ScriptError::parse(source, code, &e)))?;
        ast.set_source(source);
        let merged = self.functions.merge(&ast);
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut self.scope, &merged);
        self.context.report_planned();
        self.functions = merged.clone_functions_only();
        let flushed = self.context.registry.flush();
        let value = result.map_err(|e| restore(ScriptError::runtime(source, code, &e)))?;
        flushed.map_err(|e| ScriptError::database(source, &e))?;
        self.scope.set_value(last_result::VARIABLE, value.clone());
        Ok(value)
    }
}

fn build_engine(context: &Rc<Context>, limits: Limits) -> Engine {
    let mut engine = Engine::new();
    // Scripts reach nothing but what we expose: no modules from files.
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine.disable_symbol("import");
    engine.set_max_operations(limits.max_operations.unwrap_or(0));
    engine.set_max_call_levels(limits.max_call_levels);
    // No size limits: see [`Limits`].
    engine.set_max_string_size(0);
    engine.set_max_array_size(0);
    engine.set_max_map_size(0);
    // Checked every 256 operations: reading the clock at each would slow scripts down.
    let c = context.clone();
    engine.on_progress(move |operations| {
        if operations % 256 == 0 {
            c.stop_reason()
        } else {
            None
        }
    });
    let out = context.out.clone();
    engine.on_print(move |text| out.line(text));
    let err = context.err.clone();
    engine.on_debug(move |text, _, _| err.line(text));

    let mut globals = Module::new();
    globals.set_var("User", values::UserClass);
    globals.set_var("ActiveSession", values::SessionClass);
    globals.set_var("Audit", values::AuditClass);
    engine.register_global_module(globals.into());
    error::register(&mut engine);

    // `flush()`: make every write so far durable now (it happens after each evaluation anyway).
    let c = context.clone();
    engine.register_fn("flush", move || ret(c.registry.flush()));
    time::register(&mut engine, context);
    users::register(&mut engine, context);
    sessions::register(&mut engine, context);
    queries::register(&mut engine, context);
    ruby::register(&mut engine, context);
    relation::register_array(&mut engine);
    audit::register(&mut engine, context);
    engine
}

#[cfg(test)]
mod tests;

/// A script's value as batch mode prints it: plain text, JSON or JSON records. Only `script/`
/// reads the rhai value inside.
pub struct Evaluated(Dynamic);

impl Evaluated {
    /// Whether the value is `()`.
    pub fn is_unit(&self) -> bool {
        self.0.is_unit()
    }

    /// The value as JSON.
    pub fn to_json(&self) -> Result<serde_json::Value, String> {
        format::to_json(&self.0)
    }

    /// The name of the value's type, for messages.
    pub fn type_name(&self) -> String {
        format::type_name(&self.0)
    }

    /// Writes the value as plain text: lists one element a line, nothing for `()`.
    pub fn write_plain(&self, out: &Output) -> Result<(), String> {
        format::write_plain(&self.0, out)
    }
}
