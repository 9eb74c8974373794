//! IRB's `_` (the last result). rhai reserves a lone `_` for `switch` defaults, so a lone `_`
//! outside strings and comments, and not before `=>`, is read as the variable [`VARIABLE`].

use std::borrow::Cow;

/// The variable that holds the last result.
pub const VARIABLE: &str = "_last_result";

/// `code` with every lone `_` that stands for the last result renamed.
pub fn rewrite(code: &str) -> Cow<'_, str> {
    if !code.contains('_') {
        return Cow::Borrowed(code);
    }
    let chars: Vec<char> = code.chars().collect();
    let mut out = String::with_capacity(code.len() + 16);
    let mut i = 0;
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '`' | '\'' => {
                // Copy the literal through, escapes included.
                out.push(c);
                i += 1;
                while i < chars.len() && chars[i] != c {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        out.push(chars[i]);
                        i += 1;
                    }
                    out.push(chars[i]);
                    i += 1;
                }
                if i < chars.len() {
                    out.push(chars[i]);
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    out.push(chars[i]);
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    out.push(chars[i]);
                    i += 1;
                }
                out.extend(chars[i..chars.len().min(i + 2)].iter());
                i += 2;
            }
            '_' if (i == 0 || !is_ident(chars[i - 1]))
                && !chars.get(i + 1).is_some_and(|&n| is_ident(n)) =>
            {
                let rest: String = chars[i + 1..].iter().collect();
                if rest.trim_start().starts_with("=>") {
                    out.push('_');
                } else {
                    out.push_str(VARIABLE);
                }
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::rewrite;

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
}
