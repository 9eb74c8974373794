//! Users: creation with its rules (valid, unique usernames and emails) and look-ups.

use crate::model::{NewUser, User, UserState};
use crate::store::Stream;
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
