//! Ruby habits rhai rejects, spelled the rhai way: after an error the console shows what the
//! input would look like in rhai. [`ruby_hint`] is a pure rewrite of the text; it knows
//! single-quoted strings, `"#{..}"` interpolation, `do |x| .. end` and `{ |x| .. }` blocks,
//! keyword arguments, calls without parentheses and assignments without `let`. It reads
//! strings with the scripting layer's scanner ([`crate::script::scanner`]).

use crate::script::scanner::{Token, TokenKind, is_ident, tokens};

/// The rhai spelling of `input` if it uses a Ruby habit, else `None`.
pub fn ruby_hint(input: &str) -> Option<String> {
    let mut code = strings(input);
    code = begin_rescue(&code);
    code = rewrite(&code, idioms);
    code = blocks(&code);
    code = rewrite(&code, select_and_where);
    code = keyword_arguments(&code);
    code = statements(&code);
    (code.trim() != input.trim()).then_some(code)
}

/// Ruby habits in code that rhai runs without an error but not as a Ruby user means it: a
/// `"#{..}"` string (rhai keeps it as typed) and escapes such as `\n` in a backtick string
/// (kept as typed too). One note each, to show after the result.
pub fn notes(input: &str) -> Vec<String> {
    let mut notes = Vec::new();
    for token in tokens(input) {
        let text = token.text(input);
        match token.kind {
            TokenKind::Str { quote: '"', .. } if text.contains("#{") => notes.push(format!(
                "note: rhai does not interpolate {text}; write {} (backticks and ${{..}})",
                strings(text)
            )),
            TokenKind::Str { quote: '`', .. }
                if ["\\n", "\\t"].iter().any(|e| text.contains(e)) =>
            {
                notes.push(format!(
                    "note: a backtick string keeps \\n and \\t as typed in {text}; join a \"..\" string for them: \"\\t\" + `${{x}}`, or break the line inside the backticks"
                ));
            }
            _ => {}
        }
    }
    notes
}

/// A rule of [`rewrite`]: given the code, its tokens and a position, how many tokens from there
/// it replaces and with what.
type Rule = fn(&str, &[Token], usize) -> Option<(usize, String)>;

/// Rewrites `code` token by token: `rule(code, tokens, i)` may replace the tokens from `i`,
/// returning how many it replaces and their new text. Strings and comments are left alone.
fn rewrite(code: &str, rule: Rule) -> String {
    let tokens = tokens(code);
    let mut out = String::with_capacity(code.len());
    let mut i = 0;
    while i < tokens.len() {
        match rule(code, &tokens, i) {
            Some((taken, text)) if taken > 0 => {
                out.push_str(&text);
                i += taken;
            }
            _ => {
                out.push_str(tokens[i].text(code));
                i += 1;
            }
        }
    }
    out
}

/// The kind and text of the token `i`, if there is one.
fn token_at<'a>(code: &'a str, tokens: &[Token], i: usize) -> Option<(TokenKind, &'a str)> {
    tokens.get(i).map(|t| (t.kind, t.text(code)))
}

/// `nil` → `()`, `.any?` → `.any()`, `.empty?` → `.is_empty()`, `x.nil?` → `x == ()`,
/// `(&:name)` → `(|x| x.name)`, `30.days` → `days(30)`, `30.days.ago` → `now() - days(30)`.
fn idioms(code: &str, tokens: &[Token], i: usize) -> Option<(usize, String)> {
    let at = |k: usize| token_at(code, tokens, i + k);
    let ident = |k: usize| {
        at(k)
            .filter(|(kind, _)| *kind == TokenKind::Ident)
            .map(|t| t.1)
    };
    let punct = |k: usize, c: char| tokens.get(i + k).is_some_and(|t| t.is_punct(code, c));
    let after_dot = i > 0 && tokens[i - 1].is_punct(code, '.');
    if ident(0) == Some("nil") && !after_dot {
        return Some((1, "()".into()));
    }
    if punct(0, '.') && punct(2, '?') && !punct(3, '.') && !punct(3, '?') {
        let followed_by_call = at(3).is_some_and(|(_, t)| t == "(")
            || (at(3).is_some_and(|(k, _)| k == TokenKind::Space)
                && at(4).is_some_and(|(_, t)| t == "("));
        let call = if followed_by_call { "" } else { "()" };
        return match ident(1)? {
            "nil" => Some((3, " == ()".into())),
            "empty" | "blank" => Some((3, format!(".is_empty{call}"))),
            "any" | "present" => Some((3, format!(".any{call}"))),
            _ => None,
        };
    }
    if punct(0, '(') && punct(1, '&') && punct(2, ':') && punct(4, ')') {
        let name = ident(3)?;
        return Some((5, format!("(|x| x.{name})")));
    }
    if at(0)?.0 == TokenKind::Number && punct(1, '.') {
        let n = at(0)?.1;
        let (function, times) = match ident(2)? {
            "second" | "seconds" => ("seconds", ""),
            "minute" | "minutes" => ("minutes", ""),
            "hour" | "hours" => ("hours", ""),
            "day" | "days" => ("days", ""),
            "week" | "weeks" => ("days", " * 7"),
            _ => return None,
        };
        let span = format!("{function}({n}{times})");
        return Some(match (punct(3, '.'), ident(4)) {
            (true, Some("ago")) => (5, format!("now() - {span}")),
            (true, Some("from_now")) => (5, format!("now() + {span}")),
            _ => (3, span),
        });
    }
    None
}

/// `.select(..)` → `.filter(..)`, and `User.where(admin: true, name: "x")` →
/// `User.all.filter(|u| u.admin && u.name == "x")`.
fn select_and_where(code: &str, tokens: &[Token], i: usize) -> Option<(usize, String)> {
    let text = |k: usize| token_at(code, tokens, i + k).map(|t| t.1);
    if text(0) == Some(".") && text(1) == Some("select") {
        return Some((2, ".filter".into()));
    }
    if !(text(0) == Some("User") && text(1) == Some(".") && text(2) == Some("where")) {
        return None;
    }
    let open = tokens.get(i + 3).filter(|t| t.is_punct(code, '('))?;
    let mut depth = 0;
    let close = tokens[i + 3..].iter().position(|t| {
        if t.is_punct(code, '(') || t.is_punct(code, '[') || t.is_punct(code, '{') {
            depth += 1;
        } else if t.is_punct(code, ')') || t.is_punct(code, ']') || t.is_punct(code, '}') {
            depth -= 1;
        }
        depth == 0
    })? + i
        + 3;
    let arguments = &code[open.end..tokens[close].start];
    let mut conditions = Vec::new();
    for pair in split_top_level(arguments) {
        let (key, value) = pair.split_once(':')?;
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() || !key.chars().all(is_ident) || value.starts_with(':') {
            return None;
        }
        conditions.push(match value {
            "true" => format!("u.{key}"),
            "false" => format!("!u.{key}"),
            _ => format!("u.{key} == {value}"),
        });
    }
    (!conditions.is_empty()).then(|| {
        (
            close - i + 1,
            format!("User.all.filter(|u| {})", conditions.join(" && ")),
        )
    })
}

/// `text` split at the commas outside brackets and strings.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for token in tokens(text) {
        match token.text(text) {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth -= 1,
            "," if depth == 0 => {
                parts.push(&text[start..token.start]);
                start = token.end;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// `begin .. rescue => e .. end` → `try { .. } catch (e) { .. }` (and without `=> e`,
/// `catch { .. }`).
fn begin_rescue(code: &str) -> String {
    let mut code = code.to_owned();
    // One `begin` per round, the last one first, so that nested ones come out right.
    for _ in 0..16 {
        let tokens = tokens(&code);
        let word = |t: &Token, w: &str| t.kind == TokenKind::Ident && t.text(&code) == w;
        let Some(begin) = tokens.iter().rposition(|t| word(t, "begin")) else {
            break;
        };
        // Its `rescue` and `end`, skipping the `do .. end` blocks inside.
        let (mut depth, mut rescue, mut end) = (0, None, None);
        for (k, t) in tokens.iter().enumerate().skip(begin + 1) {
            if word(t, "do") {
                depth += 1;
            } else if word(t, "end") && depth > 0 {
                depth -= 1;
            } else if word(t, "end") {
                end = Some(k);
                break;
            } else if word(t, "rescue") && depth == 0 {
                rescue = Some(k);
            }
        }
        let (Some(rescue), Some(end)) = (rescue, end) else {
            break;
        };
        // `rescue => e` or `rescue StandardError => e`: the name after `=>`.
        let rest = &code[tokens[rescue].end..];
        let line_end = rest.find(['\n', ';']).unwrap_or(rest.len());
        let (catch, body_start) = match rest[..line_end].split_once("=>") {
            Some((_, name)) if name.trim().chars().all(is_ident) && !name.trim().is_empty() => (
                format!("catch ({})", name.trim()),
                tokens[rescue].end + line_end,
            ),
            _ if rest[..line_end]
                .trim()
                .chars()
                .all(|c| is_ident(c) || c == ':') =>
            {
                ("catch".to_owned(), tokens[rescue].end + line_end)
            }
            _ => ("catch".to_owned(), tokens[rescue].end),
        };
        let tried = code[tokens[begin].end..tokens[rescue].start].trim();
        let handler = code[body_start..tokens[end].start].trim();
        code = format!(
            "{}try {{ {tried} }} {catch} {{ {handler} }}{}",
            &code[..tokens[begin].start],
            &code[tokens[end].end..]
        );
    }
    code
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
        let ends_statement = matches!(chars.get(i), None | Some('\n' | ';' | '}'));
        let statement = ends_statement
            .then(|| modifier(&statement))
            .flatten()
            .or_else(|| paren_less_call(&statement))
            .unwrap_or(statement);
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

/// `puts x if cond` → `if cond { puts(x) }`, `puts x unless cond` → `if !(cond) { puts(x) }`.
fn modifier(statement: &str) -> Option<String> {
    let indent = &statement[..statement.len() - statement.trim_start().len()];
    let trailing = &statement[statement.trim_end().len()..];
    let body = statement.trim();
    let found = tokens(body).into_iter().find(|t| {
        t.kind == TokenKind::Ident && t.start > 0 && matches!(t.text(body), "if" | "unless")
    })?;
    let action = body[..found.start].trim();
    let condition = body[found.end..].trim();
    if action.is_empty() || condition.is_empty() || action.ends_with('=') {
        return None;
    }
    let action = paren_less_call(action).unwrap_or_else(|| action.to_owned());
    let condition = if found.text(body) == "unless" {
        format!("!({condition})")
    } else {
        condition.to_owned()
    };
    Some(format!("{indent}if {condition} {{ {action} }}{trailing}"))
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
    let spaced = if value.is_empty() { "" } else { " " };
    Some(format!("{indent}let {name} ={spaced}{value}{trailing}"))
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
    fn where_becomes_a_filter_of_all_users() {
        assert_eq!(
            hint("User.where(admin: true)"),
            "User.all.filter(|u| u.admin)"
        );
        assert_eq!(
            hint("User.where(admin: false, state: 'active').count"),
            "User.all.filter(|u| !u.admin && u.state == \"active\").count"
        );
    }

    #[test]
    fn select_becomes_filter() {
        assert_eq!(
            hint("ActiveSession.list(user).select { |s| s.admin_mode }"),
            "ActiveSession.list(user).filter(|s| { s.admin_mode })"
        );
    }

    #[test]
    fn begin_rescue_becomes_try_catch() {
        assert_eq!(
            hint("begin\n  User.find(99)\nrescue => e\n  puts e\nend"),
            "try { User.find(99) } catch (e) { puts(e) }"
        );
        assert_eq!(
            hint("begin User.find(99) rescue puts 'none' end"),
            "try { User.find(99) } catch { puts(\"none\") }"
        );
    }

    #[test]
    fn statement_modifiers_become_ifs() {
        assert_eq!(hint("puts x if x > 1"), "if x > 1 { puts(x) }");
        assert_eq!(
            hint("puts 'none' unless any"),
            "if !(any) { puts(\"none\") }"
        );
        assert_eq!(
            hint("User.all.each { |u| puts u.name if u.admin }"),
            "User.all.each(|u| { if u.admin { puts(u.name) } })"
        );
    }

    #[test]
    fn ruby_idioms_get_their_rhai_forms() {
        assert_eq!(hint("x = nil"), "let x = ()");
        assert_eq!(hint("user.nil?"), "user == ()");
        assert_eq!(hint("user.sessions.any?"), "user.sessions.any()");
        assert_eq!(
            hint("user.sessions.any? { |s| s.admin_mode }"),
            "user.sessions.any(|s| { s.admin_mode })"
        );
        assert_eq!(hint("user.sessions.empty?"), "user.sessions.is_empty()");
        assert_eq!(hint("30.days.ago"), "now() - days(30)");
        assert_eq!(
            hint("s.updated_at < 2.weeks.ago"),
            "s.updated_at < now() - days(2 * 7)"
        );
        assert_eq!(hint("now() + 3.hours"), "now() + hours(3)");
        assert_eq!(
            hint("user.sessions.map(&:ip_address)"),
            "user.sessions.map(|x| x.ip_address)"
        );
    }

    #[test]
    fn interpolation_and_backtick_escapes_get_notes() {
        let notes = super::notes(r##"puts("#{u.name}")"##);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("`${u.name}`"), "{notes:?}");
        let notes = super::notes(r"puts(`${a}\t${b}`)");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("as typed"), "{notes:?}");
        assert!(super::notes(r#"puts(`${a}` + "\t")"#).is_empty());
    }

    #[test]
    fn the_hints_run() {
        let (_dir, mut evaluator) = crate::console::testing::evaluator();
        let _ = evaluator
            .eval(
                "setup",
                r#"let u = User.create(#{username: "ann", email: "ann@example.com", admin: true});
                ActiveSession.set(u, #{ip_address: "10.0.0.1", user_agent: "curl/8"});"#,
            )
            .unwrap();
        for ruby in [
            "User.where(admin: true)",
            "30.days.ago",
            "x = nil",
            "User.first.sessions.any?",
            "User.first.sessions.empty?",
            "User.first.nil?",
            "User.all.map(&:username)",
            "User.all.select { |u| u.admin }",
            "puts 'many' if User.count > 1",
            "puts 'none' unless User.count > 1",
            "begin\n  User.find(99)\nrescue => e\n  puts e\nend",
            r##"puts "#{User.count} users""##,
        ] {
            let rhai = hint(ruby);
            if let Err(error) = evaluator.eval("hint", &rhai) {
                panic!("{ruby} → {rhai}: {error}");
            }
        }
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
            "let x = if a { 1 } else { 2 }",
            "User.all.filter(|u| u.admin)",
            "if x > 1 { puts(x) }",
            "try { f() } catch (e) { puts(e) }",
            "let n = 1.5",
            "xs.map(|x| x.name)",
        ] {
            assert_eq!(ruby_hint(code), None, "{code}");
        }
    }
}
