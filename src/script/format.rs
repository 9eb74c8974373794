//! How values look: the plain form (`-e`, `puts`), the inspect form (the console's `=> ...`,
//! `pp`; times in the local zone) and JSON (`--format json`; times in UTC). rhai's own formatting prints custom types as Rust paths,
//! so every value of ours is formatted here.

use rhai::{Array, Dynamic, Map};
use serde_json::{Value, json};

use super::Output;
use super::values::{SessionRelation, SessionValue, Span, Time, UserRelation, UserValue};

/// How many rows of a lazy collection its inspect form shows.
const PREVIEW_ROWS: usize = 10;

/// A readable name of the type of `value`, for error messages.
/// What a function was given, for its error: the kind of value and, shortened, the value
/// (`string "abc"`), or what `()` means.
pub(crate) fn got(value: &Dynamic) -> String {
    if value.is_unit() {
        format!("() ({})", super::error::EMPTY)
    } else {
        format!(
            "{} {}",
            type_name(value),
            crate::registry::validate::cut(&inspect(value), 80)
        )
    }
}

pub fn type_name(value: &Dynamic) -> String {
    if value.is::<UserValue>() {
        "User".into()
    } else if value.is::<SessionValue>() {
        "ActiveSession".into()
    } else if value.is::<UserRelation>() {
        "User.all".into()
    } else if value.is::<SessionRelation>() {
        "a list of sessions".into()
    } else if value.is::<Time>() {
        "Time".into()
    } else if value.is::<Span>() {
        "Duration".into()
    } else if value.is_unit() {
        "()".into()
    } else if value.is_string() {
        "string".into()
    } else if value.is_int() {
        "integer".into()
    } else if value.is_float() {
        "float".into()
    } else if value.is_bool() {
        "bool".into()
    } else if value.is_array() {
        "array".into()
    } else if value.is_map() {
        "map".into()
    } else {
        value
            .type_name()
            .rsplit("::")
            .next()
            .unwrap_or("value")
            .to_owned()
    }
}

/// The plain text of one value: strings unquoted, users and sessions in their short form,
/// nothing for `()`.
pub fn plain(value: &Dynamic) -> String {
    if let Some(user) = value.read_lock::<UserValue>() {
        user.short()
    } else if let Some(session) = value.read_lock::<SessionValue>() {
        session.short()
    } else if let Some(time) = value.read_lock::<Time>() {
        time.to_string()
    } else if let Some(span) = value.read_lock::<Span>() {
        span.to_string()
    } else if value.is_unit() {
        String::new()
    } else if value.is_string()
        || value.is_int()
        || value.is_float()
        || value.is_bool()
        || value.is_char()
    {
        value.to_string()
    } else {
        inspect(value)
    }
}

/// Writes `value` as plain text: collections one element a line (streaming the lazy ones),
/// anything else as [`plain`]; nothing at all for `()`.
pub fn write_plain(value: &Dynamic, out: &Output) -> Result<(), String> {
    if let Some(array) = value.read_lock::<Array>() {
        for item in array.iter() {
            out.line(&plain(item));
        }
    } else if let Some(users) = value.read_lock::<UserRelation>() {
        for user in users.clone() {
            out.line(&user.map_err(|e| e.to_string())?.short());
        }
    } else if let Some(sessions) = value.read_lock::<SessionRelation>() {
        for session in sessions.clone() {
            out.line(&session.map_err(|e| e.to_string())?.short());
        }
    } else if !value.is_unit() {
        out.line(&plain(value));
    }
    Ok(())
}

/// The inspect form, as IRB prints results.
pub fn inspect(value: &Dynamic) -> String {
    if let Some(user) = value.read_lock::<UserValue>() {
        user.inspect()
    } else if let Some(session) = value.read_lock::<SessionValue>() {
        session.inspect()
    } else if let Some(time) = value.read_lock::<Time>() {
        time.local()
    } else if let Some(span) = value.read_lock::<Span>() {
        span.to_string()
    } else if let Some(users) = value.read_lock::<UserRelation>() {
        preview(
            users.clone().into_iter().map(|u| u.map(|u| u.inspect())),
            "User.all",
        )
    } else if let Some(sessions) = value.read_lock::<SessionRelation>() {
        preview(
            sessions.clone().into_iter().map(|s| s.map(|s| s.inspect())),
            "sessions",
        )
    } else if let Some(array) = value.read_lock::<Array>() {
        let items: Vec<String> = array.iter().map(inspect).collect();
        format!("[{}]", items.join(", "))
    } else if let Some(map) = value.read_lock::<Map>() {
        let items: Vec<String> = map
            .iter()
            .map(|(k, v)| format!("{k}: {}", inspect(v)))
            .collect();
        format!("#{{{}}}", items.join(", "))
    } else if value.is_unit() {
        "()".into()
    } else if value.is_string() {
        format!("{:?}", value.to_string())
    } else if value.is_char() {
        format!("'{value}'")
    } else {
        value.to_string()
    }
}

fn preview<E: ToString>(rows: impl Iterator<Item = Result<String, E>>, what: &str) -> String {
    let mut shown = Vec::new();
    let mut more = 0usize;
    for row in rows {
        match row {
            Ok(row) if shown.len() < PREVIEW_ROWS => shown.push(row),
            Ok(_) => more += 1,
            Err(error) => return format!("#<{what}: {}>", error.to_string()),
        }
    }
    if more > 0 {
        shown.push(format!("… {more} more"));
    }
    format!("[{}]", shown.join(",\n "))
}

/// The JSON form of a value.
pub fn to_json(value: &Dynamic) -> Result<Value, String> {
    if let Some(user) = value.read_lock::<UserValue>() {
        return serde_json::to_value(&user.0).map_err(|e| e.to_string());
    }
    if let Some(session) = value.read_lock::<SessionValue>() {
        return serde_json::to_value(&session.session).map_err(|e| e.to_string());
    }
    if let Some(time) = value.read_lock::<Time>() {
        return Ok(json!(time.to_string()));
    }
    if let Some(span) = value.read_lock::<Span>() {
        return Ok(json!(span.0.num_seconds()));
    }
    if let Some(users) = value.read_lock::<UserRelation>() {
        let users: Result<Vec<_>, _> = users.clone().into_iter().map(|u| u.map(|u| u.0)).collect();
        return serde_json::to_value(users.map_err(|e| e.to_string())?).map_err(|e| e.to_string());
    }
    if let Some(sessions) = value.read_lock::<SessionRelation>() {
        let mut rows = Vec::new();
        for session in sessions.clone() {
            let session = session.map_err(|e| e.to_string())?;
            rows.push(serde_json::to_value(&session.session).map_err(|e| e.to_string())?);
        }
        return Ok(Value::Array(rows));
    }
    if let Some(array) = value.read_lock::<Array>() {
        return array
            .iter()
            .map(to_json)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if let Some(map) = value.read_lock::<Map>() {
        let mut object = serde_json::Map::new();
        for (key, item) in map.iter() {
            object.insert(key.to_string(), to_json(item)?);
        }
        return Ok(Value::Object(object));
    }
    if value.is_unit() {
        return Ok(Value::Null);
    }
    rhai::serde::from_dynamic::<Value>(value).map_err(|e| e.to_string())
}
