//! Hot ops of the Tessera decoding loop.
//!
//! Every op here has a CPU implementation that is the reference for any accelerated one.
//! The CUDA versions live behind the `cuda` feature; without it the same types exist and
//! asking for a CUDA device is a typed [`KernelError::CudaNotCompiled`] error, never a
//! missing symbol (the same split candle uses for its dummy CUDA backend).
//!
//! The ops are the ones the sampler runs over a whole vocabulary row per masked position
//! and step, where a naive `softmax` + `max` + `gather` pass costs several full sweeps:
//! [`row_stats`] does it in one sweep (max, argmax, log-sum-exp), and [`top2`],
//! [`neg_entropy`] and [`gumbel_argmax`] cover the other scores the reference samplers use.

mod device;
mod error;
mod row;

pub use device::Device;
pub use error::KernelError;
pub use row::{RowStats, entropy, gumbel_argmax, neg_entropy, row_stats, softmax_into, top2};
