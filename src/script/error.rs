//! Script errors with their place: `SOURCE:LINE:COL: message`, the source line, and a caret;
//! and how a core error travels through rhai so that its kind is known from its type.

use std::fmt;

use rhai::{Dynamic, Engine, EvalAltResult, ParseError, ParseErrorType, Position};

use super::catalogue::Kind;
use crate::registry::validate::cut;

/// A database failure (a core error for which [`crate::Error::is_database_error`] holds)
/// raised inside a native function, as the value of rhai's runtime error. Scripts cannot make
/// one: a `throw` of any value, whatever it reads, stays a script error. A script that
/// catches one sees its message (`${e}`, `print(e)`); rethrown, it is still a database
/// failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseFailure {
    message: String,
}

impl fmt::Display for DatabaseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A core error as a catchable rhai runtime error: a database failure as a
/// [`DatabaseFailure`] value, any other error as its message (rhai fills in the position).
/// (Boxed because that is what rhai's native functions return.)
#[allow(clippy::unnecessary_box_returns)]
pub(crate) fn raise(error: &crate::Error) -> Box<EvalAltResult> {
    let value = if error.is_database_error() {
        Dynamic::from(DatabaseFailure {
            message: error.to_string(),
        })
    } else {
        error.to_string().into()
    };
    EvalAltResult::ErrorRuntime(value, Position::NONE).into()
}

/// Lets scripts print a caught [`DatabaseFailure`] as its message.
pub(super) fn register(engine: &mut Engine) {
    engine.register_type_with_name::<DatabaseFailure>("DatabaseFailure");
    engine.register_fn("to_string", |failure: &mut DatabaseFailure| {
        failure.message.clone()
    });
    engine.register_fn("to_debug", |failure: &mut DatabaseFailure| {
        format!("{:?}", failure.message)
    });
}

/// Why the time limit (`--timeout`) stopped an evaluation: the value of rhai's
/// `ErrorTerminated`, telling it from an interrupt.
#[derive(Debug, Clone, Copy)]
pub struct TimedOut(pub std::time::Duration);

/// What kind of failure ended an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ErrorKind {
    /// The code does not parse.
    Parse,
    /// A runtime error: a thrown or API error, a wrong type, a limit.
    Runtime,
    /// Ctrl-C or a closed output stopped it.
    Interrupted,
    /// The database failed under it.
    Database,
}

/// An error of a script, with where it happened (serialisable: an attached client reports
/// the holder's errors itself).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ScriptError {
    pub kind: ErrorKind,
    pub message: String,
    pub source: String,
    /// 1-based line and column; 0 when unknown.
    pub line: usize,
    pub column: usize,
    /// The text of that line.
    pub line_text: String,
    /// Whether rhai rejected a name or a syntax (a parse error, or an unknown variable,
    /// function or property), the errors a Ruby habit causes.
    pub unknown_name: bool,
}

impl ScriptError {
    pub(super) fn parse(source: &str, code: &str, error: &ParseError) -> Self {
        let mut parsed = Self::at(
            ErrorKind::Parse,
            error.err_type().to_string(),
            source,
            code,
            error.position(),
        );
        parsed.unknown_name = true;
        parsed
    }

    pub(super) fn runtime(source: &str, code: &str, error: &EvalAltResult) -> Self {
        let inner = error.unwrap_inner();
        // The innermost place is the one to fix, unless it is inside a native function.
        let position = if inner.position().is_none() {
            error.position()
        } else {
            inner.position()
        };
        let (kind, message) = match inner {
            EvalAltResult::ErrorTerminated(value, _) => match value.read_lock::<TimedOut>() {
                Some(timed_out) => (
                    ErrorKind::Runtime,
                    format!(
                        "the script ran past its time limit of {:?} (--timeout)",
                        timed_out.0
                    ),
                ),
                None => (ErrorKind::Interrupted, "interrupted".to_owned()),
            },
            // A store failure under an API call ([`raise`]) is a database error, exit code 2;
            // the kind comes from the value's type, never from its text.
            EvalAltResult::ErrorRuntime(value, _) => match value.read_lock::<DatabaseFailure>() {
                Some(failure) => (ErrorKind::Database, failure.message.clone()),
                None => (ErrorKind::Runtime, value.to_string()),
            },
            EvalAltResult::ErrorFunctionNotFound(signature, _) => {
                (ErrorKind::Runtime, not_found(signature))
            }
            EvalAltResult::ErrorTooManyOperations(_) => (
                ErrorKind::Runtime,
                "the script ran past its operation limit (raise it with --max-operations)"
                    .to_owned(),
            ),
            other => (
                ErrorKind::Runtime,
                without_position(&other.to_string()).to_owned(),
            ),
        };
        let mut message = message;
        if let EvalAltResult::ErrorInFunctionCall(name, ..) = error
            && !name.starts_with("anon$")
        {
            message = format!("{message} (in function {name})");
        }
        if message.contains(EMPTY)
            && let Some(origin) = empty_origin(code, position)
        {
            message = format!("{message}; {origin}");
        }
        let mut error = Self::at(kind, message, source, code, position);
        error.unknown_name = matches!(
            inner,
            EvalAltResult::ErrorVariableNotFound(..)
                | EvalAltResult::ErrorFunctionNotFound(..)
                | EvalAltResult::ErrorPropertyNotFound(..)
                | EvalAltResult::ErrorDotExpr(..)
        );
        error
    }

    pub(super) fn database(source: &str, error: &crate::Error) -> Self {
        Self {
            kind: ErrorKind::Database,
            message: error.to_string(),
            source: source.to_owned(),
            line: 0,
            column: 0,
            line_text: String::new(),
            unknown_name: false,
        }
    }

    fn at(kind: ErrorKind, message: String, source: &str, code: &str, position: Position) -> Self {
        let message = cut(&message, MAX_MESSAGE);
        let line = position.line().unwrap_or(0);
        let column = position.position().unwrap_or(0);
        let line_text = if line > 0 {
            code.lines().nth(line - 1).unwrap_or("").to_owned()
        } else {
            String::new()
        };
        Self {
            kind,
            message,
            source: source.to_owned(),
            line,
            column,
            line_text,
            unknown_name: false,
        }
    }

    /// The first line: `SOURCE:LINE:COL: message`.
    pub fn headline(&self) -> String {
        if self.line == 0 {
            format!("{}: {}", self.source, self.message)
        } else {
            format!(
                "{}:{}:{}: {}",
                self.source, self.line, self.column, self.message
            )
        }
    }

    /// The source line and a caret under the column, if known. A long line is cut to the
    /// part around the column, with `…` where it was cut.
    pub fn excerpt(&self) -> Option<(String, String)> {
        if self.line == 0 || self.line_text.is_empty() {
            return None;
        }
        let chars: Vec<char> = self.line_text.chars().collect();
        let column = self.column.saturating_sub(1).min(chars.len());
        let (start, end) = if chars.len() <= MAX_LINE {
            (0, chars.len())
        } else {
            let start = column.saturating_sub(MAX_LINE / 2);
            let end = (start + MAX_LINE).min(chars.len());
            (end.saturating_sub(MAX_LINE), end)
        };
        let mut line: String = if start > 0 {
            "…".into()
        } else {
            String::new()
        };
        line.extend(&chars[start..end]);
        if end < chars.len() {
            line.push('…');
        }
        let indent: String = (start > 0)
            .then_some(' ')
            .into_iter()
            .chain(
                chars[start..column]
                    .iter()
                    .map(|&c| if c == '\t' { '\t' } else { ' ' }),
            )
            .collect();
        Some((line, format!("{indent}^")))
    }
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.headline())?;
        if let Some((line, caret)) = self.excerpt() {
            write!(f, "\n{line}\n{caret}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScriptError {}

/// A call no function takes, told in rhai's words: rhai's `set (ActiveSessionClass, ())`
/// becomes what `ActiveSession.set` takes (from the [catalogue](super::catalogue)) and the
/// kinds of value it was given.
fn not_found(signature: &str) -> String {
    let (name, arguments) = signature
        .split_once(" (")
        .map_or((signature, ""), |(n, a)| {
            (n, a.strip_suffix(')').unwrap_or(a))
        });
    let raw: Vec<&str> = if arguments.is_empty() {
        Vec::new()
    } else {
        arguments.split(", ").collect()
    };
    let mut given: Vec<&str> = raw.iter().map(|t| rhai_word(t)).collect();
    if name.starts_with("anon$") {
        return format!(
            "a closure was called with ({}), which is not how many parameters it takes",
            given.join(", ")
        );
    }
    // A method of a global object (`User.find`), or of the value it was called on.
    let receiver = given.first().copied();
    let class = super::catalogue::classes().find(|(class, _)| {
        raw.first().is_some_and(|r| r.ends_with("Class")) && Some(*class) == receiver
    });
    let (shown, kind) = if let Some((class, kind)) = class {
        given.remove(0);
        (format!("{class}.{name}"), kind)
    } else {
        let kind = receiver.map_or(Kind::Global, Kind::of_type_name);
        let is_method = super::catalogue::members(kind)
            .iter()
            .any(|m| m.name == name);
        (name.to_owned(), if is_method { kind } else { Kind::Global })
    };
    let got = if given.is_empty() {
        "nothing".to_owned()
    } else {
        format!("({})", given.join(", "))
    };
    let forms: Vec<String> = super::catalogue::members(kind)
        .iter()
        .filter(|m| m.name == name)
        .map(|m| match class {
            Some((class, _)) => format!("{class}.{}", m.signature()),
            None => m.signature(),
        })
        .collect();
    let unit = if given.contains(&"()") {
        format!("; {EMPTY}")
    } else {
        String::new()
    };
    if forms.is_empty() {
        format!("no function {shown} takes {got}{unit}")
    } else {
        format!(
            "{shown} takes {}; it was given {got}{unit}",
            forms.join(" or ")
        )
    }
}

/// Where the `()` given to the call at `position` came from, when its argument is a variable
/// set by a `let`: "`u` is (), set by `let u = User.find_by_username("x")` on line 1".
fn empty_origin(code: &str, position: Position) -> Option<String> {
    use super::scanner::{TokenKind, tokens};
    let (line, column) = (position.line()?, position.position()?);
    let line_start: usize = code
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .sum();
    let text = &code[line_start..];
    let at = line_start + text.char_indices().nth(column - 1)?.0;
    // The call's only argument: `list(u)`.
    let words: Vec<_> = tokens(&code[at..])
        .into_iter()
        .filter(|t| t.kind != TokenKind::Space)
        .take(4)
        .map(|t| (t.kind, t.text(&code[at..])))
        .collect();
    let [
        (TokenKind::Ident, _),
        (_, "("),
        (TokenKind::Ident, variable),
        (_, ")"),
    ] = words[..]
    else {
        return None;
    };
    // The last `let variable = ..;` before the call.
    let all = tokens(code);
    let set = all.iter().enumerate().rev().find_map(|(i, t)| {
        let named = all[i + 1..]
            .iter()
            .find(|t| t.kind != TokenKind::Space)
            .is_some_and(|n| n.text(code) == variable);
        (t.start < at && t.kind == TokenKind::Ident && t.text(code) == "let" && named)
            .then_some(t.start)
    })?;
    let statement = code[set..].split([';', '\n']).next()?.trim();
    let set_line = code[..set].matches('\n').count() + 1;
    Some(format!(
        "`{variable}` is (), set by `{}` on line {set_line}",
        cut(statement, 80)
    ))
}

/// What `()` means when a function is given it.
pub(crate) const EMPTY: &str = "() is the empty value that User.find_by_username, find_by and first return when nothing matches";

/// A type as rhai's error names it, in the words scripts use.
fn rhai_word(rust: &str) -> &str {
    let rust = rust.trim().trim_start_matches("&mut ");
    match rust {
        "UserClass" => "User",
        "ActiveSessionClass" => "ActiveSession",
        "AuditClass" => "Audit",
        "UserRelation" => "User.all",
        "SessionList" => "a list of sessions",
        "i64" | "i32" | "u64" => "integer",
        "f64" | "f32" => "float",
        "Array" => "array",
        "Map" => "map",
        "Fn" | "FnPtr" => "closure",
        "char" => "character",
        _ if rust.contains("String") || rust.contains("&str") => "string",
        _ => rust.rsplit("::").next().unwrap_or(rust),
    }
}

/// The longest message and source line an error shows, in characters.
const MAX_MESSAGE: usize = 300;
const MAX_LINE: usize = 120;

/// rhai's message without the ` (line L, position P)` it appends.
fn without_position(message: &str) -> &str {
    match message.rfind(" (line ") {
        Some(start) if message.ends_with(')') => &message[..start],
        _ => message,
    }
}

/// Whether a parse error only means that the input stops early (for multi-line entry).
pub(super) fn is_incomplete(code: &str, error: &ParseError) -> bool {
    let at_end = || {
        let position = error.position();
        let lines: Vec<&str> = code.lines().collect();
        let last_line = lines.len().max(1);
        match (position.line(), position.position()) {
            (Some(line), Some(column)) => {
                line > last_line
                    || (line == last_line && column > lines.last().map_or(0, |l| l.chars().count()))
            }
            (Some(line), None) => line >= last_line,
            _ => true,
        }
    };
    match error.err_type() {
        ParseErrorType::UnexpectedEOF => true,
        ParseErrorType::MissingToken(..)
        | ParseErrorType::PropertyExpected
        | ParseErrorType::ExprExpected(..)
        | ParseErrorType::FnMissingBody(..) => at_end(),
        ParseErrorType::BadInput(token) => {
            // An unterminated backtick string may continue on the next line.
            token.to_string().contains("Open string") && code.matches('`').count() % 2 == 1
        }
        _ => false,
    }
}
