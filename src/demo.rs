//! Realistic synthetic data for `--demo` and `sessionctl seed`: varied browsers, systems,
//! devices, IPs and ages, a few impersonated and admin-mode sessions, some users near the
//! session limit. Deterministic for a given seed. The demo always has user `exampleuser`
//! (`user@example.com`, id 1) and a user with id 123, so every example in the docs works.

use chrono::{DateTime, Duration, Utc};
use indicatif::ProgressStyle;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::model::{ActiveSession, RememberToken, User, UserState};
use crate::registry::{Import, MAX_USER_AGENT_CHARS, Registry};
use crate::{Result, secret, useragent};

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub users: u64,
    /// The average number of sessions per user.
    pub sessions_per_user: u32,
    pub seed: u64,
    /// How many users get close to the session limit.
    pub heavy_users: u64,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            users: 100,
            sessions_per_user: 5,
            seed: 1,
            heavy_users: 0,
        }
    }
}

/// The `--demo` database.
pub const DEMO: Plan = Plan {
    users: 240,
    sessions_per_user: 4,
    seed: 2026,
    heavy_users: 3,
};

const FIRST: [&str; 24] = [
    "Ada",
    "Grace",
    "Linus",
    "Margaret",
    "Ken",
    "Barbara",
    "Dennis",
    "Frances",
    "Alan",
    "Radia",
    "Guido",
    "Hedy",
    "Yukihiro",
    "Sophie",
    "Bjarne",
    "Katherine",
    "Tim",
    "Annie",
    "Donald",
    "Joan",
    "Rasmus",
    "Lynn",
    "Niklaus",
    "Carol",
];
const LAST: [&str; 24] = [
    "Lovelace",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Thompson",
    "Liskov",
    "Ritchie",
    "Allen",
    "Turing",
    "Perlman",
    "Rossum",
    "Lamarr",
    "Matsumoto",
    "Wilson",
    "Stroustrup",
    "Johnson",
    "Berners-Lee",
    "Easley",
    "Knuth",
    "Clarke",
    "Lerdorf",
    "Conway",
    "Wirth",
    "Shaw",
];
const DOMAINS: [&str; 5] = [
    "example.com",
    "example.org",
    "example.net",
    "corp.example",
    "mail.example",
];

/// Real User-Agents, weighted by repetition towards the common ones.
const USER_AGENTS: [&str; 22] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.39 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 7a) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.107 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
    "GitLab/17.6 (iPhone; iOS 18.1; Scale/3.00)",
    "curl/8.5.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
];

/// Generates `plan` into the registry, with a progress bar on a terminal. Everything is
/// written by one import: all of it or, whatever stops it, none.
pub fn build(registry: &Registry, plan: Plan) -> Result<(u64, u64)> {
    build_stopping(registry, plan, &|| false).map(Option::unwrap_or_default)
}

/// [`build`], stopped (`None`, nothing written) when `stop` says so before the import starts
/// (Ctrl-C in an attach holder); the users and sessions made otherwise.
pub fn build_stopping(
    registry: &Registry,
    plan: Plan,
    stop: &dyn Fn() -> bool,
) -> Result<Option<(u64, u64)>> {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let now = registry.now();
    let expire = registry.settings()?.expire_delay();
    let limit = u64::from(registry.settings()?.session_limit);
    let first_id = registry
        .users(None)
        .map(|u| u.map(|u| u.id))
        .last()
        .transpose()?
        .unwrap_or(0)
        + 1;
    let progress = crate::transfer::progress(plan.users).with_style(
        ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} users ({eta})")
            .expect("valid template"),
    );
    progress.set_message("seeding");
    let mut batch = Import::default();
    for index in 0..plan.users {
        if stop() {
            progress.finish_and_clear();
            return Ok(None);
        }
        {
            let id = first_id + index;
            let user = make_user(&mut rng, id, now);
            let heavy = index >= 1 && index <= plan.heavy_users;
            let count = if heavy {
                limit - rng.random_range(0..limit.min(6))
            } else {
                rng.random_range(0..=u64::from(plan.sessions_per_user) * 2)
                    .min(limit)
            };
            for _ in 0..count {
                batch
                    .sessions
                    .push(make_session(&mut rng, &user, now, expire));
            }
            if rng.random_bool(0.2) {
                let hash = secret::token_hash(&hex::encode(rng.random::<[u8; 32]>()));
                batch.tokens.push((
                    id,
                    RememberToken {
                        token_hash: hash,
                        created_at: now,
                    },
                ));
            }
            batch.users.push(user);
        }
        progress.inc(1);
    }
    progress.set_message("writing");
    let written = registry.import(batch, "seed");
    progress.finish_and_clear();
    let (users, sessions, _) = written?;
    Ok(Some((users, sessions)))
}

fn make_user(rng: &mut StdRng, id: u64, now: DateTime<Utc>) -> User {
    let created_at = now - Duration::days(rng.random_range(30..2000));
    if id == 1 {
        return User {
            id,
            username: "exampleuser".into(),
            email: "user@example.com".into(),
            name: "Example User".into(),
            state: UserState::Active,
            admin: false,
            created_at,
            last_sign_in_at: Some(now - Duration::minutes(rng.random_range(1..600))),
        };
    }
    let first = FIRST[rng.random_range(0..FIRST.len())];
    let last = LAST[rng.random_range(0..LAST.len())];
    let username = format!(
        "{}.{}{}",
        first.to_lowercase(),
        last.to_lowercase().replace('-', ""),
        id
    );
    User {
        id,
        email: format!("{username}@{}", DOMAINS[rng.random_range(0..DOMAINS.len())]),
        name: format!("{first} {last}"),
        state: if rng.random_bool(0.03) {
            UserState::Blocked
        } else {
            UserState::Active
        },
        admin: id == 2 || rng.random_bool(0.02),
        created_at,
        last_sign_in_at: rng
            .random_bool(0.9)
            .then(|| now - Duration::minutes(rng.random_range(1..20_000))),
        username,
    }
}

fn make_session(
    rng: &mut StdRng,
    user: &User,
    now: DateTime<Utc>,
    expire: Duration,
) -> ActiveSession {
    let user_agent = USER_AGENTS[rng.random_range(0..USER_AGENTS.len())];
    let device = useragent::parse(&user_agent[..user_agent.len().min(MAX_USER_AGENT_CHARS)]);
    // Last active within the expiry window, signed in up to 30 days before that.
    let idle = Duration::seconds(rng.random_range(0..expire.num_seconds().max(2) - 1));
    let updated_at = now - idle;
    let created_at = updated_at - Duration::minutes(rng.random_range(0..43_200));
    let ip_address = if rng.random_bool(0.1) {
        format!(
            "2001:db8:{:x}::{:x}",
            rng.random_range(0..0xffff),
            rng.random_range(1..0xffff)
        )
    } else {
        let first = [10, 81, 93, 172, 185, 192, 203][rng.random_range(0..7)];
        format!(
            "{first}.{}.{}.{}",
            rng.random_range(0..256),
            rng.random_range(0..256),
            rng.random_range(1..255)
        )
    };
    ActiveSession {
        session_private_id: secret::private_id(&hex::encode(rng.random::<[u8; 16]>())),
        user_id: user.id,
        ip_address: ip_address.into(),
        browser: device.browser,
        os: device.os,
        device_name: device.device_name,
        device_type: device.device_type,
        is_impersonated: rng.random_bool(0.02),
        admin_mode: user.admin && rng.random_bool(0.5),
        created_at,
        updated_at,
    }
}
