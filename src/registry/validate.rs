//! The rules every stored text and id keeps, in one place, on every path that writes one
//! (`User.create`, `ActiveSession.set`, import, seeding): usernames and emails well formed,
//! IP addresses real IPv4 or IPv6 addresses, every text field of bounded length, and ids below
//! 2^63 (a script's integer). An error names the field and shows a value cut to
//! [`SHOWN_CHARS`] characters.

use crate::{Error, Result};

/// The longest username, email and name, in characters.
pub const MAX_NAME_CHARS: usize = 255;
/// The longest browser, OS, device name and device type of a stored session, in characters.
pub const MAX_TEXT_CHARS: usize = 255;
/// The largest id: scripts hold ids as rhai integers (`i64`).
pub const MAX_ID: u64 = i64::MAX as u64;
/// How much of a rejected value an error shows.
pub const SHOWN_CHARS: usize = 40;

fn invalid(field: &'static str, value: &str, reason: &str) -> Error {
    Error::InvalidField {
        field,
        reason: format!("{} {reason}", shown(value)),
    }
}

/// `text` cut to `max` characters, ending with `…` when it was cut: what error messages
/// show of a long input.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// `value` quoted, cut to [`SHOWN_CHARS`] characters with its length when longer.
pub fn shown(value: &str) -> String {
    let length = value.chars().count();
    if length <= SHOWN_CHARS {
        format!("{value:?}")
    } else {
        let start: String = value.chars().take(SHOWN_CHARS).collect();
        format!("{start:?}… ({length} characters)")
    }
}

/// Refuses a text longer than `max` characters.
pub fn length(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.chars().count() > max {
        return Err(invalid(
            field,
            value,
            &format!("is longer than {max} characters"),
        ));
    }
    Ok(())
}

pub fn username(username: &str) -> Result<String> {
    let username = username.trim();
    if username.is_empty() {
        return Err(invalid("username", username, "is empty"));
    }
    length("username", username, MAX_NAME_CHARS)?;
    if !username
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(invalid(
            "username",
            username,
            "may hold only letters, digits, '_', '-' and '.'",
        ));
    }
    Ok(username.to_owned())
}

pub fn email(email: &str) -> Result<String> {
    let email = email.trim();
    length("email", email, MAX_NAME_CHARS)?;
    let valid = !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if !valid {
        return Err(invalid("email", email, "is not an email address"));
    }
    Ok(email.to_owned())
}

/// A full name: any text up to [`MAX_NAME_CHARS`] characters, trimmed.
pub fn name(name: &str) -> Result<String> {
    let name = name.trim();
    length("name", name, MAX_NAME_CHARS)?;
    Ok(name.to_owned())
}

/// An IPv4 or IPv6 address, as typed (trimmed).
pub fn ip_address(ip: &str) -> Result<String> {
    let ip = ip.trim();
    if ip.parse::<std::net::IpAddr>().is_err() {
        return Err(invalid("ip_address", ip, "is not an IPv4 or IPv6 address"));
    }
    Ok(ip.to_owned())
}

/// A user id from outside (an import): 1 to 2^63 - 1.
pub fn user_id(id: u64, username: &str) -> Result<u64> {
    if id == 0 || id > MAX_ID {
        return Err(Error::InvalidField {
            field: "id",
            reason: format!(
                "user {} has id {id}; ids run from 1 to {MAX_ID}",
                shown(username)
            ),
        });
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addresses_are_v4_or_v6() {
        for ip in ["10.0.0.1", "2001:db8::1", "::1", " 192.168.1.20 "] {
            assert_eq!(ip_address(ip).unwrap(), ip.trim());
        }
        for ip in [
            "",
            "10.0.0",
            "10.0.0.256",
            "example.com",
            "1.2.3.4/24",
            "::g",
        ] {
            assert!(ip_address(ip).is_err(), "{ip}");
        }
    }

    #[test]
    fn texts_have_length_limits_and_errors_show_them_cut() {
        let long = "n".repeat(10_000_000);
        let error = name(&long).unwrap_err().to_string();
        assert!(error.len() < 120, "{error}");
        assert!(
            error.contains("(10000000 characters) is longer than 255"),
            "{error}"
        );
        assert!(name(&"n".repeat(255)).is_ok());
        assert!(username(&"u".repeat(256)).is_err());
        assert!(email(&format!("{}@example.com", "e".repeat(250))).is_err());
    }

    #[test]
    fn ids_stay_below_two_to_the_63() {
        assert_eq!(user_id(MAX_ID, "u").unwrap(), MAX_ID);
        assert!(user_id(MAX_ID + 1, "u").is_err());
        assert!(user_id(0, "u").is_err());
    }
}
