//! The kernels' error type.

/// Errors raised by the kernels crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KernelError {
    /// A CUDA device was requested but this build has no CUDA support.
    #[error("CUDA device {0} requested, but tessera was built without the `cuda` feature")]
    CudaNotCompiled(usize),
    /// The tensor library reported an error (device creation, allocation).
    #[error("tensor backend error: {0}")]
    Backend(#[from] candle_core::Error),
    /// A buffer handed to a matrix kernel is not as long as the shape it came with says.
    ///
    /// `expected` saturates at `usize::MAX` when the shape's product overflows (no slice
    /// can be that long, so the lengths still disagree).
    #[error("{operand} has {actual} elements, but its shape needs {expected}")]
    ShapeMismatch {
        /// Which operand is wrong: `"weight"`, `"x"`, `"bias"` or `"out"`.
        operand: &'static str,
        /// The length the shape implies.
        expected: usize,
        /// The length that was passed.
        actual: usize,
    },
    /// Operands of a fused kernel whose shapes do not agree (the message says which).
    #[error("{0}")]
    Shape(String),
    /// The CUDA driver, NVRTC or a kernel launch failed (the message says what was being
    /// done); also a missing CUDA installation at run time.
    #[error("CUDA: {0}")]
    Cuda(String),
}
