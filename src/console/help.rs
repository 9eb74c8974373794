//! What the console knows about the scripting API: every global, method and property with its
//! parameters, what it returns and one line about it. `help` prints it; completion and the
//! signature hint in [`super::editor`] read it.

use std::fmt::Write as _;

/// The kinds of value the console can describe (and complete after a `.`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The top level: functions and globals.
    Global,
    /// The `User` global.
    UserClass,
    /// The `ActiveSession` global.
    SessionClass,
    /// The `Audit` global.
    AuditClass,
    User,
    Session,
    /// `User.all`, streamed.
    Users,
    /// `ActiveSession.list(User.all)`, streamed.
    Sessions,
    Array,
    Map,
    Time,
    Duration,
    String,
    Integer,
    Bool,
    /// Anything we cannot describe further.
    Other,
}

impl Kind {
    /// The kind of a value from [`crate::script::type_name`].
    pub fn of_type_name(name: &str) -> Kind {
        match name {
            "User" => Kind::User,
            "ActiveSession" => Kind::Session,
            "User.all" => Kind::Users,
            "a list of sessions" => Kind::Sessions,
            "Time" => Kind::Time,
            "Duration" => Kind::Duration,
            "array" => Kind::Array,
            "map" => Kind::Map,
            "string" => Kind::String,
            "integer" => Kind::Integer,
            "bool" => Kind::Bool,
            _ => Kind::Other,
        }
    }

    /// How a signature hint names a result of this kind.
    fn label(self) -> &'static str {
        match self {
            Kind::Global | Kind::Other => "value",
            Kind::UserClass | Kind::User => "User",
            Kind::SessionClass | Kind::Session => "ActiveSession",
            Kind::AuditClass => "Audit",
            Kind::Users => "all users (lazy)",
            Kind::Sessions => "sessions (lazy)",
            Kind::Array => "array",
            Kind::Map => "map",
            Kind::Time => "Time",
            Kind::Duration => "Duration",
            Kind::String => "string",
            Kind::Integer => "integer",
            Kind::Bool => "bool",
        }
    }
}

/// One function, method or property.
#[derive(Debug)]
pub struct Member {
    pub name: &'static str,
    /// The parameters of a function or method; `None` for a property.
    pub params: Option<&'static str>,
    pub returns: Kind,
    pub about: &'static str,
}

impl Member {
    /// `find(id) → User`, or `username → string` for a property.
    pub fn signature(&self) -> String {
        match self.params {
            Some(params) => format!("{}({params}) → {}", self.name, self.returns.label()),
            None => format!("{} → {}", self.name, self.returns.label()),
        }
    }
}

const fn method(
    name: &'static str,
    params: &'static str,
    returns: Kind,
    about: &'static str,
) -> Member {
    Member {
        name,
        params: Some(params),
        returns,
        about,
    }
}

const fn property(name: &'static str, returns: Kind, about: &'static str) -> Member {
    Member {
        name,
        params: None,
        returns,
        about,
    }
}

const GLOBALS: &[Member] = &[
    property(
        "User",
        Kind::UserClass,
        "find, list and create users (help User)",
    ),
    property(
        "ActiveSession",
        Kind::SessionClass,
        "list and revoke sessions (help ActiveSession)",
    ),
    property("Audit", Kind::AuditClass, "the audit log: Audit.recent(20)"),
    method("now", "", Kind::Time, "the current time"),
    method(
        "days",
        "n",
        Kind::Duration,
        "a duration of n days: now() - days(30)",
    ),
    method("hours", "n", Kind::Duration, "a duration of n hours"),
    method("minutes", "n", Kind::Duration, "a duration of n minutes"),
    method("seconds", "n", Kind::Duration, "a duration of n seconds"),
    method(
        "parse_time",
        "text",
        Kind::Time,
        "an ISO 8601 time: parse_time(\"2026-01-01T00:00:00Z\")",
    ),
    method(
        "puts",
        "value",
        Kind::Other,
        "print plainly; lists one element a line",
    ),
    method(
        "pp",
        "value",
        Kind::Other,
        "print the inspect form and return the value",
    ),
    method("p", "value", Kind::Other, "the same as pp"),
    method("print", "value", Kind::Other, "print a value"),
    method("type_of", "value", Kind::String, "the type name of a value"),
];

const USER_CLASS: &[Member] = &[
    method(
        "find",
        "id",
        Kind::User,
        "the user with this id; an error when there is none",
    ),
    method(
        "find_by_username",
        "username",
        Kind::User,
        "the user with this username, or ()",
    ),
    method(
        "find_by_email",
        "email",
        Kind::User,
        "the user with this email, or ()",
    ),
    method(
        "find_by",
        "#{username|email|id: ..}",
        Kind::User,
        "the user matching every condition, or ()",
    ),
    property(
        "all",
        Kind::Users,
        "every user, streamed in batches (also all())",
    ),
    property(
        "count",
        Kind::Integer,
        "how many users there are (also count())",
    ),
    method(
        "find_each",
        "|user| ..",
        Kind::Other,
        "call the closure for every user, in batches",
    ),
    method(
        "create",
        "#{username, email, name, admin, blocked}",
        Kind::User,
        "create a user",
    ),
];

const SESSION_CLASS: &[Member] = &[
    method(
        "list",
        "user | [users] | User.all",
        Kind::Array,
        "live sessions of a user (or lazily, of many)",
    ),
    method(
        "set",
        "user, #{ip_address, user_agent, public_id, impersonated, admin_mode}",
        Kind::Session,
        "sign in, or refresh a session",
    ),
    method(
        "destroy_session",
        "user, private_id",
        Kind::Bool,
        "revoke one session of a user",
    ),
    method(
        "destroy_sessions",
        "user, [private_ids]",
        Kind::Integer,
        "revoke several sessions of a user",
    ),
    method(
        "destroy_all_but_current",
        "user, current_private_id | ()",
        Kind::Integer,
        "revoke all but the current and impersonated ones",
    ),
    method(
        "revoke",
        "user, private_id, current_private_id | ()",
        Kind::Bool,
        "revoke as the user's page does (never the current one)",
    ),
    method(
        "cleanup",
        "user",
        Kind::Integer,
        "remove the user's sessions beyond the limit, oldest first",
    ),
    property(
        "destroy_all",
        Kind::Map,
        "revoke every session of every user (asks first)",
    ),
    method(
        "sweep_expired",
        "",
        Kind::Map,
        "remove every expired session",
    ),
    property(
        "count",
        Kind::Integer,
        "how many live sessions there are (also count())",
    ),
];

const AUDIT_CLASS: &[Member] = &[method(
    "recent",
    "n",
    Kind::Array,
    "the newest n audit entries",
)];

const USER: &[Member] = &[
    property("id", Kind::Integer, "the user's id"),
    property("username", Kind::String, "the username"),
    property("name", Kind::String, "the full name"),
    property("email", Kind::String, "the email address"),
    property("state", Kind::String, "\"active\" or \"blocked\""),
    property("admin", Kind::Bool, "whether the user is an administrator"),
    property("created_at", Kind::Time, "when the account was created"),
    property("last_sign_in_at", Kind::Time, "the last sign-in, or ()"),
    property(
        "sessions",
        Kind::Array,
        "the user's live sessions (also sessions())",
    ),
    property(
        "remember_tokens",
        Kind::Integer,
        "how many remember-me tokens the user has",
    ),
    method(
        "remember_me",
        "",
        Kind::String,
        "issue a remember-me token (returned once)",
    ),
    method(
        "forget_me",
        "",
        Kind::Integer,
        "revoke every remember-me token of the user",
    ),
];

const SESSION: &[Member] = &[
    property("user", Kind::User, "the session's user"),
    property("user_id", Kind::Integer, "the id of the session's user"),
    property(
        "ip_address",
        Kind::String,
        "the address of the last request",
    ),
    property("browser", Kind::String, "the browser, from the User-Agent"),
    property("os", Kind::String, "the operating system"),
    property("device_name", Kind::String, "the device, e.g. \"iPhone\""),
    property(
        "device_type",
        Kind::String,
        "e.g. \"desktop\", \"smartphone\"",
    ),
    property(
        "human_device_type",
        Kind::String,
        "the device type for people: \"Smartphone\"",
    ),
    property(
        "is_impersonated",
        Kind::Bool,
        "an administrator is acting as the user",
    ),
    property("admin_mode", Kind::Bool, "the session entered admin mode"),
    property("created_at", Kind::Time, "when the session signed in"),
    property("updated_at", Kind::Time, "the last request"),
    property(
        "session_private_id",
        Kind::String,
        "the stored id (a hash of the public one)",
    ),
    property(
        "public_id",
        Kind::String,
        "the cookie value, only right after ActiveSession.set",
    ),
    method("destroy", "", Kind::Bool, "revoke this session"),
];

const USERS: &[Member] = &[
    property("count", Kind::Integer, "how many users (also len(), size)"),
    method("len", "", Kind::Integer, "how many users"),
    method("is_empty", "", Kind::Bool, "whether there are no users"),
    method("any", "", Kind::Bool, "whether there is a user"),
    method(
        "each",
        "|user| ..",
        Kind::Other,
        "call the closure for every user",
    ),
    method(
        "find_each",
        "|user| ..",
        Kind::Other,
        "call the closure for every user, in batches",
    ),
    method(
        "map",
        "|user| ..",
        Kind::Array,
        "what the closure returns for every user",
    ),
    method(
        "filter",
        "|user| ..",
        Kind::Array,
        "the users the closure keeps",
    ),
    method("to_array", "", Kind::Array, "load every user into an array"),
];

const SESSIONS: &[Member] = &[
    property(
        "count",
        Kind::Integer,
        "how many sessions (also len(), size)",
    ),
    method("len", "", Kind::Integer, "how many sessions"),
    method("is_empty", "", Kind::Bool, "whether there are no sessions"),
    method(
        "any",
        "[|session| ..]",
        Kind::Bool,
        "whether there is a session (matching the closure)",
    ),
    method(
        "each",
        "|session| ..",
        Kind::Other,
        "call the closure for every session",
    ),
    method(
        "map",
        "|session| ..",
        Kind::Array,
        "what the closure returns for every session",
    ),
    method(
        "filter",
        "|session| ..",
        Kind::Array,
        "the sessions the closure keeps",
    ),
    method(
        "to_array",
        "",
        Kind::Array,
        "load every session into an array",
    ),
];

const ARRAY: &[Member] = &[
    method("len", "", Kind::Integer, "the number of elements"),
    method("is_empty", "", Kind::Bool, "whether it has no elements"),
    method(
        "each",
        "|x| ..",
        Kind::Other,
        "call the closure for every element",
    ),
    method(
        "any",
        "[|x| ..]",
        Kind::Bool,
        "whether an element exists (or matches)",
    ),
    method(
        "filter",
        "|x| ..",
        Kind::Array,
        "the elements the closure keeps",
    ),
    method(
        "map",
        "|x| ..",
        Kind::Array,
        "the closure's result for every element",
    ),
    method("all", "|x| ..", Kind::Bool, "whether every element matches"),
    method(
        "reduce",
        "|sum, x| .., initial",
        Kind::Other,
        "fold the elements into one value",
    ),
    method(
        "contains",
        "value",
        Kind::Bool,
        "whether the array holds the value",
    ),
    method("push", "value", Kind::Other, "append an element"),
];

const TIME: &[Member] = &[
    property("year", Kind::Integer, "the year"),
    property("to_i", Kind::Integer, "seconds since 1970 (also to_i())"),
];

const DURATION: &[Member] = &[
    property("in_days", Kind::Integer, "whole days"),
    property("in_hours", Kind::Integer, "whole hours"),
    property("in_minutes", Kind::Integer, "whole minutes"),
    property("in_seconds", Kind::Integer, "whole seconds"),
];

/// The functions and properties reachable with a `.` after a value of `kind` (at the top level
/// for [`Kind::Global`]).
pub fn members(kind: Kind) -> &'static [Member] {
    match kind {
        Kind::Global => GLOBALS,
        Kind::UserClass => USER_CLASS,
        Kind::SessionClass => SESSION_CLASS,
        Kind::AuditClass => AUDIT_CLASS,
        Kind::User => USER,
        Kind::Session => SESSION,
        Kind::Users => USERS,
        Kind::Sessions => SESSIONS,
        Kind::Array => ARRAY,
        Kind::Time => TIME,
        Kind::Duration => DURATION,
        Kind::Map | Kind::String | Kind::Integer | Kind::Bool | Kind::Other => &[],
    }
}

/// Words the console itself understands, outside rhai.
pub const COMMANDS: &[&str] = &["help", "exit", "quit"];

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
  exit, quit, Ctrl-D                          leave
  Tab completes, Ctrl-C clears the line or stops what runs, Ctrl-R searches history.";

/// In `help`, calls longer than this get a line of their own.
const WIDEST: usize = 40;

/// The text `help TOPIC` prints, or `None` for an unknown topic.
pub fn help(topic: &str) -> Option<String> {
    let sections: &[(&str, &[Member])] = match topic {
        "" => return Some(OVERVIEW.to_owned()),
        "User" | "user" | "users" => {
            &[("User.", USER_CLASS), ("user.", USER), ("User.all.", USERS)]
        }
        "ActiveSession" | "session" | "sessions" => &[
            ("ActiveSession.", SESSION_CLASS),
            ("session.", SESSION),
            ("ActiveSession.list(User.all).", SESSIONS),
        ],
        "Audit" => &[("Audit.", AUDIT_CLASS)],
        "functions" => &[("", GLOBALS)],
        "Time" | "Duration" => &[("time.", TIME), ("duration.", DURATION)],
        _ => return None,
    };
    let mut text = String::new();
    for (receiver, members) in sections {
        let rows: Vec<(String, &str)> = members
            .iter()
            .map(|m| match m.params {
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
    use crate::script::Evaluator;

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

    /// Arguments that make a call with these parameters run.
    fn sample(params: &str) -> &'static str {
        match params {
            "" | "[|session| ..]" | "[|x| ..]" => "",
            "n" | "value" | "id" => "1",
            "text" => "\"2026-01-01T00:00:00Z\"",
            "username" => "\"u\"",
            "email" => "\"u@example.com\"",
            "#{username|email|id: ..}" => "#{id: 1}",
            "|user| .." | "|session| .." | "|x| .." => "|x| true",
            "|sum, x| .., initial" => "|sum, x| sum + x, 0",
            "#{username, email, name, admin, blocked}" => {
                "#{username: \"v\", email: \"v@example.com\"}"
            }
            "user | [users] | User.all" | "user" => "user",
            "user, #{ip_address, user_agent, public_id, impersonated, admin_mode}" => {
                "user, #{ip_address: \"10.0.0.2\"}"
            }
            "user, private_id" => "user, \"2::0\"",
            "user, [private_ids]" => "user, []",
            "user, current_private_id | ()" => "user, ()",
            "user, private_id, current_private_id | ()" => "user, \"2::0\", ()",
            other => panic!("no sample arguments for ({other})"),
        }
    }

    /// Every member described here is one the engine has: calling it finds a function.
    #[test]
    fn every_member_exists_in_the_engine() {
        let (_dir, mut evaluator) = crate::console::testing::evaluator();
        let _ = evaluator
            .eval(
                "setup",
                r#"let user = User.create(#{username: "u", email: "u@example.com"});
                   let session = ActiveSession.set(user, #{ip_address: "10.0.0.1", user_agent: "curl/8"});
                   let users = User.all; let sessions = ActiveSession.list(User.all);
                   let list = [1, 2]; let time = now(); let duration = days(1);"#,
            )
            .unwrap();
        let missing = |evaluator: &mut Evaluator, code: &str| {
            evaluator.eval("probe", code).err().is_some_and(|e| {
                e.message.starts_with("Function not found")
                    || e.message.starts_with("Unknown property")
            })
        };
        assert!(
            missing(&mut evaluator, "user.nonsense"),
            "the probe must see a missing property"
        );
        assert!(
            missing(&mut evaluator, "User.nonsense(1)"),
            "the probe must see a missing method"
        );
        let receivers = [
            (Kind::Global, ""),
            (Kind::UserClass, "User."),
            (Kind::SessionClass, "ActiveSession."),
            (Kind::AuditClass, "Audit."),
            (Kind::User, "user."),
            (Kind::Session, "session."),
            (Kind::Users, "users."),
            (Kind::Sessions, "sessions."),
            (Kind::Array, "list."),
            (Kind::Time, "time."),
            (Kind::Duration, "duration."),
        ];
        for (kind, receiver) in receivers {
            for member in members(kind) {
                let code = match member.params {
                    Some(params) => format!("{receiver}{}({})", member.name, sample(params)),
                    None => format!("{receiver}{}", member.name),
                };
                assert!(
                    !missing(&mut evaluator, &code),
                    "{code} is described but the engine has no such member"
                );
            }
        }
    }

    #[test]
    fn signatures_read_like_calls() {
        assert_eq!(USER_CLASS[0].signature(), "find(id) → User");
        assert_eq!(USER[1].signature(), "username → string");
    }
}
