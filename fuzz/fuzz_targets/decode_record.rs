//! Fuzz target: arbitrary bytes decoded as every kind of stored record must give a record or
//! a clear `CorruptRecord` error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    for result in sessionctl::store::decode_any(bytes) {
        if let Err(error) = result {
            assert!(error.to_string().starts_with("corrupt "), "{error}");
        }
    }
});
