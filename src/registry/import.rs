//! Import: complete records checked whole, then written all or nothing.

use crate::error::RecordKind;
use crate::model::{AuditEntry, User};
use crate::store::Changes;
use crate::{Error, Result, secret};

use super::{Import, Registry, validate};

impl Registry {
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
        let entry = self
            .audit_entry("create_user", vec![], 0, detail)
            .map(|entry| AuditEntry {
                count: users.len() as u64,
                ..entry
            });
        if self.dry_run {
            self.plan(entry);
            return Ok(users);
        }
        let changes = Changes {
            new_users: users,
            audit: entry,
            ..Changes::default()
        };
        // `None` only for no users.
        Ok(self
            .commit_durably(changes)?
            .map(|applied| applied.created_users)
            .unwrap_or_default())
    }

    /// Writes complete records (from an export or the generator) after checking them all:
    /// ids and private ids well formed, every session's owner present, no user above the
    /// session limit, no clash with stored users. Returns (users, sessions, tokens) written.
    /// A refused record is named by [`Error::InRecord`].
    pub fn import(&self, mut batch: Import, origin: &str) -> Result<(u64, u64, u64)> {
        let mut at = 0;
        self.check_import_users(&mut batch.users, &mut at)
            .map_err(|e| e.in_record(RecordKind::User, at))?;
        let mut at = (RecordKind::Session, 0);
        self.check_import_records(&batch, &mut at)
            .map_err(|e| e.in_record(at.0, at.1))?;
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

    /// Checks the imported sessions and remember-me tokens against the users (those of the
    /// batch and those stored) and the session limit; `at` follows the record being checked.
    fn check_import_records(&self, batch: &Import, at: &mut (RecordKind, usize)) -> Result<()> {
        let limit = self.settings()?.session_limit as usize;
        let mut per_user: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
        let batch_ids: std::collections::HashSet<u64> = batch.users.iter().map(|u| u.id).collect();
        let now = self.now();
        let owner_exists = |id: u64| -> Result<bool> {
            Ok(batch_ids.contains(&id) || self.store.user(id)?.is_some())
        };
        for (index, session) in batch.sessions.iter().enumerate() {
            *at = (RecordKind::Session, index);
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
            validate::ip_address(&session.ip_address)?;
            for (field, text) in [
                ("browser", &session.browser),
                ("os", &session.os),
                ("device_name", &session.device_name),
                ("device_type", &session.device_type),
            ] {
                validate::length(field, text, validate::MAX_TEXT_CHARS)?;
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
                    let stored = self.store.session_count_of(session.user_id)?;
                    entry.insert(stored as usize)
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
        for (index, (user_id, token)) in batch.tokens.iter().enumerate() {
            *at = (RecordKind::RememberToken, index);
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
        Ok(())
    }

    /// Checks imported users before anything is written: every clash with stored users and
    /// within the batch (ids, usernames and emails, compared case-insensitively) is refused.
    /// `at` follows the user being checked.
    fn check_import_users(&self, users: &mut [User], at: &mut usize) -> Result<()> {
        let now = self.now();
        let mut seen_ids = std::collections::HashSet::new();
        let mut seen_names = std::collections::HashMap::new();
        let mut seen_emails = std::collections::HashMap::new();
        for (index, user) in users.iter_mut().enumerate() {
            *at = index;
            validate::user_id(user.id, &user.username)?;
            user.username = validate::username(&user.username)?;
            user.email = validate::email(&user.email)?;
            user.name = validate::name(&user.name)?;
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
}
