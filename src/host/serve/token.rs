//! The session token the API hands the application for its cookie: `USER_ID.PUBLIC_ID`. The
//! public id is the session's secret (128 random bits; only its SHA-256, the private id, is
//! stored); the user id in front lets a request find the session in one read of that user's
//! sessions, as GitLab's `session:user:gitlab::v2:USER_ID:PRIVATE_ID` keys do. A changed user id
//! names no session: the public id's hash is looked up under it.

use std::fmt;

/// A parsed `X-Session-Token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionToken {
    pub user_id: u64,
    pub public_id: String,
}

/// The longest public id a token may carry (ours are 32 hex digits).
const MAX_PUBLIC_ID: usize = 128;

impl SessionToken {
    /// `None` for anything but a user id, a dot and a public id of ASCII letters and digits.
    pub fn parse(text: &str) -> Option<Self> {
        let (user, public_id) = text.split_once('.')?;
        let valid_id = !public_id.is_empty()
            && public_id.len() <= MAX_PUBLIC_ID
            && public_id.bytes().all(|b| b.is_ascii_alphanumeric());
        if !valid_id || !user.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(Self {
            user_id: user.parse().ok()?,
            public_id: public_id.to_owned(),
        })
    }
}

impl fmt::Display for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.user_id, self.public_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_and_anything_else_is_refused() {
        let token = SessionToken {
            user_id: 42,
            public_id: "0123456789abcdef0123456789abcdef".into(),
        };
        assert_eq!(SessionToken::parse(&token.to_string()), Some(token));
        let long = format!("1.{}", "a".repeat(MAX_PUBLIC_ID + 1));
        for bad in [
            "", "42", "42.", ".abc", "x.abc", "-1.abc", "1.a-b", "1.a.b", "+1.ab", &long,
        ] {
            assert_eq!(SessionToken::parse(bad), None, "{bad}");
        }
        assert_eq!(SessionToken::parse("99999999999999999999.ab"), None);
    }
}
