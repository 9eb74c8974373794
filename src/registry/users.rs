//! Users: creation with its rules (valid, unique usernames and emails) and look-ups.

use crate::model::{NewUser, User, UserState};
use crate::store::{Changes, SessionGuard, Stream};
use crate::{Error, Result};

use super::{Registry, validate};

impl Registry {
    /// Creates a user. A clash of username or email is an error naming it, and nothing is
    /// written.
    pub fn create_user(&self, new: NewUser) -> Result<User> {
        let username = validate::username(&new.username)?;
        // A user without a name is shown by their username.
        let name = match validate::name(&new.name)? {
            name if name.is_empty() => username.clone(),
            name => name,
        };
        let user = User {
            id: 0,
            username,
            email: validate::email(&new.email)?,
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
}

/// What `user.update` changes; `None` keeps the field.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub name: Option<String>,
    pub email: Option<String>,
    /// Usernames are never renamed: only the user's own username (in any case) is accepted.
    pub username: Option<String>,
}

/// How often a block is planned again when a sign-in changed the user's sessions meanwhile.
const BLOCK_ATTEMPTS: usize = 100;

impl Registry {
    /// `user.update(#{name, email})`: validates and stores the new fields (an email taken by
    /// another user is refused, nothing written); audited with what changed. A username other
    /// than the user's own is refused: usernames are never renamed.
    pub fn update_user(&self, id: u64, update: UserUpdate) -> Result<User> {
        let user = self.find_user(id)?;
        if let Some(username) = &update.username
            && !username.trim().eq_ignore_ascii_case(&user.username)
        {
            return Err(Error::InvalidField {
                field: "username",
                reason: format!(
                    "{} cannot replace {:?}: usernames are never renamed",
                    validate::shown(username),
                    user.username
                ),
            });
        }
        let mut updated = user.clone();
        let mut what = Vec::new();
        if let Some(email) = update.email {
            updated.email = validate::email(&email)?;
            if updated.email != user.email {
                what.push(format!("email {:?} -> {:?}", user.email, updated.email));
            }
        }
        if let Some(name) = update.name {
            updated.name = validate::name(&name)?;
            if updated.name != user.name {
                what.push(format!("name {:?} -> {:?}", user.name, updated.name));
            }
        }
        if what.is_empty() {
            return Ok(user);
        }
        let changes = Changes {
            updated_users: vec![updated.clone()],
            audit: self.audit_entry(
                "update_user",
                vec![id],
                0,
                format!("{} (id={id}): {}", user.username, what.join(", ")),
            ),
            ..Changes::default()
        };
        self.commit_durably(changes)?;
        Ok(updated)
    }

    /// `user.block()`: the user can no longer sign in, and every session and remember-me
    /// token of theirs is revoked, in one atomic write (a sign-in racing it either lands
    /// before it and is revoked, or is refused). Returns the user and how many sessions were
    /// revoked. Audited.
    pub fn block_user(&self, id: u64) -> Result<(User, u64)> {
        for _ in 0..BLOCK_ATTEMPTS {
            let user = self.find_user(id)?;
            let sessions = self.store.sessions_of(id)?;
            let count = sessions.len() as u64;
            let blocked = User {
                state: UserState::Blocked,
                ..user.clone()
            };
            let changes = Changes {
                updated_users: vec![blocked.clone()],
                removed_sessions: sessions
                    .into_iter()
                    .map(|s| (id, s.session_private_id))
                    .collect(),
                revoke_tokens_of: vec![id],
                // Fails when a sign-in changed the sessions since they were read.
                expect_sessions: Some(SessionGuard {
                    user_id: id,
                    count,
                    limit: 0,
                }),
                audit: self.audit_entry(
                    "block_user",
                    vec![id],
                    count,
                    format!(
                        "{} (id={id}) blocked: {count} session{} and the remember-me tokens revoked",
                        user.username,
                        super::plural(count)
                    ),
                ),
                ..Changes::default()
            };
            match self.commit_durably(changes) {
                Ok(applied) => {
                    return Ok((blocked, applied.map_or(count, |a| a.sessions_removed)));
                }
                Err(Error::WriteConflict) => {}
                Err(error) => return Err(error),
            }
        }
        Err(Error::Storage {
            message: format!("blocking user id={id} kept meeting concurrent sign-ins"),
        })
    }

    /// `user.unblock()`: the user may sign in again. Audited.
    pub fn unblock_user(&self, id: u64) -> Result<User> {
        let user = self.find_user(id)?;
        let unblocked = User {
            state: UserState::Active,
            ..user.clone()
        };
        let changes = Changes {
            updated_users: vec![unblocked.clone()],
            audit: self.audit_entry(
                "unblock_user",
                vec![id],
                0,
                format!("{} (id={id}) unblocked", user.username),
            ),
            ..Changes::default()
        };
        self.commit_durably(changes)?;
        Ok(unblocked)
    }
}
