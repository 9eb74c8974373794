//! The data, written raw in GitLab's layout with pipelined commands: N users under
//! sessionctl's prefix (the `users` hash, the `user_ids` sorted set, the username and email
//! indexes, the settings) and M sessions each as GitLab writes them (`SET … EX` of the
//! `v2:` + JSON entry, `SADD` to the lookup set). Also the GitLab entry's JSON, written and read
//! by the raw sides with the store's own encoding.

use std::time::Instant;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sessionctl::model::{ActiveSession, User, UserState};
use sessionctl::store::redis_store;

use crate::report::MIB;
use crate::{Bench, PREFIX};

/// GitLab's key namespaces (docs/ARCHITECTURE.md, "Storage layout (Redis)").
const ENTRY_V2: &str = "session:user:gitlab::v2:";
const LOOKUP: &str = "session:lookup:user:gitlab:";
/// Users written per pipeline.
const USERS_PER_PIPELINE: u64 = 1_000;

pub fn entry_key(user_id: u64, private_id: &str) -> String {
    format!("{ENTRY_V2}{user_id}:{private_id}")
}

pub fn lookup_key(user_id: u64) -> String {
    format!("{LOOKUP}{user_id}")
}

pub fn key(name: &str) -> String {
    format!("{PREFIX}{name}")
}

/// `v2:` + the JSON GitLab writes for `session`: the store's own encoding, as the sled bench's
/// raw sides use `record`.
pub fn encode(session: &ActiveSession) -> String {
    redis_store::encode_entry(session)
}

/// An entry read back into the owned session the store returns, decoded as the store does.
pub fn decode(user_id: u64, private_id: &str, value: &str) -> ActiveSession {
    redis_store::decode_entry(user_id, private_id, value).expect("an entry")
}

const DEVICES: [(&str, &str, &str, &str); 4] = [
    ("Chrome", "Windows 10", "Windows 10", "desktop"),
    ("Firefox", "Ubuntu", "Ubuntu", "desktop"),
    ("Mobile Safari", "iOS", "iPhone", "smartphone"),
    ("Chrome Mobile", "Android", "Pixel 8", "smartphone"),
];

/// A new session of `user_id` at `now`, with a fresh private id.
pub fn new_session(rng: &mut StdRng, user_id: u64, now: DateTime<Utc>) -> ActiveSession {
    let (browser, os, device_name, device_type) = DEVICES[rng.random_range(0..DEVICES.len())];
    ActiveSession {
        session_private_id: sessionctl::secret::private_id(
            &sessionctl::secret::generate_public_id(),
        ),
        user_id,
        ip_address: format!("10.{}.{}.{}", rng.random::<u8>(), rng.random::<u8>(), 1).into(),
        browser: browser.into(),
        os: os.into(),
        device_name: device_name.into(),
        device_type: device_type.into(),
        is_impersonated: false,
        admin_mode: false,
        created_at: now,
        updated_at: now,
    }
}

pub struct Loaded {
    /// The user ids, 1..=N.
    pub users: Vec<u64>,
    pub sessions: u64,
    /// The entries' TTL, `session_expire_delay` (default) x 60 s.
    pub ttl: u64,
}

impl Bench {
    /// Empties the server and writes the data; prints what it took the first time.
    pub fn load(&self) -> Loaded {
        let started = Instant::now();
        let loaded = self.reload();
        let time = started.elapsed();
        let memory = used_memory(&mut self.raw())
            .map_or_else(|| "?".into(), |bytes| format!("{:.0}", bytes as f64 / MIB));
        println!(
            "loaded {} users and {} sessions in GitLab's layout in {:.1} s ({:.0} sessions/s, \
             pipelined raw writes); Redis memory {memory} MiB",
            loaded.users.len(),
            loaded.sessions,
            time.as_secs_f64(),
            loaded.sessions as f64 / time.as_secs_f64()
        );
        loaded
    }

    /// Empties the server (`FLUSHALL`) and writes the data again.
    pub fn reload(&self) -> Loaded {
        let o = &self.options;
        let mut c = self.raw();
        redis::cmd("FLUSHALL").exec(&mut c).expect("flushall");
        let settings = sessionctl::model::Settings {
            session_limit: o.limit(),
            ..Default::default()
        };
        let ttl = u64::from(settings.session_expire_delay) * 60;
        redis::pipe()
            .hset(key("settings"), "session_limit", settings.session_limit)
            .hset(
                key("settings"),
                "session_expire_delay",
                settings.session_expire_delay,
            )
            .set(key("next_user_id"), o.users)
            .exec(&mut c)
            .expect("settings");
        let mut rng = StdRng::seed_from_u64(1);
        let now = Utc::now();
        let users: Vec<u64> = (1..=o.users).collect();
        for chunk in users.chunks(USERS_PER_PIPELINE as usize) {
            let mut pipe = redis::pipe();
            for &id in chunk {
                let user = User {
                    id,
                    username: format!("user{id}"),
                    email: format!("user{id}@example.com"),
                    name: format!("User {id}"),
                    state: UserState::Active,
                    admin: false,
                    created_at: now - chrono::Duration::days(400),
                    last_sign_in_at: None,
                };
                pipe.hset(
                    key("users"),
                    id,
                    serde_json::to_string(&user).expect("serializes"),
                )
                .zadd(key("user_ids"), id, id)
                .hset(key("users_by_username"), &user.username, id)
                .hset(key("users_by_email"), &user.email, id);
                for _ in 0..o.sessions {
                    let ago = chrono::Duration::seconds(rng.random_range(0..86_400));
                    let mut session = new_session(&mut rng, id, now - ago);
                    session.created_at -= chrono::Duration::days(rng.random_range(0..30));
                    pipe.set_ex(
                        entry_key(id, &session.session_private_id),
                        encode(&session),
                        ttl,
                    )
                    .sadd(lookup_key(id), &session.session_private_id);
                }
            }
            pipe.exec(&mut c).expect("load");
        }
        Loaded {
            sessions: o.users * u64::from(o.sessions),
            users,
            ttl,
        }
    }
}

/// `used_memory` (bytes) from `INFO memory`.
fn used_memory(c: &mut redis::Connection) -> Option<u64> {
    let info: String = redis::cmd("INFO").arg("memory").query(c).ok()?;
    info.lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|bytes| bytes.trim().parse().ok())
}
