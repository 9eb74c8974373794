//! Reading the audit log: the newest entries, optionally only those of one user, since a
//! time, or of one action (`sessionctl audit --user --since --action`).

use chrono::{DateTime, Utc};

use crate::Result;
use crate::model::AuditEntry;

use super::Registry;

/// Which audit entries to read; an empty filter keeps every entry.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only entries naming this user.
    pub user_id: Option<u64>,
    /// Only entries made at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only entries of this action (`destroy_session`, `import`, …), compared exactly.
    pub action: Option<String>,
}

impl AuditFilter {
    /// Whether `entry` passes the filter.
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        self.user_id.is_none_or(|id| entry.user_ids.contains(&id))
            && self.since.is_none_or(|since| entry.at >= since)
            && self
                .action
                .as_ref()
                .is_none_or(|action| &entry.action == action)
    }

    fn is_empty(&self) -> bool {
        self.user_id.is_none() && self.since.is_none() && self.action.is_none()
    }
}

impl Registry {
    /// The newest `limit` audit entries that pass `filter`, newest first.
    pub fn audit_entries(&self, filter: &AuditFilter, limit: usize) -> Result<Vec<AuditEntry>> {
        if filter.is_empty() {
            return self.recent_audit(limit);
        }
        let mut entries = self.store.recent_audit(usize::MAX)?;
        entries.retain(|entry| filter.matches(entry));
        entries.truncate(limit);
        Ok(entries)
    }
}
