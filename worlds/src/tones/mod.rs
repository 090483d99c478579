//! The tones world: 0.75 s clips at 16 kHz of three notes from C4 to C5, captioned with the
//! note names, e.g. `C4 E4 G4` (512 tunes in all).
//!
//! - [`Note`]: the eight notes, their names and frequencies;
//! - [`Tune`]: one clip — [`caption`](Tune::caption), [`parse_caption`](Tune::parse_caption),
//!   [`render`](Tune::render) (the exact waveform is documented there),
//!   [`sample`](Tune::sample);
//! - [`Performance`]: how a tune is played (phase, loudness, tuning, timing, timbre, noise),
//!   [`Tune::render_with`] plays it; [`Variation`] names what varies;
//! - [`check_audio`]: reads a clip back, also a lossy reconstruction of one.

mod check;
mod note;
mod perform;
mod render;
mod tune;

pub use check::{MAX_CLIP_SAMPLES, MIN_CLIP_SAMPLES, check_audio};
pub use note::Note;
pub use perform::{Performance, Timbre, Variation, Voicing};
pub use render::{AMPLITUDE, FADE_SAMPLES, NOTE_SAMPLES, SAMPLE_RATE, TUNE_SAMPLES, fade};
pub use tune::Tune;
