//! The integrity check of a sled store: every record decodes, every index entry points at
//! the right user, and every user's kept session count is what its sessions add up to.

use std::collections::HashMap;

use sled::Tree;

use super::{EMAIL_INDEX, Generation, NEXT_USER_ID_KEY, SledStore, USERNAME_INDEX, storage};
use crate::Result;
use crate::model::User;
use crate::store::Disagreement;
use crate::store::record::{self, UsernameEntry, index_key, user_key};

impl SledStore {
    /// Every way in which the current generation disagrees with itself.
    pub(super) fn check_all(&self) -> Result<Vec<Disagreement>> {
        let generation = self.current();
        let mut found = Vec::new();
        let counts = self.check_users(&generation, &mut found)?;
        Self::check_index(
            &generation,
            &generation.by_username,
            USERNAME_INDEX,
            |u| &u.username,
            &mut found,
        )?;
        Self::check_index(
            &generation,
            &generation.by_email,
            EMAIL_INDEX,
            |u| &u.email,
            &mut found,
        )?;
        Self::check_owned(&generation, &counts, &mut found)?;
        Ok(found)
    }

    /// Every user decodes and is indexed under its username and email; ids stay below the
    /// next id to assign.
    /// Returns the session count each user record keeps.
    fn check_users(
        &self,
        generation: &Generation,
        found: &mut Vec<Disagreement>,
    ) -> Result<HashMap<u64, u32>> {
        let mut max_id = 0;
        let mut counts = HashMap::new();
        for entry in &generation.users {
            let (key, value) = entry.map_err(storage)?;
            let user = match record::decode_id(&key, "user")
                .and_then(|id| record::decode_user_record(id, &value))
            {
                Ok((user, sessions)) => {
                    counts.insert(user.id, sessions.in_generation(generation.sessions_number));
                    user
                }
                Err(error) => {
                    found.push(Disagreement {
                        place: "users",
                        key: hex::encode(&key),
                        problem: error.to_string(),
                    });
                    continue;
                }
            };
            max_id = max_id.max(user.id);
            for (index, place, value) in [
                (&generation.by_username, USERNAME_INDEX, &user.username),
                (&generation.by_email, EMAIL_INDEX, &user.email),
            ] {
                let indexed = index.get(index_key(value)).map_err(storage)?;
                let points_here = indexed.as_deref().map(|v| indexed_id(place, v));
                if !matches!(points_here, Some(Ok(id)) if id == user.id) {
                    found.push(Disagreement {
                        place,
                        key: index_key(value),
                        problem: format!(
                            "user id={} is not indexed here (the index holds {})",
                            user.id,
                            indexed.map_or("nothing".into(), |v| describe_id(&v)),
                        ),
                    });
                }
            }
        }
        let next = match self.meta.get(NEXT_USER_ID_KEY).map_err(storage)? {
            Some(bytes) => record::decode_id(&bytes, "meta")?,
            None => 1,
        };
        if max_id >= next {
            found.push(Disagreement {
                place: "meta",
                key: "next_user_id".into(),
                problem: format!("next user id {next} is not above the highest id {max_id}"),
            });
        }
        Ok(counts)
    }

    /// Every entry of an index points at a user whose field, lower-cased, is the entry's key;
    /// the username index's copy of the user equals the user's record.
    fn check_index(
        generation: &Generation,
        index: &Tree,
        place: &'static str,
        field: fn(&User) -> &String,
        found: &mut Vec<Disagreement>,
    ) -> Result<()> {
        let holds_copies = place == USERNAME_INDEX;
        for entry in index {
            let (key, value) = entry.map_err(storage)?;
            let key = String::from_utf8_lossy(&key).into_owned();
            let problem = match indexed_id(place, &value) {
                Err(error) => Some(error.to_string()),
                Ok(id) => match generation.users.get(user_key(id)).map_err(storage)? {
                    None => Some(format!("points at user id={id}, which does not exist")),
                    Some(bytes) => match record::decode_user(id, &bytes) {
                        Ok(user) if index_key(field(&user)) != key => Some(format!(
                            "points at user id={id}, whose value is {:?}",
                            field(&user)
                        )),
                        Ok(user) if holds_copies => match record::decode_username_entry(&value) {
                            Ok(UsernameEntry::User(copy)) if copy != user => Some(format!(
                                "its copy of user id={id} differs from the user's record"
                            )),
                            Ok(_) => None,
                            Err(error) => Some(error.to_string()),
                        },
                        Ok(_) | Err(_) => None, // a corrupt user is reported with the users
                    },
                },
            };
            if let Some(problem) = problem {
                found.push(Disagreement {
                    place,
                    key,
                    problem,
                });
            }
        }
        Ok(())
    }

    /// Every session and token list decodes and belongs to an existing user, whose record
    /// keeps the right session count.
    fn check_owned(
        generation: &Generation,
        counts: &HashMap<u64, u32>,
        found: &mut Vec<Disagreement>,
    ) -> Result<()> {
        let mut actual: HashMap<u64, u32> = HashMap::new();
        for entry in &generation.sessions {
            let (key, value) = entry.map_err(storage)?;
            if let Ok((user_id, _)) = record::decode_session_key(&key) {
                *actual.entry(user_id).or_default() += 1;
            }
            match record::decode_session(&key, &value) {
                Err(error) => found.push(Disagreement {
                    place: "sessions",
                    key: hex::encode(&key),
                    problem: error.to_string(),
                }),
                Ok(session) => {
                    if !generation
                        .users
                        .contains_key(user_key(session.user_id))
                        .map_err(storage)?
                    {
                        found.push(Disagreement {
                            place: "sessions",
                            key: session.session_private_id,
                            problem: format!(
                                "belongs to user id={}, which does not exist",
                                session.user_id
                            ),
                        });
                    }
                }
            }
        }
        for (&user_id, &kept) in counts {
            let real = actual.get(&user_id).copied().unwrap_or(0);
            if kept != real {
                found.push(Disagreement {
                    place: "users",
                    key: format!("user id={user_id}"),
                    problem: format!("keeps a session count of {kept}, but has {real} sessions"),
                });
            }
        }
        for entry in &generation.tokens {
            let (key, value) = entry.map_err(storage)?;
            let problem = match record::decode_id(&key, "remember-me") {
                Err(error) => Some(error.to_string()),
                Ok(id) => match record::decode_tokens(id, &value) {
                    Err(error) => Some(error.to_string()),
                    Ok(_) if !generation.users.contains_key(&key).map_err(storage)? => {
                        Some(format!("tokens of user id={id}, which does not exist"))
                    }
                    Ok(_) => None,
                },
            };
            if let Some(problem) = problem {
                found.push(Disagreement {
                    place: "remember_tokens",
                    key: hex::encode(&key),
                    problem,
                });
            }
        }
        Ok(())
    }
}

/// The user id an index entry points at: a username entry starts with it, an email entry is
/// exactly it.
pub(super) fn indexed_id(place: &'static str, bytes: &[u8]) -> Result<u64> {
    if place == USERNAME_INDEX {
        record::decode_username_id(bytes)
    } else {
        record::decode_id(bytes, place)
    }
}

fn describe_id(bytes: &[u8]) -> String {
    record::decode_username_id(bytes).map_or_else(|_| hex::encode(bytes), |id| format!("id={id}"))
}
