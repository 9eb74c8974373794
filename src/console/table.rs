//! Results as tables: a list of users or sessions ([`crate::script::Shown`]) — an array, or
//! the lazy `User.all` and `ActiveSession.list(User.all)`, which are streamed, never loaded
//! whole — prints with the columns an administrator reads, the first [`ROWS`] of them and
//! "… N more" with how to see them. Rows are numbered from 0, so that `_[3]` is row 3. A
//! table fits the terminal's width: no word is ever broken (IPs, usernames and dates stay
//! whole); the least useful columns are dropped first when they do not fit, and only then do
//! cells wrap between words. One user's sessions leave out the User column. Lists of maps with
//! the same keys (`Audit.recent(5)`) are tables too.

use std::collections::HashMap;

use crate::model::{ActiveSession, User};
use crate::registry::Registry;
use chrono::{DateTime, Utc};
use comfy_table::{Attribute, Cell, ColumnConstraint, ContentArrangement, Table, Width, presets};
use owo_colors::OwoColorize;

/// How many rows a table shows.
pub const ROWS: usize = 20;

/// How tables are laid out: colour, the width to fit (the terminal's when `None`), and psql's
/// expanded view (`\x`).
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub color: bool,
    pub width: Option<u16>,
    pub expanded: Expanded,
}

/// psql's `\x`: a table, one block per record, or a block per record when the table would
/// not fit the width whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Expanded {
    #[default]
    Off,
    On,
    Auto,
}

impl Expanded {
    /// The mode `\x ARG` sets from this one: no argument toggles on and off.
    pub fn after(self, arg: &str) -> Option<Self> {
        match arg {
            "" => Some(if self == Self::Off {
                Self::On
            } else {
                Self::Off
            }),
            "on" => Some(Self::On),
            "off" => Some(Self::Off),
            "auto" => Some(Self::Auto),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::On => "on",
            Self::Auto => "auto",
        }
    }
}

/// A table of users.
pub fn users(users: impl Iterator<Item = Result<User, String>>, layout: Layout) -> String {
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
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|u| {
            vec![
                u.id.to_string(),
                u.username,
                u.name,
                u.email,
                u.state.as_str().to_owned(),
                if u.admin { "yes" } else { "" }.to_owned(),
                u.last_sign_in_at.map_or_else(|| "never".to_owned(), time),
            ]
        })
        .collect();
    let droppable = ["Admin", "State", "Name", "Last sign-in"];
    finish(&header, rows, &droppable, rest, "users", layout)
}

/// A table of sessions; `registry` names their users.
pub fn sessions(
    sessions: impl Iterator<Item = Result<ActiveSession, String>>,
    registry: &Registry,
    layout: Layout,
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
    // One user's sessions: the User column would repeat one name; the footer says it.
    let mut what = "sessions".to_owned();
    let mut header = header.to_vec();
    let mut rows = rows;
    if let Some(first) = rows.first().map(|row| row[0].clone())
        && rows.iter().all(|row| row[0] == first)
    {
        header.remove(0);
        for row in &mut rows {
            row.remove(0);
        }
        what = format!("sessions of {first}");
    }
    let droppable = ["Flags", "Device", "Signed in", "OS", "Browser"];
    finish(&header, rows, &droppable, rest, &what, layout)
}

/// A table of records (maps with the same keys, e.g. `Audit.recent(5)`): every column is
/// kept (which to drop is not known), cells wrap between words.
pub fn records(header: &[String], rows: Vec<Vec<String>>, layout: Layout) -> String {
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let (rows, rest) = take_rows(rows.into_iter().map(Ok));
    let what = if rows.len() == 1 && matches!(rest, Rest::More(0)) {
        "record"
    } else {
        "records"
    };
    finish(&header, rows, &[], rest, what, layout)
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

/// Lays the rows out under `header`, numbered, in the layout's width (the terminal's when
/// `None`): while the words do not fit, the columns named in `droppable` go, in that order.
/// Expanded (or, with `Auto`, when the whole table does not fit), one block per record.
fn finish(
    header: &[&str],
    mut rows: Vec<Vec<String>>,
    droppable: &[&str],
    rest: Rest,
    what: &str,
    layout: Layout,
) -> String {
    let mut header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    header.insert(0, "#".to_owned());
    for (number, row) in rows.iter_mut().enumerate() {
        row.insert(0, number.to_string());
    }
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if let Some(width) = layout.width {
        table.set_width(width);
    }
    let footer = footer(rows.len(), rest, what);
    let fits = |header: &[String], rows: &[Vec<String>]| {
        table.width().is_none_or(|width| {
            widest(header, rows, true)
                .iter()
                .map(|w| w + 3)
                .sum::<usize>()
                < usize::from(width)
        })
    };
    if layout.expanded == Expanded::On
        || (layout.expanded == Expanded::Auto && !fits(&header, &rows))
    {
        return format!("{}{footer}", expanded(&header, &rows, layout.color));
    }
    // Columns go before any cell wraps.
    for name in droppable {
        if fits(&header, &rows) {
            break;
        }
        if let Some(column) = header.iter().position(|h| h == name) {
            header.remove(column);
            for row in &mut rows {
                row.remove(column);
            }
        }
    }
    // No cell is narrower than its longest word, so no word is ever broken.
    let longest = widest(&header, &rows, false);
    table.set_header(header.iter().map(|h| {
        if layout.color {
            Cell::new(h).add_attribute(Attribute::Bold)
        } else {
            Cell::new(h)
        }
    }));
    for row in rows {
        table.add_row(row);
    }
    // comfy-table counts the cell's padding (a space each side) in the width.
    table.set_constraints(longest.iter().map(|&word| {
        ColumnConstraint::LowerBoundary(Width::Fixed(u16::try_from(word + 2).unwrap_or(u16::MAX)))
    }));
    format!("{table}\n{footer}")
}

/// The widest cell (`whole`) or word of each column.
fn widest(header: &[String], rows: &[Vec<String>], whole: bool) -> Vec<usize> {
    (0..header.len())
        .map(|column| {
            std::iter::once(&header[column])
                .chain(rows.iter().map(|row| &row[column]))
                .flat_map(|cell| {
                    if whole {
                        vec![cell.as_str()]
                    } else {
                        cell.split_whitespace().collect()
                    }
                })
                .map(|text| text.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect()
}

/// psql's expanded view: each row (numbered in `header[0]`, `#`) a block headed
/// `-[ RECORD n ]`, then `field | value` a line. Every field is kept; a long value runs on.
fn expanded(header: &[String], rows: &[Vec<String>], color: bool) -> String {
    let names = &header[1..];
    let name_width = names.iter().map(|h| h.chars().count()).max().unwrap_or(0);
    let value_width = rows
        .iter()
        .flat_map(|row| row[1..].iter().map(|v| v.chars().count()))
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for row in rows {
        let title = format!("-[ RECORD {} ]", row[0]);
        let left = (name_width + 1).max(title.chars().count() + 1);
        let rule = format!(
            "{title}{}+{}",
            "-".repeat(left - title.chars().count()),
            "-".repeat(value_width + 1)
        );
        out.push_str(&rule);
        out.push('\n');
        for (name, value) in names.iter().zip(&row[1..]) {
            let pad = " ".repeat(left - 1 - name.chars().count());
            let line = if color {
                format!("{}{pad} | {value}", name.bold())
            } else {
                format!("{name}{pad} | {value}")
            };
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

/// The line under a table: how many rows, or how many more and how to see them, or why the
/// stream stopped.
fn footer(shown: usize, rest: Rest, what: &str) -> String {
    match rest {
        // "1 user", "1 session of #2 x", "1 record".
        Rest::More(0) if shown == 1 => {
            let (noun, rest) = what.split_once(' ').unwrap_or((what, ""));
            let noun = noun.strip_suffix('s').unwrap_or(noun);
            format!("1 {noun} {rest}").trim_end().to_owned()
        }
        Rest::More(0) => format!("{shown} {what}"),
        Rest::More(more) => format!(
            "… {} more ({} {what} in all): puts(_) prints every one",
            thousands(more as u64),
            thousands((shown + more) as u64)
        ),
        Rest::Stopped(error) => format!("… stopped: {error}"),
    }
}

/// A time in the viewer's zone, named: `2026-01-01 22:00 JST` (see [`crate::zone::short`]).
fn time(at: DateTime<Utc>) -> String {
    crate::zone::short(at)
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

    fn layout(expanded: Expanded, width: u16) -> Layout {
        Layout {
            color: false,
            width: Some(width),
            expanded,
        }
    }

    fn sessions_header() -> Vec<&'static str> {
        vec![
            "IP",
            "Browser",
            "OS",
            "Device",
            "Signed in",
            "Last active",
            "Flags",
        ]
    }

    fn session_row() -> Vec<String> {
        [
            "203.0.113.254",
            "Mobile Safari",
            "iOS",
            "iPhone (smartphone)",
            "2026-11-09 00:03",
            "2026-11-24 12:56",
            "impersonated, admin mode",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    #[test]
    fn a_narrow_table_drops_columns_and_never_breaks_a_word() {
        let rows = vec![session_row(), session_row()];
        let droppable = ["Flags", "Device", "Signed in", "OS", "Browser"];
        let text = finish(
            &sessions_header(),
            rows.clone(),
            &droppable,
            Rest::More(0),
            "sessions",
            layout(Expanded::Off, 80),
        );
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        for word in ["203.0.113.254", "2026-11-24", "12:56"] {
            assert_eq!(text.matches(word).count(), 2, "{word} broken in\n{text}");
        }
        assert!(!text.contains("Flags") && text.contains("Last"), "{text}");
        let wide = finish(
            &sessions_header(),
            rows,
            &droppable,
            Rest::More(0),
            "sessions",
            layout(Expanded::Off, 200),
        );
        assert!(
            wide.contains("Flags") && wide.contains("impersonated"),
            "{wide}"
        );
    }

    #[test]
    fn rows_are_numbered_from_0_and_the_rest_says_how_to_see_it() {
        let text = finish(
            &["IP"],
            vec![vec!["1.1.1.1".into()], vec!["2.2.2.2".into()]],
            &[],
            Rest::More(1_280),
            "sessions",
            layout(Expanded::Off, 80),
        );
        let numbered: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(".1.1.1") || l.contains(".2.2.2"))
            .collect();
        assert!(
            numbered[0].starts_with("│ 0 ") && numbered[1].starts_with("│ 1 "),
            "{text}"
        );
        assert!(
            text.ends_with("… 1,280 more (1,282 sessions in all): puts(_) prints every one"),
            "{text}"
        );
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

    #[test]
    fn the_expanded_view_is_one_block_per_record() {
        let droppable = ["Flags", "Device", "Signed in", "OS", "Browser"];
        let text = finish(
            &sessions_header(),
            vec![session_row(), session_row()],
            &droppable,
            Rest::More(0),
            "sessions",
            layout(Expanded::On, 200),
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0], "-[ RECORD 0 ]-+-------------------------",
            "{text}"
        );
        assert_eq!(lines[1], "IP            | 203.0.113.254", "{text}");
        assert_eq!(
            lines[7], "Flags         | impersonated, admin mode",
            "{text}"
        );
        assert!(lines[8].starts_with("-[ RECORD 1 ]-+"), "{text}");
        assert_eq!(lines[16], "2 sessions", "{text}");
        assert_eq!(lines.len(), 17, "{text}");
    }

    #[test]
    fn the_automatic_view_expands_only_a_table_that_does_not_fit() {
        let droppable = ["Flags", "Device", "Signed in", "OS", "Browser"];
        let at = |width| {
            finish(
                &sessions_header(),
                vec![session_row()],
                &droppable,
                Rest::More(0),
                "sessions",
                layout(Expanded::Auto, width),
            )
        };
        assert!(at(200).starts_with('┌'), "{}", at(200));
        assert!(at(80).starts_with("-[ RECORD 0 ]"), "{}", at(80));
    }
}
