//! The `User` global and user values: `User.find(123)`, `User.find_by_username(..)`,
//! `User.find_by(#{email: ..})`, `User.all`, `User.count`, `User.find_each(|u| ..)`,
//! `User.create(#{..})`, and `user.sessions`, `user.remember_me()`, `user.forget_me()`.

use std::rc::Rc;

use rhai::{Array, Dynamic, Engine, FnPtr, INT, Map, NativeCallContext};

use super::format::got;
use super::values::{SessionValue, Time, UserClass, UserRelation, UserValue};
use super::{Context, Ret, ret};
use crate::model::NewUser;

/// The keys `User.find_by` accepts.
const FIND_BY_KEYS: &str = "id, username, email";
/// The keys `User.create` accepts.
const CREATE_KEYS: &str = "username, email, name, admin, blocked";

pub fn register(engine: &mut Engine, context: &Rc<Context>) {
    engine.register_type_with_name::<UserClass>("UserClass");
    engine.register_type_with_name::<UserValue>("User");
    engine.register_type_with_name::<UserRelation>("UserRelation");
    engine.register_iterator_result::<UserRelation, UserValue>();
    engine.register_fn("to_string", |_: &mut UserClass| "User".to_owned());
    engine.register_fn("to_debug", |_: &mut UserClass| "User".to_owned());

    let c = context.clone();
    engine.register_fn(
        "find",
        move |_: &mut UserClass, id: Dynamic| -> Ret<UserValue> {
            let id = user_id(&id, "User.find")?;
            ret(c.registry.find_user(id).map(UserValue))
        },
    );
    let c = context.clone();
    engine.register_fn("find_by_username", move |_: &mut UserClass, name: &str| {
        ret(c.registry.find_by_username(name)).map(found)
    });
    let c = context.clone();
    engine.register_fn("find_by_email", move |_: &mut UserClass, email: &str| {
        ret(c.registry.find_by_email(email)).map(found)
    });
    let c = context.clone();
    engine.register_fn("find_by", move |_: &mut UserClass, conditions: Map| {
        find_by(&c, &conditions)
    });
    engine.register_fn(
        "find_by",
        move |_: &mut UserClass, other: Dynamic| -> Ret<Dynamic> {
            Err(format!(
                "User.find_by: expected a map such as #{{email: \"user@example.com\"}}, got {}",
                got(&other)
            )
            .into())
        },
    );

    let c = context.clone();
    engine.register_get("all", move |_: &mut UserClass| UserRelation {
        context: c.clone(),
    });
    let c = context.clone();
    engine.register_fn("all", move |_: &mut UserClass| UserRelation {
        context: c.clone(),
    });
    for (name, last) in [("first", false), ("last", true)] {
        let c = context.clone();
        let end = move |_: &mut UserClass| -> Ret<Dynamic> {
            let all = UserRelation { context: c.clone() };
            let user = if last {
                all.into_iter().last()
            } else {
                all.into_iter().next()
            };
            user.transpose()
                .map(|u| u.map_or(Dynamic::UNIT, Dynamic::from))
        };
        engine.register_get(name, end.clone());
        engine.register_fn(name, end);
    }
    let c = context.clone();
    engine.register_get("count", move |_: &mut UserClass| count(&c));
    let c = context.clone();
    engine.register_fn("count", move |_: &mut UserClass| count(&c));
    let c = context.clone();
    engine.register_fn(
        "find_each",
        move |ctx: NativeCallContext, _: &mut UserClass, f: FnPtr| find_each(&ctx, &c, &f),
    );
    let c = context.clone();
    engine.register_fn("create", move |_: &mut UserClass, fields: Map| {
        create(&c, &fields)
    });

    register_relation(engine);
    register_user(engine, context);
}

fn found(user: Option<crate::model::User>) -> Dynamic {
    user.map_or(Dynamic::UNIT, |u| Dynamic::from(UserValue(u)))
}

fn count(context: &Context) -> Ret<INT> {
    ret(context.registry.user_count()).map(|n| n as INT)
}

/// A user id from an integer or a string of digits, as Rails' `find` takes.
pub fn user_id(value: &Dynamic, function: &str) -> Ret<u64> {
    if let Ok(id) = value.as_int() {
        return u64::try_from(id)
            .map_err(|_| format!("{function}: expected a positive id, got {id}").into());
    }
    if let Some(text) = value.read_lock::<rhai::ImmutableString>()
        && let Ok(id) = text.trim().parse::<u64>()
    {
        return Ok(id);
    }
    Err(format!("{function}: expected an integer id, got {}", got(value)).into())
}

fn find_by(context: &Context, conditions: &Map) -> Ret<Dynamic> {
    if conditions.is_empty() {
        return Err(format!("User.find_by: give one of the keys {FIND_BY_KEYS}").into());
    }
    if let Some(other) = conditions
        .keys()
        .find(|k| !["id", "username", "email"].contains(&k.as_str()))
    {
        return Err(format!(
            "User.find_by: unknown key {other:?}; the accepted keys are {FIND_BY_KEYS}"
        )
        .into());
    }
    // Every condition must hold: each finds its user, and they must all be the same one.
    let mut found_user: Option<crate::model::User> = None;
    for (key, value) in conditions {
        let text = || -> Ret<String> {
            value.clone().into_string().map_err(|_| {
                format!("User.find_by: {key} must be a string, got {}", got(value)).into()
            })
        };
        let user = match key.as_str() {
            "id" => ret(context.registry.user(user_id(value, "User.find_by")?))?,
            "username" => ret(context.registry.find_by_username(&text()?))?,
            _ => ret(context.registry.find_by_email(&text()?))?,
        };
        match (user, &found_user) {
            (Some(user), Some(previous)) if user.id == previous.id => {}
            (Some(user), None) => found_user = Some(user),
            _ => return Ok(Dynamic::UNIT),
        }
    }
    Ok(found(found_user))
}

fn find_each(ctx: &NativeCallContext, context: &Context, f: &FnPtr) -> Ret<()> {
    let mut after = None;
    loop {
        context.check_interrupt()?;
        let batch = ret(context.registry.user_batch(after, super::values::BATCH))?;
        let Some(last) = batch.last() else {
            return Ok(());
        };
        after = Some(last.id);
        let done = batch.len() < super::values::BATCH;
        for user in batch {
            let _ = f.call_within_context::<Dynamic>(ctx, (UserValue(user),))?;
        }
        if done {
            return Ok(());
        }
    }
}

fn create(context: &Context, fields: &Map) -> Ret<UserValue> {
    let mut new = NewUser::default();
    for (key, value) in fields {
        let text = || -> Ret<String> {
            value.clone().into_string().map_err(|_| {
                format!("User.create: {key} must be a string, got {}", got(value)).into()
            })
        };
        let flag = || -> Ret<bool> {
            value.as_bool().map_err(|_| {
                format!(
                    "User.create: {key} must be true or false, got {}",
                    got(value)
                )
                .into()
            })
        };
        match key.as_str() {
            "username" => new.username = text()?,
            "email" => new.email = text()?,
            "name" => new.name = text()?,
            "admin" => new.admin = flag()?,
            "blocked" => new.blocked = flag()?,
            other => {
                return Err(format!(
                    "User.create: unknown key {other:?}; the accepted keys are {CREATE_KEYS}"
                )
                .into());
            }
        }
    }
    context.mutate(|r| r.create_user(new)).map(UserValue)
}

fn register_relation(engine: &mut Engine) {
    engine.register_fn("len", |r: &mut UserRelation| count(&r.context));
    engine.register_get("count", |r: &mut UserRelation| count(&r.context));
    engine.register_fn("count", |r: &mut UserRelation| count(&r.context));
    engine.register_get("size", |r: &mut UserRelation| count(&r.context));
    // Whether any user exists: one read, not a count of them all.
    engine.register_fn("is_empty", |r: &mut UserRelation| {
        ret(r.context.registry.user_batch(None, 1)).map(|u| u.is_empty())
    });
    engine.register_fn("any", |r: &mut UserRelation| {
        ret(r.context.registry.user_batch(None, 1)).map(|u| !u.is_empty())
    });
    super::relation::register::<UserRelation, UserValue>(engine);
    engine.register_fn(
        "find_each",
        |ctx: NativeCallContext, r: &mut UserRelation, f: FnPtr| {
            find_each(&ctx, &r.context.clone(), &f)
        },
    );
}

fn register_user(engine: &mut Engine, context: &Rc<Context>) {
    engine.register_get("id", |u: &mut UserValue| u.0.id as INT);
    engine.register_get("username", |u: &mut UserValue| u.0.username.clone());
    engine.register_get("name", |u: &mut UserValue| u.0.name.clone());
    engine.register_get("email", |u: &mut UserValue| u.0.email.clone());
    engine.register_get("state", |u: &mut UserValue| u.0.state.as_str().to_owned());
    engine.register_get("admin", |u: &mut UserValue| u.0.admin);
    engine.register_get("created_at", |u: &mut UserValue| Time(u.0.created_at));
    engine.register_get("last_sign_in_at", |u: &mut UserValue| {
        u.0.last_sign_in_at
            .map_or(Dynamic::UNIT, |t| Dynamic::from(Time(t)))
    });
    engine.register_fn("to_string", |u: &mut UserValue| u.short());
    engine.register_fn("to_debug", |u: &mut UserValue| u.inspect());
    engine.register_fn("==", |a: UserValue, b: UserValue| a.0.id == b.0.id);
    engine.register_fn("!=", |a: UserValue, b: UserValue| a.0.id != b.0.id);

    let c = context.clone();
    let sessions = move |u: &mut UserValue| -> Ret<Array> {
        let list = ret(c.registry.list(u.0.id))?;
        Ok(list
            .into_iter()
            .map(|s| Dynamic::from(SessionValue::new(s)))
            .collect())
    };
    engine.register_get("sessions", sessions.clone());
    engine.register_fn("sessions", sessions);
    let c = context.clone();
    engine.register_get("remember_tokens", move |u: &mut UserValue| {
        ret(c.registry.remember_token_count(u.0.id)).map(|n| n as INT)
    });
    let c = context.clone();
    engine.register_fn("remember_me", move |u: &mut UserValue| {
        c.mutate(|r| r.remember_me(u.0.id))
    });
    let c = context.clone();
    engine.register_fn("forget_me", move |u: &mut UserValue| {
        c.mutate(|r| r.forget_me(u.0.id)).map(|n| n as INT)
    });
}
