//! `SampleRecord` of `cuda/sample.cu`: one row's outcome as the CUDA kernel writes it, for
//! the device launch and for the CPU run of the same source.

use super::Sampled;

/// One row's outcome in the kernel's `repr(C)` layout.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Record {
    pub(crate) token: u32,
    pub(crate) prob: f32,
    pub(crate) margin: f32,
    pub(crate) entropy: f32,
}

impl From<Record> for Sampled {
    fn from(r: Record) -> Sampled {
        Sampled {
            token: r.token,
            prob: r.prob,
            margin: r.margin,
            entropy: r.entropy,
        }
    }
}
