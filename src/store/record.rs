//! The on-disk encoding: keys and serde records (postcard), versioned by [`FORMAT_VERSION`],
//! which the database keeps in its meta tree.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{ActiveSession, AuditEntry, RememberToken, User, UserState};
use crate::secret::PRIVATE_ID_PREFIX;
use crate::{Error, Result};

/// The version of the record encoding this build writes. Version 2 username entries may hold
/// a copy of the user (see [`encode_username_entry`]); version 1 entries, the id alone, are
/// still read.
pub const FORMAT_VERSION: u32 = 2;

/// Bytes of a session key: the user id (8, big-endian) then the SHA-256 of the public id (32).
pub const SESSION_KEY_LEN: usize = 40;

pub fn user_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

pub fn decode_id(key: &[u8], what: &'static str) -> Result<u64> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| Error::CorruptRecord {
        what,
        key: hex::encode(key),
        reason: format!("key is {} bytes, expected 8", key.len()),
    })?;
    Ok(u64::from_be_bytes(bytes))
}

/// The key of a session, or `None` when `private_id` is not of the stored shape (then no such
/// session can exist).
pub fn session_key(user_id: u64, private_id: &str) -> Option<[u8; SESSION_KEY_LEN]> {
    let digest = private_id.strip_prefix(PRIVATE_ID_PREFIX)?;
    let mut key = [0u8; SESSION_KEY_LEN];
    key[..8].copy_from_slice(&user_id.to_be_bytes());
    hex::decode_to_slice(digest, &mut key[8..]).ok()?;
    Some(key)
}

/// The user id and private id in a session key.
pub fn decode_session_key(key: &[u8]) -> Result<(u64, String)> {
    if key.len() != SESSION_KEY_LEN {
        return Err(Error::CorruptRecord {
            what: "session",
            key: hex::encode(key),
            reason: format!("key is {} bytes, expected {SESSION_KEY_LEN}", key.len()),
        });
    }
    let user_id = u64::from_be_bytes(key[..8].try_into().expect("8 bytes"));
    let mut digest = [0u8; 64];
    hex::encode_to_slice(&key[8..], &mut digest).expect("32 bytes fit 64 hex digits");
    let mut private_id = String::with_capacity(PRIVATE_ID_PREFIX.len() + 64);
    private_id.push_str(PRIVATE_ID_PREFIX);
    private_id.push_str(std::str::from_utf8(&digest).expect("hex is ASCII"));
    Ok((user_id, private_id))
}

/// The lower-cased form under which usernames and emails are indexed.
pub fn index_key(value: &str) -> String {
    value.to_lowercase()
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn time(micros: i64, what: &'static str, key: &dyn Fn() -> String) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| Error::CorruptRecord {
        what,
        key: key(),
        reason: format!("time {micros} is out of range"),
    })
}

fn corrupt(what: &'static str, key: String, error: &postcard::Error) -> Error {
    Error::CorruptRecord {
        what,
        key,
        reason: error.to_string(),
    }
}

#[derive(Serialize, Deserialize)]
struct UserRecord {
    username: String,
    email: String,
    name: String,
    blocked: bool,
    admin: bool,
    created_at: i64,
    last_sign_in_at: Option<i64>,
    /// How many sessions the user has in the sessions generation `generation`; in any other
    /// generation, none (a `destroy_all` starts a new generation).
    generation: u64,
    session_count: u32,
}

/// The user's session count as the user record keeps it: valid in one sessions generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionCount {
    pub generation: u64,
    pub count: u32,
}

impl SessionCount {
    /// The count in the current generation `current`.
    pub fn in_generation(self, current: u64) -> u32 {
        if self.generation == current {
            self.count
        } else {
            0
        }
    }
}

pub fn encode_user(user: &User, sessions: SessionCount) -> Vec<u8> {
    let record = UserRecord {
        generation: sessions.generation,
        session_count: sessions.count,
        username: user.username.clone(),
        email: user.email.clone(),
        name: user.name.clone(),
        blocked: user.state == UserState::Blocked,
        admin: user.admin,
        created_at: micros(user.created_at),
        last_sign_in_at: user.last_sign_in_at.map(micros),
    };
    postcard::to_stdvec(&record).expect("encoding to memory cannot fail")
}

/// The same fields as [`UserRecord`], borrowed: reading the count allocates nothing.
#[derive(Deserialize)]
struct UserCountView<'a> {
    _username: &'a str,
    _email: &'a str,
    _name: &'a str,
    _blocked: bool,
    _admin: bool,
    _created_at: i64,
    _last_sign_in_at: Option<i64>,
    generation: u64,
    session_count: u32,
}

/// Only the session count of a user record.
pub fn decode_session_count(bytes: &[u8]) -> Result<SessionCount, String> {
    let view: UserCountView<'_> = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
    Ok(SessionCount {
        generation: view.generation,
        count: view.session_count,
    })
}

/// The value of a username index entry: the user id (8 bytes, big-endian), then a copy of the
/// user's record with a zero session count (the count is kept in `users` alone), so that a
/// look-up by username is one read. Only a change of the user's own fields rewrites it.
pub fn encode_username_entry(user: &User) -> Vec<u8> {
    let mut bytes = user_key(user.id).to_vec();
    bytes.extend(encode_user(user, SessionCount::default()));
    bytes
}

/// What a username index entry holds.
#[derive(Debug, PartialEq, Eq)]
pub enum UsernameEntry {
    /// The user id alone, as format 1 wrote it.
    Id(u64),
    /// The user id and a copy of the user.
    User(User),
}

/// The user id a username index entry points at: its first 8 bytes.
pub fn decode_username_id(bytes: &[u8]) -> Result<u64> {
    decode_id(bytes.get(..8).unwrap_or(bytes), "username index")
}

pub fn decode_username_entry(bytes: &[u8]) -> Result<UsernameEntry> {
    let id = decode_username_id(bytes)?;
    if bytes.len() == 8 {
        return Ok(UsernameEntry::Id(id));
    }
    decode_user_as("username index", id, &bytes[8..]).map(|(user, _)| UsernameEntry::User(user))
}

pub fn decode_user(id: u64, bytes: &[u8]) -> Result<User> {
    decode_user_record(id, bytes).map(|(user, _)| user)
}

/// A user and the session count its record keeps.
pub fn decode_user_record(id: u64, bytes: &[u8]) -> Result<(User, SessionCount)> {
    decode_user_as("user", id, bytes)
}

/// A user record, found in `what` (the users tree, or a username entry's copy).
fn decode_user_as(what: &'static str, id: u64, bytes: &[u8]) -> Result<(User, SessionCount)> {
    let key = || format!("user id={id}");
    let r: UserRecord = postcard::from_bytes(bytes).map_err(|e| corrupt(what, key(), &e))?;
    let sessions = SessionCount {
        generation: r.generation,
        count: r.session_count,
    };
    let user = User {
        id,
        username: r.username,
        email: r.email,
        name: r.name,
        state: if r.blocked {
            UserState::Blocked
        } else {
            UserState::Active
        },
        admin: r.admin,
        created_at: time(r.created_at, what, &key)?,
        last_sign_in_at: r.last_sign_in_at.map(|t| time(t, what, &key)).transpose()?,
    };
    Ok((user, sessions))
}

#[derive(Serialize, Deserialize)]
struct SessionRecord<'a> {
    ip_address: &'a str,
    browser: &'a str,
    os: &'a str,
    device_name: &'a str,
    device_type: &'a str,
    is_impersonated: bool,
    admin_mode: bool,
    created_at: i64,
    updated_at: i64,
}

/// A session record's `updated_at` in microseconds, read without copying anything out.
pub fn session_updated_at(key: &[u8], bytes: &[u8]) -> Result<i64> {
    decode_session_record(key, bytes).map(|r| r.updated_at)
}

/// What a touch reads of a stored session, copying nothing out.
#[derive(Debug, Clone, Copy)]
pub struct Kept {
    pub created_at: DateTime<Utc>,
    /// In microseconds.
    pub updated_at: i64,
    pub is_impersonated: bool,
    pub admin_mode: bool,
}

/// [`Kept`] of a stored session.
pub fn session_kept(key: &[u8], bytes: &[u8]) -> Result<Kept> {
    let r = decode_session_record(key, bytes)?;
    Ok(Kept {
        created_at: time(r.created_at, "session", &|| describe_session_key(key))?,
        updated_at: r.updated_at,
        is_impersonated: r.is_impersonated,
        admin_mode: r.admin_mode,
    })
}

fn decode_session_record<'a>(key: &[u8], bytes: &'a [u8]) -> Result<SessionRecord<'a>> {
    postcard::from_bytes(bytes).map_err(|e| corrupt("session", describe_session_key(key), &e))
}

fn describe_session_key(key: &[u8]) -> String {
    decode_session_key(key).map_or_else(
        |_| hex::encode(key),
        |(user, id)| format!("user id={user}, session {id}"),
    )
}

pub fn encode_session(session: &ActiveSession) -> Vec<u8> {
    encode_touched(session, micros(session.created_at), None)
}

/// [`encode_session`] with another `created_at` (microseconds), and other flags
/// (`is_impersonated`, `admin_mode`) when given: what a touch keeps of the stored session.
pub fn encode_touched(
    session: &ActiveSession,
    created_at: i64,
    flags: Option<(bool, bool)>,
) -> Vec<u8> {
    let (is_impersonated, admin_mode) =
        flags.unwrap_or((session.is_impersonated, session.admin_mode));
    let record = SessionRecord {
        ip_address: &session.ip_address,
        browser: &session.browser,
        os: &session.os,
        device_name: &session.device_name,
        device_type: &session.device_type,
        is_impersonated,
        admin_mode,
        created_at,
        updated_at: micros(session.updated_at),
    };
    postcard::to_stdvec(&record).expect("encoding to memory cannot fail")
}

pub fn decode_session(key: &[u8], bytes: &[u8]) -> Result<ActiveSession> {
    let (user_id, session_private_id) = decode_session_key(key)?;
    let describe = || format!("user id={user_id}, session {session_private_id}");
    let r: SessionRecord<'_> =
        postcard::from_bytes(bytes).map_err(|e| corrupt("session", describe(), &e))?;
    Ok(ActiveSession {
        user_id,
        ip_address: r.ip_address.into(),
        browser: r.browser.into(),
        os: r.os.into(),
        device_name: r.device_name.into(),
        device_type: r.device_type.into(),
        is_impersonated: r.is_impersonated,
        admin_mode: r.admin_mode,
        created_at: time(r.created_at, "session", &describe)?,
        updated_at: time(r.updated_at, "session", &describe)?,
        session_private_id,
    })
}

#[derive(Serialize, Deserialize)]
struct TokenRecord {
    hash: [u8; 32],
    created_at: i64,
}

pub fn encode_tokens(tokens: &[RememberToken]) -> Vec<u8> {
    let records: Vec<TokenRecord> = tokens
        .iter()
        .map(|t| {
            let mut hash = [0u8; 32];
            hex::decode_to_slice(&t.token_hash, &mut hash).expect("token hashes are hex SHA-256");
            TokenRecord {
                hash,
                created_at: micros(t.created_at),
            }
        })
        .collect();
    postcard::to_stdvec(&records).expect("encoding to memory cannot fail")
}

pub fn decode_tokens(user_id: u64, bytes: &[u8]) -> Result<Vec<RememberToken>> {
    let key = || format!("remember-me tokens of user id={user_id}");
    let records: Vec<TokenRecord> =
        postcard::from_bytes(bytes).map_err(|e| corrupt("remember-me", key(), &e))?;
    records
        .into_iter()
        .map(|r| {
            Ok(RememberToken {
                token_hash: hex::encode(r.hash),
                created_at: time(r.created_at, "remember-me", &key)?,
            })
        })
        .collect()
}

#[derive(Serialize, Deserialize)]
struct AuditRecord {
    at: i64,
    os_user: String,
    origin: String,
    action: String,
    user_ids: Vec<u64>,
    sessions: u64,
    detail: String,
}

/// An audit entry: the record, then the touched sessions' ids and the count, which a record
/// written before they were kept lacks (read as none and 0), and which older readers ignore.
pub fn encode_audit(entry: &AuditEntry) -> Vec<u8> {
    let record = AuditRecord {
        at: micros(entry.at),
        os_user: entry.os_user.clone(),
        origin: entry.origin.clone(),
        action: entry.action.clone(),
        user_ids: entry.user_ids.clone(),
        sessions: entry.sessions,
        detail: entry.detail.clone(),
    };
    let mut bytes = postcard::to_stdvec(&record).expect("encoding to memory cannot fail");
    bytes.extend(postcard::to_stdvec(&entry.session_ids).expect("encoding to memory cannot fail"));
    bytes.extend(postcard::to_stdvec(&entry.count).expect("encoding to memory cannot fail"));
    bytes
}

pub fn decode_audit(seq: u64, bytes: &[u8]) -> Result<AuditEntry> {
    let key = || format!("audit entry {seq}");
    let (r, rest): (AuditRecord, &[u8]) =
        postcard::take_from_bytes(bytes).map_err(|e| corrupt("audit", key(), &e))?;
    let (session_ids, rest) = if rest.is_empty() {
        (Vec::new(), rest)
    } else {
        postcard::take_from_bytes(rest).map_err(|e| corrupt("audit", key(), &e))?
    };
    let count = if rest.is_empty() {
        0
    } else {
        postcard::from_bytes(rest).map_err(|e| corrupt("audit", key(), &e))?
    };
    Ok(AuditEntry {
        session_ids,
        count,
        at: time(r.at, "audit", &key)?,
        os_user: r.os_user,
        origin: r.origin,
        action: r.action,
        user_ids: r.user_ids,
        sessions: r.sessions,
        detail: r.detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::private_id;

    #[test]
    fn session_keys_round_trip_and_reject_foreign_ids() {
        let id = private_id("public");
        let key = session_key(7, &id).unwrap();
        assert_eq!(decode_session_key(&key).unwrap(), (7, id));
        assert!(session_key(7, "2::nothex").is_none());
        assert!(session_key(7, "no-prefix").is_none());
        assert!(decode_session_key(b"short").is_err());
    }

    #[test]
    fn an_audit_entry_keeps_its_session_ids_and_count_and_older_readers_ignore_them() {
        let entry = AuditEntry {
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            os_user: "root".into(),
            origin: "-e".into(),
            action: "destroy_session".into(),
            user_ids: vec![1, 2],
            sessions: 2,
            detail: "2 sessions".into(),
            session_ids: vec![private_id("a"), private_id("b")],
            count: 2,
        };
        let bytes = encode_audit(&entry);
        assert_eq!(decode_audit(1, &bytes).unwrap(), entry);
        // A reader of the record alone (a build before the ids) finds the entry without them.
        let older: AuditRecord = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(older.sessions, 2);
        // A reader of the record and the ids (a build before the count) finds both.
        let (_, rest): (AuditRecord, &[u8]) = postcard::take_from_bytes(&bytes).unwrap();
        let ids: Vec<String> = postcard::from_bytes(rest).unwrap();
        assert_eq!(ids, entry.session_ids);
        // What those builds wrote is read with no ids and a count of 0.
        let record_alone = &bytes[..bytes.len() - rest.len()];
        let read = decode_audit(1, record_alone).unwrap();
        assert_eq!((read.session_ids.len(), read.count), (0, 0));
        let with_ids = &bytes[..bytes.len() - 1];
        let read = decode_audit(1, with_ids).unwrap();
        assert_eq!(
            (read.session_ids, read.count),
            (entry.session_ids.clone(), 0)
        );
    }

    #[test]
    fn corrupt_bytes_name_the_record() {
        let key = session_key(9, &private_id("x")).unwrap();
        let error = decode_session(&key, &[0xff, 0xff, 0xff]).unwrap_err();
        assert!(error.to_string().contains("user id=9"), "{error}");
        let error = decode_user(3, &[0xff]).unwrap_err();
        assert!(error.to_string().contains("user id=3"), "{error}");
    }

    #[test]
    fn a_username_entry_holds_the_user_and_names_it_when_corrupt() {
        let user = User {
            id: 42,
            username: "Alice".into(),
            email: "alice@example.com".into(),
            name: "Alice".into(),
            state: UserState::Blocked,
            admin: true,
            created_at: DateTime::from_timestamp_micros(1_700_000_000_000_000).unwrap(),
            last_sign_in_at: DateTime::from_timestamp_micros(1_700_000_100_000_000),
        };
        let entry = encode_username_entry(&user);
        assert_eq!(decode_username_id(&entry).unwrap(), 42);
        assert_eq!(
            decode_username_entry(&entry).unwrap(),
            UsernameEntry::User(user)
        );
        // A format-1 entry holds the id alone.
        assert_eq!(
            decode_username_entry(&user_key(42)).unwrap(),
            UsernameEntry::Id(42)
        );
        // A damaged copy is blamed on the index, naming the user.
        let error = decode_username_entry(&[&entry[..8], &[0xff][..]].concat()).unwrap_err();
        assert!(
            error.to_string().contains("username index")
                && error.to_string().contains("user id=42"),
            "{error}"
        );
        assert!(decode_username_entry(&[1, 2]).is_err());
    }
}
