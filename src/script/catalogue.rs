//! The catalogue of the scripting API: every global, method and property with its parameters,
//! what it returns and one line about it. The console's `help` prints it; its completion and
//! signature hints read it; a test checks that the engine has every entry.

/// The kinds of value the console can describe (and complete after a `.`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    method(
        "where",
        "#{id, username, email, name, admin, blocked}",
        Kind::Array,
        "the users matching every condition (text: exact, or LIKE with % and _)",
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
    method(
        "where",
        "#{ip, browser, os, device_type, idle_for, active_within, signed_in_before, signed_in_after, impersonated, admin_mode, user}",
        Kind::Sessions,
        "every user's live sessions matching every condition (lazy)",
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
    method(
        "update",
        "#{name, email}",
        Kind::User,
        "change the name or email (never the username)",
    ),
    method(
        "block",
        "",
        Kind::Integer,
        "refuse sign-in, revoke every session and token (returns the count)",
    ),
    method("unblock", "", Kind::User, "allow sign-in again"),
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
    property("first", Kind::User, "the first user, or ()"),
    property("last", Kind::User, "the last user, or ()"),
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
    property("first", Kind::Session, "the first session, or ()"),
    property("last", Kind::Session, "the last session, or ()"),
    method(
        "tally",
        "field",
        Kind::Array,
        "[value, count] pairs, most common first, e.g. tally(\"browser\")",
    ),
    method(
        "destroy",
        "",
        Kind::Map,
        "revoke the sessions of ActiveSession.where (asks first)",
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

/// The globals that stand for an object (`User`, `ActiveSession`, `Audit`) and their kinds.
pub fn classes() -> impl Iterator<Item = (&'static str, Kind)> {
    GLOBALS
        .iter()
        .filter(|m| m.params.is_none())
        .map(|m| (m.name, m.returns))
}

/// For tests: code that defines a variable for every kind with members, and the receiver
/// (`user.`) that reaches each kind.
#[cfg(test)]
pub(crate) mod probe {
    use super::Kind;

    pub const SETUP: &str = r#"let user = User.create(#{username: "u", email: "u@example.com"});
        let session = ActiveSession.set(user, #{ip_address: "10.0.0.1", user_agent: "curl/8"});
        let users = User.all; let sessions = ActiveSession.list(User.all);
        let list = [1, 2]; let time = now(); let duration = days(1);"#;

    pub const RECEIVERS: &[(Kind, &str)] = &[
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_read_like_calls() {
        assert_eq!(USER_CLASS[0].signature(), "find(id) → User");
        assert_eq!(USER[1].signature(), "username → string");
    }
}
