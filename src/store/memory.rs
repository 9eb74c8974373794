//! An in-memory store behind the same contract as sled, for the conformance suite: the
//! simplest store that keeps every promise of [`Backend`], so that the suite checks the
//! contract rather than sled. Every write takes one lock over the whole state and applies to
//! a copy, which replaces the state only when the whole write succeeded.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::{
    Applied, Backend, Changes, Disagreement, Keep, Records, SessionStore, SignInOutcome,
    SignInWrite, Stream, Touch, UserDirectory, touched,
};
use crate::model::{ActiveSession, AuditEntry, RememberToken, Revoked, Settings, User, UserState};
use crate::{Error, Result};

#[derive(Clone, Default)]
struct State {
    settings: Settings,
    next_user_id: u64,
    users: BTreeMap<u64, User>,
    by_username: HashMap<String, u64>,
    by_email: HashMap<String, u64>,
    sessions: BTreeMap<(u64, String), ActiveSession>,
    tokens: HashMap<u64, Vec<RememberToken>>,
    /// The log, oldest first, each entry with its key when written under one.
    audit: Vec<(Option<u64>, AuditEntry)>,
    next_audit_key: u64,
}

impl State {
    fn count(&self, user_id: u64) -> u64 {
        self.sessions
            .range((user_id, String::new())..)
            .take_while(|((owner, _), _)| *owner == user_id)
            .count() as u64
    }

    /// How many sessions of how many users are stored.
    fn totals(&self) -> Revoked {
        let mut owners: Vec<u64> = self.sessions.keys().map(|(owner, _)| *owner).collect();
        owners.dedup();
        Revoked {
            sessions: self.sessions.len() as u64,
            users: owners.len() as u64,
        }
    }

    fn sessions_of(&self, user_id: u64) -> Vec<ActiveSession> {
        self.sessions
            .range((user_id, String::new())..)
            .take_while(|((owner, _), _)| *owner == user_id)
            .map(|(_, s)| s.clone())
            .collect()
    }

    fn create_user(&mut self, mut user: User) -> Result<User> {
        let next = self.next_user_id.max(1);
        if user.id == 0 {
            user.id = next;
        } else if self.users.contains_key(&user.id) {
            return Err(Error::UserIdTaken { id: user.id });
        }
        if let Some(&id) = self.by_username.get(&user.username.to_lowercase()) {
            return Err(Error::UsernameTaken {
                username: user.username,
                id,
            });
        }
        if let Some(&id) = self.by_email.get(&user.email.to_lowercase()) {
            return Err(Error::EmailTaken {
                email: user.email,
                id,
            });
        }
        self.next_user_id = next.max(user.id + 1);
        self.by_username
            .insert(user.username.to_lowercase(), user.id);
        self.by_email.insert(user.email.to_lowercase(), user.id);
        self.users.insert(user.id, user.clone());
        Ok(user)
    }

    fn update_user(&mut self, new: &User) -> Result<()> {
        let stored = self
            .users
            .get(&new.id)
            .ok_or(Error::UserNotFound { id: new.id })?;
        let (old_email, new_email) = (stored.email.to_lowercase(), new.email.to_lowercase());
        if old_email != new_email {
            if let Some(&id) = self.by_email.get(&new_email) {
                return Err(Error::EmailTaken {
                    email: new.email.clone(),
                    id,
                });
            }
            self.by_email.remove(&old_email);
            self.by_email.insert(new_email, new.id);
        }
        let user = self.users.get_mut(&new.id).expect("found above");
        user.email.clone_from(&new.email);
        user.name.clone_from(&new.name);
        user.state = new.state;
        user.admin = new.admin;
        Ok(())
    }

    fn apply(&mut self, changes: &Changes) -> Result<Applied> {
        if let Some(guard) = changes.expect_sessions
            && self.count(guard.user_id) != guard.count
        {
            return Err(Error::WriteConflict);
        }
        let mut applied = Applied::default();
        for user in &changes.new_users {
            applied.created_users.push(self.create_user(user.clone())?);
        }
        for user in &changes.updated_users {
            self.update_user(user)?;
        }
        for (user_id, private_id) in &changes.removed_sessions {
            if self
                .sessions
                .remove(&(*user_id, private_id.clone()))
                .is_some()
            {
                applied.sessions_removed += 1;
            }
        }
        for session in &changes.sessions {
            if !crate::secret::is_private_id(&session.session_private_id) {
                return Err(Error::InvalidField {
                    field: "session_private_id",
                    reason: format!("{:?} is not a private id", session.session_private_id),
                });
            }
            self.sessions.insert(
                (session.user_id, session.session_private_id.clone()),
                session.clone(),
            );
        }
        for &(user_id, at) in &changes.signed_in {
            let user = self
                .users
                .get_mut(&user_id)
                .ok_or(Error::UserNotFound { id: user_id })?;
            if user.state == UserState::Blocked {
                return Err(Error::UserBlocked {
                    id: user_id,
                    username: user.username.clone(),
                });
            }
            user.last_sign_in_at = Some(at);
        }
        if let Some(guard) = changes.expect_sessions
            && self.count(guard.user_id) > u64::from(guard.limit)
        {
            return Err(Error::WriteConflict);
        }
        for user_id in &changes.revoke_tokens_of {
            if let Some(old) = self.tokens.remove(user_id) {
                applied.tokens_revoked += old.len() as u64;
            }
        }
        for (user_id, token) in &changes.tokens {
            if !crate::secret::is_token_hash(&token.token_hash) {
                return Err(Error::InvalidField {
                    field: "token_hash",
                    reason: format!("{:?} is not a token hash", token.token_hash),
                });
            }
            self.tokens.entry(*user_id).or_default().push(token.clone());
        }
        if let Some(entry) = &changes.audit {
            let mut entry = entry.clone();
            entry
                .user_ids
                .extend(applied.created_users.iter().map(|u| u.id));
            let earlier = changes.audit_key.and_then(|key| {
                self.audit
                    .iter()
                    .rposition(|(written, _)| *written == Some(key))
            });
            match earlier {
                Some(at) => self.audit[at].1 = entry,
                None => self.audit.push((changes.audit_key, entry)),
            }
        }
        Ok(applied)
    }
}

/// The in-memory store.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.state.lock().expect("state lock"))
    }

    /// Runs a write on a copy of the state, which replaces it only if the write succeeded.
    fn write<T>(&self, f: impl FnOnce(&mut State) -> Result<T>) -> Result<T> {
        let mut state = self.state.lock().expect("state lock");
        let mut copy = state.clone();
        let result = f(&mut copy)?;
        *state = copy;
        Ok(result)
    }
}

impl UserDirectory for MemoryStore {
    fn user(&self, id: u64) -> Result<Option<User>> {
        Ok(self.read(|s| s.users.get(&id).cloned()))
    }

    fn user_id_by_username(&self, username: &str) -> Result<Option<u64>> {
        Ok(self.read(|s| s.by_username.get(&username.to_lowercase()).copied()))
    }

    fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        Ok(self.read(|s| {
            s.by_username
                .get(&username.to_lowercase())
                .and_then(|id| s.users.get(id).cloned())
        }))
    }

    fn user_id_by_email(&self, email: &str) -> Result<Option<u64>> {
        Ok(self.read(|s| s.by_email.get(&email.to_lowercase()).copied()))
    }

    fn user_count(&self) -> Result<u64> {
        Ok(self.read(|s| s.users.len() as u64))
    }

    fn users(&self, after: Option<u64>) -> Stream<'_, User> {
        let users: Vec<User> = self.read(|s| {
            s.users
                .values()
                .filter(|u| after.is_none_or(|a| u.id > a))
                .cloned()
                .collect()
        });
        Box::new(users.into_iter().map(Ok))
    }
}

impl SessionStore for MemoryStore {
    fn session_count_of(&self, user_id: u64) -> Result<u64> {
        Ok(self.read(|s| s.count(user_id)))
    }

    fn session(&self, user_id: u64, private_id: &str) -> Result<Option<ActiveSession>> {
        Ok(self.read(|s| s.sessions.get(&(user_id, private_id.to_owned())).cloned()))
    }

    fn sessions_of(&self, user_id: u64) -> Result<Vec<ActiveSession>> {
        Ok(self.read(|s| s.sessions_of(user_id)))
    }

    fn sessions(&self, after_user: Option<u64>) -> Stream<'_, ActiveSession> {
        let sessions: Vec<ActiveSession> = self.read(|s| {
            s.sessions
                .values()
                .filter(|x| after_user.is_none_or(|a| x.user_id > a))
                .cloned()
                .collect()
        });
        Box::new(sessions.into_iter().map(Ok))
    }

    fn session_count(&self) -> Result<u64> {
        Ok(self.read(|s| s.sessions.len() as u64))
    }

    fn session_totals(&self) -> Result<(u64, u64)> {
        let totals = self.read(State::totals);
        Ok((totals.sessions, totals.users))
    }

    fn count_sessions_updated_after(&self, after: DateTime<Utc>) -> Result<u64> {
        Ok(self.read(|s| s.sessions.values().filter(|x| x.updated_at > after).count() as u64))
    }

    fn remember_tokens(&self, user_id: u64) -> Result<Vec<RememberToken>> {
        Ok(self.read(|s| s.tokens.get(&user_id).cloned().unwrap_or_default()))
    }

    fn sign_in(&self, write: SignInWrite) -> Result<SignInOutcome> {
        let user_id = write.session.user_id;
        self.write(|s| {
            if !s.users.contains_key(&user_id) {
                return Err(Error::UserNotFound { id: user_id });
            }
            let (changes, outcome) = write.plan(s.count(user_id), || Ok(s.sessions_of(user_id)))?;
            s.apply(&changes)?;
            Ok(outcome)
        })
    }

    fn touch(
        &self,
        updated: &ActiveSession,
        live_after: Option<DateTime<Utc>>,
        keep: Keep,
    ) -> Result<Touch> {
        self.write(|s| {
            let key = (updated.user_id, updated.session_private_id.clone());
            Ok(match s.sessions.get_mut(&key) {
                Some(session) if live_after.is_none_or(|after| session.updated_at > after) => {
                    *session = touched(session, updated, keep);
                    Touch::touched(session)
                }
                _ => Touch::Missing,
            })
        })
    }

    fn remove_all_sessions(&self, audit: Option<AuditEntry>) -> Result<Revoked> {
        self.write(|s| {
            let revoked = s.totals();
            s.sessions.clear();
            s.tokens.clear();
            s.audit
                .extend(audit.map(|a| (None, a.with_revoked(revoked))));
            Ok(revoked)
        })
    }
}

impl Backend for MemoryStore {
    fn settings(&self) -> Result<Settings> {
        Ok(self.read(|s| s.settings))
    }

    fn put_settings(&self, settings: &Settings, audit: Option<&AuditEntry>) -> Result<()> {
        self.write(|s| {
            s.settings = *settings;
            s.audit.extend(audit.map(|a| (None, a.clone())));
            Ok(())
        })
    }

    fn apply(&self, changes: Changes) -> Result<Applied> {
        self.write(|s| s.apply(&changes))
    }

    fn import(&self, records: Records, audit: Option<AuditEntry>) -> Result<Applied> {
        self.write(|s| {
            let mut applied = s.apply(&Changes {
                new_users: records.users,
                sessions: records.sessions,
                tokens: records.tokens,
                audit,
                ..Changes::default()
            })?;
            applied.sessions_removed = 0;
            Ok(applied)
        })
    }

    fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        self.write(|s| {
            s.audit.push((None, entry.clone()));
            Ok(())
        })
    }

    fn recent_audit(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        Ok(self.read(|s| {
            s.audit
                .iter()
                .rev()
                .take(limit)
                .map(|(_, entry)| entry.clone())
                .collect()
        }))
    }

    fn new_audit_key(&self) -> Result<u64> {
        let mut state = self.state.lock().expect("state lock");
        state.next_audit_key += 1;
        Ok(state.next_audit_key)
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn closing(&self) -> Option<std::path::PathBuf> {
        None
    }

    fn check(&self) -> Result<Vec<Disagreement>> {
        Ok(Vec::new())
    }
}
