//! EnCodec's configuration, read from the `config.json` that `transformers` writes.

use std::path::Path;

use crate::audio::AudioError;
use crate::audio::json::ConfigJson;

/// How convolutions pad their input (`pad_mode`, PyTorch's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PadMode {
    /// Mirror without repeating the edge sample (`"reflect"`, the published models).
    Reflect,
    /// Zeros (`"constant"` or `"zero"`).
    Constant,
    /// Repeat the edge sample (`"replicate"`).
    Replicate,
}

/// The fields of `transformers`' `EncodecConfig` this implementation uses, with the same
/// names and defaults (the defaults describe `facebook/encodec_24khz`).
///
/// Only what the 24 kHz family needs is supported: mono, weight-normed convolutions, no
/// chunking and no loudness normalisation (both belong to the 48 kHz model, whose per-chunk
/// scales [`crate::audio::AudioCodes`] cannot carry). Other values are refused by field name.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EncodecConfig {
    /// Bandwidths in kbps the model was trained for; the first is the default.
    pub target_bandwidths: Vec<f64>,
    /// Sample rate in Hz.
    pub sampling_rate: u32,
    /// Width of the latent (and of each codeword).
    pub hidden_size: usize,
    /// Channels of the first convolution.
    pub num_filters: usize,
    /// Residual blocks per resolution.
    pub num_residual_layers: usize,
    /// Strides of the decoder; the encoder uses them reversed.
    pub upsampling_ratios: Vec<usize>,
    /// Kernel of the first encoder convolution and of the first decoder convolution.
    pub kernel_size: usize,
    /// Kernel of the last encoder and decoder convolutions.
    pub last_kernel_size: usize,
    /// Kernel of the first convolution of each residual block.
    pub residual_kernel_size: usize,
    /// Dilation growth per residual block.
    pub dilation_growth_rate: usize,
    /// Causal (left) padding instead of centred padding.
    pub use_causal_conv: bool,
    /// Padding mode.
    pub pad_mode: PadMode,
    /// Channel reduction inside residual blocks.
    pub compress: usize,
    /// LSTM layers after the encoder and before the decoder.
    pub num_lstm_layers: usize,
    /// Share of a transposed convolution's padding trimmed on the right (causal models).
    pub trim_right_ratio: f64,
    /// Codes per codebook (a power of two).
    pub codebook_size: usize,
    /// A 1×1 convolution on each residual block's skip path.
    pub use_conv_shortcut: bool,
}

impl Default for EncodecConfig {
    fn default() -> Self {
        Self {
            target_bandwidths: vec![1.5, 3.0, 6.0, 12.0, 24.0],
            sampling_rate: 24_000,
            hidden_size: 128,
            num_filters: 32,
            num_residual_layers: 1,
            upsampling_ratios: vec![8, 5, 4, 2],
            kernel_size: 7,
            last_kernel_size: 7,
            residual_kernel_size: 3,
            dilation_growth_rate: 2,
            use_causal_conv: true,
            pad_mode: PadMode::Reflect,
            compress: 2,
            num_lstm_layers: 2,
            trim_right_ratio: 1.0,
            codebook_size: 1024,
            use_conv_shortcut: true,
        }
    }
}

impl EncodecConfig {
    /// Reads `dir/config.json`; absent fields take `transformers`' defaults.
    ///
    /// # Errors
    /// [`AudioError::Io`] if the file is missing; [`AudioError::Config`], naming the field,
    /// for a malformed or unsupported value.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, AudioError> {
        Self::from_json(&ConfigJson::read_dir(dir.as_ref())?)
    }

    pub(crate) fn from_json(j: &ConfigJson) -> Result<Self, AudioError> {
        let d = Self::default();
        // A tokenizer folder of this crate's own kinds (`"type": "frame-vq"`) is no EnCodec
        // model: say so, rather than report the first EnCodec field its values fail.
        if let Some(t) = j.string("type")? {
            return Err(j.err(
                "type",
                format!(
                    "this folder holds a {t:?} audio tokenizer, not an EnCodec model \
                     (\"model_type\": \"encodec\"); a bandwidth (the CLI's --bandwidth) applies \
                     only to EnCodec: load this one without it (load_audio_tokenizer)"
                ),
            ));
        }
        if let Some(t) = j.string("model_type")?
            && t != "encodec"
        {
            return Err(j.err("model_type", format!("expected \"encodec\", found {t:?}")));
        }
        let audio_channels = j.usize_or("audio_channels", 1)?;
        if audio_channels != 1 {
            return Err(j.err(
                "audio_channels",
                "only mono (1) EnCodec models are supported",
            ));
        }
        if j.bool_or("normalize", false)? {
            return Err(j.err(
                "normalize",
                "loudness-normalised models (48 kHz) need per-chunk scales that codes do not carry",
            ));
        }
        if j.has("chunk_length_s") {
            return Err(j.err(
                "chunk_length_s",
                "chunked models (48 kHz) are not supported",
            ));
        }
        let norm = j
            .string("norm_type")?
            .unwrap_or_else(|| "weight_norm".into());
        if norm != "weight_norm" {
            return Err(j.err(
                "norm_type",
                format!("only \"weight_norm\" is supported, found {norm:?}"),
            ));
        }
        let pad_mode = match j.string("pad_mode")?.as_deref() {
            None | Some("reflect") => PadMode::Reflect,
            Some("constant" | "zero") => PadMode::Constant,
            Some("replicate") => PadMode::Replicate,
            Some(other) => return Err(j.err("pad_mode", format!("unsupported mode {other:?}"))),
        };
        let sampling_rate = j.usize_or("sampling_rate", d.sampling_rate as usize)?;
        let cfg = Self {
            target_bandwidths: j.f64_list_or("target_bandwidths", &d.target_bandwidths)?,
            sampling_rate: u32::try_from(sampling_rate)
                .map_err(|_| j.err("sampling_rate", "too large"))?,
            hidden_size: j.usize_or("hidden_size", d.hidden_size)?,
            num_filters: j.usize_or("num_filters", d.num_filters)?,
            num_residual_layers: j.usize_or("num_residual_layers", d.num_residual_layers)?,
            upsampling_ratios: j.usize_list_or("upsampling_ratios", &d.upsampling_ratios)?,
            kernel_size: j.usize_or("kernel_size", d.kernel_size)?,
            last_kernel_size: j.usize_or("last_kernel_size", d.last_kernel_size)?,
            residual_kernel_size: j.usize_or("residual_kernel_size", d.residual_kernel_size)?,
            dilation_growth_rate: j.usize_or("dilation_growth_rate", d.dilation_growth_rate)?,
            use_causal_conv: j.bool_or("use_causal_conv", d.use_causal_conv)?,
            pad_mode,
            compress: j.usize_or("compress", d.compress)?,
            num_lstm_layers: j.usize_or("num_lstm_layers", d.num_lstm_layers)?,
            trim_right_ratio: j.f64_or("trim_right_ratio", d.trim_right_ratio)?,
            codebook_size: j.usize_or("codebook_size", d.codebook_size)?,
            use_conv_shortcut: j.bool_or("use_conv_shortcut", d.use_conv_shortcut)?,
        };
        let codebook_dim = j.usize_or("codebook_dim", cfg.hidden_size)?;
        if codebook_dim != cfg.hidden_size {
            return Err(j.err(
                "codebook_dim",
                "must equal hidden_size (codewords live in the latent)",
            ));
        }
        cfg.validate()
            .map_err(|(field, reason)| j.err(field, reason))?;
        Ok(cfg)
    }

    /// Checks the values are usable; returns the offending field and why.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        let positive = [
            ("sampling_rate", self.sampling_rate as usize),
            ("hidden_size", self.hidden_size),
            ("num_filters", self.num_filters),
            ("kernel_size", self.kernel_size),
            ("last_kernel_size", self.last_kernel_size),
            ("residual_kernel_size", self.residual_kernel_size),
            ("dilation_growth_rate", self.dilation_growth_rate),
            ("compress", self.compress),
            ("num_lstm_layers", self.num_lstm_layers),
        ];
        for (field, v) in positive {
            if v == 0 {
                return Err((field, "must be at least 1".into()));
            }
        }
        // Keep widths and kernels in a range where no size computation can overflow.
        for (field, v, max) in [
            ("hidden_size", self.hidden_size, 1 << 14),
            ("num_filters", self.num_filters, 1 << 12),
            ("kernel_size", self.kernel_size, 1 << 10),
            ("last_kernel_size", self.last_kernel_size, 1 << 10),
            ("residual_kernel_size", self.residual_kernel_size, 1 << 10),
            ("num_residual_layers", self.num_residual_layers, 16),
            ("num_lstm_layers", self.num_lstm_layers, 16),
        ] {
            if v > max {
                return Err((field, format!("{v} is implausibly large (max {max})")));
            }
        }
        if self.upsampling_ratios.is_empty() || self.upsampling_ratios.len() > 8 {
            return Err(("upsampling_ratios", "must hold 1 to 8 ratios".into()));
        }
        if self.upsampling_ratios.iter().any(|&r| r == 0 || r > 64) {
            return Err(("upsampling_ratios", "ratios must be in 1..=64".into()));
        }
        if self.compress > self.num_filters {
            return Err(("compress", "larger than num_filters".into()));
        }
        if self
            .dilation_growth_rate
            .checked_pow(self.num_residual_layers as u32)
            .is_none_or(|d| d > 1 << 12)
        {
            return Err((
                "dilation_growth_rate",
                "dilations grow implausibly large".into(),
            ));
        }
        if !(2..=1 << 16).contains(&self.codebook_size) || !self.codebook_size.is_power_of_two() {
            return Err((
                "codebook_size",
                format!(
                    "must be a power of two in 2..=65536, found {}",
                    self.codebook_size
                ),
            ));
        }
        if !(0.0..=1.0).contains(&self.trim_right_ratio) {
            return Err(("trim_right_ratio", "must be in [0, 1]".into()));
        }
        if !self.use_causal_conv && self.trim_right_ratio != 1.0 {
            return Err((
                "trim_right_ratio",
                "!= 1.0 only makes sense for causal convolutions".into(),
            ));
        }
        if self.target_bandwidths.is_empty() || self.target_bandwidths.iter().any(|&b| b <= 0.0) {
            return Err((
                "target_bandwidths",
                "must be a non-empty list of positive kbps".into(),
            ));
        }
        if self.num_quantizers() == 0 {
            return Err((
                "target_bandwidths",
                "the largest bandwidth allows no codebook at this frame rate".into(),
            ));
        }
        if self.num_quantizers() > 256 {
            return Err((
                "target_bandwidths",
                "implies more than 256 codebooks".into(),
            ));
        }
        Ok(())
    }

    /// Samples per code frame: the product of the ratios.
    pub fn hop_length(&self) -> usize {
        self.upsampling_ratios.iter().product()
    }

    /// Code frames per second, rounded up as `transformers` does (75 for the 24 kHz model).
    pub fn frame_rate(&self) -> usize {
        (self.sampling_rate as usize).div_ceil(self.hop_length())
    }

    /// Bits per code: `ceil(log2(codebook_size))`.
    pub fn codebook_nbits(&self) -> usize {
        self.codebook_size.next_power_of_two().trailing_zeros() as usize
    }

    /// Codebooks in the checkpoint: `floor(1000 · max bandwidth / (frame_rate · nbits))`.
    pub fn num_quantizers(&self) -> usize {
        let last = self.target_bandwidths.last().copied().unwrap_or(0.0);
        (1000.0 * last / (self.frame_rate() * self.codebook_nbits()) as f64).floor() as usize
    }

    /// Codebooks used at `bandwidth` kbps, as `transformers` picks them:
    /// `max(1, floor(1000 · bandwidth / (log2(codebook_size) · frame_rate)))`, at most
    /// [`Self::num_quantizers`].
    pub fn num_quantizers_for_bandwidth(&self, bandwidth: f64) -> usize {
        let bw_per_q = (self.codebook_size as f64).log2() * self.frame_rate() as f64;
        let n = (bandwidth * 1000.0 / bw_per_q).floor().max(1.0) as usize;
        n.min(self.num_quantizers())
    }
}
