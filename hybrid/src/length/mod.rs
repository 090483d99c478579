//! Length strategies: how long the answer is, decided while decoding (DAEDAL's two stages).
//!
//! - [`expand`]: before decoding, grow the span by whole blocks while the model does not
//!   expect the answer to end (`--expand`).
//! - [`insert`]: while decoding, insert masks where the model is least sure while it is not
//!   confident the answer ends (`--insert`).

pub mod expand;
pub mod insert;

pub use expand::EXPAND_BELOW;
