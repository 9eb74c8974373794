//! Times and durations as values: `now()`, `days(n)`, `hours(n)`, `minutes(n)`, `seconds(n)`,
//! arithmetic (`now() - days(30)`) and comparison (`s.updated_at < now() - days(30)`).

use chrono::{DateTime, Duration, Utc};
use rhai::{Dynamic, Engine, INT};

use super::values::{Span, Time};
use super::{Context, Ret};
use std::rc::Rc;

fn span(n: INT, unit: &str, make: fn(i64) -> Option<Duration>) -> Ret<Span> {
    make(n)
        .map(Span)
        .ok_or_else(|| format!("{unit}({n}) is out of range").into())
}

pub fn register(engine: &mut Engine, context: &Rc<Context>) {
    engine.register_type_with_name::<Time>("Time");
    engine.register_type_with_name::<Span>("Duration");

    let registry = context.registry.clone();
    engine.register_fn("now", move || Time(registry.now()));
    engine.register_fn("days", |n: INT| span(n, "days", Duration::try_days));
    engine.register_fn("hours", |n: INT| span(n, "hours", Duration::try_hours));
    engine.register_fn("minutes", |n: INT| {
        span(n, "minutes", Duration::try_minutes)
    });
    engine.register_fn("seconds", |n: INT| {
        span(n, "seconds", Duration::try_seconds)
    });
    engine.register_fn("parse_time", |text: &str| -> Ret<Time> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| Time(t.with_timezone(&Utc)))
            .map_err(|e| format!("parse_time: {text:?} is not an ISO 8601 time ({e})").into())
    });

    engine.register_fn("+", |t: Time, s: Span| shift(t, s.0));
    engine.register_fn("+", |s: Span, t: Time| shift(t, s.0));
    engine.register_fn("-", |t: Time, s: Span| shift(t, -s.0));
    engine.register_fn("-", |a: Time, b: Time| Span(a.0 - b.0));
    engine.register_fn("+", |a: Span, b: Span| span_result(a.0.checked_add(&b.0)));
    engine.register_fn("-", |a: Span, b: Span| span_result(a.0.checked_sub(&b.0)));
    engine.register_fn("*", |a: Span, n: INT| {
        span_result(i32::try_from(n).ok().and_then(|n| a.0.checked_mul(n)))
    });
    macro_rules! compare {
        ($($op:tt)*) => {$(
            engine.register_fn(stringify!($op), |a: Time, b: Time| a $op b);
            engine.register_fn(stringify!($op), |a: Span, b: Span| a $op b);
        )*};
    }
    compare!(< <= > >= == !=);
    // A time or duration against anything else is a mistake (`now() < 5`), not `false`.
    for op in ["<", "<=", ">", ">="] {
        engine.register_fn(op, move |_: Time, b: Dynamic| {
            mismatch::<bool>(op, "Time", &b)
        });
        engine.register_fn(op, move |a: Dynamic, _: Time| {
            mismatch::<bool>(op, "Time", &a)
        });
        engine.register_fn(op, move |_: Span, b: Dynamic| {
            mismatch::<bool>(op, "Duration", &b)
        });
        engine.register_fn(op, move |a: Dynamic, _: Span| {
            mismatch::<bool>(op, "Duration", &a)
        });
    }

    engine.register_fn("to_string", |t: &mut Time| t.to_string());
    engine.register_fn("to_debug", |t: &mut Time| t.to_string());
    engine.register_fn("to_string", |s: &mut Span| s.to_string());
    engine.register_fn("to_debug", |s: &mut Span| s.to_string());
    engine.register_get("year", |t: &mut Time| {
        INT::from(chrono::Datelike::year(&t.0))
    });
    engine.register_get("to_i", |t: &mut Time| t.0.timestamp());
    engine.register_fn("to_i", |t: &mut Time| t.0.timestamp());
    engine.register_get("in_days", |s: &mut Span| s.0.num_days());
    engine.register_get("in_hours", |s: &mut Span| s.0.num_hours());
    engine.register_get("in_minutes", |s: &mut Span| s.0.num_minutes());
    engine.register_get("in_seconds", |s: &mut Span| s.0.num_seconds());
}

/// The error of comparing a `kind` (a time or a duration) with `other`.
fn mismatch<T>(op: &str, kind: &str, other: &Dynamic) -> Ret<T> {
    let example = if kind == "Time" {
        "now() - days(30)"
    } else {
        "hours(2)"
    };
    Err(format!(
        "cannot compare a {kind} with {} using {op}: compare it with a {kind}, e.g. {example}",
        super::format::got(other)
    )
    .into())
}

fn span_result(span: Option<Duration>) -> Ret<Span> {
    span.map(Span).ok_or_else(|| "duration out of range".into())
}

fn shift(t: Time, by: Duration) -> Ret<Time> {
    t.0.checked_add_signed(by)
        .map(Time)
        .ok_or_else(|| "time out of range".into())
}
