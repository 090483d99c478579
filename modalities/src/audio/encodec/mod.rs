//! EnCodec (Défossez et al. 2022) as an audio tokenizer, loading the Hugging Face checkpoint
//! format (`facebook/encodec_24khz`: `config.json` + `model.safetensors`).
//!
//! Written from `transformers`' `modeling_encodec.py` rather than taken from
//! `candle-transformers`' `encodec`, which does not fit this format: its config enums do not
//! deserialise from the Hub's `config.json` (`"weight_norm"`, `"reflect"`), it pads with
//! `replicate` where the model was trained with `reflect`, its transposed convolutions keep
//! the padding `transformers` trims, its decoder's first kernel uses `last_kernel_size`, and
//! it always encodes with every codebook.

mod config;
mod layers;
mod lstm;
mod model;
mod pad;

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

pub use config::{EncodecConfig, PadMode};
use model::{Decoder, Encoder, Rvq, latent_to_rows, rows_to_latent};

use super::weights::WeightStore;
use super::{AudioCodes, AudioError, AudioLimits, AudioTokenizer, Pcm, resample_with};

/// The default longest clip an [`Encodec`] accepts. The whole clip goes through the network at
/// once (as `transformers` does for the 24 kHz model); at the published size peak memory is
/// about 50 MB per second of audio (580 MB RSS measured for 10 s), so 60 s stays near 3 GB.
pub const ENCODEC_DEFAULT_MAX_SECONDS: f64 = DEFAULT_MAX_SECONDS;
const DEFAULT_MAX_SECONDS: f64 = 60.0;

/// An EnCodec model: waveform ↔ residual-VQ codes.
///
/// Input longer than [`ENCODEC_DEFAULT_MAX_SECONDS`] is refused with
/// [`AudioError::TooLong`] unless [`Encodec::with_limits`] raises the limit.
///
/// # Example
/// ```no_run
/// use tessera_modalities::audio::{decode_file, AudioTokenizer, Encodec};
/// # fn main() -> Result<(), tessera_modalities::audio::AudioError> {
/// let codec = Encodec::load("encodec_24khz")?.with_bandwidth(6.0)?; // 8 codebooks
/// let codes = codec.encode(&decode_file("speech.mp3")?)?;
/// assert_eq!(codes.codes.len(), 8);
/// let audio = codec.decode(&codes)?; // 24 kHz
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Encodec {
    config: EncodecConfig,
    encoder: Encoder,
    decoder: Decoder,
    quantizer: Rvq,
    bandwidth: f64,
    limits: AudioLimits,
    dir: PathBuf,
}

impl Encodec {
    /// Loads `dir/config.json` and `dir/model.safetensors`. The default bandwidth is the
    /// config's first `target_bandwidths` entry, as in `transformers`.
    ///
    /// Convolution weights may be named `weight_g`/`weight_v` (published checkpoints) or
    /// `parametrizations.weight.original0/1` (saved by `transformers` 5).
    ///
    /// # Errors
    /// [`AudioError::Io`] or [`AudioError::Config`] (naming the field) for the config;
    /// [`AudioError::Weights`] (naming the tensor) for a missing file, a missing tensor or a
    /// shape that disagrees with the config.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, AudioError> {
        let dir = dir.as_ref();
        let config = EncodecConfig::from_dir(dir)?;
        let weights = WeightStore::load(&dir.join("model.safetensors"))?;
        Self::from_weights(config, &weights, dir)
    }

    /// A model of `config`'s shape with seeded random weights (uniform in ±1/√fan_in): for
    /// benchmarks and tests at the published size without downloading a checkpoint. Its codes
    /// and audio mean nothing.
    ///
    /// # Errors
    /// [`AudioError::Config`] if `config` is invalid.
    pub fn random(config: EncodecConfig, seed: u64) -> Result<Self, AudioError> {
        config
            .validate()
            .map_err(|(field, reason)| AudioError::config("<config>", field, reason))?;
        Self::from_weights(config, &WeightStore::random(seed), Path::new("<random>"))
    }

    fn from_weights(
        config: EncodecConfig,
        w: &WeightStore,
        dir: &Path,
    ) -> Result<Self, AudioError> {
        Ok(Self {
            encoder: Encoder::load(&config, w)?,
            decoder: Decoder::load(&config, w)?,
            quantizer: Rvq::load(&config, w)?,
            bandwidth: config.target_bandwidths[0],
            limits: AudioLimits::with_max_duration_s(DEFAULT_MAX_SECONDS),
            dir: dir.to_path_buf(),
            config,
        })
    }

    /// Selects the bandwidth (kbps) [`AudioTokenizer::encode`] uses; it must be one of the
    /// config's `target_bandwidths` (as `transformers` requires).
    ///
    /// # Errors
    /// [`AudioError::UnsupportedBandwidth`].
    pub fn with_bandwidth(mut self, bandwidth: f64) -> Result<Self, AudioError> {
        self.check_bandwidth(bandwidth)?;
        self.bandwidth = bandwidth;
        Ok(self)
    }

    /// Sets the limits on input length (default [`ENCODEC_DEFAULT_MAX_SECONDS`]).
    pub fn with_limits(mut self, limits: AudioLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &EncodecConfig {
        &self.config
    }

    /// The bandwidth [`AudioTokenizer::encode`] uses, in kbps.
    pub fn bandwidth(&self) -> f64 {
        self.bandwidth
    }

    /// Codebooks in the checkpoint (the most levels [`AudioTokenizer::decode`] accepts).
    pub fn max_levels(&self) -> usize {
        self.quantizer.max_levels()
    }

    fn check_bandwidth(&self, bandwidth: f64) -> Result<(), AudioError> {
        if self.config.target_bandwidths.contains(&bandwidth) {
            Ok(())
        } else {
            Err(AudioError::UnsupportedBandwidth {
                bandwidth,
                supported: self.config.target_bandwidths.clone(),
            })
        }
    }

    /// Encodes at `bandwidth` kbps: the audio is resampled to the model rate, encoded, and
    /// quantized with [`EncodecConfig::num_quantizers_for_bandwidth`] levels.
    /// There are `ceil(samples / hop_length)` frames (hop 320 at 24 kHz: 75 per second).
    ///
    /// # Errors
    /// [`AudioError::UnsupportedBandwidth`], [`AudioError::Empty`], [`AudioError::TooLong`],
    /// or a resampling error.
    pub fn encode_with_bandwidth(
        &self,
        pcm: &Pcm,
        bandwidth: f64,
    ) -> Result<AudioCodes, AudioError> {
        self.check_bandwidth(bandwidth)?;
        pcm.check(&self.limits)?;
        let pcm = resample_with(pcm, self.config.sampling_rate, &self.limits)?;
        pcm.check(&self.limits)?;
        let n = pcm.samples.len();
        let x = Tensor::from_slice(&pcm.samples, (1, n, 1), &Device::Cpu)?;
        let latent = latent_to_rows(&self.encoder.forward(&x)?)?;
        let levels = self.config.num_quantizers_for_bandwidth(bandwidth);
        let codes = self.quantizer.encode(&latent, levels)?;
        Ok(AudioCodes::new(codes, self.config.sampling_rate))
    }

    /// The folder the model was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl AudioTokenizer for Encodec {
    /// Encodes at the selected bandwidth ([`Encodec::with_bandwidth`]).
    fn encode(&self, pcm: &Pcm) -> Result<AudioCodes, AudioError> {
        self.encode_with_bandwidth(pcm, self.bandwidth)
    }

    /// Decodes 1..=[`Encodec::max_levels`] levels to `frames · hop_length` samples at the
    /// model rate (the encoder's right padding is not removed: it is at most one hop).
    fn decode(&self, codes: &AudioCodes) -> Result<Pcm, AudioError> {
        let max_frames = self
            .limits
            .max_frames(self.config.sampling_rate)
            .div_ceil(self.config.hop_length());
        codes.validate(
            self.max_levels(),
            self.config.codebook_size,
            self.config.sampling_rate,
            max_frames,
        )?;
        let latent = rows_to_latent(&self.quantizer.decode(&codes.codes)?)?;
        let audio = self.decoder.forward(&latent)?;
        let samples = audio.flatten_all()?.to_vec1::<f32>()?;
        Ok(Pcm {
            samples,
            sample_rate: self.config.sampling_rate,
        })
    }

    fn sample_rate(&self) -> u32 {
        self.config.sampling_rate
    }

    /// Levels [`AudioTokenizer::encode`] produces at the selected bandwidth.
    fn levels(&self) -> usize {
        self.config.num_quantizers_for_bandwidth(self.bandwidth)
    }

    fn codebook_size(&self) -> usize {
        self.config.codebook_size
    }

    fn frame_rate(&self) -> f64 {
        f64::from(self.config.sampling_rate) / self.config.hop_length() as f64
    }
}
