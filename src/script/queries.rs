//! Incident queries and user administration, as scripts call them: `User.where(#{..})`,
//! `user.update(#{..})`, `user.block()`, `user.unblock()`, `ActiveSession.where(#{..})` and
//! what its result adds to every list of sessions: `tally(field)` and `destroy()`.
//! The maps are parsed here into the registry's filters ([`crate::registry::query`]); the
//! rules are the registry's.

use std::rc::Rc;

use rhai::{Array, Dynamic, Engine, INT, Map};

use super::format::{inspect, type_name};
use super::values::{Owners, SessionClass, SessionRelation, Span, Time, UserClass, UserValue};
use super::{Context, Ret, ret};
use crate::registry::UserUpdate;
use crate::registry::query::{
    IpRange, Pattern, SessionField, SessionFilter, UserFilter, cut, tally,
};

/// The keys `user.update` accepts.
const UPDATE_KEYS: &str = "name, email (a username is never renamed)";

pub fn register(engine: &mut Engine, context: &Rc<Context>) {
    let c = context.clone();
    engine.register_fn(
        "where",
        move |_: &mut UserClass, conditions: Map| -> Ret<Array> {
            let filter = user_filter(&conditions)?;
            c.registry
                .users_where(&filter)
                .map(|user| {
                    c.check_interrupt()?;
                    ret(user).map(|u| Dynamic::from(UserValue(u)))
                })
                .collect()
        },
    );
    engine.register_fn("where", |_: &mut UserClass, other: Dynamic| -> Ret<Array> {
        Err(not_a_map("User.where", "#{email: \"%@example.com\"}", &other).into())
    });

    let c = context.clone();
    engine.register_fn(
        "update",
        move |u: &mut UserValue, fields: Map| -> Ret<UserValue> {
            let update = user_update(&fields)?;
            let updated = c.mutate(|r| r.update_user(u.0.id, update))?;
            u.0 = updated.clone();
            Ok(UserValue(updated))
        },
    );
    let c = context.clone();
    engine.register_fn("block", move |u: &mut UserValue| -> Ret<INT> {
        let (blocked, revoked) = c.mutate(|r| r.block_user(u.0.id))?;
        u.0 = blocked;
        Ok(revoked as INT)
    });
    let c = context.clone();
    engine.register_fn("unblock", move |u: &mut UserValue| -> Ret<UserValue> {
        let unblocked = c.mutate(|r| r.unblock_user(u.0.id))?;
        u.0 = unblocked.clone();
        Ok(UserValue(unblocked))
    });

    let c = context.clone();
    engine.register_fn(
        "where",
        move |_: &mut SessionClass, conditions: Map| -> Ret<SessionRelation> {
            Ok(SessionRelation {
                context: c.clone(),
                owners: Owners::Where(Rc::new(session_filter(&c, &conditions)?)),
            })
        },
    );
    engine.register_fn(
        "where",
        |_: &mut SessionClass, other: Dynamic| -> Ret<SessionRelation> {
            Err(not_a_map("ActiveSession.where", "#{ip: \"203.0.113.0/24\"}", &other).into())
        },
    );

    engine.register_fn(
        "tally",
        |r: &mut SessionRelation, field: &str| -> Ret<Array> {
            let field = ret(SessionField::parse(field))?;
            let sessions = r.clone().into_iter().map(|s| s.map(|s| s.session));
            Ok(tally(sessions, field)?
                .into_iter()
                .map(|(value, count)| {
                    Dynamic::from_array(vec![value.into(), (count as INT).into()])
                })
                .collect())
        },
    );
    engine.register_fn("destroy", |r: &mut SessionRelation| -> Ret<Map> {
        let Owners::Where(filter) = &r.owners else {
            return Err(
                "destroy() revokes the sessions of ActiveSession.where(#{..}); for one user's, use ActiveSession.destroy_all_but_current(user, ()), for everyone's ActiveSession.destroy_all"
                    .into(),
            );
        };
        destroy_where(&r.context, filter)
    });
}

/// `ActiveSession.where(..).destroy()`: asks first at the console, then revokes.
fn destroy_where(context: &Context, filter: &SessionFilter) -> Ret<Map> {
    let asked = |r: &crate::registry::Registry| r.count_where(filter);
    if !super::sessions::confirmed(context, "ActiveSession.where(..).destroy", asked)? {
        return Ok(super::sessions::revoked_map(
            crate::model::Revoked::default(),
        ));
    }
    context
        .mutate(|r| r.destroy_where(filter))
        .map(super::sessions::revoked_map)
}

fn not_a_map(function: &str, example: &str, got: &Dynamic) -> String {
    format!(
        "{function}: expected a map such as {example}, got {} {}",
        type_name(got),
        inspect(got)
    )
}

/// Reads the value of `key` in a condition map of `function`.
struct Field<'a> {
    function: &'static str,
    key: &'a str,
    value: &'a Dynamic,
}

impl Field<'_> {
    fn wrong(&self, expected: &str) -> String {
        format!(
            "{}: {} must be {expected}, got {} {}",
            self.function,
            self.key,
            type_name(self.value),
            cut(&inspect(self.value))
        )
    }

    fn text(&self) -> Ret<String> {
        self.value
            .clone()
            .into_string()
            .map_err(|_| self.wrong("a string").into())
    }

    fn pattern(&self) -> Ret<Pattern> {
        self.value
            .read_lock::<rhai::ImmutableString>()
            .map(|text| Pattern::new(&text))
            .ok_or_else(|| {
                self.wrong("a string (a LIKE pattern with % and _, or exact)")
                    .into()
            })
    }

    fn flag(&self) -> Ret<bool> {
        self.value
            .as_bool()
            .map_err(|_| self.wrong("true or false").into())
    }

    fn span(&self) -> Ret<chrono::Duration> {
        self.value
            .read_lock::<Span>()
            .map(|s| s.0)
            .ok_or_else(|| self.wrong("a duration such as days(30) or hours(2)").into())
    }

    fn time(&self) -> Ret<chrono::DateTime<chrono::Utc>> {
        self.value
            .read_lock::<Time>()
            .map(|t| t.0)
            .ok_or_else(|| self.wrong("a time such as now() - days(7)").into())
    }
}

fn unknown(function: &str, key: &str, accepted: &str) -> String {
    format!(
        "{function}: unknown key {:?}; the accepted keys are {accepted}",
        cut(key)
    )
}

fn user_filter(conditions: &Map) -> Ret<UserFilter> {
    let mut filter = UserFilter::default();
    for (key, value) in conditions {
        let field = Field {
            function: "User.where",
            key,
            value,
        };
        match key.as_str() {
            "id" => filter.id = Some(super::users::user_id(value, "User.where")?),
            "username" => filter.username = Some(field.pattern()?),
            "email" => filter.email = Some(field.pattern()?),
            "name" => filter.name = Some(field.pattern()?),
            "admin" => filter.admin = Some(field.flag()?),
            "blocked" => filter.blocked = Some(field.flag()?),
            other => {
                return Err(unknown("User.where", other, &UserFilter::KEYS.join(", ")).into());
            }
        }
    }
    Ok(filter)
}

fn user_update(fields: &Map) -> Ret<UserUpdate> {
    let mut update = UserUpdate::default();
    for (key, value) in fields {
        let field = Field {
            function: "user.update",
            key,
            value,
        };
        match key.as_str() {
            "name" => update.name = Some(field.text()?),
            "email" => update.email = Some(field.text()?),
            "username" => update.username = Some(field.text()?),
            other => return Err(unknown("user.update", other, UPDATE_KEYS).into()),
        }
    }
    Ok(update)
}

fn session_filter(context: &Context, conditions: &Map) -> Ret<SessionFilter> {
    const FUNCTION: &str = "ActiveSession.where";
    let mut filter = SessionFilter::default();
    for (key, value) in conditions {
        let field = Field {
            function: FUNCTION,
            key,
            value,
        };
        match key.as_str() {
            "ip" => filter.ip = Some(ret(IpRange::parse(&field.text()?))?),
            "browser" => filter.browser = Some(field.pattern()?),
            "os" => filter.os = Some(field.pattern()?),
            "device_type" => filter.device_type = Some(field.pattern()?),
            "idle_for" => filter.idle_for = Some(field.span()?),
            "active_within" => filter.active_within = Some(field.span()?),
            "signed_in_before" => filter.signed_in_before = Some(field.time()?),
            "signed_in_after" => filter.signed_in_after = Some(field.time()?),
            "impersonated" => filter.impersonated = Some(field.flag()?),
            "admin_mode" => filter.admin_mode = Some(field.flag()?),
            "user" => filter.user = Some(owner(context, &field)?),
            other => {
                return Err(unknown(FUNCTION, other, &SessionFilter::KEYS.join(", ")).into());
            }
        }
    }
    Ok(filter)
}

/// The id of the user a `user:` condition names: a User, a username or an id.
fn owner(context: &Context, field: &Field) -> Ret<u64> {
    if let Some(user) = field.value.read_lock::<UserValue>() {
        return Ok(user.0.id);
    }
    if field.value.is_int() {
        return super::users::user_id(field.value, "ActiveSession.where");
    }
    if let Some(name) = field.value.read_lock::<rhai::ImmutableString>() {
        return match ret(context.registry.find_by_username(&name))? {
            Some(user) => Ok(user.id),
            None => Err(format!(
                "ActiveSession.where: user: no user with username {:?}",
                cut(&name)
            )
            .into()),
        };
    }
    Err(field.wrong("a User, a username or an id").into())
}
