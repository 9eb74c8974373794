//! [`Shown`]: a result as the console shows it — a table of users, of sessions, or of records
//! (maps with the same keys, such as `Audit.recent(5)`), or the inspect form — so that the
//! console lays out results without reading rhai values.

use rhai::{Array, Dynamic, Map};

use super::format::{inspect, plain};
use super::scanner::{TokenKind, tokens};
use super::values::{SessionRelation, SessionValue, Time, UserRelation, UserValue};
use crate::model::{ActiveSession, User};

/// Rows of a table, streamed: lazy results (`User.all`) are read as the table is laid out. An
/// error (an interrupt, a failed read) ends the rows.
pub type Rows<T> = Box<dyn Iterator<Item = Result<T, String>>>;

/// How the console shows the result of an input.
pub enum Shown {
    /// `()` of a statement (`let x = ..`, `puts(..)`, a loop): nothing is printed. The `()`
    /// of an expression (`User.find_by_username("nobody")`) is a `Value`, `()`.
    Nothing,
    /// A non-empty list of users, or `User.all`.
    Users(Rows<User>),
    /// A non-empty list of sessions, or a lazy list of many users' sessions.
    Sessions(Rows<ActiveSession>),
    /// A non-empty list of maps with the same keys (`Audit.recent(5)`): the keys, and each
    /// map's values in their plain form.
    Records {
        header: Vec<String>,
        rows: Vec<Vec<String>>,
    },
    /// Anything else, in its inspect form (`#{sessions: 2, users: 1}`, `"text"`, `42`).
    Value(String),
}

impl Shown {
    /// How the console shows `value`, the result of `code`.
    pub(crate) fn of(value: &Dynamic, code: &str) -> Shown {
        if value.is_unit() {
            return if shows_unit(code) {
                Shown::Value("()".into())
            } else {
                Shown::Nothing
            };
        }
        if let Some(array) = value.read_lock::<Array>()
            && !array.is_empty()
        {
            if array.iter().all(Dynamic::is::<UserValue>) {
                let users: Vec<User> = array
                    .iter()
                    .filter_map(|v| v.read_lock::<UserValue>().map(|u| u.0.clone()))
                    .collect();
                return Shown::Users(Box::new(users.into_iter().map(Ok)));
            }
            if array.iter().all(Dynamic::is::<SessionValue>) {
                let sessions: Vec<ActiveSession> = array
                    .iter()
                    .filter_map(|v| v.read_lock::<SessionValue>().map(|s| s.session.clone()))
                    .collect();
                return Shown::Sessions(Box::new(sessions.into_iter().map(Ok)));
            }
            if let Some(records) = records(&array) {
                return records;
            }
        }
        if let Some(users) = value.read_lock::<UserRelation>() {
            let users = users
                .clone()
                .into_iter()
                .map(|u| u.map(|u| u.0).map_err(|e| e.to_string()));
            return Shown::Users(Box::new(users));
        }
        if let Some(sessions) = value.read_lock::<SessionRelation>() {
            let sessions = sessions
                .clone()
                .into_iter()
                .map(|s| s.map(|s| s.session).map_err(|e| e.to_string()));
            return Shown::Sessions(Box::new(sessions));
        }
        Shown::Value(inspect(value))
    }
}

/// Whether a `()` result of `code` is worth showing, as IRB shows `=> nil`: its last
/// statement is an expression, not a definition (`let`, `const`, `fn`), a loop, or a call
/// that prints (`puts`, `print`, `pp`, `p`), whose `()` says nothing.
pub fn shows_unit(code: &str) -> bool {
    let mut depth = 0i32;
    let mut first_word: Option<&str> = None;
    let mut at_start = true;
    for token in tokens(code) {
        let text = token.text(code);
        match token.kind {
            TokenKind::Space | TokenKind::Comment => continue,
            TokenKind::Punct if depth == 0 && text == ";" => {
                at_start = true;
                continue;
            }
            TokenKind::Punct if matches!(text, "(" | "[" | "{") => depth += 1,
            TokenKind::Punct if matches!(text, ")" | "]" | "}") => depth -= 1,
            _ => {}
        }
        if at_start {
            first_word = Some(text);
            at_start = false;
        }
    }
    !at_start
        && !matches!(
            first_word,
            Some(
                "let"
                    | "const"
                    | "fn"
                    | "for"
                    | "while"
                    | "loop"
                    | "do"
                    | "puts"
                    | "print"
                    | "pp"
                    | "p"
                    | "debug"
            )
        )
}

/// A list of maps with the same keys as a table of records; `None` for any other list.
fn records(array: &Array) -> Option<Shown> {
    let first = array.first()?.read_lock::<Map>()?;
    let header: Vec<String> = first.keys().map(ToString::to_string).collect();
    let mut rows = Vec::with_capacity(array.len());
    for item in array {
        let map = item.read_lock::<Map>()?;
        if map.len() != header.len() || !header.iter().all(|key| map.contains_key(key.as_str())) {
            return None;
        }
        rows.push(header.iter().map(|key| cell(&map[key.as_str()])).collect());
    }
    Some(Shown::Records { header, rows })
}

/// A record's value in a table: its plain form, a time in the local zone.
fn cell(value: &Dynamic) -> String {
    value
        .read_lock::<Time>()
        .map_or_else(|| plain(value), |time| time.local())
}
