//! Queries: which users `User.where` finds and which sessions `ActiveSession.where` finds,
//! as plain filters the registry applies while it streams the store, and the `tally` of a
//! session field. The scripting layer only fills these in from a map.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::net::IpAddr;

use chrono::{DateTime, Duration, Utc};
use ipnet::IpNet;

use super::Registry;
use crate::model::{ActiveSession, Revoked, User, UserState};
use crate::store::Changes;
use crate::{Error, Result};

/// A text condition, compared case-insensitively: exact, or SQL's `LIKE` when the text holds
/// `%` (any run of characters) or `_` (any one character); `\` makes the next character
/// literal (`\_`, `\%`, `\\`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// As written, for the audit log.
    text: String,
    /// Lower-cased pieces: literal text or a wildcard.
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    AnyOne,
    AnyRun,
}

impl Pattern {
    pub fn new(text: &str) -> Self {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            let wildcard = match c {
                '\\' => {
                    literal.extend(chars.next().unwrap_or('\\').to_lowercase());
                    continue;
                }
                '%' => Part::AnyRun,
                '_' => Part::AnyOne,
                c => {
                    literal.extend(c.to_lowercase());
                    continue;
                }
            };
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            // `%%` is one `%`.
            if !(wildcard == Part::AnyRun && parts.last() == Some(&Part::AnyRun)) {
                parts.push(wildcard);
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Self {
            text: text.to_owned(),
            parts,
        }
    }

    /// Whether `text` matches, ignoring case.
    pub fn matches(&self, text: &str) -> bool {
        let text: Vec<char> = text.chars().flat_map(char::to_lowercase).collect();
        matches_from(&self.parts, &text)
    }
}

fn matches_from(parts: &[Part], text: &[char]) -> bool {
    match parts.split_first() {
        None => text.is_empty(),
        Some((Part::Text(literal), rest)) => {
            let n = literal.chars().count();
            text.len() >= n
                && text[..n].iter().copied().eq(literal.chars())
                && matches_from(rest, &text[n..])
        }
        Some((Part::AnyOne, rest)) => !text.is_empty() && matches_from(rest, &text[1..]),
        Some((Part::AnyRun, rest)) => {
            (0..=text.len()).any(|skip| matches_from(rest, &text[skip..]))
        }
    }
}

/// The conditions of `User.where`: every one given must hold.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub id: Option<u64>,
    pub username: Option<Pattern>,
    pub email: Option<Pattern>,
    pub name: Option<Pattern>,
    pub admin: Option<bool>,
    pub blocked: Option<bool>,
}

impl UserFilter {
    /// The keys `User.where` accepts.
    pub const KEYS: [&'static str; 6] = ["id", "username", "email", "name", "admin", "blocked"];

    pub fn matches(&self, user: &User) -> bool {
        self.id.is_none_or(|id| user.id == id)
            && self.admin.is_none_or(|admin| user.admin == admin)
            && self
                .blocked
                .is_none_or(|blocked| (user.state == UserState::Blocked) == blocked)
            && self
                .username
                .as_ref()
                .is_none_or(|p| p.matches(&user.username))
            && self.email.as_ref().is_none_or(|p| p.matches(&user.email))
            && self.name.as_ref().is_none_or(|p| p.matches(&user.name))
    }
}

/// An address or a range of addresses (CIDR), IPv4 or IPv6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange(IpNet);

impl IpRange {
    /// `10.0.0.7`, `10.0.0.0/8`, `2001:db8::/32` or `::1`.
    pub fn parse(text: &str) -> Result<Self> {
        let text = text.trim();
        let net = match text.parse::<IpNet>() {
            Ok(net) => net.trunc(),
            Err(_) => text.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
                Error::InvalidField {
                    field: "ip",
                    reason: format!(
                        "{:?} is neither an IP address nor a CIDR range such as 10.0.0.0/8 or 2001:db8::/32",
                        cut(text)
                    ),
                }
            })?,
        };
        Ok(Self(net))
    }

    /// Whether the session address `address` is in the range; an address that does not parse
    /// is in none. An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is its IPv4 self.
    pub fn contains(&self, address: &str) -> bool {
        match address.parse::<IpAddr>() {
            Ok(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => self.0.contains(&IpAddr::V4(v4)),
                None => self.0.contains(&IpAddr::V6(v6)),
            },
            Ok(ip) => self.0.contains(&ip),
            Err(_) => false,
        }
    }
}

/// The conditions of `ActiveSession.where`: every one given must hold. Only live sessions
/// are ever matched (expired ones are never returned).
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    pub ip: Option<IpRange>,
    /// Compared case-insensitively, like every text condition.
    pub browser: Option<Pattern>,
    pub os: Option<Pattern>,
    pub device_type: Option<Pattern>,
    /// No request for at least this long.
    pub idle_for: Option<Duration>,
    /// A request within this long.
    pub active_within: Option<Duration>,
    pub signed_in_before: Option<DateTime<Utc>>,
    pub signed_in_after: Option<DateTime<Utc>>,
    pub impersonated: Option<bool>,
    pub admin_mode: Option<bool>,
    /// The owner's id.
    pub user: Option<u64>,
}

impl SessionFilter {
    /// The keys `ActiveSession.where` accepts.
    pub const KEYS: [&'static str; 11] = [
        "ip",
        "browser",
        "os",
        "device_type",
        "idle_for",
        "active_within",
        "signed_in_before",
        "signed_in_after",
        "impersonated",
        "admin_mode",
        "user",
    ];

    /// Whether `session` matches at `now`.
    pub fn matches(&self, session: &ActiveSession, now: DateTime<Utc>) -> bool {
        let idle = now.signed_duration_since(session.updated_at);
        self.user.is_none_or(|id| session.user_id == id)
            && self
                .impersonated
                .is_none_or(|v| session.is_impersonated == v)
            && self.admin_mode.is_none_or(|v| session.admin_mode == v)
            && self.idle_for.is_none_or(|d| idle >= d)
            && self.active_within.is_none_or(|d| idle < d)
            && self.signed_in_before.is_none_or(|t| session.created_at < t)
            && self.signed_in_after.is_none_or(|t| session.created_at > t)
            && self
                .browser
                .as_ref()
                .is_none_or(|p| p.matches(&session.browser))
            && self.os.as_ref().is_none_or(|p| p.matches(&session.os))
            && self
                .device_type
                .as_ref()
                .is_none_or(|p| p.matches(&session.device_type))
            && self
                .ip
                .is_none_or(|range| range.contains(&session.ip_address))
    }
}

impl fmt::Display for SessionFilter {
    /// The conditions as `key=value` pairs, for the audit log: `ip=10.0.0.0/8, os="%linux%"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let span = |d: Duration| {
            let total = d.num_seconds();
            let units = [
                (total / 86_400, "d"),
                (total / 3600 % 24, "h"),
                (total / 60 % 60, "m"),
                (total % 60, "s"),
            ];
            let text =
                units
                    .iter()
                    .filter(|(n, _)| *n != 0)
                    .fold(String::new(), |mut text, (n, unit)| {
                        let _ = write!(text, "{n}{unit}");
                        text
                    });
            if text.is_empty() {
                "0s".to_owned()
            } else {
                text
            }
        };
        if let Some(ip) = self.ip {
            parts.push(format!("ip={}", ip.0));
        }
        for (key, pattern) in [
            ("browser", &self.browser),
            ("os", &self.os),
            ("device_type", &self.device_type),
        ] {
            if let Some(p) = pattern {
                parts.push(format!("{key}={:?}", cut(&p.text)));
            }
        }
        if let Some(d) = self.idle_for {
            parts.push(format!("idle_for={}", span(d)));
        }
        if let Some(d) = self.active_within {
            parts.push(format!("active_within={}", span(d)));
        }
        if let Some(t) = self.signed_in_before {
            parts.push(format!("signed_in_before={}", time(t)));
        }
        if let Some(t) = self.signed_in_after {
            parts.push(format!("signed_in_after={}", time(t)));
        }
        if let Some(v) = self.impersonated {
            parts.push(format!("impersonated={v}"));
        }
        if let Some(v) = self.admin_mode {
            parts.push(format!("admin_mode={v}"));
        }
        if let Some(id) = self.user {
            parts.push(format!("user={id}"));
        }
        if parts.is_empty() {
            f.write_str("every session")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

impl Registry {
    /// `User.where`: the users matching `filter`, in id order, streamed from the store.
    pub fn users_where<'a>(
        &'a self,
        filter: &'a UserFilter,
    ) -> impl Iterator<Item = Result<User>> + 'a {
        // With an id, the scan starts at it and stops after it.
        let start = filter.id.and_then(|id| id.checked_sub(1));
        self.users(start)
            .take_while(move |user| match (filter.id, user) {
                (Some(id), Ok(user)) => user.id <= id,
                _ => true,
            })
            .filter(move |user| {
                user.as_ref().is_err() || user.as_ref().is_ok_and(|u| filter.matches(u))
            })
    }

    /// `ActiveSession.where`: the live sessions matching `filter`, user by user in id order,
    /// each user's most recent first, streamed from the store (from `after_user` on).
    pub fn sessions_where<'a>(
        &'a self,
        filter: &'a SessionFilter,
        after_user: Option<u64>,
    ) -> impl Iterator<Item = Result<ActiveSession>> + 'a {
        // With a user, the scan starts at that user and stops after it.
        let start = match filter.user {
            Some(id) => after_user.max(id.checked_sub(1)),
            None => after_user,
        };
        self.list_matching_after(Some(filter), start)
            .take_while(move |session| match (filter.user, session) {
                (Some(id), Ok(session)) => session.user_id <= id,
                _ => true,
            })
    }

    /// One page of [`Registry::sessions_where`]: the matching sessions of whole users after
    /// `after_user`, at least `min` of them unless the end is reached. Returns the page and
    /// the last user it covers, or `None` as that user when nothing follows.
    pub fn sessions_where_page(
        &self,
        filter: &SessionFilter,
        after_user: Option<u64>,
        min: usize,
    ) -> Result<(Vec<ActiveSession>, Option<u64>)> {
        let mut page: Vec<ActiveSession> = Vec::with_capacity(min);
        for session in self.sessions_where(filter, after_user) {
            let session = session?;
            let last = page.last().map(|s| s.user_id);
            if page.len() >= min && last != Some(session.user_id) {
                // `session` starts the next page: the stream is dropped, it is read again then.
                return Ok((page, last));
            }
            page.push(session);
        }
        Ok((page, None))
    }

    /// How many sessions of how many users [`Registry::destroy_where`] would revoke now.
    pub fn count_where(&self, filter: &SessionFilter) -> Result<Revoked> {
        let mut counted = Revoked::default();
        let mut last = None;
        for session in self.sessions_where(filter, None) {
            let session = session?;
            counted.sessions += 1;
            if last != Some(session.user_id) {
                counted.users += 1;
                last = Some(session.user_id);
            }
        }
        Ok(counted)
    }

    /// `ActiveSession.where(..).destroy()`: revokes every live session matching `filter`,
    /// with the remember-me tokens of every user it touches, in one atomic write with one
    /// audit entry (the count, the users and the conditions). Holds the matching ids (about
    /// 100 bytes each) until that write.
    pub fn destroy_where(&self, filter: &SessionFilter) -> Result<Revoked> {
        let mut doomed: Vec<(u64, String)> = Vec::new();
        let mut users: Vec<u64> = Vec::new();
        for session in self.sessions_where(filter, None) {
            let session = session?;
            if users.last() != Some(&session.user_id) {
                users.push(session.user_id);
            }
            doomed.push((session.user_id, session.session_private_id));
        }
        let planned = Revoked {
            sessions: doomed.len() as u64,
            users: users.len() as u64,
        };
        if doomed.is_empty() {
            return Ok(planned);
        }
        let changes = Changes {
            removed_sessions: doomed,
            revoke_tokens_of: users.clone(),
            audit: self.audit_entry(
                "destroy_where",
                users,
                planned.sessions,
                format!("{planned} matching {filter}, remember-me tokens revoked"),
            ),
            ..Changes::default()
        };
        let applied = self.commit_durably(changes)?;
        Ok(Revoked {
            sessions: applied.map_or(planned.sessions, |a| a.sessions_removed),
            ..planned
        })
    }
}

/// A session field `tally` can count by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionField {
    IpAddress,
    Browser,
    Os,
    DeviceName,
    DeviceType,
    UserId,
    AdminMode,
    Impersonated,
}

impl SessionField {
    /// The names `tally` accepts.
    pub const NAMES: [&'static str; 8] = [
        "ip_address",
        "browser",
        "os",
        "device_name",
        "device_type",
        "user_id",
        "admin_mode",
        "is_impersonated",
    ];

    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "ip_address" => Self::IpAddress,
            "browser" => Self::Browser,
            "os" => Self::Os,
            "device_name" => Self::DeviceName,
            "device_type" => Self::DeviceType,
            "user_id" => Self::UserId,
            "admin_mode" => Self::AdminMode,
            "is_impersonated" => Self::Impersonated,
            other => {
                return Err(Error::InvalidField {
                    field: "tally",
                    reason: format!(
                        "unknown field {:?}; the fields are {}",
                        cut(other),
                        Self::NAMES.join(", ")
                    ),
                });
            }
        })
    }

    /// The field's value in `session`, as text.
    pub fn value(self, session: &ActiveSession) -> String {
        match self {
            Self::IpAddress => session.ip_address.to_string(),
            Self::Browser => session.browser.to_string(),
            Self::Os => session.os.to_string(),
            Self::DeviceName => session.device_name.to_string(),
            Self::DeviceType => session.device_type.to_string(),
            Self::UserId => session.user_id.to_string(),
            Self::AdminMode => session.admin_mode.to_string(),
            Self::Impersonated => session.is_impersonated.to_string(),
        }
    }
}

/// Counts `sessions` by `field`: each value with how many sessions have it, most common
/// first (ties by value).
pub fn tally<E>(
    sessions: impl IntoIterator<Item = std::result::Result<ActiveSession, E>>,
    field: SessionField,
) -> std::result::Result<Vec<(String, u64)>, E> {
    let mut counts: HashMap<String, u64> = HashMap::new();
    for session in sessions {
        *counts.entry(field.value(&session?)).or_default() += 1;
    }
    let mut counts: Vec<_> = counts.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(counts)
}

/// `text` cut to 60 characters with an ellipsis, for error messages.
pub fn cut(text: &str) -> String {
    super::validate::cut(text, 60)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn session(ip: &str, minutes_idle: i64, created_minutes_ago: i64) -> ActiveSession {
        let now = now();
        ActiveSession {
            session_private_id: crate::secret::private_id(ip),
            user_id: 7,
            ip_address: ip.into(),
            browser: "Firefox".into(),
            os: "Ubuntu".into(),
            device_name: "Other".into(),
            device_type: "desktop".into(),
            is_impersonated: false,
            admin_mode: true,
            created_at: now - Duration::minutes(created_minutes_ago),
            updated_at: now - Duration::minutes(minutes_idle),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
    }

    #[test]
    fn a_pattern_is_exact_without_wildcards_and_like_with_them() {
        let exact = Pattern::new("Alice");
        assert!(exact.matches("alice") && exact.matches("ALICE"));
        assert!(!exact.matches("alice2") && !exact.matches("malice"));
        let domain = Pattern::new("%@example.com");
        assert!(domain.matches("a@example.com") && domain.matches("@EXAMPLE.COM"));
        assert!(!domain.matches("a@example.com.evil") && !domain.matches("a@example.org"));
        let one = Pattern::new("j_n%");
        assert!(one.matches("jane") && one.matches("jon") && !one.matches("jn"));
        let middle = Pattern::new("%smith%");
        assert!(middle.matches("Anna Smith-Jones") && !middle.matches("Smyth"));
        let escaped = Pattern::new(r"a\_b");
        assert!(escaped.matches("a_b") && !escaped.matches("axb"));
        assert!(Pattern::new("%").matches("") && !Pattern::new("_").matches(""));
        assert!(Pattern::new("%%a%%").matches("bab"));
    }

    #[test]
    fn a_range_holds_addresses_of_its_family() {
        let range = IpRange::parse("10.1.0.0/16").unwrap();
        assert!(range.contains("10.1.255.3") && range.contains("::ffff:10.1.0.9"));
        assert!(!range.contains("10.2.0.1") && !range.contains("2001:db8::1"));
        assert!(!range.contains("not an address"));
        // Host bits are ignored, as in PostgreSQL's `inet <<= cidr` habits.
        assert!(IpRange::parse("10.1.2.3/16").unwrap().contains("10.1.9.9"));
        let v6 = IpRange::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:ffff::1") && !v6.contains("2001:db9::1"));
        let single = IpRange::parse(" 192.168.0.7 ").unwrap();
        assert!(single.contains("192.168.0.7") && !single.contains("192.168.0.8"));
        assert!(IpRange::parse("::1").unwrap().contains("::1"));
        let error = IpRange::parse("10.0.0.0/33").unwrap_err().to_string();
        assert!(
            error.contains("\"10.0.0.0/33\" is neither an IP address nor a CIDR range"),
            "{error}"
        );
        let long = IpRange::parse(&"x".repeat(10_000)).unwrap_err().to_string();
        assert!(long.len() < 200 && long.contains('…'), "{long}");
    }

    #[test]
    fn every_condition_of_a_session_filter_must_hold() {
        let s = session("10.0.0.5", 60 * 24 * 3, 60 * 24 * 10);
        let all = SessionFilter::default();
        assert!(all.matches(&s, now()));
        let hit = SessionFilter {
            ip: Some(IpRange::parse("10.0.0.0/24").unwrap()),
            browser: Some(Pattern::new("firefox")),
            os: Some(Pattern::new("%ubuntu%")),
            device_type: Some(Pattern::new("DESKTOP")),
            idle_for: Some(Duration::days(3)),
            active_within: Some(Duration::days(4)),
            signed_in_before: Some(now() - Duration::days(9)),
            signed_in_after: Some(now() - Duration::days(11)),
            impersonated: Some(false),
            admin_mode: Some(true),
            user: Some(7),
        };
        assert!(hit.matches(&s, now()));
        let misses = [
            SessionFilter {
                ip: Some(IpRange::parse("10.0.1.0/24").unwrap()),
                ..hit.clone()
            },
            SessionFilter {
                browser: Some(Pattern::new("Chrome")),
                ..hit.clone()
            },
            SessionFilter {
                os: Some(Pattern::new("Windows")),
                ..hit.clone()
            },
            SessionFilter {
                device_type: Some(Pattern::new("smartphone")),
                ..hit.clone()
            },
            SessionFilter {
                idle_for: Some(Duration::days(3) + Duration::seconds(1)),
                ..hit.clone()
            },
            SessionFilter {
                active_within: Some(Duration::days(3)),
                ..hit.clone()
            },
            SessionFilter {
                signed_in_before: Some(now() - Duration::days(10)),
                ..hit.clone()
            },
            SessionFilter {
                signed_in_after: Some(now() - Duration::days(10)),
                ..hit.clone()
            },
            SessionFilter {
                impersonated: Some(true),
                ..hit.clone()
            },
            SessionFilter {
                admin_mode: Some(false),
                ..hit.clone()
            },
            SessionFilter {
                user: Some(8),
                ..hit.clone()
            },
        ];
        for miss in misses {
            assert!(!miss.matches(&s, now()), "{miss}");
        }
        assert_eq!(
            SessionFilter {
                ip: Some(IpRange::parse("10.0.0.0/8").unwrap()),
                idle_for: Some(Duration::days(30)),
                admin_mode: Some(true),
                ..SessionFilter::default()
            }
            .to_string(),
            "ip=10.0.0.0/8, idle_for=30d, admin_mode=true"
        );
    }

    #[test]
    fn a_user_filter_checks_fields_and_patterns() {
        let user = User {
            id: 3,
            username: "alice".into(),
            email: "alice@example.com".into(),
            name: "Alice Smith".into(),
            state: UserState::Blocked,
            admin: false,
            created_at: now(),
            last_sign_in_at: None,
        };
        let hit = UserFilter {
            id: Some(3),
            username: Some(Pattern::new("ALICE")),
            email: Some(Pattern::new("%@example.com")),
            name: Some(Pattern::new("% smith")),
            admin: Some(false),
            blocked: Some(true),
        };
        assert!(hit.matches(&user) && UserFilter::default().matches(&user));
        for miss in [
            UserFilter {
                id: Some(4),
                ..hit.clone()
            },
            UserFilter {
                username: Some(Pattern::new("ali")),
                ..hit.clone()
            },
            UserFilter {
                email: Some(Pattern::new("%@example.org")),
                ..hit.clone()
            },
            UserFilter {
                name: Some(Pattern::new("smith")),
                ..hit.clone()
            },
            UserFilter {
                admin: Some(true),
                ..hit.clone()
            },
            UserFilter {
                blocked: Some(false),
                ..hit.clone()
            },
        ] {
            assert!(!miss.matches(&user), "{miss:?}");
        }
    }

    #[test]
    fn a_tally_counts_values_most_common_first() {
        let mut sessions = vec![
            session("10.0.0.1", 1, 1),
            session("10.0.0.2", 1, 1),
            session("10.0.0.2", 1, 1),
        ];
        sessions[0].browser = "Chrome".into();
        let by_browser = tally(
            sessions.iter().cloned().map(Ok::<_, ()>),
            SessionField::Browser,
        );
        assert_eq!(
            by_browser.unwrap(),
            [("Firefox".to_owned(), 2), ("Chrome".to_owned(), 1)]
        );
        let by_ip = tally(
            sessions.into_iter().map(Ok::<_, ()>),
            SessionField::parse("ip_address").unwrap(),
        );
        assert_eq!(
            by_ip.unwrap(),
            [("10.0.0.2".to_owned(), 2), ("10.0.0.1".to_owned(), 1)]
        );
        let error = SessionField::parse("colour").unwrap_err().to_string();
        assert!(
            error.contains("unknown field \"colour\"; the fields are ip_address, browser"),
            "{error}"
        );
    }
}
