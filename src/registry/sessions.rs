//! Sessions: sign-in with the limit, touches, listings, expiry and revocation.

use chrono::{DateTime, Utc};

use crate::model::{
    ActiveSession, Revoked, Settings, SignIn, SignedIn, UserState, sort_most_recent_first,
};
use crate::store::{Changes, Keep, SignInWrite, Stream, Touch};
use crate::{Error, Result, secret, useragent};

use super::{MAX_USER_AGENT_CHARS, Registry, WRITE_CHUNK};

impl Registry {
    /// `ActiveSession.set`: records a sign-in (no public id, or one not stored yet) or an
    /// authenticated request (a known public id) of `user_id`. A sign-in is one atomic write
    /// of the store with the limit's eviction; a request on a live session is a touch, one
    /// single-key write that is not audited (it is what every request of an application
    /// costs) and never brings back a session revoked a moment before.
    pub fn sign_in(&self, user_id: u64, mut request: SignIn) -> Result<SignedIn> {
        let now = self.now();
        let settings = self.settings()?;
        // A freshly generated id cannot be stored yet: no need to look it up.
        let known_id = request.public_id.is_some();
        let public_id = match request.public_id.take() {
            Some(id) if id.is_empty() => {
                return Err(Error::InvalidField {
                    field: "public_id",
                    reason: "is empty".into(),
                });
            }
            Some(id) => id,
            None => secret::generate_public_id(),
        };
        let private_id = secret::private_id(&public_id);
        let mut session = described(private_id, user_id, &request, now, now)?;
        // A request on a live session is a touch, which reads nothing more (a blocked user's
        // sessions are revoked when the user is blocked); anything else is a sign-in.
        if known_id {
            match self.touch(&mut session, now, settings.expire_delay(), Keep::SignInTime)? {
                Touch::Touched { .. } => {
                    return Ok(SignedIn {
                        session,
                        public_id,
                        created: false,
                        evicted: Vec::new(),
                    });
                }
                Touch::Revoked => {
                    return Err(Error::SessionRevoked {
                        private_id: session.session_private_id,
                    });
                }
                Touch::Missing => {}
            }
        }
        let user = self.find_user(user_id)?;
        if user.state == UserState::Blocked {
            return Err(Error::UserBlocked {
                id: user_id,
                username: user.username,
            });
        }
        let audit = self.audit_entry(
            "sign_in",
            vec![user_id],
            0,
            format!(
                "{} from {} ({} on {})",
                user.username, session.ip_address, session.browser, session.os
            ),
        );
        if self.dry_run {
            self.plan(audit);
            return Ok(SignedIn {
                session,
                public_id,
                created: true,
                evicted: Vec::new(),
            });
        }
        let (audit, audit_key) =
            self.join_run(audit, || vec![session.session_private_id.clone()], 0)?;
        let outcome = self.store.sign_in(SignInWrite {
            session: session.clone(),
            limit: settings.session_limit,
            now,
            expire_delay: settings.expire_delay(),
            audit: audit.clone(),
            audit_key,
        })?;
        // What the store wrote: the entry completed with what the limit evicted.
        let evicted = outcome.evicted.len();
        self.keep_run_entry(audit_key, audit.map(|a| a.with_evicted(evicted)));
        Ok(SignedIn {
            session,
            public_id,
            created: true,
            evicted: outcome.evicted,
        })
    }

    /// Authenticates one request of an application on the session named by
    /// `request.public_id`: when that session of `user_id` is live, touches it (its last
    /// activity, address and browser, one unaudited compare-and-swap; its impersonation and
    /// admin mode kept) and returns it; `None`
    /// when it is unknown, expired or revoked (a revocation racing the touch wins). Unlike
    /// [`Registry::sign_in`], never creates a session.
    pub fn authenticate(&self, user_id: u64, request: &SignIn) -> Result<Option<ActiveSession>> {
        let Some(public_id) = request.public_id.as_deref().filter(|id| !id.is_empty()) else {
            return Ok(None);
        };
        let now = self.now();
        let private_id = secret::private_id(public_id);
        let delay = self.settings()?.expire_delay();
        // One read and one write: what the request cannot say (its sign-in time, whether it
        // is impersonated, admin mode) is kept by the touch itself.
        let mut session = described(private_id, user_id, request, now, now)?;
        let keep = Keep::SignInTimeAndFlags;
        if !matches!(
            self.touch(&mut session, now, delay, keep)?,
            Touch::Touched { .. }
        ) {
            return Ok(None);
        }
        Ok(Some(session))
    }

    /// Signs the session `private_id` of `user_id` out: removes it and revokes the user's
    /// remember-me tokens (as every revocation does), audited as `sign_out`. Returns whether
    /// it was there.
    pub fn sign_out(&self, user_id: u64, private_id: &str) -> Result<bool> {
        let user = self.find_user(user_id)?;
        if self.store.session(user_id, private_id)?.is_none() {
            return Ok(false);
        }
        Ok(self.revoke(&user, vec![private_id.to_owned()], "sign_out")? > 0)
    }

    /// A request on the session `session` names: when it is live, it takes `session`'s
    /// values in one compare-and-swap (in dry run, it is only looked up), and `session` takes
    /// what the store kept (its `created_at`, and what `keep` says).
    fn touch(
        &self,
        session: &mut ActiveSession,
        now: DateTime<Utc>,
        delay: chrono::Duration,
        keep: Keep,
    ) -> Result<Touch> {
        let touched = if self.dry_run {
            self.store
                .session(session.user_id, &session.session_private_id)?
                .filter(|s| !s.is_expired(now, delay))
                .map_or(Touch::Missing, |stored| {
                    Touch::touched(&crate::store::touched(&stored, session, keep))
                })
        } else {
            self.store
                .touch(session, crate::model::live_after(now, delay), keep)?
        };
        if let Touch::Touched {
            created_at,
            is_impersonated,
            admin_mode,
        } = touched
        {
            session.created_at = created_at;
            session.is_impersonated = is_impersonated;
            session.admin_mode = admin_mode;
        }
        Ok(touched)
    }

    /// `ActiveSession.list(user)`: the user's live sessions, most recently active first.
    /// Expired sessions are left where they are (reading never writes): writes and the
    /// audited sweep remove them.
    pub fn list(&self, user_id: u64) -> Result<Vec<ActiveSession>> {
        let now = self.now();
        let (mut live, _expired) = self.split_expired(self.store.sessions_of(user_id)?, now)?;
        sort_most_recent_first(&mut live);
        Ok(live)
    }

    /// Every live session of every user, user by user in id order, each user's most recent
    /// first, streamed from the store.
    pub fn list_all(&self) -> AllSessions<'_> {
        self.list_all_after(None)
    }

    /// Like [`Registry::list_all`], for the users with ids above `after_user`.
    pub fn list_all_after(&self, after_user: Option<u64>) -> AllSessions<'_> {
        self.list_matching_after(None, after_user)
    }

    /// Like [`Registry::list_all_after`], keeping only the sessions `filter` matches (checked
    /// before each user's sessions are sorted).
    pub(super) fn list_matching_after<'a>(
        &'a self,
        filter: Option<&'a super::query::SessionFilter>,
        after_user: Option<u64>,
    ) -> AllSessions<'a> {
        let settings = self.settings();
        AllSessions {
            inner: self.store.sessions(after_user).peekable(),
            now: self.now(),
            expire_delay: settings
                .as_ref()
                .map_or(chrono::Duration::zero(), Settings::expire_delay),
            failed: settings.err(),
            group: Vec::new(),
            filter,
        }
    }

    /// One page of [`Registry::list_all`]: the live sessions of whole users after `after_user`,
    /// at least `min` of them unless the end is reached. Returns the page and the last user it
    /// covers, or `None` as that user when nothing follows.
    pub fn live_sessions_page(
        &self,
        after_user: Option<u64>,
        min: usize,
    ) -> Result<(Vec<ActiveSession>, Option<u64>)> {
        self.sessions_where_page(&super::query::SessionFilter::default(), after_user, min)
    }

    /// How many sessions are stored, expired ones not yet removed included.
    pub fn stored_session_count(&self) -> Result<u64> {
        self.store.session_count()
    }

    /// How many sessions are live now (not expired). Reads every session's time, writes
    /// nothing.
    pub fn live_session_count(&self) -> Result<u64> {
        let delay = self.settings()?.expire_delay();
        match crate::model::live_after(self.now(), delay) {
            Some(after) => self.store.count_sessions_updated_after(after),
            None => self.store.session_count(),
        }
    }

    /// `ActiveSession.destroy_session`: removes the session and revokes all the user's
    /// remember-me tokens. Returns whether a session was removed; an id of another user's
    /// session removes nothing.
    pub fn destroy_session(&self, user_id: u64, private_id: &str) -> Result<bool> {
        Ok(self.destroy_sessions(user_id, &[private_id.to_owned()])? > 0)
    }

    /// Removes several sessions of one user (revoking the user's remember-me tokens when any
    /// was removed); returns how many were removed.
    pub fn destroy_sessions(&self, user_id: u64, private_ids: &[String]) -> Result<u64> {
        let user = self.find_user(user_id)?;
        let mut seen = std::collections::HashSet::new();
        let mut existing = Vec::new();
        for id in private_ids {
            if seen.insert(id) && self.store.session(user_id, id)?.is_some() {
                existing.push(id.clone());
            }
        }
        self.revoke(&user, existing, "destroy_session")
    }

    /// User-facing revoke: refuses the current session (you would sign yourself out).
    pub fn revoke_session(
        &self,
        user_id: u64,
        private_id: &str,
        current: Option<&str>,
    ) -> Result<bool> {
        if current.is_some_and(|current| current == private_id) {
            return Err(Error::CannotRevokeCurrent {
                private_id: private_id.to_owned(),
            });
        }
        self.destroy_session(user_id, private_id)
    }

    /// Removes all the user's sessions except `current` and impersonated ones (GitLab runs this
    /// when two-factor authentication is enabled). Returns how many were removed.
    pub fn destroy_all_but_current(&self, user_id: u64, current: Option<&str>) -> Result<u64> {
        let user = self.find_user(user_id)?;
        let doomed = self
            .store
            .sessions_of(user_id)?
            .into_iter()
            .filter(|s| !s.is_impersonated && Some(s.session_private_id.as_str()) != current)
            .map(|s| s.session_private_id)
            .collect();
        self.revoke(&user, doomed, "destroy_all_but_current")
    }

    /// `cleanup`: removes the user's expired sessions and, beyond the limit, the least
    /// recently used. Returns how many were removed.
    pub fn cleanup(&self, user_id: u64) -> Result<u64> {
        let user = self.find_user(user_id)?;
        let (live, expired) = self.split_expired(self.store.sessions_of(user_id)?, self.now())?;
        let mut doomed: Vec<String> = expired.into_iter().map(|s| s.session_private_id).collect();
        doomed.extend(over_limit(live, self.settings()?.session_limit as usize));
        if doomed.is_empty() {
            return Ok(0);
        }
        let count = doomed.len() as u64;
        let changes = Changes {
            removed_sessions: doomed.into_iter().map(|id| (user_id, id)).collect(),
            audit: self.audit_entry(
                "cleanup",
                vec![user_id],
                count,
                format!("{count} sessions of {}", user.username),
            ),
            ..Changes::default()
        };
        let applied = self.commit_durably(changes)?;
        Ok(applied.map_or(count, |a| a.sessions_removed))
    }

    /// Revokes every session and remember-me token of every user.
    pub fn destroy_all(&self) -> Result<Revoked> {
        if self.dry_run {
            let revoked = self.count_all_sessions()?;
            self.plan(self.audit_entry(
                "destroy_all",
                vec![],
                revoked.sessions,
                revoked.to_string(),
            ));
            return Ok(revoked);
        }
        self.store
            .remove_all_sessions(self.audit_entry("destroy_all", vec![], 0, String::new()))
    }

    /// How many sessions of how many users [`Registry::destroy_all`] would revoke now: every
    /// stored session, expired ones not yet removed included, as `destroy_all` reports them.
    pub fn count_all_sessions(&self) -> Result<Revoked> {
        let (sessions, users) = self.store.session_totals()?;
        Ok(Revoked { sessions, users })
    }

    /// Removes every expired session of every user.
    pub fn sweep_expired(&self) -> Result<Revoked> {
        self.sweep_expired_in_chunks(WRITE_CHUNK)
    }

    /// [`Registry::sweep_expired`], removing at most `chunk` sessions a transaction so that a
    /// sweep of a large database stays small in memory. Each transaction carries the audit
    /// entry of what it removed, so whatever a failure or a crash interrupts, every removal
    /// that happened is audited.
    pub(super) fn sweep_expired_in_chunks(&self, chunk: usize) -> Result<Revoked> {
        let now = self.now();
        let delay = self.settings()?.expire_delay();
        let mut doomed: Vec<(u64, String)> = Vec::new();
        let mut revoked = Revoked::default();
        let mut last_owner = None;
        for session in self.store.sessions(None) {
            let session = session?;
            if !session.is_expired(now, delay) {
                continue;
            }
            if doomed.len() == chunk {
                self.remove_swept(std::mem::take(&mut doomed))?;
            }
            // One user's sessions may span two chunks: counted once.
            if last_owner != Some(session.user_id) {
                revoked.users += 1;
                last_owner = Some(session.user_id);
            }
            revoked.sessions += 1;
            doomed.push((session.user_id, session.session_private_id));
        }
        if !doomed.is_empty() {
            self.remove_swept(doomed)?;
        }
        if !self.dry_run {
            self.store.flush()?;
        }
        Ok(revoked)
    }

    /// Removes one chunk of a sweep with its audit entry.
    fn remove_swept(&self, doomed: Vec<(u64, String)>) -> Result<()> {
        let mut part = Revoked {
            sessions: doomed.len() as u64,
            users: 0,
        };
        let mut last = None;
        for (owner, _) in &doomed {
            if last != Some(*owner) {
                part.users += 1;
                last = Some(*owner);
            }
        }
        let entry = self.audit_entry("sweep_expired", vec![], part.sessions, part.to_string());
        self.commit(Changes {
            removed_sessions: doomed,
            audit: entry,
            ..Changes::default()
        })?;
        Ok(())
    }
}

/// The stream behind [`Registry::list_all`].
pub struct AllSessions<'a> {
    inner: std::iter::Peekable<Stream<'a, ActiveSession>>,
    now: DateTime<Utc>,
    expire_delay: chrono::Duration,
    /// The settings could not be read: the first item is this error.
    failed: Option<Error>,
    /// The current user's live sessions, most recent last (popped first).
    group: Vec<ActiveSession>,
    /// Only the sessions this matches are returned.
    filter: Option<&'a super::query::SessionFilter>,
}

impl Iterator for AllSessions<'_> {
    type Item = Result<ActiveSession>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(error) = self.failed.take() {
            self.group.clear();
            return Some(Err(error));
        }
        loop {
            if let Some(session) = self.group.pop() {
                return Some(Ok(session));
            }
            let first = match self.inner.next()? {
                Ok(session) => session,
                Err(error) => return Some(Err(error)),
            };
            let owner = first.user_id;
            let mut group = vec![first];
            while let Some(Ok(next)) = self.inner.peek() {
                if next.user_id != owner {
                    break;
                }
                group.push(self.inner.next()?.ok()?);
            }
            let mut live: Vec<_> = group
                .into_iter()
                .filter(|s| {
                    !s.is_expired(self.now, self.expire_delay)
                        && self.filter.is_none_or(|f| f.matches(s, self.now))
                })
                .collect();
            sort_most_recent_first(&mut live);
            live.reverse();
            self.group = live;
        }
    }
}

/// The private ids of the least recently used sessions beyond `keep`.
fn over_limit(mut live: Vec<ActiveSession>, keep: usize) -> Vec<String> {
    if live.len() <= keep {
        return Vec::new();
    }
    sort_most_recent_first(&mut live);
    live.split_off(keep)
        .into_iter()
        .map(|s| s.session_private_id)
        .collect()
}

/// The session record a sign-in or a request on `private_id` stores: the address checked, the
/// User-Agent cut and parsed.
fn described(
    private_id: String,
    user_id: u64,
    request: &SignIn,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<ActiveSession> {
    let ip_address = super::validate::ip_address(&request.ip_address)?;
    let user_agent = truncate_chars(&request.user_agent, MAX_USER_AGENT_CHARS);
    let device = useragent::parse(user_agent);
    Ok(ActiveSession {
        session_private_id: private_id,
        user_id,
        ip_address: ip_address.into(),
        browser: device.browser,
        os: device.os,
        device_name: device.device_name,
        device_type: device.device_type,
        is_impersonated: request.impersonated,
        admin_mode: request.admin_mode,
        created_at,
        updated_at: now,
    })
}

fn truncate_chars(text: &str, max: usize) -> &str {
    if text.len() <= max {
        // No more characters than bytes.
        return text;
    }
    text.char_indices()
        .nth(max)
        .map_or(text, |(end, _)| &text[..end])
}
