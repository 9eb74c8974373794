//! The data: the bench database built with the demo generator through `Registry::import`,
//! closed cleanly, and copied whole for the raw sides.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use sessionctl::demo::{self, Plan};
use sessionctl::model::UserState;

use crate::{Bench, open_registry};

/// A user of the bench database, as the measurements need it.
pub struct BenchUser {
    pub id: u64,
    pub username: String,
    pub active: bool,
    pub sessions: u32,
}

pub struct Built {
    pub users: Vec<BenchUser>,
    pub sessions: u64,
    pub tokens: u64,
    pub time: Duration,
}

impl Bench {
    /// Builds the database with the demo generator (written through `Registry::import`,
    /// checked by the same rules), then closes it cleanly (sealed, as the CLI leaves it).
    pub fn build(&self, path: &Path) -> Built {
        let o = &self.options;
        let registry = open_registry(path, &self.clock, false);
        registry
            .set_setting("session_limit", &o.limit().to_string())
            .expect("setting");
        let started = Instant::now();
        let (_, sessions) = demo::build(
            &registry,
            Plan {
                users: o.users,
                sessions_per_user: o.sessions,
                seed: 1,
                heavy_users: 0,
            },
        )
        .expect("build");
        let time = started.elapsed();
        assert_eq!(registry.stored_session_count().expect("count"), sessions);
        let mut users: Vec<BenchUser> = registry
            .users(None)
            .map(|u| {
                let u = u.expect("user");
                BenchUser {
                    id: u.id,
                    username: u.username,
                    active: u.state == UserState::Active,
                    sessions: 0,
                }
            })
            .collect();
        let index: HashMap<u64, usize> = users.iter().enumerate().map(|(i, u)| (u.id, i)).collect();
        for session in registry.list_all() {
            users[index[&session.expect("session").user_id]].sessions += 1;
        }
        let tokens = users
            .iter()
            .map(|u| registry.remember_token_count(u.id).expect("tokens"))
            .sum();
        registry.close().expect("close the store");
        println!(
            "built {} users, {sessions} sessions, {tokens} remember-me tokens in {:.1} s ({:.0} sessions/s)",
            users.len(),
            time.as_secs_f64(),
            sessions as f64 / time.as_secs_f64()
        );
        Built {
            users,
            sessions,
            tokens,
            time,
        }
    }
}

/// Copies a closed database directory whole (its commit record included).
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create dir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).expect("copy");
        }
    }
}

pub fn dir_size(path: &Path) -> u64 {
    fs::read_dir(path)
        .expect("read dir")
        .map(|entry| {
            let entry = entry.expect("dir entry");
            let meta = entry.metadata().expect("metadata");
            if meta.is_dir() {
                dir_size(&entry.path())
            } else {
                meta.len()
            }
        })
        .sum()
}
