//! Ruby habits rhai can express: `puts`, `pp` and `p`, and arrays with `.each(|x| ..)`,
//! `.any()` and `.any(|x| ..)`.

use std::rc::Rc;

use rhai::{Array, Dynamic, Engine, FnPtr, NativeCallContext};

use super::format::{inspect, write_plain};
use super::{Context, Ret};

pub fn register(engine: &mut Engine, context: &Rc<Context>) {
    let c = context.clone();
    engine.register_fn("puts", move |value: Dynamic| -> Ret<()> {
        if value.is_unit() {
            c.out.line("");
            return Ok(());
        }
        write_plain(&value, &c.out).map_err(Into::into)
    });
    let c = context.clone();
    engine.register_fn("puts", move || c.out.line(""));
    for name in ["pp", "p"] {
        let c = context.clone();
        engine.register_fn(name, move |value: Dynamic| {
            c.out.line(&inspect(&value));
            value
        });
    }
    engine.register_fn(
        "each",
        |ctx: NativeCallContext, array: &mut Array, f: FnPtr| -> Ret<()> {
            for item in array.iter() {
                let _ = f.call_within_context::<Dynamic>(&ctx, (item.clone(),))?;
            }
            Ok(())
        },
    );
    engine.register_fn("any", |array: &mut Array| !array.is_empty());
    engine.register_fn(
        "any",
        |ctx: NativeCallContext, array: &mut Array, f: FnPtr| -> Ret<bool> {
            for item in array.iter() {
                if f.call_within_context::<bool>(&ctx, (item.clone(),))? {
                    return Ok(true);
                }
            }
            Ok(false)
        },
    );
    engine.register_fn("to_array", |array: &mut Array| array.clone());
}
