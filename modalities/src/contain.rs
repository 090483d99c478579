//! Third-party parsers of untrusted bytes, run so that their panics become errors.
//!
//! The `tokenizers` crate panics on some malformed `tokenizer.json` files and a debug build of
//! symphonia on some audio headers (both found by fuzzing). A panic there means a bad file,
//! not a bug of the caller's, so [`contain`] turns it into an `Err` with the panic's message,
//! and keeps the process's panic hook from printing it: the caller gets one typed error and
//! nothing on stderr. Other panics (other threads, or outside `contain`) still reach the hook
//! that was installed before, unchanged.

use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

thread_local! {
    /// Set while this thread runs inside [`contain`].
    static CONTAINED: Cell<bool> = const { Cell::new(false) };
}

static HOOK: Once = Once::new();

/// Runs `f`; a panic inside it is returned as `Err(message)` instead of unwinding further,
/// and is not printed.
pub(crate) fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !CONTAINED.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let outer = CONTAINED.with(|c| c.replace(true));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    CONTAINED.with(|c| c.set(outer));
    outcome.map_err(|payload| message(payload.as_ref()))
}

fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_the_thread_goes_on() {
        assert_eq!(contain(|| 7), Ok(7));
        let err = contain(|| -> u8 { panic!("bad header {}", 3) }).unwrap_err();
        assert_eq!(err, "bad header 3");
        let nested = contain(|| contain(|| -> u8 { panic!("inner") }));
        assert_eq!(nested, Ok(Err("inner".to_string())));
        assert!(!CONTAINED.with(Cell::get));
    }
}
