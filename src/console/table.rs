//! Results as tables: a list of users or sessions ([`crate::script::Shown`]) — an array, or
//! the lazy `User.all` and `ActiveSession.list(User.all)`, which are streamed, never loaded
//! whole — prints with the columns an administrator reads, the first [`ROWS`] of them and
//! "… N more".

use std::collections::HashMap;

use crate::model::{ActiveSession, User};
use crate::registry::Registry;
use chrono::{DateTime, Utc};
use comfy_table::{Attribute, Cell, ContentArrangement, Table, presets};

/// How many rows a table shows.
pub const ROWS: usize = 20;

/// A table of users.
pub fn users(users: impl Iterator<Item = Result<User, String>>, color: bool) -> String {
    let header = [
        "ID",
        "Username",
        "Name",
        "Email",
        "State",
        "Admin",
        "Last sign-in",
    ];
    let (rows, rest) = take_rows(users);
    let rows = rows.into_iter().map(|u| {
        vec![
            u.id.to_string(),
            u.username,
            u.name,
            u.email,
            u.state.as_str().to_owned(),
            if u.admin { "yes" } else { "" }.to_owned(),
            u.last_sign_in_at.map_or_else(|| "never".to_owned(), time),
        ]
    });
    finish(&header, rows, rest, "users", color)
}

/// A table of sessions; `registry` names their users.
pub fn sessions(
    sessions: impl Iterator<Item = Result<ActiveSession, String>>,
    registry: &Registry,
    color: bool,
) -> String {
    let header = [
        "User",
        "IP",
        "Browser",
        "OS",
        "Device",
        "Signed in",
        "Last active",
        "Flags",
    ];
    let (rows, rest) = take_rows(sessions);
    let mut names: HashMap<u64, String> = HashMap::new();
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|s| {
            let user = names
                .entry(s.user_id)
                .or_insert_with(|| match registry.user(s.user_id) {
                    Ok(Some(user)) => format!("#{} {}", user.id, user.username),
                    _ => format!("#{}", s.user_id),
                })
                .clone();
            let device = if matches!(s.device_name.as_str(), "" | "Other" | "Unknown") {
                s.human_device_type()
            } else {
                format!("{} ({})", s.device_name, s.human_device_type())
            };
            let mut flags = Vec::new();
            if s.is_impersonated {
                flags.push("impersonated");
            }
            if s.admin_mode {
                flags.push("admin mode");
            }
            vec![
                user,
                s.ip_address.into(),
                s.browser.into(),
                s.os.into(),
                device,
                time(s.created_at),
                time(s.updated_at),
                flags.join(", "),
            ]
        })
        .collect();
    finish(&header, rows.into_iter(), rest, "sessions", color)
}

/// What follows the rows shown: how many more, or why the stream stopped.
enum Rest {
    More(usize),
    Stopped(String),
}

/// The first [`ROWS`] items, and how many more there are (counted while streaming).
fn take_rows<T>(items: impl Iterator<Item = Result<T, String>>) -> (Vec<T>, Rest) {
    let mut rows = Vec::new();
    let mut more = 0;
    for item in items {
        match item {
            Ok(item) if rows.len() < ROWS => rows.push(item),
            Ok(_) => more += 1,
            Err(error) => return (rows, Rest::Stopped(error)),
        }
    }
    (rows, Rest::More(more))
}

fn finish(
    header: &[&str],
    rows: impl Iterator<Item = Vec<String>>,
    rest: Rest,
    what: &str,
    color: bool,
) -> String {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header(header.iter().map(|h| {
        if color {
            Cell::new(h).add_attribute(Attribute::Bold)
        } else {
            Cell::new(h)
        }
    }));
    let mut shown = 0;
    for row in rows {
        table.add_row(row);
        shown += 1;
    }
    let footer = match rest {
        Rest::More(0) => format!("{shown} {what}"),
        Rest::More(more) => format!(
            "… {} more ({} {what} in all)",
            thousands(more as u64),
            thousands((shown + more) as u64)
        ),
        Rest::Stopped(error) => format!("… stopped: {error}"),
    };
    format!("{table}\n{footer}")
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn long_lists_are_cut() {
        let (rows, rest) = take_rows((0..25).map(Ok::<_, String>));
        assert_eq!(rows.len(), ROWS);
        assert!(matches!(rest, Rest::More(5)));
        let (rows, rest) = take_rows([Ok(1), Err("interrupted".to_owned())].into_iter());
        assert_eq!(rows, vec![1]);
        assert!(matches!(rest, Rest::Stopped(e) if e == "interrupted"));
    }
}
