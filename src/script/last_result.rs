//! IRB's `_` (the last result). rhai reserves a lone `_` for `switch` defaults, so a lone `_`
//! outside strings and comments ([`super::scanner`]), and not before `=>`, is read as the
//! variable [`VARIABLE`].

use std::borrow::Cow;

use super::scanner::{TokenKind, tokens};

/// The variable that holds the last result.
pub const VARIABLE: &str = "_last_result";

/// `code` with every lone `_` that stands for the last result renamed.
pub fn rewrite(code: &str) -> Cow<'_, str> {
    rewrite_with_places(code).0
}

/// Like [`rewrite`], also returning the 1-based (line, column) in `code` of every `_` renamed,
/// so that an error's place and message can be given back as the user wrote them
/// ([`restore`]).
pub fn rewrite_with_places(code: &str) -> (Cow<'_, str>, Vec<(usize, usize)>) {
    let mut renamed = Vec::new();
    if !code.contains('_') {
        return (Cow::Borrowed(code), renamed);
    }
    let mut out = String::with_capacity(code.len() + 16);
    let mut copied = 0;
    for token in tokens(code) {
        if token.kind == TokenKind::Ident
            && token.text(code) == "_"
            && !code[token.end..].trim_start().starts_with("=>")
        {
            out.push_str(&code[copied..token.start]);
            out.push_str(VARIABLE);
            renamed.push(place(code, token.start));
            copied = token.end;
        }
    }
    out.push_str(&code[copied..]);
    (Cow::Owned(out), renamed)
}

/// Gives back, for an error at `line`:`column` of the rewritten text, the column in the
/// original text, and the message with the variable's name written as `_` again.
pub fn restore(
    renamed: &[(usize, usize)],
    line: usize,
    column: usize,
    message: &str,
) -> (usize, String) {
    let grown = VARIABLE.chars().count() - 1;
    let mut column_in_original = column;
    for (n, &(_, original)) in renamed.iter().filter(|(l, _)| *l == line).enumerate() {
        // Where this `_` starts in the rewritten line.
        if original + n * grown < column {
            column_in_original -= grown.min(column - (original + n * grown));
        }
    }
    (column_in_original, unrename(message))
}

/// The 1-based (line, column), in characters, of byte offset `at` of `code`.
fn place(code: &str, at: usize) -> (usize, usize) {
    let before = &code[..at];
    let line_start = before.rfind('\n').map_or(0, |p| p + 1);
    let line = before.matches('\n').count() + 1;
    (line, before[line_start..].chars().count() + 1)
}

/// `message` with the variable, where it stands as a whole word, written `_` again.
fn unrename(message: &str) -> String {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(VARIABLE) {
        let after = &rest[at + VARIABLE.len()..];
        let whole = !rest[..at].chars().next_back().is_some_and(is_ident)
            && !after.chars().next().is_some_and(is_ident);
        out.push_str(&rest[..at]);
        out.push_str(if whole { "_" } else { VARIABLE });
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::{restore, rewrite, rewrite_with_places};

    #[test]
    fn only_lone_underscores_outside_literals_are_renamed() {
        assert_eq!(rewrite("_ + 1"), "_last_result + 1");
        assert_eq!(rewrite("_.len()"), "_last_result.len()");
        assert_eq!(rewrite("my_var + _x"), "my_var + _x");
        assert_eq!(rewrite("\"_\" + `_` // _"), "\"_\" + `_` // _");
        assert_eq!(
            rewrite("switch x { 1 => 2, _ => 3 }"),
            "switch x { 1 => 2, _ => 3 }"
        );
        assert_eq!(rewrite("/* _ */ _"), "/* _ */ _last_result");
    }

    #[test]
    fn error_places_are_given_back_in_the_original_text() {
        let code = "1;\n_ + _ + y";
        let (rewritten, renamed) = rewrite_with_places(code);
        assert_eq!(renamed, vec![(2, 1), (2, 5)]);
        // `y` is at column 9 of the original line and 31 of the rewritten one.
        let column = rewritten.lines().nth(1).unwrap().find('y').unwrap() + 1;
        assert_eq!(column, 31);
        assert_eq!(restore(&renamed, 2, column, "Variable not found: y").0, 9);
        // An error at the second `_` itself.
        assert_eq!(
            restore(&renamed, 2, 16, "Variable not found: _last_result"),
            (5, "Variable not found: _".to_owned())
        );
        // Other lines are untouched.
        assert_eq!(restore(&renamed, 1, 2, "x").0, 2);
        // Only the whole variable name is given back as `_`.
        assert_eq!(
            restore(&renamed, 1, 1, "_last_result_x or _last_result").1,
            "_last_result_x or _"
        );
    }
}
