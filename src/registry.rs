//! The domain: every rule of GitLab's `ActiveSession`, in one place. The registry reads and
//! writes through a [`Backend`] and takes "now" from a [`Clock`]; the scripting layer and the
//! command line call it and add no rules of their own.
//!
//! Rules kept here: the session limit with least-recently-used eviction, expiry (expired
//! sessions are never returned and are removed when met), hashed ids, revocation of
//! remember-me tokens with every revoked session, the current session's protection, dry run
//! and the audit log.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::model::{
    ActiveSession, AuditEntry, NewUser, RememberToken, Revoked, Settings, SignIn, SignedIn, User,
    UserState, sort_most_recent_first,
};
use crate::store::{Backend, Changes, Disagreement, SignInWrite, Stream};

/// Complete records to write with [`Registry::import`].
pub use crate::store::Records as Import;
use crate::{Error, Result, secret, useragent};

/// The longest User-Agent kept; GitLab cuts it the same way before parsing.
pub const MAX_USER_AGENT_CHARS: usize = 1024;

/// Records written per transaction by an import, and expired sessions removed per transaction
/// by a sweep: bounded memory however large the database.
const WRITE_CHUNK: usize = 10_000;

/// Who is making changes, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The operating-system user.
    pub os_user: String,
    /// `console`, `-e`, a script path or a subcommand.
    pub origin: String,
}

impl Actor {
    /// The current operating-system user acting from `origin`.
    pub fn current(origin: impl Into<String>) -> Self {
        Self {
            os_user: whoami::username(),
            origin: origin.into(),
        }
    }
}

/// Users, sessions and remember-me tokens with GitLab's rules.
pub struct Registry {
    store: Box<dyn Backend + Send + Sync>,
    clock: Arc<dyn Clock>,
    actor: Option<Actor>,
    dry_run: bool,
    planned: Mutex<Vec<AuditEntry>>,
}

impl Registry {
    /// A registry over `store`. Mutations are not audited until [`Registry::audited_as`].
    pub fn new(store: Box<dyn Backend + Send + Sync>, clock: Arc<dyn Clock>) -> Result<Self> {
        // The store must be readable: its settings are read now, and wherever used.
        store.settings()?;
        Ok(Self {
            store,
            clock,
            actor: None,
            dry_run: false,
            planned: Mutex::new(Vec::new()),
        })
    }

    /// Records every mutation in the audit log as made by `actor`.
    #[must_use]
    pub fn audited_as(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }

    /// With dry run on, mutations compute and report what they would do and write nothing.
    #[must_use]
    pub fn dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }

    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The mutations that dry run skipped since the last call, oldest first.
    pub fn take_planned(&self) -> Vec<AuditEntry> {
        std::mem::take(&mut *self.planned.lock().expect("planned lock"))
    }

    // ----- settings -----

    /// The settings, read from the store each time: another process may have changed them.
    pub fn settings(&self) -> Result<Settings> {
        self.store.settings()
    }

    /// Changes one setting (`session_limit` or `session_expire_delay`) from its text form.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<Settings> {
        let mut settings = self.settings()?;
        let before = settings.get(key)?;
        settings.set(key, value)?;
        let entry = self.audit_entry("config", vec![], 0, format!("{key}: {before} -> {value}"));
        if self.dry_run {
            self.plan(entry);
            return Ok(settings);
        }
        self.store.put_settings(&settings, entry.as_ref())?;
        self.store.flush()?;
        Ok(settings)
    }

    /// Stores the settings of a backup being restored into a new database (not audited: the
    /// restored audit log and the restore's own entry say where they came from).
    pub fn restore_settings(&self, settings: Settings) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        self.store.put_settings(&settings, None)?;
        Ok(())
    }

    /// Appends the audit log of a backup being restored, oldest first.
    pub fn restore_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        for entry in entries {
            self.store.append_audit(entry)?;
        }
        Ok(())
    }

    /// How many live sessions of how many users `after` would end: those it expires, and
    /// beyond its session limit the least recently used. Reads every session; writes nothing.
    pub fn sessions_ended_by(&self, after: Settings) -> Result<Revoked> {
        let now = self.now();
        let mut ended = Revoked::default();
        let mut group: Vec<ActiveSession> = Vec::new();
        let mut count = |group: &mut Vec<ActiveSession>| {
            let (live, expired): (Vec<_>, Vec<_>) = group
                .drain(..)
                .partition(|s| !s.is_expired(now, after.expire_delay()));
            let n = expired.len() + live.len().saturating_sub(after.session_limit as usize);
            if n > 0 {
                ended.sessions += n as u64;
                ended.users += 1;
            }
        };
        for session in self.list_all() {
            let session = session?;
            if group.last().is_some_and(|s| s.user_id != session.user_id) {
                count(&mut group);
            }
            group.push(session);
        }
        count(&mut group);
        Ok(ended)
    }

    /// After a setting was lowered: removes the sessions it expired and, beyond the session
    /// limit, each user's least recently used. Audited.
    pub fn end_sessions_beyond_settings(&self) -> Result<Revoked> {
        let mut ended = self.sweep_expired()?;
        let limit = u64::from(self.settings()?.session_limit);
        let over: Vec<u64> = self
            .users(None)
            .filter_map(|user| {
                let user = match user {
                    Ok(user) => user,
                    Err(error) => return Some(Err(error)),
                };
                match self.store.user_with_session_count(user.id) {
                    Ok(Some((_, count))) if count > limit => Some(Ok(user.id)),
                    Ok(_) => None,
                    Err(error) => Some(Err(error)),
                }
            })
            .collect::<Result<_>>()?;
        for user_id in over {
            let removed = self.cleanup(user_id)?;
            if removed > 0 {
                ended.sessions += removed;
                ended.users += 1;
            }
        }
        Ok(ended)
    }

    // ----- users -----

    /// Creates a user. A clash of username or email is an error naming it, and nothing is
    /// written.
    pub fn create_user(&self, new: NewUser) -> Result<User> {
        let username = validate_username(&new.username)?;
        // A user without a name is shown by their username.
        let name = match new.name.trim() {
            "" => username.clone(),
            name => name.to_owned(),
        };
        let user = User {
            id: 0,
            username,
            email: validate_email(&new.email)?,
            name,
            state: if new.blocked {
                UserState::Blocked
            } else {
                UserState::Active
            },
            admin: new.admin,
            created_at: self.now(),
            last_sign_in_at: None,
        };
        self.insert_users(vec![user])
            .map(|mut users| users.remove(0))
    }

    /// Inserts complete users (ids of 0 are assigned), all or none: for import and seeding.
    pub fn insert_users(&self, users: Vec<User>) -> Result<Vec<User>> {
        for user in &users {
            if let Some(id) = self.store.user_id_by_username(&user.username)? {
                return Err(Error::UsernameTaken {
                    username: user.username.clone(),
                    id,
                });
            }
            if let Some(id) = self.store.user_id_by_email(&user.email)? {
                return Err(Error::EmailTaken {
                    email: user.email.clone(),
                    id,
                });
            }
        }
        let detail = match users.as_slice() {
            [one] => format!("user {} <{}>", one.username, one.email),
            many => format!("{} users", many.len()),
        };
        // The ids of the new users are added by the store once assigned.
        let entry = self.audit_entry("create_user", vec![], 0, detail);
        if self.dry_run {
            self.plan(entry);
            return Ok(users);
        }
        let changes = Changes {
            new_users: users,
            audit: entry,
            ..Changes::default()
        };
        let created = self.store.apply(changes)?.created_users;
        self.store.flush()?;
        Ok(created)
    }

    /// Writes complete records (from an export or the generator) after checking them all:
    /// ids and private ids well formed, every session's owner present, no user above the
    /// session limit, no clash with stored users. Returns (users, sessions, tokens) written.
    pub fn import(&self, mut batch: Import, origin: &str) -> Result<(u64, u64, u64)> {
        let limit = self.settings()?.session_limit as usize;
        let mut per_user: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
        let batch_ids: std::collections::HashSet<u64> = batch.users.iter().map(|u| u.id).collect();
        self.check_import_users(&mut batch.users)?;
        let now = self.now();
        let owner_exists = |id: u64| -> Result<bool> {
            Ok(batch_ids.contains(&id) || self.store.user(id)?.is_some())
        };
        for session in &batch.sessions {
            if session.updated_at > now + chrono::Duration::days(1)
                || session.created_at > session.updated_at
            {
                return Err(Error::InvalidField {
                    field: "updated_at",
                    reason: format!(
                        "session {} of user id={}: times out of order or in the future",
                        session.session_private_id, session.user_id
                    ),
                });
            }
            if !secret::is_private_id(&session.session_private_id) {
                return Err(Error::InvalidField {
                    field: "session_private_id",
                    reason: format!(
                        "{:?} is not \"2::\" and 64 hex digits",
                        session.session_private_id
                    ),
                });
            }
            if !owner_exists(session.user_id)? {
                return Err(Error::UserNotFound {
                    id: session.user_id,
                });
            }
            // Counting from what the user already has stored.
            let count = match per_user.entry(session.user_id) {
                std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
                std::collections::hash_map::Entry::Vacant(entry) => {
                    let stored = self.store.user_with_session_count(session.user_id)?;
                    entry.insert(stored.map_or(0, |(_, count)| count) as usize)
                }
            };
            *count += 1;
            if *count > limit {
                return Err(Error::InvalidField {
                    field: "sessions",
                    reason: format!(
                        "user id={} has more than {limit} sessions, the session limit",
                        session.user_id
                    ),
                });
            }
        }
        for (user_id, token) in &batch.tokens {
            if !secret::is_token_hash(&token.token_hash) {
                return Err(Error::InvalidField {
                    field: "token_hash",
                    reason: format!(
                        "remember-me token of user id={user_id}: {:?} is not 64 lower-case hex digits",
                        token.token_hash
                    ),
                });
            }
            if !owner_exists(*user_id)? {
                return Err(Error::UserNotFound { id: *user_id });
            }
        }
        let counts = (
            batch.users.len() as u64,
            batch.sessions.len() as u64,
            batch.tokens.len() as u64,
        );
        let entry = self.audit_entry(
            "import",
            vec![],
            counts.1,
            format!(
                "{} users, {} sessions, {} remember-me tokens from {origin}",
                counts.0, counts.1, counts.2
            ),
        );
        if self.dry_run {
            self.plan(entry);
            return Ok(counts);
        }
        self.store.import(batch, entry)?;
        self.store.flush()?;
        Ok(counts)
    }

    /// Checks imported users before anything is written: every clash with stored users and
    /// within the batch (ids, usernames and emails, compared case-insensitively) is refused.
    fn check_import_users(&self, users: &mut [User]) -> Result<()> {
        let now = self.now();
        let mut seen_ids = std::collections::HashSet::new();
        let mut seen_names = std::collections::HashMap::new();
        let mut seen_emails = std::collections::HashMap::new();
        for user in users {
            if user.id == 0 || user.id == u64::MAX {
                return Err(Error::InvalidField {
                    field: "id",
                    reason: format!("user {} has id {}", user.username, user.id),
                });
            }
            user.username = validate_username(&user.username)?;
            user.email = validate_email(&user.email)?;
            if user.created_at > now + chrono::Duration::days(1) {
                return Err(Error::InvalidField {
                    field: "created_at",
                    reason: format!("user id={} was created in the future", user.id),
                });
            }
            if self.store.user(user.id)?.is_some() || !seen_ids.insert(user.id) {
                return Err(Error::UserIdTaken { id: user.id });
            }
            let name_key = user.username.to_lowercase();
            let clash = self
                .store
                .user_id_by_username(&name_key)?
                .or(seen_names.get(&name_key).copied());
            if let Some(id) = clash {
                return Err(Error::UsernameTaken {
                    username: user.username.clone(),
                    id,
                });
            }
            seen_names.insert(name_key, user.id);
            let email_key = user.email.to_lowercase();
            let clash = self
                .store
                .user_id_by_email(&email_key)?
                .or(seen_emails.get(&email_key).copied());
            if let Some(id) = clash {
                return Err(Error::EmailTaken {
                    email: user.email.clone(),
                    id,
                });
            }
            seen_emails.insert(email_key, user.id);
        }
        Ok(())
    }

    /// The user with this id, or [`Error::UserNotFound`].
    pub fn find_user(&self, id: u64) -> Result<User> {
        self.store.user(id)?.ok_or(Error::UserNotFound { id })
    }

    pub fn user(&self, id: u64) -> Result<Option<User>> {
        self.store.user(id)
    }

    /// The user with this username, compared case-insensitively.
    pub fn find_by_username(&self, username: &str) -> Result<Option<User>> {
        self.store.user_by_username(username)
    }

    /// The user with this email, compared case-insensitively.
    pub fn find_by_email(&self, email: &str) -> Result<Option<User>> {
        match self.store.user_id_by_email(email)? {
            Some(id) => self.store.user(id),
            None => Ok(None),
        }
    }

    pub fn user_count(&self) -> Result<u64> {
        self.store.user_count()
    }

    /// Every user with an id above `after`, in id order, read lazily: memory stays constant
    /// however many users there are.
    pub fn users(&self, after: Option<u64>) -> Stream<'_, User> {
        self.store.users(after)
    }

    /// Up to `size` users with ids above `after`, in id order: one batch of `find_each`.
    pub fn user_batch(&self, after: Option<u64>, size: usize) -> Result<Vec<User>> {
        self.store.users(after).take(size).collect()
    }

    // ----- sessions -----

    /// `ActiveSession.set`: records a sign-in (no public id, or one not stored yet) or an
    /// authenticated request (a known public id) of `user_id`. A sign-in is one atomic write
    /// of the store with the limit's eviction; a request on a live session is a touch, one
    /// single-key write that is not audited (it is what every request of an application
    /// costs) and never brings back a session revoked a moment before.
    pub fn sign_in(&self, user_id: u64, request: SignIn) -> Result<SignedIn> {
        let user = self.find_user(user_id)?;
        if user.state == UserState::Blocked {
            return Err(Error::UserBlocked {
                id: user_id,
                username: user.username,
            });
        }
        let now = self.now();
        let settings = self.settings()?;
        // A freshly generated id cannot be stored yet: no need to look it up.
        let known_id = request.public_id.is_some();
        let public_id = match request.public_id {
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
        let user_agent = truncate_chars(&request.user_agent, MAX_USER_AGENT_CHARS);
        let device = useragent::parse(user_agent);
        let existing = if known_id {
            self.store.session(user_id, &private_id)?
        } else {
            None
        }
        .filter(|s| !s.is_expired(now, settings.expire_delay()));
        let session = ActiveSession {
            session_private_id: private_id,
            user_id,
            ip_address: request.ip_address.into(),
            browser: device.browser,
            os: device.os,
            device_name: device.device_name,
            device_type: device.device_type,
            is_impersonated: request.impersonated,
            admin_mode: request.admin_mode,
            created_at: existing.as_ref().map_or(now, |s| s.created_at),
            updated_at: now,
        };
        if let Some(stored) = existing {
            if !self.dry_run && !self.store.touch(&stored, &session)? {
                return Err(Error::SessionRevoked {
                    private_id: session.session_private_id,
                });
            }
            return Ok(SignedIn {
                session,
                public_id,
                created: false,
                evicted: Vec::new(),
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
        let outcome = self.store.sign_in(SignInWrite {
            session: session.clone(),
            limit: settings.session_limit,
            now,
            expire_delay: settings.expire_delay(),
            audit,
        })?;
        Ok(SignedIn {
            session,
            public_id,
            created: true,
            evicted: outcome.evicted,
        })
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

    /// The list a user sees of their own sessions: impersonated ones are hidden.
    pub fn list_for_owner(&self, user_id: u64) -> Result<Vec<ActiveSession>> {
        let mut sessions = self.list(user_id)?;
        sessions.retain(|s| !s.is_impersonated);
        Ok(sessions)
    }

    /// Every live session of every user, user by user in id order, each user's most recent
    /// first, streamed from the store.
    pub fn list_all(&self) -> AllSessions<'_> {
        self.list_all_after(None)
    }

    /// Like [`Registry::list_all`], for the users with ids above `after_user`.
    pub fn list_all_after(&self, after_user: Option<u64>) -> AllSessions<'_> {
        let settings = self.settings();
        AllSessions {
            inner: self.store.sessions(after_user).peekable(),
            now: self.now(),
            expire_delay: settings
                .as_ref()
                .map_or(chrono::Duration::zero(), Settings::expire_delay),
            failed: settings.err(),
            group: Vec::new(),
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
        let mut all = self.list_all_after(after_user);
        let mut page: Vec<ActiveSession> = Vec::with_capacity(min);
        loop {
            let Some(session) = all.next().transpose()? else {
                return Ok((page, None));
            };
            let last = page.last().map(|s| s.user_id);
            if page.len() >= min && last != Some(session.user_id) {
                // `session` starts the next page: the stream is dropped, it is read again then.
                return Ok((page, last));
            }
            page.push(session);
        }
    }

    /// How many sessions are stored, expired ones not yet removed included.
    pub fn stored_session_count(&self) -> Result<u64> {
        self.store.session_count()
    }

    /// How many sessions are live now (not expired). Reads every session's time, writes
    /// nothing.
    pub fn live_session_count(&self) -> Result<u64> {
        let delay = self.settings()?.expire_delay();
        match self.now().checked_sub_signed(delay) {
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
    fn sweep_expired_in_chunks(&self, chunk: usize) -> Result<Revoked> {
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

    // ----- remember-me -----

    /// Issues a remember-me token; the raw value is returned this once, only its hash kept.
    pub fn remember_me(&self, user_id: u64) -> Result<String> {
        let user = self.find_user(user_id)?;
        let token = secret::generate_token();
        let stored = RememberToken {
            token_hash: secret::token_hash(&token),
            created_at: self.now(),
        };
        let changes = Changes {
            tokens: vec![(user_id, stored)],
            audit: self.audit_entry(
                "remember_me",
                vec![user_id],
                0,
                format!("token issued to {}", user.username),
            ),
            ..Changes::default()
        };
        self.commit(changes)?;
        Ok(token)
    }

    /// Whether `token` is a live remember-me token of the user.
    pub fn verify_remember_token(&self, user_id: u64, token: &str) -> Result<bool> {
        let hash = secret::token_hash(token);
        Ok(self
            .store
            .remember_tokens(user_id)?
            .iter()
            .any(|t| t.token_hash == hash))
    }

    /// The user's remember-me tokens (hashes only).
    pub fn remember_tokens(&self, user_id: u64) -> Result<Vec<RememberToken>> {
        self.store.remember_tokens(user_id)
    }

    pub fn remember_token_count(&self, user_id: u64) -> Result<u64> {
        Ok(self.store.remember_tokens(user_id)?.len() as u64)
    }

    /// Revokes all the user's remember-me tokens; returns how many there were.
    pub fn forget_me(&self, user_id: u64) -> Result<u64> {
        let user = self.find_user(user_id)?;
        let count = self.remember_token_count(user_id)?;
        let changes = Changes {
            revoke_tokens_of: vec![user_id],
            audit: self.audit_entry(
                "forget_me",
                vec![user_id],
                0,
                format!("{count} remember-me tokens of {}", user.username),
            ),
            ..Changes::default()
        };
        Ok(self
            .commit_durably(changes)?
            .map_or(count, |a| a.tokens_revoked))
    }

    // ----- the rest -----

    /// Where the stored data disagrees with itself.
    pub fn check(&self) -> Result<Vec<Disagreement>> {
        self.store.check()
    }

    pub fn recent_audit(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        self.store.recent_audit(limit)
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<()> {
        self.store.flush()
    }

    /// The store to close with [`crate::store::close_cleanly`] once this registry is
    /// dropped, if it needs that.
    pub fn closing(&self) -> Option<std::path::PathBuf> {
        self.store.closing()
    }

    /// Flushes and closes the store cleanly, so that the next reading command writes no byte.
    pub fn close(self) -> Result<()> {
        self.store.flush()?;
        let closing = self.store.closing();
        drop(self);
        match closing {
            Some(path) => crate::store::close_cleanly(&path),
            None => Ok(()),
        }
    }

    fn revoke(&self, user: &User, private_ids: Vec<String>, action: &str) -> Result<u64> {
        if private_ids.is_empty() {
            return Ok(0);
        }
        let count = private_ids.len() as u64;
        let changes = Changes {
            removed_sessions: private_ids.into_iter().map(|id| (user.id, id)).collect(),
            revoke_tokens_of: vec![user.id],
            audit: self.audit_entry(
                action,
                vec![user.id],
                count,
                format!(
                    "{count} session{} of {} (id={}), remember-me tokens revoked",
                    plural(count),
                    user.username,
                    user.id
                ),
            ),
            ..Changes::default()
        };
        Ok(self
            .commit_durably(changes)?
            .map_or(count, |a| a.sessions_removed))
    }

    fn split_expired(
        &self,
        sessions: Vec<ActiveSession>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<ActiveSession>, Vec<ActiveSession>)> {
        let delay = self.settings()?.expire_delay();
        Ok(sessions
            .into_iter()
            .partition(|s| !s.is_expired(now, delay)))
    }

    /// Applies `changes`, or in dry run records what they would do. `None` in dry run.
    /// Sign-ins and touches are made durable by the next flush (group commit).
    fn commit(&self, changes: Changes) -> Result<Option<crate::store::Applied>> {
        if self.dry_run {
            self.plan(changes.audit);
            return Ok(None);
        }
        if changes.is_empty() {
            return Ok(None);
        }
        self.store.apply(changes).map(Some)
    }

    /// [`Registry::commit`], durable when it returns: for revocations and new users, which a
    /// crash must never undo once reported.
    fn commit_durably(&self, changes: Changes) -> Result<Option<crate::store::Applied>> {
        let applied = self.commit(changes)?;
        if applied.is_some() {
            self.store.flush()?;
        }
        Ok(applied)
    }

    fn plan(&self, entry: Option<AuditEntry>) {
        if let Some(entry) = entry {
            self.planned.lock().expect("planned lock").push(entry);
        }
    }

    /// The audit entry for a mutation. Built even when auditing is off, so that dry run can
    /// report it; `None` only when auditing is off and this is not a dry run.
    fn audit_entry(
        &self,
        action: &str,
        user_ids: Vec<u64>,
        sessions: u64,
        detail: String,
    ) -> Option<AuditEntry> {
        if self.actor.is_none() && !self.dry_run {
            return None;
        }
        let (os_user, origin) = self
            .actor
            .as_ref()
            .map_or_else(Default::default, |a| (a.os_user.clone(), a.origin.clone()));
        Some(AuditEntry {
            at: self.now(),
            os_user,
            origin,
            action: action.to_owned(),
            user_ids,
            sessions,
            detail,
        })
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
                .filter(|s| !s.is_expired(self.now, self.expire_delay))
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

fn truncate_chars(text: &str, max: usize) -> &str {
    text.char_indices()
        .nth(max)
        .map_or(text, |(end, _)| &text[..end])
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn validate_username(username: &str) -> Result<String> {
    let username = username.trim();
    let invalid = |reason: &str| Error::InvalidField {
        field: "username",
        reason: format!("{username:?} {reason}"),
    };
    if username.is_empty() {
        return Err(invalid("is empty"));
    }
    if username.chars().count() > 255 {
        return Err(invalid("is longer than 255 characters"));
    }
    if !username
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(invalid("may hold only letters, digits, '_', '-' and '.'"));
    }
    Ok(username.to_owned())
}

fn validate_email(email: &str) -> Result<String> {
    let email = email.trim();
    let valid = email.len() <= 255
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if valid {
        Ok(email.to_owned())
    } else {
        Err(Error::InvalidField {
            field: "email",
            reason: format!("{email:?} is not an email address"),
        })
    }
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
