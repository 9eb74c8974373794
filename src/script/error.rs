//! Script errors with their place: `SOURCE:LINE:COL: message`, the source line, and a caret;
//! and how a core error travels through rhai so that its kind is known from its type.

use std::fmt;

use rhai::{Dynamic, Engine, EvalAltResult, ParseError, ParseErrorType, Position};

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

/// What kind of failure ended an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// An error of a script, with where it happened.
#[derive(Debug, Clone)]
pub struct ScriptError {
    pub kind: ErrorKind,
    pub message: String,
    pub source: String,
    /// 1-based line and column; 0 when unknown.
    pub line: usize,
    pub column: usize,
    /// The text of that line.
    pub line_text: String,
}

impl ScriptError {
    pub(super) fn parse(source: &str, code: &str, error: &ParseError) -> Self {
        Self::at(
            ErrorKind::Parse,
            error.err_type().to_string(),
            source,
            code,
            error.position(),
        )
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
            EvalAltResult::ErrorTerminated(..) => {
                (ErrorKind::Interrupted, "interrupted".to_owned())
            }
            // A store failure under an API call ([`raise`]) is a database error, exit code 2;
            // the kind comes from the value's type, never from its text.
            EvalAltResult::ErrorRuntime(value, _) => match value.read_lock::<DatabaseFailure>() {
                Some(failure) => (ErrorKind::Database, failure.message.clone()),
                None => (ErrorKind::Runtime, value.to_string()),
            },
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
        Self::at(kind, message, source, code, position)
    }

    pub(super) fn database(source: &str, error: &crate::Error) -> Self {
        Self {
            kind: ErrorKind::Database,
            message: error.to_string(),
            source: source.to_owned(),
            line: 0,
            column: 0,
            line_text: String::new(),
        }
    }

    fn at(kind: ErrorKind, message: String, source: &str, code: &str, position: Position) -> Self {
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

    /// The source line and a caret under the column, if known.
    pub fn excerpt(&self) -> Option<(String, String)> {
        if self.line == 0 || self.line_text.is_empty() {
            return None;
        }
        let indent: String = self
            .line_text
            .chars()
            .take(self.column.saturating_sub(1))
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        Some((self.line_text.clone(), format!("{indent}^")))
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
