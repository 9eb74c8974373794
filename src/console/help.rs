//! The console's `help`: an overview, and for each topic the members the scripting API's
//! catalogue ([`crate::script::catalogue`]) lists, one line each.

use std::fmt::Write as _;

use crate::script::catalogue::{Kind, Member, members};

/// The topics `help TOPIC` knows (completion offers them).
pub const TOPICS: &[&str] = &["User", "ActiveSession", "Audit", "functions", "Time"];

/// Words the console itself understands, outside rhai.
pub const COMMANDS: &[&str] = &["help", "exit", "quit", "\\x", "\\pager"];

const OVERVIEW: &str = "\
Type rhai code; its value is printed as `=> value`, lists of users or sessions as a table.
Variables (`let user = User.find(1)`) and functions (`fn f(x) { .. }`) stay defined; `_` is the
last result. An unfinished line (an open `{`, `(` or backtick string) continues on the next.

Objects:
  User            find, list and create users             help User
  ActiveSession   list and revoke sessions                help ActiveSession
  Audit           the audit log: Audit.recent(20)         help Audit
  now(), days(n), hours(n), minutes(n), seconds(n)        times: now() - days(30)
  puts(x), pp(x)  print plainly / in the inspect form

Examples:
  let user = User.find_by_username(\"exampleuser\")
  ActiveSession.list(user)
  ActiveSession.list(User.all).filter(|s| s.updated_at < now() - days(30))
  User.find_each(|u| { let n = ActiveSession.list(u).len(); if n > 0 { puts(`${u.username}: ${n}`) } })

Commands:
  help [User|ActiveSession|Audit|functions]   this text, or an object's methods
  \\x [on|off|auto]                             one block per record (auto: when a table is too wide)
  \\pager [on|off]                              long results through $PAGER (default less)
  exit, quit, Ctrl-D                          leave
  Tab completes, Ctrl-C clears the line or stops what runs, Ctrl-R searches history.";

/// In `help`, calls longer than this get a line of their own.
const WIDEST: usize = 40;

/// The text `help TOPIC` prints, or `None` for an unknown topic.
pub fn help(topic: &str) -> Option<String> {
    let sections: &[(&str, Kind)] = match topic {
        "" => return Some(OVERVIEW.to_owned()),
        "User" | "user" | "users" => &[
            ("User.", Kind::UserClass),
            ("user.", Kind::User),
            ("User.all.", Kind::Users),
        ],
        "ActiveSession" | "session" | "sessions" => &[
            ("ActiveSession.", Kind::SessionClass),
            ("session.", Kind::Session),
            ("ActiveSession.list(User.all).", Kind::Sessions),
        ],
        "Audit" => &[("Audit.", Kind::AuditClass)],
        "functions" => &[("", Kind::Global)],
        "Time" | "Duration" => &[("time.", Kind::Time), ("duration.", Kind::Duration)],
        _ => return None,
    };
    let mut text = String::new();
    for &(receiver, kind) in sections {
        let rows: Vec<(String, &str)> = members(kind)
            .iter()
            .map(|m: &Member| match m.params {
                Some(params) => (format!("{receiver}{}({params})", m.name), m.about),
                None => (format!("{receiver}{}", m.name), m.about),
            })
            .collect();
        let width = rows
            .iter()
            .map(|(call, _)| call.chars().count())
            .filter(|&n| n <= WIDEST)
            .max()
            .unwrap_or(WIDEST);
        for (call, about) in rows {
            if call.chars().count() > width {
                let _ = writeln!(text, "  {call}\n  {:width$}  {about}", "");
            } else {
                let _ = writeln!(text, "  {call:width$}  {about}");
            }
        }
        text.push('\n');
    }
    Some(text.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_list_their_members() {
        let user = help("User").unwrap();
        assert!(user.contains("User.find_by_username(username)"), "{user}");
        assert!(user.contains("user.sessions"), "{user}");
        let sessions = help("ActiveSession").unwrap();
        assert!(
            sessions.contains("ActiveSession.destroy_all  "),
            "{sessions}"
        );
        assert!(help("").unwrap().contains("help ActiveSession"));
        assert!(help("nonsense").is_none());
    }
}
