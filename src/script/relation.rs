//! The methods every list shares, as Ruby's `Enumerable` gives them. Streamed relations
//! (`User.all`, `ActiveSession.list(..)`): `each`, `map`, `filter`, `to_array`, `first`,
//! `last`, `[i]`, and how they print; arrays: `count`, `size`, `first` and `last`, so that
//! both kinds answer the same calls.

use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, INT, NativeCallContext};

use super::Ret;
use super::format::inspect;

/// Registers the shared methods on the relation type `R`, whose records are `V`s.
pub fn register<R, V>(engine: &mut Engine)
where
    R: IntoIterator<Item = Result<V, Box<EvalAltResult>>> + Clone + 'static,
    V: Clone + 'static,
{
    engine.register_fn("to_array", |r: &mut R| -> Ret<Array> {
        r.clone()
            .into_iter()
            .map(|v| v.map(Dynamic::from))
            .collect()
    });
    engine.register_fn(
        "each",
        |ctx: NativeCallContext, r: &mut R, f: FnPtr| -> Ret<()> {
            for record in r.clone() {
                let _ = f.call_within_context::<Dynamic>(&ctx, (record?,))?;
            }
            Ok(())
        },
    );
    engine.register_fn(
        "map",
        |ctx: NativeCallContext, r: &mut R, f: FnPtr| -> Ret<Array> {
            r.clone()
                .into_iter()
                .map(|record| f.call_within_context::<Dynamic>(&ctx, (record?,)))
                .collect()
        },
    );
    engine.register_fn(
        "filter",
        |ctx: NativeCallContext, r: &mut R, f: FnPtr| -> Ret<Array> {
            let mut kept = Array::new();
            for record in r.clone() {
                let record = Dynamic::from(record?);
                if f.call_within_context::<bool>(&ctx, (record.clone(),))? {
                    kept.push(record);
                }
            }
            Ok(kept)
        },
    );
    let first = |r: &mut R| -> Ret<Dynamic> {
        r.clone()
            .into_iter()
            .next()
            .transpose()
            .map(|v| v.map_or(Dynamic::UNIT, Dynamic::from))
    };
    engine.register_get("first", first);
    engine.register_fn("first", first);
    let last = |r: &mut R| -> Ret<Dynamic> {
        let mut last = None;
        for record in r.clone() {
            last = Some(record?);
        }
        Ok(last.map_or(Dynamic::UNIT, Dynamic::from))
    };
    engine.register_get("last", last);
    engine.register_fn("last", last);
    // `list[i]`, from the end when negative, as on arrays.
    engine.register_indexer_get(|r: &mut R, index: INT| -> Ret<Dynamic> {
        let records: Vec<V> = if index < 0 {
            r.clone().into_iter().collect::<Ret<_>>()?
        } else {
            r.clone()
                .into_iter()
                .take(index as usize + 1)
                .collect::<Ret<_>>()?
        };
        let at = if index < 0 {
            records.len().checked_sub(index.unsigned_abs() as usize)
        } else {
            Some(index as usize)
        };
        at.and_then(|at| records.get(at).cloned())
            .map(Dynamic::from)
            .ok_or_else(|| out_of_range(index, records.len()))
    });
    engine.register_fn("to_string", |r: &mut R| inspect(&Dynamic::from(r.clone())));
    engine.register_fn("to_debug", |r: &mut R| inspect(&Dynamic::from(r.clone())));
}

/// `count`, `size`, `first` and `last` on arrays, as on the streamed relations.
pub fn register_array(engine: &mut Engine) {
    let count = |a: &mut Array| a.len() as INT;
    engine.register_get("count", count);
    engine.register_fn("count", count);
    engine.register_get("size", count);
    let first = |a: &mut Array| a.first().cloned().unwrap_or(Dynamic::UNIT);
    engine.register_get("first", first);
    engine.register_fn("first", first);
    let last = |a: &mut Array| a.last().cloned().unwrap_or(Dynamic::UNIT);
    engine.register_get("last", last);
    engine.register_fn("last", last);
}

#[allow(clippy::unnecessary_box_returns)]
fn out_of_range(index: INT, len: usize) -> Box<EvalAltResult> {
    format!(
        "index {index} is out of range: the list has {len} element{}",
        if len == 1 { "" } else { "s" }
    )
    .into()
}
