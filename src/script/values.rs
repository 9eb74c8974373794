//! The values scripts hold: users, sessions, lazy collections, times and durations, and the
//! `User`, `ActiveSession` and `Audit` globals themselves.

use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rhai::EvalAltResult;

use super::Context;
use crate::model::{ActiveSession, User};

/// The `User` global (the class, as in Rails).
#[derive(Debug, Clone, Copy)]
pub struct UserClass;

/// The `ActiveSession` global.
#[derive(Debug, Clone, Copy)]
pub struct SessionClass;

/// The `Audit` global.
#[derive(Debug, Clone, Copy)]
pub struct AuditClass;

/// A point in time. Prints (plain text, JSON) as RFC 3339 in UTC; its inspect form
/// ([`Time::local`]) is in the viewer's zone (`crate::zone`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time(pub DateTime<Utc>);

impl Time {
    /// RFC 3339 in the viewer's zone (`TZ`), with its offset: `2026-01-01T22:00:00+09:00`.
    pub fn local(self) -> String {
        crate::zone::rfc3339(self.0)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.to_rfc3339_opts(SecondsFormat::Secs, false))
    }
}

/// A length of time: `days(30)`, `hours(2)`, or the difference of two times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.0.num_seconds();
        let sign = if total < 0 { "-" } else { "" };
        let total = total.unsigned_abs();
        let (days, hours, minutes, seconds) = (
            total / 86_400,
            total / 3600 % 24,
            total / 60 % 60,
            total % 60,
        );
        let mut parts = Vec::new();
        for (n, unit) in [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")] {
            if n > 0 {
                parts.push(format!("{n}{unit}"));
            }
        }
        if parts.is_empty() {
            parts.push("0s".into());
        }
        write!(f, "{sign}{}", parts.join(" "))
    }
}

/// A user, as scripts see it.
#[derive(Debug, Clone)]
pub struct UserValue(pub User);

impl UserValue {
    /// The short, readable form `print` and `puts` show.
    pub fn short(&self) -> String {
        let u = &self.0;
        let mut flags = String::new();
        if u.admin {
            flags.push_str(" [admin]");
        }
        if u.state == crate::model::UserState::Blocked {
            flags.push_str(" [blocked]");
        }
        format!("#{} {} ({}) <{}>{flags}", u.id, u.username, u.name, u.email)
    }

    /// The inspect form, like IRB's.
    pub fn inspect(&self) -> String {
        let u = &self.0;
        format!(
            "#<User id: {}, username: {:?}, name: {:?}, email: {:?}, state: {:?}, admin: {}, created_at: {}, last_sign_in_at: {}>",
            u.id,
            u.username,
            u.name,
            u.email,
            u.state.as_str(),
            u.admin,
            Time(u.created_at).local(),
            u.last_sign_in_at
                .map_or_else(|| "nil".to_owned(), |t| Time(t).local()),
        )
    }
}

/// A session, as scripts see it. `public_id` is only present on the value returned by the
/// sign-in that created it.
#[derive(Debug, Clone)]
pub struct SessionValue {
    pub session: ActiveSession,
    pub public_id: Option<String>,
}

impl SessionValue {
    pub fn new(session: ActiveSession) -> Self {
        Self {
            session,
            public_id: None,
        }
    }

    /// "Firefox on Ubuntu", as GitLab's page shows it.
    pub fn browser_on_os(&self) -> String {
        format!("{} on {}", self.session.browser, self.session.os)
    }

    pub fn short(&self) -> String {
        let s = &self.session;
        let mut flags = String::new();
        if s.is_impersonated {
            flags.push_str(" [impersonated]");
        }
        if s.admin_mode {
            flags.push_str(" [admin mode]");
        }
        format!(
            "user #{} {} — {} ({}), last active {}, signed in {}{flags}",
            s.user_id,
            s.ip_address,
            self.browser_on_os(),
            s.device_type,
            Time(s.updated_at),
            Time(s.created_at),
        )
    }

    pub fn inspect(&self) -> String {
        let s = &self.session;
        format!(
            "#<ActiveSession ip_address: {:?}, browser: {:?}, os: {:?}, device_name: {:?}, device_type: {:?}, is_impersonated: {}, admin_mode: {}, created_at: {}, updated_at: {}, session_private_id: {:?}, user_id: {}>",
            s.ip_address,
            s.browser,
            s.os,
            s.device_name,
            s.device_type,
            s.is_impersonated,
            s.admin_mode,
            Time(s.created_at).local(),
            Time(s.updated_at).local(),
            s.session_private_id,
            s.user_id,
        )
    }
}

/// Rows fetched per round trip by the lazy collections.
pub const BATCH: usize = 1000;

/// `User.all`: every user, never loaded whole unless asked. Iterating streams in batches.
#[derive(Clone)]
pub struct UserRelation {
    pub context: Rc<Context>,
}

impl IntoIterator for UserRelation {
    type Item = Result<UserValue, Box<EvalAltResult>>;
    type IntoIter = UserStream;

    fn into_iter(self) -> UserStream {
        UserStream {
            context: self.context,
            after: None,
            buffer: VecDeque::new(),
            done: false,
        }
    }
}

/// The stream behind `for u in User.all`.
pub struct UserStream {
    context: Rc<Context>,
    after: Option<u64>,
    buffer: VecDeque<crate::model::User>,
    done: bool,
}

impl Iterator for UserStream {
    type Item = Result<UserValue, Box<EvalAltResult>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffer.is_empty() && !self.done {
            if let Err(error) = self.context.check_interrupt() {
                self.done = true;
                return Some(Err(error));
            }
            match self.context.registry.user_batch(self.after, BATCH) {
                Ok(batch) => {
                    self.done = batch.len() < BATCH;
                    self.after = batch.last().map(|u| u.id).or(self.after);
                    self.buffer.extend(batch);
                }
                Err(error) => {
                    self.done = true;
                    return Some(Err(super::runtime_error(&error)));
                }
            }
        }
        self.buffer.pop_front().map(|u| Ok(UserValue(u)))
    }
}

/// Which users' sessions a [`SessionRelation`] holds.
#[derive(Clone)]
pub enum Owners {
    All,
    Some(Rc<Vec<u64>>),
    /// `ActiveSession.where(..)`: every user's sessions matching the filter.
    Where(Rc<crate::registry::query::SessionFilter>),
}

/// `ActiveSession.list(User.all)`: every live session of many users, streamed from the store.
#[derive(Clone)]
pub struct SessionRelation {
    pub context: Rc<Context>,
    pub owners: Owners,
}

impl IntoIterator for SessionRelation {
    type Item = Result<SessionValue, Box<EvalAltResult>>;
    type IntoIter = SessionStream;

    fn into_iter(self) -> SessionStream {
        SessionStream {
            context: self.context,
            owners: self.owners,
            position: 0,
            after: None,
            buffer: VecDeque::new(),
            done: false,
        }
    }
}

/// The stream behind `for s in ActiveSession.list(User.all)`.
pub struct SessionStream {
    context: Rc<Context>,
    owners: Owners,
    /// The next owner to read, for [`Owners::Some`].
    position: usize,
    /// The last user read, for [`Owners::All`] and [`Owners::Where`].
    after: Option<u64>,
    buffer: VecDeque<ActiveSession>,
    done: bool,
}

impl SessionStream {
    fn refill(&mut self) -> crate::Result<()> {
        match &self.owners {
            Owners::All => {
                let (page, last) = self
                    .context
                    .registry
                    .live_sessions_page(self.after, BATCH)?;
                self.done = last.is_none();
                self.after = last;
                self.buffer.extend(page);
            }
            Owners::Where(filter) => {
                let (page, last) = self
                    .context
                    .registry
                    .sessions_where_page(filter, self.after, BATCH)?;
                self.done = last.is_none();
                self.after = last;
                self.buffer.extend(page);
            }
            Owners::Some(ids) => {
                while self.buffer.len() < BATCH && self.position < ids.len() {
                    self.buffer
                        .extend(self.context.registry.list(ids[self.position])?);
                    self.position += 1;
                }
                self.done = self.position >= ids.len();
            }
        }
        Ok(())
    }
}

impl Iterator for SessionStream {
    type Item = Result<SessionValue, Box<EvalAltResult>>;

    fn next(&mut self) -> Option<Self::Item> {
        while self.buffer.is_empty() && !self.done {
            if let Err(error) = self.context.check_interrupt() {
                self.done = true;
                return Some(Err(error));
            }
            if let Err(error) = self.refill() {
                self.done = true;
                return Some(Err(super::runtime_error(&error)));
            }
        }
        self.buffer.pop_front().map(|s| Ok(SessionValue::new(s)))
    }
}
