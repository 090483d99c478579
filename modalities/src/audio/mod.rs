//! Audio: decoding files to PCM, resampling, WAV output, and audio tokenizers (codecs).
//!
//! - [`Pcm`]: mono `f32` samples in [-1, 1] at a rate; [`AudioLimits`] bounds what is accepted
//!   (file size, duration, sample rate), each limit checked before the allocation it guards.
//! - [`decode_file`] / [`decode_bytes`]: WAV, FLAC, MP3 and OGG/Vorbis through symphonia, mixed
//!   down to mono, MP3 encoder delay trimmed ([`decode_file_with`] / [`decode_bytes_with`]
//!   take the limits); [`resample`] / [`resample_with`] (rubato); [`write_wav`] (16-bit).
//! - [`AudioTokenizer`]: audio ↔ level-major [`AudioCodes`], implemented by [`Encodec`] (the
//!   Hugging Face EnCodec checkpoints) and [`FrameVq`] (a small MDCT + residual-VQ codec fitted
//!   with k-means); [`load_audio_tokenizer`] picks one from a folder's `config.json`.
//!
//! Every failure on user input is an [`AudioError`]; nothing here panics on user input.

mod codes;
mod decode;
mod encodec;
mod error;
mod frame_vq;
mod json;
mod pcm;
mod resample;
mod tokenizer;
mod wav;
mod weights;

pub use codes::AudioCodes;
pub use decode::{decode_bytes, decode_bytes_with, decode_file, decode_file_with};
pub use encodec::{ENCODEC_DEFAULT_MAX_SECONDS, Encodec, EncodecConfig, PadMode};
pub use error::AudioError;
pub use frame_vq::{AnalysisConfig, FitOptions, FrameVq, FrameVqConfig};
pub use pcm::{AudioLimits, Pcm};
pub use resample::{resample, resample_with};
pub use tokenizer::{AudioTokenizer, load_audio_tokenizer};
pub use wav::{f32_to_i16, wav_bytes, write_wav};
