//! Writing 16-bit mono WAV with hound.

use std::io::{Cursor, Seek, Write};
use std::path::Path;

use super::{AudioError, Pcm};

/// Converts a sample in [-1, 1] to 16-bit PCM: `round(x · 32768)` clamped to the `i16` range.
///
/// This is the inverse of the reading contract (`sample / 32768`), so a value that is already
/// a multiple of 1/32768 survives a write and a read exactly; others move by at most half a
/// step (1/65536). Values outside [-1, 1] clip.
pub fn f32_to_i16(x: f32) -> i16 {
    // `as` saturates, and NaN becomes 0.
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Writes `pcm` as a 16-bit mono WAV file at `path`.
///
/// # Errors
/// [`AudioError::Io`] if the file cannot be created; [`AudioError::WavWrite`] if writing fails;
/// [`AudioError::InvalidAudio`] if the rate is zero.
pub fn write_wav(path: impl AsRef<Path>, pcm: &Pcm) -> Result<(), AudioError> {
    let path = path.as_ref();
    let file = std::fs::File::create(path).map_err(|e| AudioError::io(path, e))?;
    write_wav_to(std::io::BufWriter::new(file), pcm)
}

/// Encodes `pcm` as the bytes of a 16-bit mono WAV file.
///
/// # Errors
/// As [`write_wav`].
pub fn wav_bytes(pcm: &Pcm) -> Result<Vec<u8>, AudioError> {
    let mut cursor = Cursor::new(Vec::new());
    write_wav_to(&mut cursor, pcm)?;
    Ok(cursor.into_inner())
}

fn write_wav_to<W: Write + Seek>(writer: W, pcm: &Pcm) -> Result<(), AudioError> {
    if pcm.sample_rate == 0 {
        return Err(AudioError::InvalidAudio("sample rate 0".into()));
    }
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: pcm.sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let wav_err = |e: hound::Error| AudioError::WavWrite(e.to_string());
    let mut w = hound::WavWriter::new(writer, spec).map_err(wav_err)?;
    for &s in &pcm.samples {
        w.write_sample(f32_to_i16(s)).map_err(wav_err)?;
    }
    w.finalize().map_err(wav_err)
}
