//! Resource limits: what one request may ask of an [`Engine`](crate::Engine), checked before
//! anything proportional to the request is allocated or run.
//!
//! The defaults are sized so a laptop survives any single request; a server tightens them
//! ([`Engine::with_limits`](crate::Engine::with_limits)), and the CLI exposes each as a flag
//! (`--max-canvas`, `--max-steps`, …). A request over a limit is refused with
//! [`Error::Limit`], which names the limit, the value asked for, and how to raise it.

use serde::{Deserialize, Serialize};
use tessera_hybrid::ControllerOptions;
use tessera_modalities::audio::AudioLimits;
use tessera_modalities::image::ImageLimits;

use crate::Error;

/// Resource limits of one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Limits {
    /// Most canvas positions of one row: prompt + generated tokens (with `--expand` or
    /// `--insert`, the maximum length they may grow to).
    #[arg(long, default_value_t = Limits::DEFAULT.max_canvas)]
    pub max_canvas: usize,
    /// Most prompts (rows) in one request.
    #[arg(long, default_value_t = Limits::DEFAULT.max_prompts)]
    pub max_prompts: usize,
    /// Most denoising steps of one request.
    #[arg(long, default_value_t = Limits::DEFAULT.max_steps)]
    pub max_steps: usize,
    /// Most refinement or recheck rounds (`--remask refine:R:F`, `recheck:R`).
    #[arg(long, default_value_t = Limits::DEFAULT.max_rounds)]
    pub max_rounds: usize,
    /// Most segments (`--segment`).
    #[arg(long, default_value_t = Limits::DEFAULT.max_segments)]
    pub max_segments: usize,
    /// Most bytes of one text prompt or request body, before tokenizing or parsing.
    #[arg(long, default_value_t = Limits::DEFAULT.max_request_bytes)]
    pub max_request_bytes: usize,
    /// Limits of the image reader.
    #[command(flatten)]
    pub image: ImageReadLimits,
    /// Limits of the audio reader.
    #[command(flatten)]
    pub audio: AudioReadLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

impl Limits {
    /// The defaults: 16,384 positions per row, 64 prompts, 65,536 steps, 64 rounds, 1,024
    /// segments, 4 MiB of prompt text or request body; the media readers' own defaults.
    pub const DEFAULT: Limits = Limits {
        max_canvas: 16_384,
        max_prompts: 64,
        max_steps: 65_536,
        max_rounds: 64,
        max_segments: 1_024,
        max_request_bytes: 4 << 20,
        image: ImageReadLimits::DEFAULT,
        audio: AudioReadLimits::DEFAULT,
    };

    /// Refuses `value` over `max`, naming the limit's field and flag.
    pub(crate) fn check(field: &'static str, value: usize, max: usize) -> Result<(), Error> {
        if value > max {
            Err(Error::Limit {
                limit: field,
                value: value.to_string(),
                max,
            })
        } else {
            Ok(())
        }
    }

    /// The text of one prompt, before tokenizing.
    pub(crate) fn check_text(&self, text: &str) -> Result<(), Error> {
        Self::check("max_request_bytes", text.len(), self.max_request_bytes)
    }

    /// A decode of `prompts` (their lengths) under `o`: rows, positions per row (checked
    /// arithmetic: a sum that overflows is over every limit), steps, rounds, segments.
    pub(crate) fn check_decode(
        &self,
        prompt_lens: &[usize],
        o: &ControllerOptions,
    ) -> Result<(), Error> {
        Self::check("max_prompts", prompt_lens.len(), self.max_prompts)?;
        Self::check("max_segments", o.segments.len(), self.max_segments)?;
        let longest = prompt_lens.iter().copied().max().unwrap_or(0);
        let generated = o.longest_generation();
        match longest.checked_add(generated) {
            Some(total) => Self::check("max_canvas", total, self.max_canvas)?,
            None => {
                return Err(Error::Limit {
                    limit: "max_canvas",
                    value: format!("{longest} + {generated} (overflows)"),
                    max: self.max_canvas,
                });
            }
        }
        Self::check("max_steps", o.steps, self.max_steps)?;
        Self::check("max_rounds", o.remask.refine_rounds(), self.max_rounds)
    }
}

/// Limits of reading a picture: checked from the file's size and the image header before
/// anything is decoded (see [`ImageLimits`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ImageReadLimits {
    /// Most bytes of an image file read (pictures to caption or encode).
    #[arg(long, default_value_t = ImageReadLimits::DEFAULT.max_image_bytes)]
    pub max_image_bytes: u64,
    /// Most pixels of a decoded image, and of every resize of it.
    #[arg(long, default_value_t = ImageReadLimits::DEFAULT.max_image_pixels)]
    pub max_image_pixels: u64,
}

impl ImageReadLimits {
    /// The image reader's own defaults (64 MiB, 8192² pixels).
    pub const DEFAULT: ImageReadLimits = ImageReadLimits {
        max_image_bytes: ImageLimits::DEFAULT_MAX_FILE_BYTES,
        max_image_pixels: ImageLimits::DEFAULT_MAX_PIXELS,
    };

    /// The reader's limits.
    pub fn reader(&self) -> ImageLimits {
        ImageLimits::default()
            .with_max_file_bytes(self.max_image_bytes)
            .with_max_pixels(self.max_image_pixels)
    }
}

impl Default for ImageReadLimits {
    fn default() -> Self {
        ImageReadLimits::DEFAULT
    }
}

/// Limits of reading a sound: checked from the file's size and the stream header before
/// anything is decoded or resampled (see [`AudioLimits`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AudioReadLimits {
    /// Most bytes of an audio file read (sounds to transcribe or encode).
    #[arg(long, default_value_t = AudioReadLimits::DEFAULT.max_audio_bytes)]
    pub max_audio_bytes: u64,
    /// Longest audio accepted, in seconds.
    #[arg(long, default_value_t = AudioReadLimits::DEFAULT.max_audio_seconds)]
    pub max_audio_seconds: u32,
}

impl AudioReadLimits {
    /// The audio reader's own defaults (256 MiB, 600 s).
    pub const DEFAULT: AudioReadLimits = AudioReadLimits {
        max_audio_bytes: AudioLimits::DEFAULT_MAX_FILE_BYTES,
        max_audio_seconds: AudioLimits::DEFAULT_MAX_DURATION_S as u32,
    };

    /// The reader's limits.
    pub fn reader(&self) -> AudioLimits {
        AudioLimits::with_max_duration_s(f64::from(self.max_audio_seconds))
            .with_max_file_bytes(self.max_audio_bytes)
    }
}

impl Default for AudioReadLimits {
    fn default() -> Self {
        AudioReadLimits::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_name_themselves_and_overflow_is_over_every_limit() {
        let limits = Limits::default();
        let o = ControllerOptions::new(9).gen_length(usize::MAX).steps(4);
        match limits.check_decode(&[3], &o) {
            Err(Error::Limit { limit, .. }) => assert_eq!(limit, "max_canvas"),
            other => panic!("{other:?}"),
        }
        let o = ControllerOptions::new(9)
            .gen_length(16)
            .steps(1_000_000_000);
        let err = limits.check_decode(&[3], &o).unwrap_err();
        assert!(err.to_string().contains("--max-steps"), "{err}");
        assert!(
            limits
                .check_decode(&[3; 65], &ControllerOptions::new(9))
                .is_err()
        );
        let fine = ControllerOptions::new(9).gen_length(128).steps(128);
        limits.check_decode(&[100; 4], &fine).unwrap();
        let json = serde_json::to_string(&limits).unwrap();
        assert_eq!(serde_json::from_str::<Limits>(&json).unwrap(), limits);
    }
}
