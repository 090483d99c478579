//! Tessera's hot per-row ops and its device choice.
//!
//! - `row`: fused ops over one logits row, the ones the sampler runs per masked position and
//!   step, in the arithmetic of the PyTorch reference samplers: [`row_stats`] (max, first
//!   argmax and softmax normaliser in one sweep, as [`RowStats`]), [`softmax_into`],
//!   [`top2`], [`entropy`], [`neg_entropy`] and [`gumbel_argmax`]. CPU implementations.
//! - `device`: [`Device`], the runtime device choice (`cpu`, `cuda:N`) and its candle
//!   device. Opening a CUDA device needs the `cuda` feature; without it the same types exist
//!   and asking for CUDA is a typed [`KernelError::CudaNotCompiled`], never a missing symbol.
//! - [`activation`]: a vectorisable `exp` and SwiGLU built on it.
//! - `attention`: [`attention`], fused bidirectional multi-head attention (scores, bias,
//!   softmax, weighted values) over strided [`Strided`] views, written in merged-heads layout.
//! - `layout`: [`split_heads`] (heads out of a projection, rotary embedding on the way) and
//!   [`add_rms_norm`] (residual add and RMSNorm in one sweep).
//! - [`ceiling`]: this machine's measured FMA peak and read bandwidth, which benchmarks
//!   report their ops against.
//! - `gemm`: [`matmul_packed`], an `f32` GEMM for linear layers (`out = x · Wᵀ + bias`)
//!   against a weight packed once at load time as [`PackedWeights`]; an AVX2 + FMA
//!   micro-kernel chosen at run time (plain Rust elsewhere), cache-blocked and threaded
//!   over the current rayon pool.
//! - `qgemm`: [`matmul_quant`], the same for block-quantized weights (`Q8_0`, `Q4_K`) held
//!   once as [`PackedQuant`]: 8-bit activations, integer dot products (AVX-512 VNNI, plain
//!   Rust elsewhere).
//! - `conv`: [`conv2d`], a 2-D convolution as an implicit GEMM on the same micro-kernel,
//!   reading the padded channels-last input in place, with its weight packed once as
//!   [`PackedConv`].
//! - `group_norm`: [`group_norm`], GroupNorm with affine and optional swish over
//!   channels-first pictures, one vectorised task per group.
//! - `sample`: [`sample_rows`], one fused sampling pass over many masked positions' logits
//!   (restriction, temperature, top-p/top-k, then token, probability, margin and entropy
//!   as [`Sampled`]) in the reference samplers' arithmetic or a fast one.
//! - `support`: [`token_prob`] and [`token_probs`], remask scoring — the probability a
//!   position's softmax gives a token already on the canvas.
//! - `cuda` (feature `cuda`): `CudaKernels`, Tessera's own CUDA kernels (`kernels/cuda/*.cu`,
//!   compiled by NVRTC at run time) launched through cudarc, each tested against its CPU
//!   twin; the same sources run on the CPU through `cuda/host_shim.h` under the test-only
//!   feature `cuda-shim`.
//! - `error`: [`KernelError`], the crate's error type.

pub mod activation;
mod attention;
pub mod ceiling;
mod conv;
#[cfg(feature = "cuda")]
mod cuda;
mod device;
mod error;
mod gemm;
mod group_norm;
mod layout;
mod qgemm;
mod row;
mod sample;
mod support;

pub use attention::{AttentionBias, AttentionShape, Strided, attention};
pub use conv::{ConvGeometry, PackedConv, conv2d, conv2d_channels_last};
#[cfg(feature = "cuda")]
pub use cuda::CudaKernels;
pub use device::Device;
pub use error::KernelError;
pub use gemm::{PackedWeights, matmul_packed};
pub use group_norm::{GroupNormSpec, group_norm};
pub use layout::{Rotary, add_rms_norm, split_heads};
pub use qgemm::{PackedQuant, QuantFormat, matmul_quant, quant_kernels_fast};
pub use row::{RowStats, entropy, gumbel_argmax, neg_entropy, row_stats, softmax_into, top2};
pub use sample::{Arithmetic, Draw, SampleSpec, Sampled, sample_rows};
pub use support::{token_prob, token_probs};
