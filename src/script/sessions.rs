//! The `ActiveSession` global and session values: `ActiveSession.list(user)`,
//! `ActiveSession.list(User.all)`, `ActiveSession.set(user, #{..})`,
//! `ActiveSession.destroy_session(user, id)`, `destroy_sessions`, `destroy_all_but_current`,
//! `cleanup`, `destroy_all`, `count`, and `s.destroy()`.

use std::rc::Rc;

use rhai::{Array, Dynamic, Engine, FnPtr, INT, ImmutableString, Map, NativeCallContext};

use super::format::got;
use super::values::{
    Owners, SessionClass, SessionRelation, SessionValue, Time, UserRelation, UserValue,
};
use super::{Context, Ret, ret};
use crate::model::SignIn;

/// The keys `ActiveSession.set` accepts.
const SET_KEYS: &str = "public_id, ip_address, user_agent, impersonated, admin_mode";

pub fn register(engine: &mut Engine, context: &Rc<Context>) {
    engine.register_type_with_name::<SessionClass>("ActiveSessionClass");
    engine.register_type_with_name::<SessionValue>("ActiveSession");
    engine.register_type_with_name::<SessionRelation>("SessionList");
    engine.register_iterator_result::<SessionRelation, SessionValue>();
    engine.register_fn("to_string", |_: &mut SessionClass| {
        "ActiveSession".to_owned()
    });
    engine.register_fn("to_debug", |_: &mut SessionClass| {
        "ActiveSession".to_owned()
    });

    let c = context.clone();
    engine.register_fn("list", move |_: &mut SessionClass, who: Dynamic| {
        list(&c, &who)
    });
    let c = context.clone();
    engine.register_fn(
        "set",
        move |_: &mut SessionClass, user: Dynamic, request: Map| set(&c, &user, &request),
    );
    let c = context.clone();
    engine.register_fn(
        "destroy_session",
        move |_: &mut SessionClass, user: Dynamic, id: Dynamic| -> Ret<bool> {
            let user = owner(&user, "ActiveSession.destroy_session")?;
            // GitLab's old sessions can have no private id: there is nothing to destroy.
            let Some(id) = optional_id(&id, "ActiveSession.destroy_session")? else {
                return Ok(false);
            };
            c.mutate(|r| r.destroy_session(user, &id))
        },
    );
    let c = context.clone();
    engine.register_fn(
        "destroy_sessions",
        move |_: &mut SessionClass, user: Dynamic, ids: Array| -> Ret<INT> {
            let user = owner(&user, "ActiveSession.destroy_sessions")?;
            let ids = ids
                .iter()
                .filter_map(|id| optional_id(id, "ActiveSession.destroy_sessions").transpose())
                .collect::<Ret<Vec<_>>>()?;
            c.mutate(|r| r.destroy_sessions(user, &ids))
                .map(|n| n as INT)
        },
    );
    let c = context.clone();
    engine.register_fn(
        "destroy_all_but_current",
        move |_: &mut SessionClass, user: Dynamic, current: Dynamic| -> Ret<INT> {
            let user = owner(&user, "ActiveSession.destroy_all_but_current")?;
            let current = optional_id(&current, "ActiveSession.destroy_all_but_current")?;
            c.mutate(|r| r.destroy_all_but_current(user, current.as_deref()))
                .map(|n| n as INT)
        },
    );
    let c = context.clone();
    engine.register_fn(
        "revoke",
        move |_: &mut SessionClass, user: Dynamic, id: &str, current: Dynamic| -> Ret<bool> {
            let user = owner(&user, "ActiveSession.revoke")?;
            let current = optional_id(&current, "ActiveSession.revoke")?;
            c.mutate(|r| r.revoke_session(user, id, current.as_deref()))
        },
    );
    let c = context.clone();
    engine.register_fn(
        "cleanup",
        move |_: &mut SessionClass, user: Dynamic| -> Ret<INT> {
            let user = owner(&user, "ActiveSession.cleanup")?;
            c.mutate(|r| r.cleanup(user)).map(|n| n as INT)
        },
    );
    let c = context.clone();
    engine.register_get("destroy_all", move |_: &mut SessionClass| destroy_all(&c));
    let c = context.clone();
    engine.register_fn("destroy_all", move |_: &mut SessionClass| destroy_all(&c));
    let c = context.clone();
    engine.register_fn("sweep_expired", move |_: &mut SessionClass| -> Ret<Map> {
        c.mutate(crate::registry::Registry::sweep_expired)
            .map(revoked_map)
    });
    let c = context.clone();
    engine.register_get("count", move |_: &mut SessionClass| live_count(&all(&c)));
    let c = context.clone();
    engine.register_fn("count", move |_: &mut SessionClass| live_count(&all(&c)));

    register_relation(engine);
    register_session(engine, context);
}

fn all(context: &Rc<Context>) -> SessionRelation {
    SessionRelation {
        context: context.clone(),
        owners: Owners::All,
    }
}

/// The id of the user a function was given.
fn owner(value: &Dynamic, function: &str) -> Ret<u64> {
    value
        .read_lock::<UserValue>()
        .map(|u| u.0.id)
        .ok_or_else(|| format!("{function}: expected a User, got {}", got(value)).into())
}

/// A private id, or `None` for `()`.
fn optional_id(value: &Dynamic, function: &str) -> Ret<Option<String>> {
    if value.is_unit() {
        return Ok(None);
    }
    if let Some(session) = value.read_lock::<SessionValue>() {
        return Ok(Some(session.session.session_private_id.clone()));
    }
    value.clone().into_string().map(Some).map_err(|_| {
        format!(
            "{function}: expected a session id string or (), got {}",
            got(value)
        )
        .into()
    })
}

fn list(context: &Rc<Context>, who: &Dynamic) -> Ret<Dynamic> {
    if let Some(user) = who.read_lock::<UserValue>() {
        let sessions = ret(context.registry.list(user.0.id))?;
        return Ok(sessions
            .into_iter()
            .map(|s| Dynamic::from(SessionValue::new(s)))
            .collect::<Array>()
            .into());
    }
    if who.is::<UserRelation>() {
        return Ok(Dynamic::from(all(context)));
    }
    if let Some(users) = who.read_lock::<Array>() {
        let mut ids = users
            .iter()
            .map(|u| owner(u, "ActiveSession.list"))
            .collect::<Ret<Vec<_>>>()?;
        // Each user's sessions once, in the order given.
        let mut seen = std::collections::HashSet::new();
        ids.retain(|id| seen.insert(*id));
        return Ok(Dynamic::from(SessionRelation {
            context: context.clone(),
            owners: Owners::Some(Rc::new(ids)),
        }));
    }
    Err(format!(
        "ActiveSession.list: expected a User, an array of Users or User.all, got {}",
        got(who)
    )
    .into())
}

fn set(context: &Context, user: &Dynamic, request: &Map) -> Ret<SessionValue> {
    let user = owner(user, "ActiveSession.set")?;
    let mut sign_in = SignIn::default();
    for (key, value) in request {
        let text = || -> Ret<String> {
            value.clone().into_string().map_err(|_| {
                format!(
                    "ActiveSession.set: {key} must be a string, got {}",
                    got(value)
                )
                .into()
            })
        };
        let flag = || -> Ret<bool> {
            value.as_bool().map_err(|_| {
                format!(
                    "ActiveSession.set: {key} must be true or false, got {}",
                    got(value)
                )
                .into()
            })
        };
        match key.as_str() {
            "public_id" if value.is_unit() => {}
            "public_id" => sign_in.public_id = Some(text()?),
            "ip_address" => sign_in.ip_address = text()?,
            "user_agent" => sign_in.user_agent = text()?,
            "impersonated" => sign_in.impersonated = flag()?,
            "admin_mode" => sign_in.admin_mode = flag()?,
            other => {
                return Err(format!(
                    "ActiveSession.set: unknown key {other:?}; the accepted keys are {SET_KEYS}"
                )
                .into());
            }
        }
    }
    let signed = context.mutate(|r| r.sign_in(user, sign_in))?;
    Ok(SessionValue {
        session: signed.session,
        public_id: Some(signed.public_id),
    })
}

fn destroy_all(context: &Context) -> Ret<Map> {
    if !confirmed(context, "ActiveSession.destroy_all", |r| {
        r.count_all_sessions()
    })? {
        return Ok(revoked_map(crate::model::Revoked::default()));
    }
    context
        .mutate(crate::registry::Registry::destroy_all)
        .map(revoked_map)
}

/// Whether a mass revocation named `operation` may go ahead: asked at the console (with what
/// `count` finds), always in batch mode. Prints "Nothing revoked." when the answer is no.
pub(super) fn confirmed(
    context: &Context,
    operation: &str,
    count: impl FnOnce(&crate::registry::Registry) -> crate::Result<crate::model::Revoked>,
) -> Ret<bool> {
    let confirm = context.confirm.borrow();
    let Some(confirm) = confirm.as_ref() else {
        return Ok(true);
    };
    match confirm(operation, ret(count(&context.registry))?) {
        Ok(true) => Ok(true),
        Ok(false) => {
            context.err.line("Nothing revoked.");
            Ok(false)
        }
        Err(refused) => Err(refused.into()),
    }
}

pub(super) fn revoked_map(revoked: crate::model::Revoked) -> Map {
    let mut map = Map::new();
    map.insert("sessions".into(), (revoked.sessions as INT).into());
    map.insert("users".into(), (revoked.users as INT).into());
    map
}

fn live_count(relation: &SessionRelation) -> Ret<INT> {
    let mut count = 0;
    for session in relation.clone() {
        session?;
        count += 1;
    }
    Ok(count)
}

fn register_relation(engine: &mut Engine) {
    engine.register_fn("len", |r: &mut SessionRelation| live_count(r));
    engine.register_get("count", |r: &mut SessionRelation| live_count(r));
    engine.register_fn("count", |r: &mut SessionRelation| live_count(r));
    engine.register_get("size", |r: &mut SessionRelation| live_count(r));
    engine.register_fn("is_empty", |r: &mut SessionRelation| -> Ret<bool> {
        Ok(r.clone().into_iter().next().transpose()?.is_none())
    });
    engine.register_fn("any", |r: &mut SessionRelation| -> Ret<bool> {
        Ok(r.clone().into_iter().next().transpose()?.is_some())
    });
    engine.register_fn(
        "any",
        |ctx: NativeCallContext, r: &mut SessionRelation, f: FnPtr| -> Ret<bool> {
            for session in r.clone() {
                if f.call_within_context::<bool>(&ctx, (session?,))? {
                    return Ok(true);
                }
            }
            Ok(false)
        },
    );
    super::relation::register::<SessionRelation, SessionValue>(engine);
}

fn register_session(engine: &mut Engine, context: &Rc<Context>) {
    macro_rules! text {
        ($($field:ident)*) => {$(
            engine.register_get(stringify!($field), |s: &mut SessionValue| -> ImmutableString {
                s.session.$field.as_str().into()
            });
        )*};
    }
    text!(ip_address browser os device_name device_type session_private_id);
    engine.register_get("is_impersonated", |s: &mut SessionValue| {
        s.session.is_impersonated
    });
    engine.register_get("admin_mode", |s: &mut SessionValue| s.session.admin_mode);
    engine.register_get("created_at", |s: &mut SessionValue| {
        Time(s.session.created_at)
    });
    engine.register_get("updated_at", |s: &mut SessionValue| {
        Time(s.session.updated_at)
    });
    engine.register_get("user_id", |s: &mut SessionValue| s.session.user_id as INT);
    engine.register_get("human_device_type", |s: &mut SessionValue| {
        s.session.human_device_type()
    });
    engine.register_get("public_id", |s: &mut SessionValue| {
        s.public_id.clone().map_or(Dynamic::UNIT, Dynamic::from)
    });
    engine.register_fn(
        "is_current",
        |s: &mut SessionValue, current: Dynamic| -> Ret<bool> {
            let current = optional_id(&current, "session.is_current")?;
            Ok(s.session.is_current(current.as_deref()))
        },
    );
    engine.register_fn("to_string", |s: &mut SessionValue| s.short());
    engine.register_fn("to_debug", |s: &mut SessionValue| s.inspect());
    engine.register_fn("==", |a: SessionValue, b: SessionValue| {
        a.session.session_private_id == b.session.session_private_id
    });
    engine.register_fn("!=", |a: SessionValue, b: SessionValue| {
        a.session.session_private_id != b.session.session_private_id
    });

    let c = context.clone();
    engine.register_get("user", move |s: &mut SessionValue| -> Ret<UserValue> {
        ret(c.registry.find_user(s.session.user_id)).map(UserValue)
    });
    let c = context.clone();
    engine.register_fn("destroy", move |s: &mut SessionValue| -> Ret<bool> {
        let (user, id) = (s.session.user_id, s.session.session_private_id.clone());
        c.mutate(|r| r.destroy_session(user, &id))
    });
}
