//! Remember-me tokens: issued once, kept as hashes, revoked with every revoked session.

use subtle::ConstantTimeEq;

use crate::model::{RememberToken, SignIn, SignedIn};
use crate::store::Changes;
use crate::{Result, secret};

use super::Registry;

impl Registry {
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

    /// Whether `token` is a live remember-me token of the user. Its hash is compared with
    /// every stored hash in constant time (no early exit), so the time taken says nothing of
    /// how much of a hash matched, nor which token it was.
    pub fn verify_remember_token(&self, user_id: u64, token: &str) -> Result<bool> {
        let hash = secret::token_hash(token);
        let found = self
            .store
            .remember_tokens(user_id)?
            .iter()
            .fold(subtle::Choice::from(0), |found, stored| {
                found | stored.token_hash.as_bytes().ct_eq(hash.as_bytes())
            });
        Ok(found.into())
    }

    /// A new session from a remember-me token: `None` (and nothing written) when `token` is
    /// not a live token of the user, else the sign-in of [`Registry::sign_in`] with a fresh
    /// id, the limit's eviction included. The token stays valid until a revocation.
    pub fn sign_in_remembered(
        &self,
        user_id: u64,
        token: &str,
        request: SignIn,
    ) -> Result<Option<SignedIn>> {
        if !self.verify_remember_token(user_id, token)? {
            return Ok(None);
        }
        self.sign_in(
            user_id,
            SignIn {
                public_id: None,
                ..request
            },
        )
        .map(Some)
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
}
