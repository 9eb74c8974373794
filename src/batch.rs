//! Batch mode: `sessionctl run FILE [ARGS...]` and `sessionctl -e CODE`, through the same
//! [`Evaluator`] as the console. The final value is printed as plain text, one JSON document
//! or CSV; with JSON and CSV, what the script prints (`puts`, `print`) goes to standard error,
//! so that standard output holds the value alone. Ctrl-C stops the script (exit 130).

use std::io::Read;
use std::path::Path;

use owo_colors::OwoColorize;

use crate::exit::CliError;
use crate::options::Format;
use crate::script::{self, Evaluated, Evaluator, Output, ScriptError};
use crate::stdout;

/// Where a batch job's `puts` and `print` write: standard output for text, standard error
/// when standard output is kept for one JSON document or CSV.
pub(crate) fn script_output(format: Format) -> Output {
    match format {
        Format::Text => Output::stdout(),
        Format::Json | Format::Csv => Output::stderr(),
    }
}

/// `-e CODE`: evaluates and prints the value as plain text (nothing for `()`), JSON or CSV.
/// The caller ends the evaluator next with [`leave_to_exit`].
pub(crate) fn eval(evaluator: &mut Evaluator, code: &str, format: Format) -> Result<(), CliError> {
    stop_on_ctrl_c(evaluator);
    let result = evaluate(evaluator, "-e", code, format, true);
    finish(evaluator, result, format)
}

/// Evaluates `code` (named `source` in errors) as batch mode does. With `show_unit` (`-e`), an
/// expression's `()` (a user not found) is printed, as IRB shows `nil`.
pub fn evaluate(
    evaluator: &mut Evaluator,
    source: &str,
    code: &str,
    format: Format,
    show_unit: bool,
) -> Result<Evaluated, ScriptError> {
    let result = evaluator.evaluate(source, code);
    if show_unit
        && format == Format::Text
        && result.as_ref().is_ok_and(Evaluated::is_unit)
        && script::shows_unit(code)
    {
        evaluator.output().line("()");
    }
    result
}

/// Ctrl-C stops the running script as it does in the console (the store is left consistent
/// and closed); the command then exits 130, as the shell reports an interrupted command.
fn stop_on_ctrl_c(evaluator: &Evaluator) {
    let flag = evaluator.interrupt_flag();
    if let Err(error) =
        ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::Relaxed))
    {
        stdout::warn(format_args!(
            "warning: Ctrl-C will end the process without closing the database: {error}"
        ));
    }
}

/// `run FILE [ARGS...]`: runs a script with `ARGV` and prints its final value as `-e` does.
/// The caller ends the evaluator next with [`leave_to_exit`].
pub(crate) fn run_file(
    evaluator: &mut Evaluator,
    file: &Path,
    args: Vec<String>,
    format: Format,
) -> Result<(), CliError> {
    let (name, code) = read_script(file)?;
    evaluator.set_args(args);
    stop_on_ctrl_c(evaluator);
    let result = evaluate(evaluator, &name, &code, format, false);
    finish(evaluator, result, format)
}

/// The name and text of the script `file` (`-` for standard input). A UTF-8 byte-order mark
/// at the start is skipped.
pub fn read_script(file: &Path) -> Result<(String, String), CliError> {
    let (name, code) = if file == Path::new("-") {
        let mut code = String::new();
        std::io::stdin().read_to_string(&mut code).map_err(|e| {
            CliError::Usage(format!("cannot read the script from standard input: {e}"))
        })?;
        ("-".to_owned(), code)
    } else {
        let code = std::fs::read_to_string(file)
            .map_err(|e| CliError::Usage(format!("cannot read script {}: {e}", file.display())))?;
        (file.display().to_string(), code)
    };
    let code = match code.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => code,
    };
    Ok((name, code))
}

/// Ends a batch job's evaluator. A job that wrote closes its store cleanly (so that the next
/// reading command writes nothing); one that only read leaves it without tearing it down:
/// what the drop would add is sled freeing its page table, about a quarter of a one-shot
/// `-e` on a million sessions (docs/performance.md), and the OS frees the memory and
/// releases the database lock at exit. Only for a process that exits next.
pub(crate) fn leave_to_exit(
    evaluator: Evaluator,
    done: Result<(), CliError>,
) -> Result<(), CliError> {
    let closed = if evaluator.registry().needs_closing() {
        evaluator.close()
    } else {
        let flushed = evaluator.registry().flush();
        std::mem::forget(evaluator);
        flushed
    };
    done?;
    closed.map_err(CliError::from)
}

/// Prints the script's value, or returns its error. A failed standard output comes first: the
/// error its closing caused (the script or the printing of a relation was stopped) is not the
/// script's. A closed pipe is then a quiet stop, another failure an error.
fn finish(
    evaluator: &Evaluator,
    result: Result<Evaluated, ScriptError>,
    format: Format,
) -> Result<(), CliError> {
    let out = evaluator.output();
    let printed = print(&out, result, format);
    stdout::check(&out)?;
    printed
}

fn print(
    out: &Output,
    result: Result<Evaluated, ScriptError>,
    format: Format,
) -> Result<(), CliError> {
    if out.is_closed() {
        return Ok(());
    }
    let value = result.map_err(CliError::Script)?;
    match format {
        Format::Json | Format::Csv => print_record(value.to_json(), &value.type_name(), format),
        Format::Text => value
            .write_plain(out)
            .map_err(|e| CliError::Other(anyhow::anyhow!(e))),
    }
}

/// Prints a value (`json`, of type `type_name`) as `--format json` (one document) or `csv` (a
/// list of records) prints it.
pub fn print_record(
    json: Result<serde_json::Value, String>,
    type_name: &str,
    format: Format,
) -> Result<(), CliError> {
    let json = json.map_err(|e| CliError::Other(anyhow::anyhow!("cannot write the value: {e}")))?;
    match (format, json) {
        (Format::Csv, serde_json::Value::Array(rows)) => stdout::csv(&rows),
        (Format::Csv, _) => Err(CliError::Usage(format!(
            "--format csv prints a list of records (users, sessions, maps), and the value is {type_name}: use --format json or text"
        ))),
        (_, json) => {
            stdout::line(serde_json::to_string_pretty(&json).expect("JSON values serialize"))
        }
    }
}

/// Prints a script error to standard error: `FILE:LINE:COL: message`, the line, a caret.
pub fn report_error(error: &ScriptError, color: bool) {
    report_error_to(&Output::stderr(), error, color);
}

/// Prints a script error to `err` as [`report_error`] does.
pub fn report_error_to(err: &Output, error: &ScriptError, color: bool) {
    if color {
        err.line(&format!("{}", error.headline().red().bold()));
    } else {
        err.line(&error.headline());
    }
    if let Some((line, caret)) = error.excerpt() {
        err.line(&line);
        if color {
            err.line(&format!("{}", caret.red()));
        } else {
            err.line(&caret);
        }
    }
}
