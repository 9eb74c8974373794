//! The domain: every rule of GitLab's `ActiveSession`, in one place. The registry reads and
//! writes through a [`Backend`] and takes "now" from a [`Clock`]; the scripting layer and the
//! command line call it and add no rules of their own.
//!
//! Rules kept here: the session limit with least-recently-used eviction, expiry (expired
//! sessions are never returned and are removed when met), hashed ids, revocation of
//! remember-me tokens with every revoked session, the current session's protection, dry run
//! and the audit log.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use crate::clock::Clock;
use crate::model::{ActiveSession, AuditEntry, Revoked, Settings, User};
use crate::store::{Backend, Changes, Disagreement};

use crate::Result;
/// Complete records to write with [`Registry::import`].
pub use crate::store::Records as Import;

/// The longest User-Agent kept; GitLab cuts it the same way before parsing.
pub const MAX_USER_AGENT_CHARS: usize = 1024;

/// Session ids (and user ids) one run entry of the audit log keeps; a run touching more
/// continues in another entry, so that rewriting the entry costs no more than this however
/// long the run.
pub const RUN_ENTRY_IDS: usize = 1000;

/// Records written per transaction by an import, and expired sessions removed per transaction
/// by a sweep: bounded memory however large the database.
const WRITE_CHUNK: usize = 10_000;

/// Who is making changes, for the audit log.
#[derive(Debug, Clone)]
pub struct Actor {
    /// The operating-system user.
    pub os_user: String,
    /// `console`, `-e`, a script path or a subcommand.
    pub origin: String,
}

impl Actor {
    /// The current operating-system user acting from `origin`.
    pub fn current(origin: impl Into<String>) -> Self {
        Self {
            os_user: whoami::username(),
            origin: origin.into(),
        }
    }
}

/// Users, sessions and remember-me tokens with GitLab's rules.
pub struct Registry {
    store: Arc<dyn Backend + Send + Sync>,
    clock: Arc<dyn Clock>,
    actor: Option<Actor>,
    dry_run: bool,
    planned: Mutex<Vec<AuditEntry>>,
    /// The run's entries of the audit log, one per action, while a run is on
    /// ([`Registry::begin_run`]).
    run: Mutex<Option<Vec<RunEntry>>>,
}

/// The audit entry summing up a run's mutations of one action, and its key in the log.
struct RunEntry {
    key: u64,
    entry: AuditEntry,
}

impl Registry {
    /// A registry over `store`. Mutations are not audited until [`Registry::audited_as`].
    pub fn new(store: Box<dyn Backend + Send + Sync>, clock: Arc<dyn Clock>) -> Result<Self> {
        // The store must be readable: its settings are read now, and wherever used.
        store.settings()?;
        Ok(Self {
            store: Arc::from(store),
            clock,
            actor: None,
            dry_run: false,
            planned: Mutex::new(Vec::new()),
            run: Mutex::new(None),
        })
    }

    /// Records every mutation in the audit log as made by `actor`.
    #[must_use]
    pub fn audited_as(mut self, actor: Actor) -> Self {
        self.actor = Some(actor);
        self
    }

    /// Another registry on the same store and clock, acting as `actor` with its own dry run:
    /// what a process holding the store gives each client it serves (threads may share it).
    #[must_use]
    pub fn view(&self, actor: Actor, dry_run: bool) -> Self {
        Self {
            store: Arc::clone(&self.store),
            clock: Arc::clone(&self.clock),
            actor: Some(actor),
            dry_run,
            planned: Mutex::new(Vec::new()),
            run: Mutex::new(None),
        }
    }

    /// With dry run on, mutations compute and report what they would do and write nothing.
    #[must_use]
    pub fn dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }

    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Starts a run (a script, `-e`, one console input): from now on until it ends, the
    /// audited mutations it makes (sign-ins, users created, updated, blocked, revocations,
    /// remember-me tokens, sweeps…) are one audit entry per action, with their count, users
    /// and session ids, rewritten by each mutation in the same atomic write (after
    /// [`RUN_ENTRY_IDS`] ids, the run continues in a new entry). `destroy_all` (a write of
    /// the store's own, not one transaction on Redis) keeps an entry each.
    pub fn begin_run(&self) {
        *self.run.lock().expect("run lock") = Some(Vec::new());
    }

    /// Ends the run [`Registry::begin_run`] started: from now on, one entry per mutation.
    pub fn end_run(&self) {
        *self.run.lock().expect("run lock") = None;
    }

    /// The mutations that dry run skipped since the last call, oldest first.
    pub fn take_planned(&self) -> Vec<AuditEntry> {
        std::mem::take(&mut *self.planned.lock().expect("planned lock"))
    }

    /// What dry run skipped since the last call, in one line (`None` when nothing): for each
    /// action, what it would have done when it was once, else how many times and how many
    /// sessions of how many users it would have removed.
    pub fn take_planned_summary(&self) -> Option<String> {
        struct Action<'a> {
            entry: &'a AuditEntry,
            times: u64,
            sessions: u64,
            users: std::collections::BTreeSet<u64>,
        }
        let planned = self.take_planned();
        let mut actions: Vec<Action> = Vec::new();
        for entry in &planned {
            let index = actions
                .iter()
                .position(|a| a.entry.action == entry.action)
                .unwrap_or_else(|| {
                    actions.push(Action {
                        entry,
                        times: 0,
                        sessions: 0,
                        users: std::collections::BTreeSet::new(),
                    });
                    actions.len() - 1
                });
            let action = &mut actions[index];
            action.times += 1;
            action.sessions += entry.sessions;
            action.users.extend(&entry.user_ids);
        }
        let parts: Vec<String> = actions
            .iter()
            .map(|a| match a.times {
                1 => format!("{}: {}", a.entry.action, a.entry.detail),
                times => format!(
                    "{} {times} times ({} session{} of {} user{})",
                    a.entry.action,
                    a.sessions,
                    plural(a.sessions),
                    a.users.len(),
                    plural(a.users.len() as u64)
                ),
            })
            .collect();
        (!parts.is_empty()).then(|| format!("dry run: would {}", parts.join("; ")))
    }

    // ----- settings -----

    /// The settings, read from the store each time: another process may have changed them.
    pub fn settings(&self) -> Result<Settings> {
        self.store.settings()
    }

    /// Changes one setting (`session_limit` or `session_expire_delay`) from its text form.
    pub fn set_setting(&self, key: &str, value: &str) -> Result<Settings> {
        let mut settings = self.settings()?;
        let before = settings.get(key)?;
        settings.set(key, value)?;
        let entry = self.audit_entry("config", vec![], 0, format!("{key}: {before} -> {value}"));
        if self.dry_run {
            self.plan(entry);
            return Ok(settings);
        }
        self.store.put_settings(&settings, entry.as_ref())?;
        self.store.flush()?;
        Ok(settings)
    }

    /// Stores the settings of a backup being restored into a new database (not audited: the
    /// restored audit log and the restore's own entry say where they came from).
    pub fn restore_settings(&self, settings: Settings) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        self.store.put_settings(&settings, None)?;
        Ok(())
    }

    /// Appends the audit log of a backup being restored, oldest first.
    pub fn restore_audit(&self, entries: &[AuditEntry]) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        for entry in entries {
            self.store.append_audit(entry)?;
        }
        Ok(())
    }

    /// How many live sessions of how many users `after` would end: those it expires, and
    /// beyond its session limit the least recently used. Reads every session; writes nothing.
    pub fn sessions_ended_by(&self, after: Settings) -> Result<Revoked> {
        let now = self.now();
        let mut ended = Revoked::default();
        let mut group: Vec<ActiveSession> = Vec::new();
        let mut count = |group: &mut Vec<ActiveSession>| {
            let (live, expired): (Vec<_>, Vec<_>) = group
                .drain(..)
                .partition(|s| !s.is_expired(now, after.expire_delay()));
            let n = expired.len() + live.len().saturating_sub(after.session_limit as usize);
            if n > 0 {
                ended.sessions += n as u64;
                ended.users += 1;
            }
        };
        for session in self.list_all() {
            let session = session?;
            if group.last().is_some_and(|s| s.user_id != session.user_id) {
                count(&mut group);
            }
            group.push(session);
        }
        count(&mut group);
        Ok(ended)
    }

    /// After a setting was lowered: removes the sessions it expired and, beyond the session
    /// limit, each user's least recently used. Audited.
    pub fn end_sessions_beyond_settings(&self) -> Result<Revoked> {
        let mut ended = self.sweep_expired()?;
        let limit = u64::from(self.settings()?.session_limit);
        let over: Vec<u64> = self
            .users(None)
            .filter_map(|user| {
                let user = match user {
                    Ok(user) => user,
                    Err(error) => return Some(Err(error)),
                };
                match self.store.session_count_of(user.id) {
                    Ok(count) if count > limit => Some(Ok(user.id)),
                    Ok(_) => None,
                    Err(error) => Some(Err(error)),
                }
            })
            .collect::<Result<_>>()?;
        for user_id in over {
            let removed = self.cleanup(user_id)?;
            if removed > 0 {
                ended.sessions += removed;
                ended.users += 1;
            }
        }
        Ok(ended)
    }

    /// Where the stored data disagrees with itself.
    pub fn check(&self) -> Result<Vec<Disagreement>> {
        self.store.check()
    }

    pub fn recent_audit(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        self.store.recent_audit(limit)
    }

    /// Makes every write so far durable.
    pub fn flush(&self) -> Result<()> {
        self.store.flush()
    }

    /// Whether closing has work to do once this registry is dropped: sealing a store that was
    /// written, or removing temporary files (a verified copy of the store).
    pub fn needs_closing(&self) -> bool {
        self.store.closing().is_some() || self.store.holds_temporary_files()
    }

    /// Flushes and closes the store cleanly, so that the next reading command writes no byte.
    pub fn close(self) -> Result<()> {
        let closing = self.prepare_close()?;
        drop(self);
        closing.finish()
    }

    /// The first half of [`Registry::close`] for an owner that shares this registry: flushes,
    /// and returns what is left to do once the last handle on the store has been dropped.
    pub fn prepare_close(&self) -> Result<Closing> {
        self.store.flush()?;
        Ok(Closing(self.store.closing()))
    }

    fn revoke(&self, user: &User, private_ids: Vec<String>, action: &str) -> Result<u64> {
        if private_ids.is_empty() {
            return Ok(0);
        }
        let count = private_ids.len() as u64;
        let changes = Changes {
            removed_sessions: private_ids.into_iter().map(|id| (user.id, id)).collect(),
            revoke_tokens_of: vec![user.id],
            audit: self.audit_entry(
                action,
                vec![user.id],
                count,
                format!(
                    "{count} session{} of {} (id={}), remember-me tokens revoked",
                    plural(count),
                    user.username,
                    user.id
                ),
            ),
            ..Changes::default()
        };
        Ok(self
            .commit_durably(changes)?
            .map_or(count, |a| a.sessions_removed))
    }

    /// During a run, `audit` (one mutation, touching the sessions `touched` gives and creating
    /// `new_users` users) joined to the run's entry of its action, and that entry's key, for
    /// the mutation's own write; outside a run, `audit` as it is. The run's entry of an
    /// action has room while it holds at most [`RUN_ENTRY_IDS`] session ids and user ids;
    /// then a new entry continues it. A mutation touching more sessions than that (a mass
    /// operation) records their count, not their ids.
    fn join_run(
        &self,
        audit: Option<AuditEntry>,
        touched: impl FnOnce() -> Vec<String>,
        new_users: usize,
    ) -> Result<(Option<AuditEntry>, Option<u64>)> {
        let run = self.run.lock().expect("run lock");
        let (Some(run), Some(entry)) = (run.as_ref(), audit.as_ref()) else {
            return Ok((audit, None));
        };
        let mut touched = touched();
        if touched.len() > RUN_ENTRY_IDS {
            touched.clear();
        }
        let users = entry.user_ids.len() + new_users;
        let current = run
            .iter()
            .rev()
            .find(|r| r.entry.action == entry.action)
            .filter(|r| {
                r.entry.session_ids.len() + touched.len() <= RUN_ENTRY_IDS
                    && r.entry.user_ids.len() + users <= RUN_ENTRY_IDS
            });
        let Some(current) = current else {
            // The action's first entry in the run (or the one after a full entry).
            let first = AuditEntry {
                session_ids: touched,
                ..entry.clone()
            };
            return Ok((Some(first), Some(self.store.new_audit_key()?)));
        };
        let mut summed = current.entry.clone();
        summed.count += entry.count;
        summed.sessions += entry.sessions;
        for id in &entry.user_ids {
            if !summed.user_ids.contains(id) {
                summed.user_ids.push(*id);
            }
        }
        summed.session_ids.extend(touched);
        summed.detail = summed.run_detail();
        Ok((Some(summed), Some(current.key)))
    }

    /// After the write of a run's entry under `key`: `written` is what the log now holds.
    fn keep_run_entry(&self, key: Option<u64>, written: Option<AuditEntry>) {
        let (Some(key), Some(entry)) = (key, written) else {
            return;
        };
        if let Some(run) = self.run.lock().expect("run lock").as_mut() {
            match run.iter_mut().find(|r| r.key == key) {
                Some(kept) => kept.entry = entry,
                None => run.push(RunEntry { key, entry }),
            }
        }
    }

    fn split_expired(
        &self,
        sessions: Vec<ActiveSession>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<ActiveSession>, Vec<ActiveSession>)> {
        let delay = self.settings()?.expire_delay();
        Ok(sessions
            .into_iter()
            .partition(|s| !s.is_expired(now, delay)))
    }

    /// Applies `changes`, or in dry run records what they would do. `None` in dry run.
    /// During a run, their audit entry joins the run's entry of its action
    /// ([`Registry::begin_run`]). Sign-ins and touches are made durable by the next flush
    /// (group commit).
    fn commit(&self, mut changes: Changes) -> Result<Option<crate::store::Applied>> {
        if self.dry_run {
            self.plan(changes.audit);
            return Ok(None);
        }
        if changes.is_empty() {
            return Ok(None);
        }
        let touched = || {
            let created = changes.sessions.iter().map(|s| &s.session_private_id);
            let removed = changes.removed_sessions.iter().map(|(_, id)| id);
            created.chain(removed).cloned().collect()
        };
        let (audit, key) =
            self.join_run(changes.audit.clone(), touched, changes.new_users.len())?;
        changes.audit.clone_from(&audit);
        changes.audit_key = key;
        let applied = self.store.apply(changes)?;
        // The store adds the ids of the users it created to the entry it writes.
        let written = audit.map(|mut entry| {
            entry
                .user_ids
                .extend(applied.created_users.iter().map(|u| u.id));
            entry
        });
        self.keep_run_entry(key, written);
        Ok(Some(applied))
    }

    /// [`Registry::commit`], durable when it returns: for revocations and new users, which a
    /// crash must never undo once reported.
    fn commit_durably(&self, changes: Changes) -> Result<Option<crate::store::Applied>> {
        let applied = self.commit(changes)?;
        if applied.is_some() {
            self.store.flush()?;
        }
        Ok(applied)
    }

    fn plan(&self, entry: Option<AuditEntry>) {
        if let Some(entry) = entry {
            self.planned.lock().expect("planned lock").push(entry);
        }
    }

    /// The audit entry for a mutation. Built even when auditing is off, so that dry run can
    /// report it; `None` only when auditing is off and this is not a dry run.
    fn audit_entry(
        &self,
        action: &str,
        user_ids: Vec<u64>,
        sessions: u64,
        detail: String,
    ) -> Option<AuditEntry> {
        if self.actor.is_none() && !self.dry_run {
            return None;
        }
        let (os_user, origin) = self
            .actor
            .as_ref()
            .map_or_else(Default::default, |a| (a.os_user.clone(), a.origin.clone()));
        Some(AuditEntry {
            at: self.now(),
            os_user,
            origin,
            action: action.to_owned(),
            user_ids,
            sessions,
            detail,
            session_ids: Vec::new(),
            count: 1,
        })
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

mod audit;
mod import;
pub mod query;
mod remember;
mod sessions;
mod users;
pub mod validate;

pub use audit::AuditFilter;
pub use sessions::AllSessions;
pub use users::UserUpdate;

#[cfg(test)]
mod tests;

/// What is left of closing a store once every handle on it is dropped (see
/// [`Registry::prepare_close`]).
#[must_use = "the store is sealed only by Closing::finish"]
pub struct Closing(Option<std::path::PathBuf>);

impl Closing {
    /// Seals the store's files, when it was written.
    pub fn finish(self) -> Result<()> {
        match self.0 {
            Some(path) => crate::store::close_cleanly(&path),
            None => Ok(()),
        }
    }
}
