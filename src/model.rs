//! The records the product is about: users, their active sessions, remember-me tokens, the
//! stored settings and audit entries. Plain data; the rules that change them live in
//! [`crate::registry`].

use chrono::{DateTime, Duration, Utc};
use compact_str::CompactString;
use serde::{Deserialize, Serialize};

/// Whether a user may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UserState {
    Active,
    Blocked,
}

impl UserState {
    pub fn as_str(self) -> &'static str {
        match self {
            UserState::Active => "active",
            UserState::Blocked => "blocked",
        }
    }
}

/// An account of the web application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: u64,
    pub username: String,
    pub email: String,
    pub name: String,
    pub state: UserState,
    pub admin: bool,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339::serialize_option")]
    pub last_sign_in_at: Option<DateTime<Utc>>,
}

/// What is needed to create a user; the id and times are assigned by the registry.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub email: String,
    pub name: String,
    pub admin: bool,
    pub blocked: bool,
}

/// One signed-in device of a user, as GitLab's `ActiveSession` stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActiveSession {
    /// `2::` + hex SHA-256 of the public session id; the public id itself is never stored.
    pub session_private_id: String,
    pub user_id: u64,
    pub ip_address: CompactString,
    pub browser: CompactString,
    pub os: CompactString,
    pub device_name: CompactString,
    pub device_type: CompactString,
    pub is_impersonated: bool,
    pub admin_mode: bool,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl ActiveSession {
    /// Whether the session has expired at `now`: its last request is `expire_delay` or more ago.
    pub fn is_expired(&self, now: DateTime<Utc>, expire_delay: Duration) -> bool {
        live_after(now, expire_delay).is_some_and(|after| self.updated_at <= after)
    }

    /// GitLab's `current?`: whether this is the session with private id `current`; false
    /// when either id is missing.
    pub fn is_current(&self, current: Option<&str>) -> bool {
        !self.session_private_id.is_empty()
            && current.is_some_and(|c| !c.is_empty() && c == self.session_private_id)
    }

    /// GitLab's `human_device_type`: the device type for people ("Smartphone", "Desktop").
    pub fn human_device_type(&self) -> String {
        let mut words = self.device_type.replace('_', " ");
        if let Some(first) = words.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        words
    }
}

/// A remember-me token of a user, stored only as the hash of its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberToken {
    pub token_hash: String,
    pub created_at: DateTime<Utc>,
}

/// A sign-in or an authenticated request, as `ActiveSession.set` receives it.
#[derive(Debug, Clone, Default)]
pub struct SignIn {
    /// The session's public id (the cookie value). `None` starts a new session with a fresh
    /// random id, which is handed back once.
    pub public_id: Option<String>,
    pub ip_address: String,
    pub user_agent: String,
    pub impersonated: bool,
    pub admin_mode: bool,
}

/// What `set` did.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: ActiveSession,
    /// The public id of the session. Only ever returned here, never stored.
    pub public_id: String,
    /// True when a new session was created, false when an existing one was refreshed.
    pub created: bool,
    /// Sessions removed by the limit.
    pub evicted: Vec<String>,
}

/// Settings kept in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The most sessions a user keeps; GitLab hard-codes 100.
    pub session_limit: u32,
    /// Minutes after its last request that a session expires; GitLab's default is 7 days.
    pub session_expire_delay: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            session_limit: 100,
            session_expire_delay: 10_080,
        }
    }
}

impl Settings {
    pub const KEYS: [&'static str; 2] = ["session_limit", "session_expire_delay"];

    pub fn expire_delay(&self) -> Duration {
        Duration::minutes(i64::from(self.session_expire_delay))
    }

    pub fn get(&self, key: &str) -> crate::Result<u32> {
        match key {
            "session_limit" => Ok(self.session_limit),
            "session_expire_delay" => Ok(self.session_expire_delay),
            _ => Err(crate::Error::UnknownSetting {
                key: key.to_owned(),
            }),
        }
    }

    /// Sets `key` from its text form, refusing values that would make the product unusable.
    pub fn set(&mut self, key: &str, value: &str) -> crate::Result<()> {
        let invalid = |reason: &str| crate::Error::InvalidSetting {
            key: key.to_owned(),
            // Cut: the error echoes it.
            value: value.chars().take(40).collect(),
            reason: reason.to_owned(),
        };
        let range = format!("expected a whole number from 1 to {}", u32::MAX);
        let number: u32 = value
            .trim()
            .parse()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| invalid(&range))?;
        match key {
            "session_limit" => self.session_limit = number,
            "session_expire_delay" => self.session_expire_delay = number,
            _ => {
                return Err(crate::Error::UnknownSetting {
                    key: key.to_owned(),
                });
            }
        }
        Ok(())
    }
}

/// One entry of the audit log: a mutation (or, for a run, every mutation of one action), who
/// made it and from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// The operating-system user that ran sessionctl.
    pub os_user: String,
    /// `console`, `-e`, a script's path, or a subcommand.
    pub origin: String,
    /// What was done, e.g. `destroy_session`.
    pub action: String,
    /// The users affected (may be empty for actions on everyone).
    pub user_ids: Vec<u64>,
    /// How many sessions were removed (by a revocation, or evicted by a sign-in's limit).
    pub sessions: u64,
    /// A short human description.
    pub detail: String,
    /// The sessions a run's entry touched (their stored, hashed ids): those its revocations
    /// removed, those its sign-ins created; empty outside a run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub session_ids: Vec<String>,
    /// How many times the action was done: 1 for one mutation, more in a run's entry summing
    /// them (users created, sign-ins, revocations…); 0 in an entry written before this was
    /// kept.
    #[serde(default)]
    pub count: u64,
}

/// Totals returned by bulk revocations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Revoked {
    pub sessions: u64,
    pub users: u64,
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl std::fmt::Display for Revoked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} session{} of {} user{}",
            self.sessions,
            plural(self.sessions),
            self.users,
            plural(self.users)
        )
    }
}

impl AuditEntry {
    /// The entry of a sign-in that evicted `evicted` sessions to stay within the limit (a
    /// run's entry of sign-ins adds them to those its earlier sign-ins evicted).
    #[must_use]
    pub fn with_evicted(mut self, evicted: usize) -> Self {
        if evicted > 0 {
            self.sessions += evicted as u64;
            self.detail = if self.count > 1 {
                self.run_detail()
            } else {
                format!("{}, {evicted} evicted by the limit", self.detail)
            };
        }
        self
    }

    /// What a run's entry says it did, from its count, users and sessions.
    pub fn run_detail(&self) -> String {
        let (n, users, sessions) = (self.count, self.user_ids.len() as u64, self.sessions);
        let of_users = format!("of {users} user{}", plural(users));
        let sessions_of_users = format!("{sessions} session{} {of_users}", plural(sessions));
        match self.action.as_str() {
            "sign_in" => {
                let evicted = if sessions > 0 {
                    format!(", {sessions} evicted by the limit")
                } else {
                    String::new()
                };
                format!("{n} sign-in{} {of_users} in one run{evicted}", plural(n))
            }
            "create_user" => format!("{n} user{} created in one run", plural(n)),
            "update_user" => format!("{n} update{} {of_users} in one run", plural(n)),
            "block_user" => format!(
                "{users} user{} blocked in one run: {sessions} session{} and their remember-me tokens revoked",
                plural(users),
                plural(sessions)
            ),
            "unblock_user" => format!("{users} user{} unblocked in one run", plural(users)),
            "remember_me" => format!(
                "{n} remember-me token{} issued to {users} user{} in one run",
                plural(n),
                plural(users)
            ),
            "forget_me" => format!(
                "remember-me tokens of {users} user{} revoked in one run",
                plural(users)
            ),
            "sweep_expired" => format!(
                "{sessions} expired session{} removed in one run",
                plural(sessions)
            ),
            "cleanup" => format!("{sessions_of_users} removed in one run"),
            "destroy_session" | "sign_out" | "destroy_all_but_current" | "destroy_where" => {
                format!("{sessions_of_users} in one run, remember-me tokens revoked")
            }
            other => format!("{n} {other} {of_users} in one run"),
        }
    }

    /// The entry of a revocation of everything, once the store knows what it removed.
    #[must_use]
    pub fn with_revoked(mut self, revoked: Revoked) -> Self {
        self.sessions = revoked.sessions;
        self.detail = revoked.to_string();
        self
    }
}

/// The rule a sign-in applies to the user's stored sessions (GitLab's limit, least recently
/// used first out): what to remove so that, with the new session `new_id`, at most `limit`
/// remain. Returns the expired sessions (all of them go) and the live ones evicted. Every
/// store calls this inside its atomic sign-in, so the rule is written once.
pub fn sign_in_removals(
    stored: Vec<ActiveSession>,
    new_id: &str,
    limit: u32,
    now: DateTime<Utc>,
    expire_delay: Duration,
) -> (Vec<String>, Vec<String>) {
    let (mut live, expired): (Vec<_>, Vec<_>) = stored
        .into_iter()
        .filter(|s| s.session_private_id != new_id)
        .partition(|s| !s.is_expired(now, expire_delay));
    let expired = expired.into_iter().map(|s| s.session_private_id).collect();
    let keep = (limit as usize).saturating_sub(1);
    if live.len() <= keep {
        return (expired, Vec::new());
    }
    sort_most_recent_first(&mut live);
    let evicted = live
        .split_off(keep)
        .into_iter()
        .map(|s| s.session_private_id)
        .collect();
    (expired, evicted)
}

/// Most recently active first; ties by private id, so the order is total.
pub fn sort_most_recent_first(sessions: &mut [ActiveSession]) {
    sessions.sort_by(|a, b| {
        b.updated_at
            .cmp(&a.updated_at)
            .then_with(|| a.session_private_id.cmp(&b.session_private_id))
    });
}

/// The one definition of a live session: one last updated after this instant (`None`: every
/// session is live, the delay reaching back before the earliest time). Used by
/// [`ActiveSession::is_expired`] and by the count of live sessions, which reads only each
/// session's `updated_at`.
pub fn live_after(now: DateTime<Utc>, expire_delay: Duration) -> Option<DateTime<Utc>> {
    now.checked_sub_signed(expire_delay)
}

/// Times serialized exactly as chrono serializes them (RFC 3339, `Z`, the shortest exact
/// fraction), but formatted into one string first: chrono's own `Serialize` hands JSON a
/// piece at a time, and users and sessions (every API answer, every export) carry several.
pub mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::Serializer;

    #[allow(clippy::trivially_copy_pass_by_ref)] // serde's `serialize_with` passes a reference
    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    #[allow(clippy::ref_option)] // serde's `serialize_with` passes a reference
    pub fn serialize_option<S: Serializer>(
        at: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => serializer.serialize_some(&at.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            None => serializer.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_serialize_exactly_as_chrono_serializes_them() {
        for text in [
            "2026-01-01T00:00:00Z",
            "2026-11-30T04:05:06.7Z",
            "2026-11-30T04:05:06.123456Z",
            "2026-11-30T04:05:06.123456789Z",
            "1970-01-01T00:00:00.000001Z",
        ] {
            let at: DateTime<Utc> = text.parse().unwrap();
            let chrono = serde_json::to_value(at).unwrap();
            for last in [Some(at), None] {
                let user = User {
                    id: 1,
                    username: "alice".into(),
                    email: "alice@example.com".into(),
                    name: "Alice".into(),
                    state: UserState::Active,
                    admin: false,
                    created_at: at,
                    last_sign_in_at: last,
                };
                let ours = serde_json::to_value(&user).unwrap();
                assert_eq!(ours["created_at"], chrono, "{text}");
                let expected = last.map_or(serde_json::Value::Null, |_| chrono.clone());
                assert_eq!(ours["last_sign_in_at"], expected, "{text}");
                // And it reads back.
                assert_eq!(serde_json::from_value::<User>(ours).unwrap(), user);
            }
        }
    }
}
