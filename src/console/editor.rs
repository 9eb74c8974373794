//! The rustyline helper: Tab completion of globals, keywords, variables and — after a `.` —
//! methods and properties; a hint with the signature of the function being called; syntax
//! highlighting with bracket matching; and multi-line entry of unfinished snippets.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use owo_colors::{OwoColorize, Style};
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::{Hint, Hinter};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use super::help::{COMMANDS, Kind, members};
use crate::script::{self, Evaluator, KEYWORDS};

/// The names `User`, `ActiveSession` and `Audit` stand for.
const CLASSES: [(&str, Kind); 3] = [
    ("User", Kind::UserClass),
    ("ActiveSession", Kind::SessionClass),
    ("Audit", Kind::AuditClass),
];

/// The helper the console's editor runs with.
#[derive(Helper)]
pub struct ConsoleHelper {
    evaluator: Rc<RefCell<Evaluator>>,
    /// Whether the next highlight marks the bracket matching the one at the cursor.
    match_bracket: Cell<bool>,
}

impl ConsoleHelper {
    pub fn new(evaluator: Rc<RefCell<Evaluator>>) -> Self {
        Self {
            evaluator,
            match_bracket: Cell::new(false),
        }
    }

    /// The variables defined so far, with the kind of their values (`_` for the last result).
    fn variables(&self) -> Vec<(String, Kind)> {
        let Ok(evaluator) = self.evaluator.try_borrow() else {
            return Vec::new();
        };
        evaluator
            .variables()
            .into_iter()
            .map(|(name, value)| {
                let name = if name == "_last_result" {
                    "_".to_owned()
                } else {
                    name
                };
                (name, Kind::of_type_name(&script::type_name(&value)))
            })
            .collect()
    }

    /// The kind of the expression that ends `text`, such as `User.find(1)` or `user.sessions`.
    fn kind_of(&self, text: &str) -> Kind {
        let Some(chain) = receiver_chain(text) else {
            return Kind::Other;
        };
        let mut segments = chain.into_iter();
        let Some((head, called)) = segments.next() else {
            return Kind::Other;
        };
        let mut kind = if called {
            member_kind(Kind::Global, &head)
        } else if let Some((_, kind)) = CLASSES.iter().find(|(name, _)| *name == head) {
            *kind
        } else {
            self.variables()
                .into_iter()
                .find(|(name, _)| *name == head)
                .map_or(Kind::Other, |(_, kind)| kind)
        };
        for (name, _) in segments {
            kind = member_kind(kind, &name);
        }
        kind
    }
}

fn member_kind(kind: Kind, name: &str) -> Kind {
    members(kind)
        .iter()
        .find(|m| m.name == name)
        .map_or(Kind::Other, |m| m.returns)
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The calls and names of the expression ending `text`, first to last: `User.find(1).sessions`
/// → `[("User", false), ("find", true), ("sessions", false)]`.
fn receiver_chain(text: &str) -> Option<Vec<(String, bool)>> {
    let chars: Vec<char> = text.trim_end().chars().collect();
    let mut end = chars.len();
    let mut chain = Vec::new();
    loop {
        let mut called = false;
        if end > 0 && chars[end - 1] == ')' {
            let mut depth = 0;
            let mut i = end;
            loop {
                i = i.checked_sub(1)?;
                match chars[i] {
                    ')' => depth += 1,
                    '(' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    break;
                }
            }
            end = i;
            called = true;
        }
        let start = end
            - chars[..end]
                .iter()
                .rev()
                .take_while(|&&c| is_ident(c))
                .count();
        if start == end {
            return None;
        }
        chain.push((chars[start..end].iter().collect(), called));
        if start > 0 && chars[start - 1] == '.' {
            end = start - 1;
        } else {
            break;
        }
    }
    chain.reverse();
    Some(chain)
}

/// Whether byte offset `pos` of `line` is inside a string literal.
fn in_string(line: &str, pos: usize) -> bool {
    let mut quote = None;
    let mut escaped = false;
    for c in line[..pos].chars() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            None if matches!(c, '"' | '`' | '\'') => quote = Some(c),
            Some(_) | None => {}
        }
    }
    quote.is_some()
}

impl Completer for ConsoleHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        if in_string(line, pos) {
            return Ok((pos, Vec::new()));
        }
        let start = pos
            - line[..pos]
                .chars()
                .rev()
                .take_while(|&c| is_ident(c))
                .map(char::len_utf8)
                .sum::<usize>();
        let prefix = &line[start..pos];
        let before = &line[..start];
        let mut names: Vec<String> = if let Some(receiver) = before.strip_suffix('.') {
            members(self.kind_of(receiver))
                .iter()
                .map(|m| m.name.to_owned())
                .collect()
        } else if before.trim() == "help" {
            ["User", "ActiveSession", "Audit", "functions", "Time"]
                .map(str::to_owned)
                .to_vec()
        } else {
            let mut names: Vec<String> = members(Kind::Global)
                .iter()
                .map(|m| m.name.to_owned())
                .collect();
            names.extend(KEYWORDS.iter().map(|&k| k.to_owned()));
            names.extend(self.variables().into_iter().map(|(name, _)| name));
            if before.trim().is_empty() {
                names.extend(COMMANDS.iter().map(|&c| c.to_owned()));
            }
            names
        };
        names.retain(|name| name.starts_with(prefix));
        names.sort();
        names.dedup();
        Ok((
            start,
            names
                .into_iter()
                .map(|name| Pair {
                    display: name.clone(),
                    replacement: name,
                })
                .collect(),
        ))
    }
}

/// A hint that only shows: Right arrow does not insert it.
pub struct SignatureHint(String);

impl Hint for SignatureHint {
    fn display(&self) -> &str {
        &self.0
    }

    fn completion(&self) -> Option<&str> {
        None
    }
}

impl Hinter for ConsoleHelper {
    type Hint = SignatureHint;

    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<SignatureHint> {
        if pos != line.len() || in_string(line, pos) {
            return None;
        }
        // The innermost parenthesis still open at the cursor (strings and comments skipped).
        let mut open = Vec::new();
        for (start, end, class) in classify(line, None) {
            match &line[start..end] {
                "(" if class == Class::Plain => open.push(start),
                ")" if class == Class::Plain => {
                    open.pop();
                }
                _ => {}
            }
        }
        let paren = *open.last()?;
        let before = &line[..paren];
        let name_start = before.len()
            - before
                .chars()
                .rev()
                .take_while(|&c| is_ident(c))
                .map(char::len_utf8)
                .sum::<usize>();
        let name = &before[name_start..];
        let receiver = &before[..name_start];
        let (kind, shown) = match receiver.strip_suffix('.') {
            Some(receiver) => {
                let shown = CLASSES
                    .iter()
                    .find(|(class, _)| receiver.ends_with(class))
                    .map_or("", |(class, _)| *class);
                (self.kind_of(receiver), format!("{shown}."))
            }
            None => (Kind::Global, String::new()),
        };
        let member = members(kind)
            .iter()
            .find(|m| m.name == name && m.params.is_some())?;
        Some(SignatureHint(format!("   {shown}{}", member.signature())))
    }
}

/// How a piece of the input is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Plain,
    Keyword,
    Global,
    Function,
    Str,
    Number,
    Comment,
    Error,
    /// The bracket matching the one at the cursor.
    Match,
}

impl Class {
    fn style(self) -> Style {
        match self {
            Class::Plain => Style::new(),
            Class::Keyword => Style::new().magenta().bold(),
            Class::Global => Style::new().cyan().bold(),
            Class::Function => Style::new().blue(),
            Class::Str => Style::new().green(),
            Class::Number => Style::new().yellow(),
            Class::Comment => Style::new().dimmed(),
            Class::Error => Style::new().red().bold().underline(),
            Class::Match => Style::new().bright_blue().bold().underline(),
        }
    }
}

/// The input split into coloured pieces: (start, end, class), byte offsets covering it all.
fn classify(line: &str, cursor: Option<usize>) -> Vec<(usize, usize, Class)> {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let offset = |i: usize| chars.get(i).map_or(line.len(), |&(o, _)| o);
    let mut pieces = Vec::new();
    // Open brackets (byte offset, bracket); one left open is unfinished input, not an error.
    let mut brackets: Vec<(usize, char)> = Vec::new();
    let mut pairs: Vec<(usize, usize)> = Vec::new(); // byte offsets of matched brackets
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        let start = i;
        let class = if c == '/' && at(i + 1) == Some('/') {
            while i < chars.len() && chars[i].1 != '\n' {
                i += 1;
            }
            Class::Comment
        } else if matches!(c, '"' | '`' | '\'') {
            i += 1;
            while i < chars.len() && chars[i].1 != c && !(c == '"' && chars[i].1 == '\n') {
                i += if chars[i].1 == '\\' { 2 } else { 1 };
            }
            let closed = at(i) == Some(c);
            i = (i + 1).min(chars.len());
            let chars_inside = (i - start).saturating_sub(2);
            let char_literal_ok = c != '\''
                || chars_inside == 1
                || (chars_inside == 2 && at(start + 1) == Some('\\'));
            if closed && char_literal_ok || c == '`' {
                Class::Str
            } else {
                Class::Error
            }
        } else if c.is_ascii_digit() {
            while at(i).is_some_and(|c| {
                c.is_ascii_alphanumeric()
                    || c == '_'
                    || c == '.' && at(i + 1).is_some_and(|n| n.is_ascii_digit())
            }) {
                i += 1;
            }
            Class::Number
        } else if is_ident(c) {
            while at(i).is_some_and(is_ident) {
                i += 1;
            }
            let word = &line[offset(start)..offset(i)];
            let after_dot = start > 0 && chars[start - 1].1 == '.';
            if KEYWORDS.contains(&word) {
                Class::Keyword
            } else if !after_dot && CLASSES.iter().any(|(name, _)| *name == word) {
                Class::Global
            } else if !after_dot
                && at(i) == Some('(')
                && members(Kind::Global).iter().any(|m| m.name == word)
            {
                Class::Function
            } else {
                Class::Plain
            }
        } else if matches!(c, '(' | '[' | '{') {
            brackets.push((offset(i), c));
            i += 1;
            Class::Plain
        } else if matches!(c, ')' | ']' | '}') {
            i += 1;
            let opener = match c {
                ')' => '(',
                ']' => '[',
                _ => '{',
            };
            match brackets.pop() {
                Some((open, b)) if b == opener => {
                    pairs.push((open, offset(start)));
                    Class::Plain
                }
                _ => Class::Error,
            }
        } else {
            i += 1;
            Class::Plain
        };
        pieces.push((offset(start), offset(i), class));
    }
    if let Some(cursor) = cursor {
        mark_match(&mut pieces, &pairs, cursor);
    }
    pieces
}

/// Marks the bracket matching the one under the cursor, else the one just before it.
fn mark_match(pieces: &mut [(usize, usize, Class)], pairs: &[(usize, usize)], cursor: usize) {
    let partner = |at: usize| {
        pairs.iter().find_map(|&(open, close)| match at {
            _ if at == open => Some(close),
            _ if at == close => Some(open),
            _ => None,
        })
    };
    if let Some(byte) = partner(cursor).or_else(|| cursor.checked_sub(1).and_then(partner))
        && let Some(piece) = pieces.iter_mut().find(|p| p.0 == byte)
    {
        piece.2 = Class::Match;
    }
}

impl Highlighter for ConsoleHelper {
    fn highlight<'l>(&self, line: &'l str, pos: usize) -> Cow<'l, str> {
        let cursor = self.match_bracket.get().then_some(pos);
        let mut out = String::with_capacity(line.len() * 2);
        for (start, end, class) in classify(line, cursor) {
            let text = &line[start..end];
            if class == Class::Plain {
                out.push_str(text);
            } else {
                out.push_str(&text.style(class.style()).to_string());
            }
        }
        Cow::Owned(out)
    }

    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        default: bool,
    ) -> Cow<'b, str> {
        if default {
            Cow::Owned(prompt.green().bold().to_string())
        } else {
            Cow::Borrowed(prompt)
        }
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(hint.dimmed().to_string())
    }

    fn highlight_char(&self, _line: &str, _pos: usize, kind: CmdKind) -> bool {
        // Every change recolours the line; only the final redraw drops the bracket mark.
        self.match_bracket.set(kind != CmdKind::ForcedRefresh);
        true
    }
}

impl Validator for ConsoleHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        let incomplete = self
            .evaluator
            .try_borrow()
            .is_ok_and(|evaluator| evaluator.is_incomplete(ctx.input()));
        Ok(if incomplete {
            ValidationResult::Incomplete
        } else {
            ValidationResult::Valid(None)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(line: &str) -> Vec<(&str, Class)> {
        classify(line, None)
            .into_iter()
            .filter(|p| p.2 != Class::Plain)
            .map(|(s, e, c)| (&line[s..e], c))
            .collect()
    }

    #[test]
    fn receiver_chains_are_read_backwards() {
        let chain = receiver_chain("let x = User.find(f(1)).sessions").unwrap();
        assert_eq!(
            chain,
            vec![
                ("User".to_owned(), false),
                ("find".to_owned(), true),
                ("sessions".to_owned(), false)
            ]
        );
        assert_eq!(
            receiver_chain("now()").unwrap(),
            vec![("now".to_owned(), true)]
        );
        assert_eq!(receiver_chain("(1 + 2)"), None);
    }

    #[test]
    fn input_is_classified() {
        assert_eq!(
            classes(r#"let u = User.find_by_username("x"); puts(u.name) // hi"#),
            vec![
                ("let", Class::Keyword),
                ("User", Class::Global),
                ("\"x\"", Class::Str),
                ("puts", Class::Function),
                ("// hi", Class::Comment)
            ]
        );
        assert_eq!(
            classes("days(30) + 'ab'"),
            vec![
                ("days", Class::Function),
                ("30", Class::Number),
                ("'ab'", Class::Error)
            ]
        );
        assert_eq!(
            classes("f(1))"),
            vec![("1", Class::Number), (")", Class::Error)]
        );
        assert_eq!(classes("'é'"), vec![("'é'", Class::Str)]);
    }

    #[test]
    fn the_matching_bracket_is_marked() {
        let line = "f(g(1))";
        let marked = |cursor| {
            classify(line, Some(cursor))
                .into_iter()
                .find(|p| p.2 == Class::Match)
                .map(|p| p.0)
        };
        assert_eq!(marked(line.len()), Some(1)); // after the last ')'
        assert_eq!(marked(3), Some(5)); // on the inner '('
        assert_eq!(marked(0), None);
    }

    fn helper() -> (tempfile::TempDir, ConsoleHelper) {
        let (dir, mut evaluator) = crate::console::testing::evaluator();
        let _ = evaluator
            .eval(
                "setup",
                r#"let u = User.create(#{username: "u", email: "u@example.com"})"#,
            )
            .unwrap();
        (dir, ConsoleHelper::new(Rc::new(RefCell::new(evaluator))))
    }

    fn complete(helper: &ConsoleHelper, line: &str) -> Vec<String> {
        let history = rustyline::history::DefaultHistory::new();
        let (_, pairs) = helper
            .complete(line, line.len(), &Context::new(&history))
            .unwrap();
        pairs.into_iter().map(|p| p.replacement).collect()
    }

    fn hint(helper: &ConsoleHelper, line: &str) -> Option<String> {
        let history = rustyline::history::DefaultHistory::new();
        helper
            .hint(line, line.len(), &Context::new(&history))
            .map(|h| h.0.trim().to_owned())
    }

    #[test]
    fn completion_knows_globals_members_and_variables() {
        let (_dir, helper) = helper();
        assert_eq!(complete(&helper, "ActiveSession.li"), ["list"]);
        assert_eq!(complete(&helper, "Act"), ["ActiveSession"]);
        assert_eq!(complete(&helper, "u.s"), ["sessions", "state"]);
        assert_eq!(complete(&helper, "User.find(1).last"), ["last_sign_in_at"]);
        assert_eq!(complete(&helper, "now().to"), ["to_i"]);
        assert_eq!(complete(&helper, "wh"), ["while"]);
        assert_eq!(complete(&helper, "help Act"), ["ActiveSession"]);
        assert!(complete(&helper, "puts(\"User.").is_empty());
    }

    #[test]
    fn the_hint_shows_the_signature_being_called() {
        let (_dir, helper) = helper();
        assert_eq!(
            hint(&helper, "let x = User.find(").as_deref(),
            Some("User.find(id) → User")
        );
        assert_eq!(
            hint(&helper, "puts(days(").as_deref(),
            Some("days(n) → Duration")
        );
        assert_eq!(hint(&helper, "ActiveSession.list(u).len()"), None);
        assert_eq!(
            hint(&helper, "puts(\"(\""),
            Some("puts(value) → value".to_owned())
        );
    }

    #[test]
    fn strings_are_recognised() {
        assert!(in_string("puts(\"a.b", 9));
        assert!(!in_string("puts(\"a\").", 10));
    }
}
