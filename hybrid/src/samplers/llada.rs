//! LLaDA's reference sampler (`generate` in ML-GSAI/LLaDA's `generate.py`): the controller
//! under its default options. [`LladaOptions::new`] gives the reference's defaults (one block
//! of 128, 128 steps, greedy, low-confidence remasking, no cache); every other controller
//! option (policies, unmask and remask rules, caches, segments, DAEDAL) is an extension on
//! top.
//!
//! Canvas `[prompt | mask × gen_length]`, split into blocks decoded left to right; inside a
//! block, each step predicts every masked position, and commits the `k` most confident
//! (`k` from [`crate::schedule::num_transfer_tokens`], or from another
//! [`unmask`](crate::unmask) rule). Committed tokens are final.

pub use crate::controller::{
    ControllerOptions as LladaOptions, DEFAULT_HYBRID_THRESHOLD, generate,
};
pub use crate::score::Remasking;
