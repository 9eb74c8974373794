//! The methods every streamed relation (`User.all`, `ActiveSession.list(..)`) shares, as Ruby's
//! `Enumerable` gives them: `each`, `map`, `filter`, `to_array`, and how it prints. Arrays are
//! built in one step while the records stream (a `push` loop would re-measure the array under
//! the size limits at every call).

use rhai::{Array, Dynamic, Engine, EvalAltResult, FnPtr, NativeCallContext};

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
    engine.register_fn("to_string", |r: &mut R| inspect(&Dynamic::from(r.clone())));
    engine.register_fn("to_debug", |r: &mut R| inspect(&Dynamic::from(r.clone())));
}
