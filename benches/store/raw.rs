//! Raw sled access for the baselines: opening a copy of the database as sessionctl does (its
//! cache size), and the trees of the current generations, named as `src/store/sled_store.rs`
//! names them (`tree_name`, `Generation`): the user trees are `users`, `users_by_username`,
//! `users_by_email` in generation 0 and `users.U` etc. for meta `users_generation` = U > 0;
//! the session trees are `sessions.G` and `remember_tokens.G` for meta `sessions_generation`
//! = G (absent: 1).

use std::path::Path;

use sessionctl::store::CACHE_CAPACITY;

/// The meta key holding the users generation (u64 big-endian; absent means 0).
const USERS_GENERATION_KEY: &[u8] = b"users_generation";
/// The meta key holding the sessions generation (u64 big-endian; absent means 1).
pub const SESSIONS_GENERATION_KEY: &[u8] = b"sessions_generation";

/// Opens the sled files at `path` (a copy: a raw open changes them) with sessionctl's cache.
pub fn open(path: &Path) -> sled::Db {
    sled::Config::new()
        .path(path)
        .cache_capacity(CACHE_CAPACITY)
        .open()
        .expect("open sled")
}

/// A generation number kept in `meta`.
pub fn generation(meta: &sled::Tree, key: &[u8], absent: u64) -> u64 {
    meta.get(key).expect("meta get").map_or(absent, |bytes| {
        u64::from_be_bytes(bytes.as_ref().try_into().expect("8 bytes"))
    })
}

/// The name of `base` in generation `number`: generation 0 keeps the plain name.
pub fn tree_name(base: &str, number: u64) -> String {
    if number == 0 {
        base.to_owned()
    } else {
        format!("{base}.{number}")
    }
}

/// The trees of the current generations, and the untouched `meta` and `audit`.
pub struct Trees {
    pub db: sled::Db,
    pub meta: sled::Tree,
    pub audit: sled::Tree,
    pub sessions_generation: u64,
    pub users: sled::Tree,
    pub by_username: sled::Tree,
    pub sessions: sled::Tree,
    pub tokens: sled::Tree,
}

impl Trees {
    pub fn current(db: &sled::Db) -> Self {
        let meta = db.open_tree("meta").expect("meta tree");
        let u = generation(&meta, USERS_GENERATION_KEY, 0);
        let g = generation(&meta, SESSIONS_GENERATION_KEY, 1);
        let tree = |base: &str, number: u64| db.open_tree(tree_name(base, number)).expect("tree");
        Self {
            audit: db.open_tree("audit").expect("audit tree"),
            sessions_generation: g,
            users: tree("users", u),
            by_username: tree("users_by_username", u),
            sessions: tree("sessions", g),
            tokens: tree("remember_tokens", g),
            meta,
            db: db.clone(),
        }
    }
}
