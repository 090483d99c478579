//! Tessera's hot per-row ops and its device choice.
//!
//! - `row`: fused ops over one logits row, the ones the sampler runs per masked position and
//!   step, in the arithmetic of the PyTorch reference samplers: [`row_stats`] (max, first
//!   argmax and softmax normaliser in one sweep, as [`RowStats`]), [`softmax_into`],
//!   [`top2`], [`entropy`], [`neg_entropy`] and [`gumbel_argmax`]. CPU implementations.
//! - `device`: [`Device`], the runtime device choice (`cpu`, `cuda:N`) and its candle
//!   device. Opening a CUDA device needs the `cuda` feature; without it the same types exist
//!   and asking for CUDA is a typed [`KernelError::CudaNotCompiled`], never a missing symbol.
//! - `error`: [`KernelError`], the crate's error type.

mod device;
mod error;
mod row;

pub use device::Device;
pub use error::KernelError;
pub use row::{RowStats, entropy, gumbel_argmax, neg_entropy, row_stats, softmax_into, top2};
