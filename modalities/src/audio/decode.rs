//! Decoding audio files (WAV, FLAC, MP3, OGG/Vorbis) to mono [`Pcm`] through symphonia.
//!
//! The pipeline is symphonia 0.6's: probe the container → take the default audio track →
//! make its decoder → copy each decoded packet out interleaved as `f32` → mix down to mono.
//! Gapless decoding is on, so MP3 encoder delay and padding (from the LAME/Xing header, carried
//! per packet as `Packet::trim_start`/`trim_end`) and Vorbis pre-skip are trimmed: the decoded
//! length is the length of the signal that was encoded.
//!
//! Decoding is strict: a packet that fails to decode, or a stream that ends before the frame
//! count its header declares, is [`AudioError::Corrupt`] rather than silently skipped.
//!
//! Decoding is bounded by [`AudioLimits`], each limit checked before the allocation it guards:
//! the file size from the file's metadata (a device or pipe is read through a counting reader
//! that fails one byte past the limit), the sample rate and the declared duration from the
//! header, and the decoded length before each packet is appended.

use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

use super::{AudioError, AudioLimits, Pcm};

/// Decodes the audio file at `path` to mono, within the default [`AudioLimits`].
///
/// The format is recognised from the content; the extension is only a hint.
///
/// # Errors
/// [`AudioError::Io`] if the file cannot be opened; [`AudioError::FileTooLarge`] past
/// [`AudioLimits::max_file_bytes`]; [`AudioError::UnsupportedFormat`],
/// [`AudioError::Corrupt`], [`AudioError::Empty`], [`AudioError::SampleRateOutOfRange`] or
/// [`AudioError::TooLong`] as for [`decode_bytes`].
pub fn decode_file(path: impl AsRef<Path>) -> Result<Pcm, AudioError> {
    decode_file_with(path, &AudioLimits::default())
}

/// Decodes the audio file at `path` to mono within `limits`.
///
/// A regular file's size is checked from its metadata before decoding starts. Anything else
/// (`/dev/zero`, a pipe) is read as a stream that fails once it passes
/// [`AudioLimits::max_file_bytes`]; such a stream is never called empty because its metadata
/// reports a length of 0.
///
/// # Errors
/// As [`decode_file`].
pub fn decode_file_with(path: impl AsRef<Path>, limits: &AudioLimits) -> Result<Pcm, AudioError> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|e| AudioError::io(path, e))?;
    let meta = file.metadata().map_err(|e| AudioError::io(path, e))?;
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    if meta.is_file() {
        limits.check_file_bytes(meta.len())?;
        if meta.len() == 0 {
            return Err(AudioError::Empty);
        }
        return decode_source(Box::new(file), &hint, limits);
    }
    if meta.is_dir() {
        return Err(AudioError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::IsADirectory, "is a directory"),
        ));
    }
    let over = Arc::new(AtomicBool::new(false));
    let source = BoundedSource {
        inner: file,
        read: 0,
        max: limits.max_file_bytes,
        over: Arc::clone(&over),
    };
    let result = decode_source(Box::new(source), &hint, limits);
    if over.load(Ordering::Relaxed) {
        // Whatever the decoder made of the cut-off stream, the cause is the limit.
        return Err(AudioError::FileTooLarge {
            bytes: None,
            max_file_bytes: limits.max_file_bytes,
        });
    }
    result
}

/// A non-seekable stream that fails with [`std::io::ErrorKind::FileTooLarge`] once more than
/// `max` bytes have been read from it, recording that in `over`.
struct BoundedSource<R> {
    inner: R,
    read: u64,
    max: u64,
    over: Arc<AtomicBool>,
}

impl<R: Read> Read for BoundedSource<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // Allow one byte past the limit, to tell "exactly max" from "more than max".
        let room = self.max.saturating_add(1).saturating_sub(self.read);
        let want = usize::try_from(room).unwrap_or(usize::MAX).min(buf.len());
        // `want <= buf.len()`, so the range is in bounds.
        let n = self.inner.read(&mut buf[..want])?;
        self.read = self.read.saturating_add(n as u64);
        if self.read > self.max || (want == 0 && !buf.is_empty()) {
            self.over.store(true, Ordering::Relaxed);
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!("the stream is longer than {} bytes", self.max),
            ));
        }
        Ok(n)
    }
}

impl<R> Seek for BoundedSource<R> {
    fn seek(&mut self, _: SeekFrom) -> std::io::Result<u64> {
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "the stream is not seekable",
        ))
    }
}

impl<R: Read + Send + Sync> MediaSource for BoundedSource<R> {
    fn is_seekable(&self) -> bool {
        false
    }

    fn byte_len(&self) -> Option<u64> {
        None
    }
}

/// Decodes in-memory audio file bytes to mono within the default [`AudioLimits`].
///
/// # Errors
/// [`AudioError::FileTooLarge`] past [`AudioLimits::max_file_bytes`];
/// [`AudioError::UnsupportedFormat`] if no reader recognises the bytes (or the codec is not
/// built in); [`AudioError::Corrupt`] if they are malformed or truncated;
/// [`AudioError::Empty`] if they decode to no samples; [`AudioError::SampleRateOutOfRange`]
/// for a rate outside the limits; [`AudioError::TooLong`] past the duration limit (from the
/// header's declared length when there is one, before anything is decoded).
///
/// # Example
/// ```
/// use tessera_modalities::audio::{decode_bytes, AudioError};
/// let err = decode_bytes(b"\x89PNG\r\n\x1a\n not audio".to_vec()).unwrap_err();
/// assert!(matches!(err, AudioError::UnsupportedFormat(_)));
/// ```
pub fn decode_bytes(bytes: Vec<u8>) -> Result<Pcm, AudioError> {
    decode_bytes_with(bytes, None, &AudioLimits::default())
}

/// Decodes in-memory audio bytes to mono within `limits`; `extension` (e.g. `"mp3"`) is an
/// optional hint for the format.
///
/// # Errors
/// As [`decode_bytes`].
pub fn decode_bytes_with(
    bytes: Vec<u8>,
    extension: Option<&str>,
    limits: &AudioLimits,
) -> Result<Pcm, AudioError> {
    limits.check_file_bytes(u64::try_from(bytes.len()).unwrap_or(u64::MAX))?;
    if bytes.is_empty() {
        return Err(AudioError::Empty);
    }
    let mut hint = Hint::new();
    if let Some(ext) = extension {
        hint.with_extension(ext);
    }
    decode_source(Box::new(Cursor::new(bytes)), &hint, limits)
}

fn decode_source(
    source: Box<dyn MediaSource>,
    hint: &Hint,
    limits: &AudioLimits,
) -> Result<Pcm, AudioError> {
    // symphonia is a parser of untrusted input; a bug in it must not take the caller down.
    // Its panics, if any, become `Corrupt` errors.
    crate::contain::contain(|| decode_stream(source, hint, limits)).unwrap_or_else(|panic| {
        Err(AudioError::Corrupt(format!(
            "the decoder failed on malformed data ({panic})"
        )))
    })
}

fn probe_error(e: SymError) -> AudioError {
    match e {
        SymError::Unsupported(what) => AudioError::UnsupportedFormat(what.to_string()),
        SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            AudioError::Corrupt(format!("truncated header: {io}"))
        }
        other => AudioError::Corrupt(other.to_string()),
    }
}

fn stream_error(e: SymError) -> AudioError {
    match e {
        SymError::Unsupported(what) => AudioError::UnsupportedFormat(what.to_string()),
        SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            AudioError::Corrupt("the stream ends inside a packet (truncated)".into())
        }
        other => AudioError::Corrupt(other.to_string()),
    }
}

fn decode_stream(
    source: Box<dyn MediaSource>,
    hint: &Hint,
    limits: &AudioLimits,
) -> Result<Pcm, AudioError> {
    let mss = MediaSourceStream::new(source, Default::default());
    let mut format = symphonia::default::get_probe()
        .probe(
            hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(probe_error)?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| AudioError::UnsupportedFormat("no audio track".into()))?;
    let track_id = track.id;
    let declared_frames = track.num_frames;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| AudioError::UnsupportedFormat("the track has no audio codec".into()))?;
    // Refuse what the header already says is out of bounds, before anything is decoded or
    // sized by it.
    if let Some(header_rate) = params.sample_rate {
        limits.check_sample_rate(header_rate)?;
        if let Some(declared) = declared_frames {
            limits.check_frames_u64(declared, header_rate)?;
        }
    }
    let mut opts = AudioDecoderOptions::default();
    opts.gapless = true;
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(params, &opts)
        .map_err(|e| AudioError::UnsupportedFormat(e.to_string()))?;

    let mut mono: Vec<f32> = Vec::new();
    let mut packet_buf: Vec<f32> = Vec::new();
    let mut rate: Option<u32> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(SymError::ResetRequired) => {
                return Err(AudioError::UnsupportedFormat(
                    "chained streams (the track list changes mid-file)".into(),
                ));
            }
            Err(e) => return Err(stream_error(e)),
        };
        if packet.track_id != track_id {
            continue;
        }
        let buf = decoder.decode(&packet).map_err(stream_error)?;
        let spec = buf.spec();
        let channels = spec.channels().count();
        let this_rate = spec.rate();
        if channels == 0 || this_rate == 0 {
            return Err(AudioError::Corrupt(format!(
                "decoded buffer with {channels} channels at {this_rate} Hz"
            )));
        }
        match rate {
            None => {
                limits.check_sample_rate(this_rate)?;
                if let Some(declared) = declared_frames {
                    limits.check_frames_u64(declared, this_rate)?;
                }
                rate = Some(this_rate);
            }
            Some(r) if r != this_rate => {
                return Err(AudioError::Corrupt(format!(
                    "the sample rate changes mid-stream ({r} → {this_rate} Hz)"
                )));
            }
            Some(_) => {}
        }
        if buf.frames() == 0 {
            continue;
        }
        let max_frames = limits.max_frames(this_rate);
        let needed = mono.len().saturating_add(buf.frames());
        if needed > max_frames {
            // Decoding stops here: the audio is at least this long, maybe much longer.
            return Err(AudioError::TooLong {
                seconds: mono.len() as f64 / f64::from(this_rate),
                max_seconds: limits.max_duration_s,
                lower_bound: true,
            });
        }
        if needed > mono.capacity() {
            // Grow geometrically, but never past the limit (plain doubling could reserve
            // nearly twice what the limit allows).
            let target = needed
                .max(mono.capacity().saturating_mul(2))
                .min(max_frames);
            // `mono.len() <= needed <= target`: `needed <= max_frames` was checked above.
            mono.reserve_exact(target - mono.len());
        }
        buf.copy_to_vec_interleaved(&mut packet_buf);
        if channels == 1 {
            mono.extend_from_slice(&packet_buf);
        } else {
            let inv = 1.0 / channels as f32;
            mono.extend(
                packet_buf
                    .chunks_exact(channels)
                    .map(|frame| frame.iter().sum::<f32>() * inv),
            );
        }
    }
    if let Some(declared) = declared_frames
        && (mono.len() as u64) < declared
    {
        return Err(AudioError::Corrupt(format!(
            "truncated: the header declares {declared} frames, the stream holds {}",
            mono.len()
        )));
    }
    let Some(rate) = rate else {
        return Err(AudioError::Empty);
    };
    if mono.is_empty() {
        return Err(AudioError::Empty);
    }
    if let Some(i) = mono.iter().position(|s| !s.is_finite()) {
        return Err(AudioError::Corrupt(format!("sample {i} is not finite")));
    }
    // Float formats may hold samples past full scale; a player clips them, and so does this
    // (a `Pcm` is in [-1, 1]; values near f32::MAX made the resampler's FFT overflow — found
    // by fuzzing).
    for s in &mut mono {
        *s = s.clamp(-1.0, 1.0);
    }
    Ok(Pcm {
        samples: mono,
        sample_rate: rate,
    })
}
