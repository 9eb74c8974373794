//! Ruby habits rhai rejects, spelled the rhai way: after an error the console shows what the
//! input would look like in rhai. [`ruby_hint`] is a pure rewrite of the text; it knows
//! single-quoted strings, `"#{..}"` interpolation, `do |x| .. end` and `{ |x| .. }` blocks,
//! keyword arguments, calls without parentheses and assignments without `let`. It reads
//! strings with the scripting layer's scanner ([`crate::script::scanner`]).

use crate::script::scanner::{TokenKind, is_ident, tokens};

/// The rhai spelling of `input` if it uses a Ruby habit, else `None`.
pub fn ruby_hint(input: &str) -> Option<String> {
    let mut code = strings(input);
    code = blocks(&code);
    code = keyword_arguments(&code);
    code = statements(&code);
    (code.trim() != input.trim()).then_some(code)
}

/// Whether each char of `code` is inside a string literal (the quotes included).
fn in_string(code: &str) -> Vec<bool> {
    let mut mask = Vec::with_capacity(code.len());
    for token in tokens(code) {
        mask.extend(token.text(code).chars().map(|_| token.is_str()));
    }
    mask
}

/// `'x'` → `"x"`, and `"..#{x}.."` → `` `..${x}..` ``.
fn strings(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for token in tokens(input) {
        let text = token.text(input);
        let body = text
            .get(1..text.len().saturating_sub(1))
            .unwrap_or_default();
        match token.kind {
            TokenKind::Str {
                quote: '\'',
                closed: true,
            } => {
                out.push('"');
                out.push_str(&body.replace("\\'", "'").replace('"', "\\\""));
                out.push('"');
            }
            TokenKind::Str {
                quote: '"',
                closed: true,
            } if body.contains("#{") => {
                out.push('`');
                out.push_str(&body.replace('`', "\\`").replace("#{", "${"));
                out.push('`');
            }
            _ => out.push_str(text),
        }
    }
    out
}

/// Ruby blocks as closures passed to the call before them: `xs.each do |x| .. end` and
/// `xs.each { |x| .. }` → `xs.each(|x| { .. })`.
fn blocks(code: &str) -> String {
    let mut code = code.to_owned();
    // One block per round, innermost first, so that nested blocks come out right.
    for _ in 0..32 {
        let chars: Vec<char> = code.chars().collect();
        let Some((open, body_start, close, close_len)) = find_block(&code, &chars) else {
            break;
        };
        let params_end = chars[body_start..]
            .iter()
            .skip(1)
            .position(|&c| c == '|')
            .map(|p| body_start + p + 2);
        let Some(params_end) = params_end else { break };
        let params: String = chars[body_start..params_end].iter().collect();
        let body: String = chars[params_end..close].iter().collect();
        let before: String = chars[..open]
            .iter()
            .collect::<String>()
            .trim_end()
            .to_owned();
        let after: String = chars[close + close_len..].iter().collect();
        let closure = format!("{params} {{ {} }}", body.trim());
        code = if let Some(call) = before.strip_suffix("()") {
            format!("{call}({closure}){after}")
        } else if let Some(call) = before.strip_suffix(')') {
            format!("{call}, {closure}){after}")
        } else {
            format!("{before}({closure}){after}")
        };
    }
    code
}

/// The innermost block: where `do`/`{` starts, where its `|params|` start, where its
/// `end`/`}` is, and that closer's length (indices of `chars`, the chars of `code`).
fn find_block(code: &str, chars: &[char]) -> Option<(usize, usize, usize, usize)> {
    let mask = in_string(code);
    let word_at = |i: usize, word: &str| {
        let w: Vec<char> = word.chars().collect();
        chars.get(i..i + w.len()) == Some(&w[..])
            && !mask[i]
            && (i == 0 || !is_ident(chars[i - 1]))
            && chars.get(i + w.len()).is_none_or(|&c| !is_ident(c))
    };
    let params_after = |i: usize| {
        let j = i + chars[i..].iter().take_while(|c| c.is_whitespace()).count();
        (chars.get(j) == Some(&'|')).then_some(j)
    };
    // Openers seen so far: (position, params start, is `do`); braces that are not blocks
    // are kept as `None` so that their `}` pairs with them.
    let mut stack: Vec<Option<(usize, usize, bool)>> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if mask[i] {
            i += 1;
            continue;
        }
        if word_at(i, "do") {
            stack.push(params_after(i + 2).map(|p| (i, p, true)));
            i += 2;
        } else if chars[i] == '{' {
            let is_map = i > 0 && chars[i - 1] == '#';
            stack.push(if is_map {
                None
            } else {
                params_after(i + 1).map(|p| (i, p, false))
            });
            i += 1;
        } else if chars[i] == '}' || word_at(i, "end") {
            let len = if chars[i] == '}' { 1 } else { 3 };
            if let Some(Some((open, params, is_do))) = stack.pop()
                && is_do == (len == 3)
            {
                return Some((open, params, i, len));
            }
            i += len;
        } else {
            i += 1;
        }
    }
    None
}

/// The length in bytes of the identifier `text` starts with.
fn ident_len(text: &str) -> usize {
    text.chars()
        .take_while(|&c| is_ident(c))
        .map(char::len_utf8)
        .sum()
}

/// `find_by(email: "x")` → `find_by(#{email: "x"})`.
fn keyword_arguments(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mask = in_string(code);
    let mut out = String::with_capacity(code.len() + 4);
    let mut closers: Vec<bool> = Vec::new();
    for (i, &c) in chars.iter().enumerate() {
        if mask[i] {
            out.push(c);
            continue;
        }
        match c {
            '(' => {
                let rest: String = chars[i + 1..].iter().collect();
                let rest = rest.trim_start();
                let name_len = ident_len(rest);
                let keyword = name_len > 0
                    && rest[name_len..].starts_with(':')
                    && !rest[name_len..].starts_with("::")
                    && !rest.starts_with(|c: char| c.is_ascii_digit());
                out.push('(');
                if keyword {
                    out.push_str("#{");
                }
                closers.push(keyword);
            }
            ')' => {
                if closers.pop() == Some(true) {
                    out.push('}');
                }
                out.push(')');
            }
            _ => out.push(c),
        }
    }
    out
}

/// Per statement: `f x` → `f(x)` for a method or a printing function, and at the top level
/// `x = ..` → `let x = ..`.
fn statements(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    let mask = in_string(code);
    let mut out = String::with_capacity(code.len() + 8);
    let mut depth = 0usize;
    let mut start = 0;
    for i in 0..=chars.len() {
        let boundary = i == chars.len()
            || (!mask[i] && matches!(chars[i], '\n' | ';' | '{' | '}' | '(' | ')' | ','));
        if !boundary {
            continue;
        }
        let statement: String = chars[start..i].iter().collect();
        let statement = paren_less_call(&statement).unwrap_or(statement);
        out.push_str(&if depth == 0 {
            with_let(&statement).unwrap_or(statement)
        } else {
            statement
        });
        if let Some(&c) = chars.get(i) {
            out.push(c);
            match c {
                '{' | '(' => depth += 1,
                '}' | ')' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        start = i + 1;
    }
    out
}

/// `User.find_by_username "x"` → `User.find_by_username("x")`, `puts x` → `puts(x)`.
fn paren_less_call(statement: &str) -> Option<String> {
    let indent = &statement[..statement.len() - statement.trim_start().len()];
    let trailing = &statement[statement.trim_end().len()..];
    let body = statement.trim();
    let (prefix, rest) = match assignment(body) {
        Some((name, value)) => (format!("{name} = "), value),
        None if body.starts_with("let ") => {
            return paren_less_call(&body[4..])
                .map(|s| format!("{indent}let {}{trailing}", s.trim()));
        }
        None => (String::new(), body),
    };
    let callee_len: usize = rest
        .chars()
        .take_while(|&c| is_ident(c) || c == '.')
        .map(char::len_utf8)
        .sum();
    let callee = &rest[..callee_len];
    let arguments = rest[callee_len..].trim();
    let is_callee = (callee.contains('.') && !callee.ends_with('.') && !callee.starts_with('.'))
        || matches!(callee, "puts" | "pp" | "p" | "print");
    let starts_argument = arguments
        .starts_with(|c: char| is_ident(c) || matches!(c, '"' | '`' | '#' | '[' | '|' | '-'))
        && !arguments.starts_with("->")
        && !is_operator_word(arguments);
    (is_callee && rest[callee_len..].starts_with(' ') && starts_argument)
        .then(|| format!("{indent}{prefix}{callee}({arguments}){trailing}"))
}

fn is_operator_word(text: &str) -> bool {
    let word: String = text.chars().take_while(|&c| is_ident(c)).collect();
    matches!(word.as_str(), "in" | "and" | "or" | "if" | "unless" | "do")
}

/// `name = value` (not `==`, not a keyword), split.
fn assignment(statement: &str) -> Option<(&str, &str)> {
    let name_len = ident_len(statement);
    let name = &statement[..name_len];
    let rest = statement[name_len..].trim_start();
    let value = rest.strip_prefix('=')?;
    let keyword = [
        "let", "const", "if", "while", "return", "for", "fn", "else", "loop", "throw",
    ]
    .contains(&name);
    (!name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && !keyword
        && !value.starts_with(['=', '>']))
    .then(|| (name, value.trim()))
}

/// `x = 1` → `let x = 1`.
fn with_let(statement: &str) -> Option<String> {
    let indent = &statement[..statement.len() - statement.trim_start().len()];
    let trailing = &statement[statement.trim_end().len()..];
    let (name, value) = assignment(statement.trim())?;
    Some(format!("{indent}let {name} = {value}{trailing}"))
}

#[cfg(test)]
mod tests {
    use super::ruby_hint;

    fn hint(input: &str) -> String {
        ruby_hint(input).unwrap_or_else(|| panic!("no hint for {input}"))
    }

    #[test]
    fn single_quotes_become_double_quotes() {
        assert_eq!(
            hint("User.find_by_username('exampleuser')"),
            "User.find_by_username(\"exampleuser\")"
        );
        assert_eq!(hint(r#"puts('say "hi"')"#), r#"puts("say \"hi\"")"#);
    }

    #[test]
    fn interpolation_becomes_a_backtick_string() {
        assert_eq!(
            hint(r#"puts("IP: #{s.ip_address}")"#),
            "puts(`IP: ${s.ip_address}`)"
        );
    }

    #[test]
    fn calls_get_their_parentheses() {
        assert_eq!(
            hint("User.find_by_username 'exampleuser'"),
            "User.find_by_username(\"exampleuser\")"
        );
        assert_eq!(hint("puts s.browser"), "puts(s.browser)");
        assert_eq!(hint("User.find 123"), "User.find(123)");
    }

    #[test]
    fn assignments_get_let() {
        assert_eq!(hint("user = User.find(1)"), "let user = User.find(1)");
        assert_eq!(
            hint("user = User.find_by_username 'exampleuser'"),
            "let user = User.find_by_username(\"exampleuser\")"
        );
    }

    #[test]
    fn keyword_arguments_become_a_map() {
        assert_eq!(
            hint("user = User.find_by(email: 'user@example.com')"),
            "let user = User.find_by(#{email: \"user@example.com\"})"
        );
    }

    #[test]
    fn blocks_become_closures() {
        assert_eq!(
            hint("User.all.each { |u| puts u.username }"),
            "User.all.each(|u| { puts(u.username) })"
        );
        assert_eq!(
            hint("User.find_each do |user|\n  puts user.name\nend"),
            "User.find_each(|user| { puts(user.name) })"
        );
        assert_eq!(
            hint(
                "ActiveSession.list(user).each { |session| ActiveSession.destroy_session(user, session.session_private_id) }"
            ),
            "ActiveSession.list(user).each(|session| { ActiveSession.destroy_session(user, session.session_private_id) })"
        );
        assert_eq!(
            hint(
                "User.find_each do |u|\n  ActiveSession.list(u).each do |s|\n    puts \"#{s.ip_address}\"\n  end\nend"
            ),
            "User.find_each(|u| { ActiveSession.list(u).each(|s| { puts(`${s.ip_address}`) }) })"
        );
    }

    #[test]
    fn rhai_is_left_alone() {
        for code in [
            "let user = User.find(1)",
            "ActiveSession.list(User.all)",
            "User.find_by(#{email: \"a@b\"})",
            "if x == 1 { puts(\"one\") }",
            "let f = |x| x + 1",
            "n += 1",
            "`${u.name}`",
        ] {
            assert_eq!(ruby_hint(code), None, "{code}");
        }
    }
}
