//! The one scanner of rhai source text: [`tokens`] splits code into identifiers, numbers,
//! strings (backtick strings with their `${..}` interpolations), comments, whitespace and
//! punctuation, with byte spans. The console's highlighting, completion and Ruby-habit hints
//! and IRB's `_` all read code through it; it never fails: unfinished input is scanned as far
//! as it goes.

/// What a piece of code is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A name or keyword: `User`, `let`, `_`.
    Ident,
    /// A number: `30`, `1.5`, `0xff`, `1_000`.
    Number,
    /// A string or character literal, quotes included; a backtick string includes its
    /// interpolations. `closed` is false when the code (or, for `"` and `'`, the line) ends
    /// first.
    Str { quote: char, closed: bool },
    /// A `// ..` line comment or a `/* .. */` block comment (which nest).
    Comment,
    /// Spaces, tabs and line breaks.
    Space,
    /// Any other single character: `.`, `(`, `=`, `#`.
    Punct,
}

/// One piece of code: its kind and its byte span `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// The token's text in `code`, the text it was scanned from.
    pub fn text(self, code: &str) -> &str {
        &code[self.start..self.end]
    }

    /// Whether the token is the punctuation `c`.
    pub fn is_punct(self, code: &str, c: char) -> bool {
        self.kind == TokenKind::Punct && code[self.start..].starts_with(c)
    }

    pub fn is_str(self) -> bool {
        matches!(self.kind, TokenKind::Str { .. })
    }
}

/// Whether `c` may be part of a name.
pub fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `code` as tokens, covering every byte of it in order.
pub fn tokens(code: &str) -> Vec<Token> {
    let mut scanner = Scanner { code, pos: 0 };
    let mut tokens = Vec::new();
    while scanner.pos < code.len() {
        let start = scanner.pos;
        let kind = scanner.token();
        tokens.push(Token {
            kind,
            start,
            end: scanner.pos,
        });
    }
    tokens
}

struct Scanner<'a> {
    code: &'a str,
    pos: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<char> {
        self.code[self.pos..].chars().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.code[self.pos..].chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn bump_while(&mut self, keep: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&keep) {
            self.bump();
        }
    }

    /// Scans one token from `pos` (which is not at the end).
    fn token(&mut self) -> TokenKind {
        let Some(c) = self.bump() else {
            return TokenKind::Space;
        };
        match c {
            '/' if self.peek() == Some('/') => {
                self.bump_while(|c| c != '\n');
                TokenKind::Comment
            }
            '/' if self.peek() == Some('*') => {
                self.bump();
                self.block_comment();
                TokenKind::Comment
            }
            '"' | '\'' => TokenKind::Str {
                quote: c,
                closed: self.line_string(c),
            },
            '`' => TokenKind::Str {
                quote: c,
                closed: self.backtick_string(),
            },
            c if c.is_ascii_digit() => {
                loop {
                    match self.peek() {
                        Some(c) if c.is_ascii_alphanumeric() || c == '_' => {}
                        Some('.') if self.peek_second().is_some_and(|n| n.is_ascii_digit()) => {}
                        _ => break,
                    }
                    self.bump();
                }
                TokenKind::Number
            }
            c if is_ident(c) => {
                self.bump_while(is_ident);
                TokenKind::Ident
            }
            c if c.is_whitespace() => {
                self.bump_while(char::is_whitespace);
                TokenKind::Space
            }
            _ => TokenKind::Punct,
        }
    }

    /// The rest of a block comment, nested ones included.
    fn block_comment(&mut self) {
        let mut depth = 1;
        while let Some(c) = self.bump() {
            match c {
                '*' if self.peek() == Some('/') => {
                    self.bump();
                    depth -= 1;
                    if depth == 0 {
                        return;
                    }
                }
                '/' if self.peek() == Some('*') => {
                    self.bump();
                    depth += 1;
                }
                _ => {}
            }
        }
    }

    /// The rest of a `"` or `'` literal, which ends at the line's end; whether it is closed.
    fn line_string(&mut self, quote: char) -> bool {
        while let Some(c) = self.peek() {
            if c == '\n' {
                return false;
            }
            self.bump();
            if c == '\\' {
                self.bump();
            } else if c == quote {
                return true;
            }
        }
        false
    }

    /// The rest of a backtick string, across lines and through `${..}`; whether it is closed.
    fn backtick_string(&mut self) -> bool {
        while let Some(c) = self.bump() {
            match c {
                '\\' => {
                    self.bump();
                }
                '`' => return true,
                '$' if self.peek() == Some('{') => {
                    self.bump();
                    if !self.interpolation() {
                        return false;
                    }
                }
                _ => {}
            }
        }
        false
    }

    /// The code of a `${..}` up to and including its `}`; whether that was found.
    fn interpolation(&mut self) -> bool {
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            if c == '}' && depth == 0 {
                self.bump();
                return true;
            }
            let start = self.pos;
            if self.token() == TokenKind::Punct {
                match &self.code[start..self.pos] {
                    "{" => depth += 1,
                    "}" => depth -= 1,
                    _ => {}
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::{TokenKind, tokens};

    fn kinds(code: &str) -> Vec<(&str, TokenKind)> {
        tokens(code)
            .into_iter()
            .filter(|t| t.kind != TokenKind::Space)
            .map(|t| (t.text(code), t.kind))
            .collect()
    }

    const fn closed(quote: char) -> TokenKind {
        TokenKind::Str {
            quote,
            closed: true,
        }
    }

    #[test]
    fn code_is_split_into_tokens_covering_it() {
        let code = "let é_1 = User.find(12) + 1.5; // hi\nx";
        assert_eq!(
            kinds(code),
            vec![
                ("let", TokenKind::Ident),
                ("é_1", TokenKind::Ident),
                ("=", TokenKind::Punct),
                ("User", TokenKind::Ident),
                (".", TokenKind::Punct),
                ("find", TokenKind::Ident),
                ("(", TokenKind::Punct),
                ("12", TokenKind::Number),
                (")", TokenKind::Punct),
                ("+", TokenKind::Punct),
                ("1.5", TokenKind::Number),
                (";", TokenKind::Punct),
                ("// hi", TokenKind::Comment),
                ("x", TokenKind::Ident),
            ]
        );
        let all = tokens(code);
        assert_eq!(all.first().unwrap().start, 0);
        assert_eq!(all.last().unwrap().end, code.len());
        assert!(all.windows(2).all(|w| w[0].end == w[1].start));
    }

    #[test]
    fn strings_and_comments_hide_what_they_hold() {
        assert_eq!(
            kinds(r#""a \" // b" 'c' /* x /* y */ z */ _"#),
            vec![
                (r#""a \" // b""#, closed('"')),
                ("'c'", closed('\'')),
                ("/* x /* y */ z */", TokenKind::Comment),
                ("_", TokenKind::Ident),
            ]
        );
        // A `"` string ends with its line; a backtick one goes on.
        assert_eq!(
            kinds("\"ab\ncd"),
            vec![
                (
                    "\"ab",
                    TokenKind::Str {
                        quote: '"',
                        closed: false
                    }
                ),
                ("cd", TokenKind::Ident),
            ]
        );
        assert_eq!(
            kinds("`ab\ncd"),
            vec![(
                "`ab\ncd",
                TokenKind::Str {
                    quote: '`',
                    closed: false
                }
            )]
        );
    }

    #[test]
    fn interpolations_belong_to_their_backtick_string() {
        assert_eq!(
            kinds("`a ${ `b ${#{k: \"}\"}.k}` } c` + 1"),
            vec![
                ("`a ${ `b ${#{k: \"}\"}.k}` } c`", closed('`')),
                ("+", TokenKind::Punct),
                ("1", TokenKind::Number),
            ]
        );
        assert_eq!(
            kinds("`${x"),
            vec![(
                "`${x",
                TokenKind::Str {
                    quote: '`',
                    closed: false
                }
            )]
        );
    }
}
