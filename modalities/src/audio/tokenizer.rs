//! The audio tokenizer contract and loading a tokenizer from a folder.

use std::fmt::Debug;
use std::path::Path;

use super::json::ConfigJson;
use super::{AudioCodes, AudioError, Encodec, FrameVq, Pcm};

/// Turns audio into level-major discrete codes and back.
///
/// `encode` accepts audio at any rate (it resamples to [`AudioTokenizer::sample_rate`]) and
/// returns [`AudioTokenizer::levels`] rows of equal length; `decode` accepts codes produced by
/// the same tokenizer — or a prefix of their levels, for coarse-to-fine decoding — and returns
/// audio at the tokenizer's rate. Codes outside the codebook, ragged levels or a different
/// rate are [`AudioError`]s, never panics. Implementations keep no per-call state, so one
/// tokenizer can serve concurrent requests.
pub trait AudioTokenizer: Send + Sync + Debug {
    /// Encodes `pcm` to codes.
    ///
    /// # Errors
    /// [`AudioError::Empty`], [`AudioError::TooLong`], resampling or tensor errors.
    fn encode(&self, pcm: &Pcm) -> Result<AudioCodes, AudioError>;

    /// Decodes codes to audio at [`AudioTokenizer::sample_rate`].
    ///
    /// # Errors
    /// [`AudioError::CodesShape`] or [`AudioError::CodeOutOfRange`] for codes that do not fit.
    fn decode(&self, codes: &AudioCodes) -> Result<Pcm, AudioError>;

    /// The rate of the audio the tokenizer works at, in Hz.
    fn sample_rate(&self) -> u32;

    /// The number of levels `encode` produces.
    fn levels(&self) -> usize;

    /// Codes per level (every code is below this).
    fn codebook_size(&self) -> usize;

    /// Code frames per second of audio.
    fn frame_rate(&self) -> f64;
}

/// Loads the audio tokenizer in `dir`, chosen by its `config.json`: `"type": "frame-vq"`
/// gives a [`FrameVq`], `"model_type": "encodec"` an [`Encodec`].
///
/// # Errors
/// [`AudioError::Config`] naming `type`/`model_type` when neither is recognised; otherwise the
/// loader's errors.
pub fn load_audio_tokenizer(dir: impl AsRef<Path>) -> Result<Box<dyn AudioTokenizer>, AudioError> {
    let dir = dir.as_ref();
    let j = ConfigJson::read_dir(dir)?;
    if let Some(t) = j.string("type")? {
        return match t.as_str() {
            "frame-vq" => Ok(Box::new(FrameVq::load(dir)?)),
            other => Err(j.err("type", format!("unknown audio tokenizer type {other:?}"))),
        };
    }
    match j.string("model_type")?.as_deref() {
        Some("encodec") => Ok(Box::new(Encodec::load(dir)?)),
        Some(other) => Err(j.err("model_type", format!("unsupported audio codec {other:?}"))),
        None => Err(j.err(
            "type",
            "missing: expected \"type\": \"frame-vq\" or \"model_type\": \"encodec\"",
        )),
    }
}
