//! The `Audit` global: `Audit.recent(20)` reads the newest audit entries.

use std::rc::Rc;

use rhai::{Array, Dynamic, Engine, INT, Map};

use super::values::{AuditClass, Time};
use super::{Context, Ret, ret};
use crate::model::AuditEntry;

pub fn register(engine: &mut Engine, context: &Rc<Context>) {
    engine.register_type_with_name::<AuditClass>("AuditClass");
    engine.register_fn("to_string", |_: &mut AuditClass| "Audit".to_owned());
    engine.register_fn("to_debug", |_: &mut AuditClass| "Audit".to_owned());
    let c = context.clone();
    engine.register_fn(
        "recent",
        move |_: &mut AuditClass, limit: INT| -> Ret<Array> {
            let limit = usize::try_from(limit).map_err(|_| {
                format!("Audit.recent: the count must not be negative, got {limit}")
            })?;
            let entries = ret(c.registry.recent_audit(limit))?;
            Ok(entries
                .into_iter()
                .map(|e| Dynamic::from_map(entry_map(e)))
                .collect())
        },
    );
}

fn entry_map(entry: AuditEntry) -> Map {
    let mut map = Map::new();
    map.insert("at".into(), Dynamic::from(Time(entry.at)));
    map.insert("os_user".into(), entry.os_user.into());
    map.insert("origin".into(), entry.origin.into());
    map.insert("action".into(), entry.action.into());
    map.insert(
        "user_ids".into(),
        entry
            .user_ids
            .into_iter()
            .map(|id| Dynamic::from(id as INT))
            .collect::<Array>()
            .into(),
    );
    map.insert("sessions".into(), (entry.sessions as INT).into());
    map.insert("detail".into(), entry.detail.into());
    map
}
