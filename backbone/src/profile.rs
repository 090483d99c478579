//! Per-op timing of forward passes, for `tessera bench forward --breakdown`.
//!
//! [`profiled`] runs a closure with recording switched on for the calling thread; every op
//! the transformer runs on that thread meanwhile adds its wall time (and its arithmetic or
//! memory traffic) to a table keyed by op and shape, which [`profiled`] hands back. Off the
//! profiled closure, recording costs one thread-local read per op. Ops run synchronously on
//! the CPU, so an op's wall time is its cost (the threads it fans out to included).

use std::cell::RefCell;
use std::time::Instant;

/// The accumulated cost of one op at one shape.
#[derive(Debug, Clone, PartialEq)]
pub struct OpTime {
    /// What the op is (`matmul qkv`, `softmax`, …).
    pub op: &'static str,
    /// Its operands' shape, e.g. `[160×512]·[512×1536]`.
    pub shape: String,
    /// Times it ran.
    pub calls: u64,
    /// Wall time over all calls, in seconds.
    pub seconds: f64,
    /// Floating-point operations over all calls (0 for data movement).
    pub flops: f64,
    /// Bytes read and written over all calls (an estimate: each operand once).
    pub bytes: f64,
}

thread_local! {
    static TABLE: RefCell<Option<Vec<OpTime>>> = const { RefCell::new(None) };
}

/// Runs `f` with op timing recorded on this thread; returns its result and the ops it ran,
/// in first-seen order. Nested calls record into the outermost table.
pub fn profiled<T>(f: impl FnOnce() -> T) -> (T, Vec<OpTime>) {
    let outer = TABLE.with(|t| t.borrow().is_some());
    if outer {
        return (f(), Vec::new());
    }
    TABLE.with(|t| *t.borrow_mut() = Some(Vec::new()));
    let out = f();
    let table = TABLE.with(|t| t.borrow_mut().take()).unwrap_or_default();
    (out, table)
}

/// Whether this thread is recording (so callers can skip building shape strings).
fn recording() -> bool {
    TABLE.with(|t| t.borrow().is_some())
}

/// Runs `f`, adding its wall time to op `op` at `shape()` when this thread is recording.
/// `cost` gives the op's `(flops, bytes)`.
pub(crate) fn timed<T>(
    op: &'static str,
    shape: impl FnOnce() -> String,
    cost: (f64, f64),
    f: impl FnOnce() -> T,
) -> T {
    if !recording() {
        return f();
    }
    let start = Instant::now();
    let out = f();
    let seconds = start.elapsed().as_secs_f64();
    let shape = shape();
    TABLE.with(|t| {
        if let Some(table) = t.borrow_mut().as_mut() {
            match table.iter_mut().find(|e| e.op == op && e.shape == shape) {
                Some(e) => {
                    e.calls += 1;
                    e.seconds += seconds;
                    e.flops += cost.0;
                    e.bytes += cost.1;
                }
                None => table.push(OpTime {
                    op,
                    shape,
                    calls: 1,
                    seconds,
                    flops: cost.0,
                    bytes: cost.1,
                }),
            }
        }
    });
    out
}

/// `(flops, bytes)` of `[m×k]·[k×n]` in `f32` (operands and result once each).
pub(crate) fn matmul_cost(m: usize, k: usize, n: usize) -> (f64, f64) {
    let (m, k, n) = (m as f64, k as f64, n as f64);
    (2.0 * m * k * n, 4.0 * (m * k + k * n + m * n))
}

/// `(0, bytes)` of an op that reads `read` and writes `written` `f32` values.
pub(crate) fn traffic(read: usize, written: usize) -> (f64, f64) {
    (0.0, 4.0 * (read + written) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_only_inside_profiled_and_merges_by_shape() {
        let unrecorded = timed("op", || "s".into(), (1.0, 2.0), || 7);
        assert_eq!(unrecorded, 7);
        let (sum, table) = profiled(|| {
            let a = timed("a", || "[1]".into(), (2.0, 4.0), || 1);
            let b = timed("a", || "[1]".into(), (2.0, 4.0), || 2);
            let c = timed("b", || "[2]".into(), traffic(1, 1), || 3);
            a + b + c
        });
        assert_eq!(sum, 6);
        assert_eq!(table.len(), 2);
        assert_eq!((table[0].op, table[0].calls), ("a", 2));
        assert_eq!((table[0].flops, table[0].bytes), (4.0, 8.0));
        assert_eq!((table[1].op, table[1].bytes), ("b", 8.0));
        assert!(!recording());
        assert_eq!(matmul_cost(2, 3, 4).0, 48.0);
    }
}
