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
}
