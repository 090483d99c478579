//! One row of a run's loss history (`train/loss.csv`): what the training loop logs each
//! step, and what the loss curve draws. A leaf module, so that the loop and the plot both
//! depend on it and not on each other; it is public as `trainer::LogRow`.

/// One logged step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LogRow {
    /// The step (1-based: steps done).
    pub step: u64,
    /// The batch's ELBO loss.
    pub loss: f32,
    /// Learning rate used.
    pub lr: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
}
