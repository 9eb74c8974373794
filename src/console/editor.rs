//! The rustyline helper: Tab completion of globals, keywords, variables and — after a `.` —
//! methods and properties; a hint with the signature of the function being called; syntax
//! highlighting with bracket matching; and multi-line entry of unfinished snippets. Code is
//! read with the scripting layer's scanner ([`crate::script::scanner`]).

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::mpsc::Sender;

use owo_colors::{OwoColorize, Style};
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::{Hint, Hinter};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use super::Evaluate;
use super::help::{COMMANDS, TOPICS};
use crate::script::KEYWORDS;
use crate::script::catalogue::{Kind, classes, members};
use crate::script::scanner::{self, TokenKind};

/// The helper the console's editor runs with.
#[derive(Helper)]
pub struct ConsoleHelper {
    evaluator: Rc<RefCell<Box<dyn Evaluate>>>,
    /// Whether the next highlight marks the bracket matching the one at the cursor.
    match_bracket: Cell<bool>,
    /// Told once, when the first prompt is drawn (the terminal is then in raw mode).
    prompt_shown: Cell<Option<Sender<()>>>,
}

impl ConsoleHelper {
    pub fn new(evaluator: Rc<RefCell<Box<dyn Evaluate>>>) -> Self {
        Self {
            evaluator,
            match_bracket: Cell::new(false),
            prompt_shown: Cell::new(None),
        }
    }

    /// Sends on `shown` when the first prompt is drawn: from then on, what rustyline's
    /// `ExternalPrinter` prints appears above the prompt, not in its place.
    pub fn tell_when_prompted(&mut self, shown: Sender<()>) {
        self.prompt_shown.set(Some(shown));
    }

    /// The variables defined so far, with the kind of their values (`_` for the last result).
    fn variables(&self) -> Vec<(String, Kind)> {
        let Ok(evaluator) = self.evaluator.try_borrow() else {
            return Vec::new();
        };
        evaluator.variables()
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
        } else if let Some((_, kind)) = classes().find(|(name, _)| *name == head) {
            kind
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

/// The calls and names of the expression ending `text`, first to last: `User.find(1).sessions`
/// → `[("User", false), ("find", true), ("sessions", false)]`.
fn receiver_chain(text: &str) -> Option<Vec<(String, bool)>> {
    let text = text.trim_end();
    let tokens = scanner::tokens(text);
    // The tokens before `end` are still to be read.
    let mut end = tokens.len();
    let mut chain = Vec::new();
    loop {
        let mut called = false;
        if end > 0 && tokens[end - 1].is_punct(text, ')') {
            let mut depth = 0;
            let mut i = end;
            loop {
                i = i.checked_sub(1)?;
                if tokens[i].is_punct(text, ')') {
                    depth += 1;
                } else if tokens[i].is_punct(text, '(') {
                    depth -= 1;
                }
                if depth == 0 {
                    break;
                }
            }
            end = i;
            called = true;
        }
        let name = tokens[..end]
            .last()
            .filter(|t| t.kind == TokenKind::Ident)?;
        chain.push((name.text(text).to_owned(), called));
        end -= 1;
        if end > 0 && tokens[end - 1].is_punct(text, '.') {
            end -= 1;
        } else {
            break;
        }
    }
    chain.reverse();
    Some(chain)
}

/// Where the word (a name or a number) that ends `text` starts: the length of `text` if none
/// does.
fn word_start(text: &str) -> usize {
    scanner::tokens(text)
        .last()
        .filter(|t| matches!(t.kind, TokenKind::Ident | TokenKind::Number))
        .map_or(text.len(), |t| t.start)
}

/// Whether byte offset `pos` of `line` is inside a string literal.
fn in_string(line: &str, pos: usize) -> bool {
    scanner::tokens(line).into_iter().any(|t| match t.kind {
        TokenKind::Str { closed, .. } => t.start < pos && (pos < t.end || !closed && pos == t.end),
        _ => false,
    })
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
        let start = word_start(&line[..pos]);
        let prefix = &line[start..pos];
        let before = &line[..start];
        let mut names: Vec<String> = if let Some(receiver) = before.strip_suffix('.') {
            members(self.kind_of(receiver))
                .iter()
                .map(|m| m.name.to_owned())
                .collect()
        } else if before.trim() == "help" {
            TOPICS.iter().map(|&t| t.to_owned()).collect()
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
        // rustyline asks for a hint as it draws the prompt.
        if let Some(shown) = self.prompt_shown.take() {
            let _ = shown.send(());
        }
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
        let name_start = word_start(before);
        let name = &before[name_start..];
        let receiver = &before[..name_start];
        let (kind, shown) = match receiver.strip_suffix('.') {
            Some(receiver) => {
                let shown = classes()
                    .find(|(class, _)| receiver.ends_with(class))
                    .map_or("", |(class, _)| class);
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
    let tokens = scanner::tokens(line);
    let mut pieces = Vec::with_capacity(tokens.len());
    // Open brackets (byte offset, bracket); one left open is unfinished input, not an error.
    let mut brackets: Vec<(usize, char)> = Vec::new();
    let mut pairs: Vec<(usize, usize)> = Vec::new(); // byte offsets of matched brackets
    for (n, token) in tokens.iter().enumerate() {
        let text = token.text(line);
        let class = match token.kind {
            TokenKind::Comment => Class::Comment,
            TokenKind::Str { quote, closed } => {
                let inside: Vec<char> = text.chars().skip(1).collect();
                let inside = &inside[..inside.len().saturating_sub(usize::from(closed))];
                let char_literal_ok =
                    quote != '\'' || inside.len() == 1 || inside.len() == 2 && inside[0] == '\\';
                if closed && char_literal_ok || quote == '`' {
                    Class::Str
                } else {
                    Class::Error
                }
            }
            TokenKind::Number => Class::Number,
            TokenKind::Ident => {
                let after_dot = n > 0 && tokens[n - 1].is_punct(line, '.');
                let called = tokens.get(n + 1).is_some_and(|t| t.is_punct(line, '('));
                if KEYWORDS.contains(&text) {
                    Class::Keyword
                } else if !after_dot && classes().any(|(name, _)| name == text) {
                    Class::Global
                } else if !after_dot
                    && called
                    && members(Kind::Global).iter().any(|m| m.name == text)
                {
                    Class::Function
                } else {
                    Class::Plain
                }
            }
            TokenKind::Space => Class::Plain,
            TokenKind::Punct => match text {
                "(" | "[" | "{" => {
                    brackets.push((token.start, text.chars().next().unwrap_or('(')));
                    Class::Plain
                }
                ")" | "]" | "}" => {
                    let opener = match text {
                        ")" => '(',
                        "]" => '[',
                        _ => '{',
                    };
                    match brackets.pop() {
                        Some((open, b)) if b == opener => {
                            pairs.push((open, token.start));
                            Class::Plain
                        }
                        _ => Class::Error,
                    }
                }
                _ => Class::Plain,
            },
        };
        pieces.push((token.start, token.end, class));
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
    use crate::script::catalogue::probe;

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
        helper_after(r#"let u = User.create(#{username: "u", email: "u@example.com"})"#)
    }

    /// A helper whose evaluator has run `setup`.
    fn helper_after(setup: &str) -> (tempfile::TempDir, ConsoleHelper) {
        let (dir, mut evaluator) = crate::console::testing::evaluator();
        evaluator.eval_shown("setup", setup).unwrap();
        let local: Box<dyn Evaluate> = Box::new(crate::console::testing::local(evaluator));
        (dir, ConsoleHelper::new(Rc::new(RefCell::new(local))))
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

    /// Completion offers every entry of the scripting API's catalogue, after a receiver of its
    /// kind (the catalogue's test checks that the engine has them all).
    #[test]
    fn completion_offers_every_catalogue_entry() {
        let (_dir, helper) = helper_after(probe::SETUP);
        for &(kind, receiver) in probe::RECEIVERS {
            let offered = complete(&helper, receiver);
            for member in members(kind) {
                assert!(
                    offered.iter().any(|name| name == member.name),
                    "{receiver}{} is in the catalogue but completion offers {offered:?}",
                    member.name
                );
            }
        }
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
