//! A small learned audio codec for small models: MDCT frames quantized by a residual VQ whose
//! codebooks are fitted with seeded k-means.
//!
//! **Transform.** The signal is cut into hops of `frame_size` samples and each hop gets one
//! vector: the MDCT of the `2·frame_size` samples around it (sine window). The frames do not
//! overlap in the code stream (one code per hop, critically sampled), but the transform's
//! basis functions do, so quantization error is cross-faded between neighbouring frames
//! instead of producing a click at every frame edge as plain time-domain frames would. The
//! MDCT is orthogonal as a lapped transform, so k-means' squared error in coefficient space
//! is the squared error of the decoded samples: nothing is lost by clustering there.
//!
//! **Codes.** `levels` codebooks of `codebook_size` codewords; level 0 quantizes the
//! coefficients, each next level what the previous left over (level-major, like EnCodec).
//! Audio of `L` samples gives `ceil(L / frame_size) + 1` frames and decodes to
//! `ceil(L / frame_size) · frame_size` samples.
//!
//! **Listening.** A codec may carry an *analysis* ([`FrameVq::with_analysis`], see
//! [`AnalysisConfig`]): then [`AudioTokenizer::encode`] gives each frame the codeword that
//! *sounds* nearest (a phase- and loudness-free spectrum), so a note played at another phase,
//! slightly out of tune or more quietly gets the codes of the note, not of another waveform;
//! [`FrameVq::encode_exact`] keeps the nearest codeword in MDCT space (the best
//! reconstruction).
//!
//! **Files.** `config.json` (`{"type": "frame-vq", "sample_rate", "frame_size",
//! "codebook_size", "levels"}`, and with an analysis `"analysis": "spectrum"`,
//! `"analysis_window"`, `"analysis_low_hz"`, `"analysis_high_hz"`, `"analysis_step_hz"`) and
//! `model.safetensors` with `codebook.{level}` of shape `(codebook_size, frame_size)` (and
//! `analysis.signature`, `(codebook_size, bins)`).

mod analysis;
mod kmeans;
mod mdct;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use serde_json::json;

use super::json::ConfigJson;
use super::weights::WeightStore;
use super::{AudioCodes, AudioError, AudioLimits, AudioTokenizer, Pcm, resample_with};
use analysis::Analysis;
pub use analysis::AnalysisConfig;
use kmeans::{kmeans, nearest};
use mdct::Mdct;

/// The shape of a [`FrameVq`] codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FrameVqConfig {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Samples per code frame (the MDCT hop), e.g. 160 at 16 kHz = 10 ms.
    pub frame_size: usize,
    /// Codewords per level.
    pub codebook_size: usize,
    /// Residual levels (1 = plain VQ).
    pub levels: usize,
}

impl FrameVqConfig {
    /// A configuration; checked when used.
    pub fn new(sample_rate: u32, frame_size: usize, codebook_size: usize, levels: usize) -> Self {
        Self {
            sample_rate,
            frame_size,
            codebook_size,
            levels,
        }
    }

    /// Checks the values; returns the offending field and why.
    fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.sample_rate == 0 {
            return Err(("sample_rate", "must be positive".into()));
        }
        if !(2..=8192).contains(&self.frame_size) {
            return Err(("frame_size", "must be in 2..=8192".into()));
        }
        if !(1..=1 << 16).contains(&self.codebook_size) {
            return Err(("codebook_size", "must be in 1..=65536".into()));
        }
        if !(1..=16).contains(&self.levels) {
            return Err(("levels", "must be in 1..=16".into()));
        }
        Ok(())
    }
}

/// Options of [`FrameVq::fit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FitOptions {
    /// Seed of the k-means++ initialisation. Default 0.
    pub seed: u64,
    /// Most Lloyd iterations per level (fewer if the assignment settles). Default 30.
    pub iterations: usize,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            iterations: 30,
        }
    }
}

impl FitOptions {
    /// Options with `seed` and the default iterations.
    pub fn with_seed(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }
}

/// A small learned codec: MDCT frames (sine window, hop `frame_size`) quantized by a residual
/// VQ whose codebooks are fitted with seeded k-means.
///
/// One code per hop per level, level-major; audio of `L` samples gives
/// `ceil(L / frame_size) + 1` frames and decodes to `ceil(L / frame_size) · frame_size`
/// samples. The MDCT's overlapping basis cross-fades quantization error between frames (no
/// clicks at frame edges), and being orthogonal it makes k-means' error in coefficient space
/// the error of the decoded samples. Saved as `config.json` (`"type": "frame-vq"`) and
/// `model.safetensors` (`codebook.{level}`, `(codebook_size, frame_size)`).
///
/// # Example
/// ```
/// use tessera_modalities::audio::{AudioTokenizer, FitOptions, FrameVq, FrameVqConfig, Pcm};
/// # fn main() -> Result<(), tessera_modalities::audio::AudioError> {
/// let tone: Vec<f32> = (0..4000).map(|i| (i as f32 * 0.1).sin() * 0.5).collect();
/// let pcm = Pcm::new(tone, 16_000)?;
/// let vq = FrameVq::fit(&[pcm.clone()], FrameVqConfig::new(16_000, 160, 8, 2), FitOptions::default())?;
/// let codes = vq.encode(&pcm)?;
/// assert_eq!((codes.codes.len(), codes.codes[0].len()), (2, 26));
/// assert_eq!(vq.decode(&codes)?.samples.len(), 4000);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FrameVq {
    config: FrameVqConfig,
    mdct: Mdct,
    /// Per level, `(codebook_size, frame_size)`.
    codebooks: Vec<Tensor>,
    limits: AudioLimits,
    /// How heard frames are matched to codewords ([`FrameVq::with_analysis`]).
    analysis: Option<Analysis>,
}

impl FrameVq {
    /// Fits the codebooks to `signals` (resampled to `config.sample_rate`): level 0 by
    /// k-means on all their MDCT frames, each next level on the residuals. Deterministic for
    /// a given seed.
    ///
    /// # Errors
    /// [`AudioError::Config`] for a bad config, [`AudioError::Fit`] if there are fewer frames
    /// than codewords, [`AudioError::Empty`] for an empty signal.
    pub fn fit(
        signals: &[Pcm],
        config: FrameVqConfig,
        opts: FitOptions,
    ) -> Result<Self, AudioError> {
        config
            .validate()
            .map_err(|(field, reason)| AudioError::config("<config>", field, reason))?;
        let mdct = Mdct::new(config.frame_size)?;
        let limits = AudioLimits::default();
        let mut all = Vec::new();
        for pcm in signals {
            pcm.check(&limits)?;
            let pcm = resample_with(pcm, config.sample_rate, &limits)?;
            all.push(mdct.forward(&pcm.samples)?);
        }
        if all.is_empty() {
            return Err(AudioError::Fit("no training signals".into()));
        }
        let mut residual = Tensor::cat(&all, 0)?;
        let mut codebooks = Vec::with_capacity(config.levels);
        for level in 0..config.levels {
            let seed = opts.seed.wrapping_add(level as u64);
            let cb = kmeans(&residual, config.codebook_size, opts.iterations, seed)?;
            let (idx, _) = nearest(&residual, &cb)?;
            let idx = Tensor::new(idx.as_slice(), &Device::Cpu)?;
            residual = (residual - cb.index_select(&idx, 0)?)?;
            codebooks.push(cb);
        }
        Ok(Self {
            config,
            mdct,
            codebooks,
            limits,
            analysis: None,
        })
    }

    /// Gives the codec an analysis: [`AudioTokenizer::encode`] then matches each frame to
    /// the codeword whose *signature* (mean phase- and loudness-free spectrum of the frames
    /// of `signals` it exactly encodes) is nearest. `signals` are typically the ones the
    /// codebook was fitted on.
    ///
    /// # Errors
    /// [`AudioError::Config`] naming the analysis field that is out of range, or for a codec
    /// of more than one level (residual levels refine a waveform, which the analysis does not
    /// match); [`AudioError::Fit`] if no frame was analysed.
    pub fn with_analysis(
        mut self,
        signals: &[Pcm],
        config: AnalysisConfig,
    ) -> Result<Self, AudioError> {
        self.check_analysis(&config)
            .map_err(|(field, reason)| AudioError::config("<config>", field, reason))?;
        let mut clips = Vec::with_capacity(signals.len());
        for pcm in signals {
            pcm.check(&self.limits)?;
            let pcm = resample_with(pcm, self.config.sample_rate, &self.limits)?;
            let codes = self.encode_exact(&pcm)?.codes.swap_remove(0);
            clips.push((pcm.samples, codes));
        }
        if clips.is_empty() {
            return Err(AudioError::Fit("no signals to analyse".into()));
        }
        self.analysis = Some(Analysis::fit(
            config,
            self.config.sample_rate,
            self.config.frame_size,
            self.config.codebook_size,
            &clips,
        )?);
        Ok(self)
    }

    fn check_analysis(&self, config: &AnalysisConfig) -> Result<(), (&'static str, String)> {
        if self.config.levels != 1 {
            return Err((
                "analysis",
                format!(
                    "needs a codec of one level; this one has {}",
                    self.config.levels
                ),
            ));
        }
        config.validate(self.config.sample_rate)
    }

    /// The analysis' parameters, if the codec has one.
    pub fn analysis(&self) -> Option<AnalysisConfig> {
        self.analysis.as_ref().map(|a| a.config)
    }

    /// The codes that reconstruct `pcm` best: each frame's nearest codeword in MDCT space
    /// (and each residual level's). What [`AudioTokenizer::encode`] gives for a codec
    /// without an analysis.
    ///
    /// # Errors
    /// As [`AudioTokenizer::encode`].
    pub fn encode_exact(&self, pcm: &Pcm) -> Result<AudioCodes, AudioError> {
        pcm.check(&self.limits)?;
        let pcm = resample_with(pcm, self.config.sample_rate, &self.limits)?;
        pcm.check(&self.limits)?;
        let mut residual = self.mdct.forward(&pcm.samples)?;
        let mut codes = Vec::with_capacity(self.codebooks.len());
        for cb in &self.codebooks {
            let (idx, _) = nearest(&residual, cb)?;
            let t = Tensor::new(idx.as_slice(), &Device::Cpu)?;
            residual = (residual - cb.index_select(&t, 0)?)?;
            codes.push(idx);
        }
        Ok(AudioCodes::new(codes, self.config.sample_rate))
    }

    /// Writes `dir/config.json` and `dir/model.safetensors`, creating `dir` if needed.
    ///
    /// # Errors
    /// [`AudioError::Io`] or [`AudioError::Tensor`] if writing fails.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<(), AudioError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| AudioError::io(dir, e))?;
        let c = &self.config;
        let mut cfg = json!({
            "type": "frame-vq",
            "transform": "mdct",
            "sample_rate": c.sample_rate,
            "frame_size": c.frame_size,
            "codebook_size": c.codebook_size,
            "levels": c.levels,
        });
        if let Some(a) = &self.analysis {
            let ac = a.config;
            cfg["analysis"] = json!("spectrum");
            cfg["analysis_window"] = json!(ac.window);
            cfg["analysis_low_hz"] = json!(ac.low_hz);
            cfg["analysis_high_hz"] = json!(ac.high_hz);
            cfg["analysis_step_hz"] = json!(ac.step_hz);
        }
        let cfg_path = dir.join("config.json");
        let text =
            serde_json::to_string_pretty(&cfg).map_err(|e| AudioError::Tensor(e.to_string()))?;
        std::fs::write(&cfg_path, text + "\n").map_err(|e| AudioError::io(&cfg_path, e))?;
        let mut tensors: HashMap<String, Tensor> = self
            .codebooks
            .iter()
            .enumerate()
            .map(|(l, t)| (format!("codebook.{l}"), t.clone()))
            .collect();
        if let Some(a) = &self.analysis {
            tensors.insert(SIGNATURE.into(), a.signatures.clone());
        }
        candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
        Ok(())
    }

    /// Loads a codec written by [`FrameVq::save`] (or the fixture script).
    ///
    /// # Errors
    /// [`AudioError::Config`] naming the field; [`AudioError::Weights`] naming the tensor
    /// whose shape disagrees with the config.
    pub fn load(dir: impl AsRef<Path>) -> Result<Self, AudioError> {
        let dir = dir.as_ref();
        let j = ConfigJson::read_dir(dir)?;
        match j.string("type")?.as_deref() {
            Some("frame-vq") => {}
            other => return Err(j.err("type", format!("expected \"frame-vq\", found {other:?}"))),
        }
        match j.string("transform")?.as_deref() {
            None | Some("mdct") => {}
            Some(other) => return Err(j.err("transform", format!("unknown transform {other:?}"))),
        }
        let rate = j.usize_req("sample_rate")?;
        let config = FrameVqConfig {
            sample_rate: u32::try_from(rate).map_err(|_| j.err("sample_rate", "too large"))?,
            frame_size: j.usize_req("frame_size")?,
            codebook_size: j.usize_req("codebook_size")?,
            levels: j.usize_req("levels")?,
        };
        config
            .validate()
            .map_err(|(field, reason)| j.err(field, reason))?;
        let w = WeightStore::load(&dir.join("model.safetensors"))?;
        let codebooks = (0..config.levels)
            .map(|l| {
                w.get(
                    &format!("codebook.{l}"),
                    &[config.codebook_size, config.frame_size],
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let extra = format!("codebook.{}", config.levels);
        if w.contains(&extra) {
            return Err(w.err(format!(
                "`{extra}` exists but the config has {} levels",
                config.levels
            )));
        }
        let mut vq = Self {
            mdct: Mdct::new(config.frame_size)?,
            config,
            codebooks,
            limits: AudioLimits::default(),
            analysis: None,
        };
        match j.string("analysis")?.as_deref() {
            None => {
                if w.contains(SIGNATURE) {
                    return Err(w.err(format!(
                        "`{SIGNATURE}` exists but the config has no \"analysis\""
                    )));
                }
            }
            Some("spectrum") => {
                let d = AnalysisConfig::default();
                let ac = AnalysisConfig {
                    window: j.usize_or("analysis_window", d.window)?,
                    low_hz: j.f64_or("analysis_low_hz", d.low_hz)?,
                    high_hz: j.f64_or("analysis_high_hz", d.high_hz)?,
                    step_hz: j.f64_or("analysis_step_hz", d.step_hz)?,
                };
                vq.check_analysis(&ac)
                    .map_err(|(field, reason)| j.err(field, reason))?;
                let sig = w.get(SIGNATURE, &[config.codebook_size, ac.bins()])?;
                vq.analysis = Some(Analysis::new(
                    ac,
                    config.sample_rate,
                    config.frame_size,
                    sig,
                )?);
            }
            Some(other) => {
                return Err(j.err("analysis", format!("unknown analysis {other:?}")));
            }
        }
        Ok(vq)
    }

    /// Sets the limits on input length.
    pub fn with_limits(mut self, limits: AudioLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The configuration.
    pub fn config(&self) -> &FrameVqConfig {
        &self.config
    }
}

/// The tensor of the analysis' signatures.
const SIGNATURE: &str = "analysis.signature";

impl AudioTokenizer for FrameVq {
    fn encode(&self, pcm: &Pcm) -> Result<AudioCodes, AudioError> {
        let Some(analysis) = &self.analysis else {
            return self.encode_exact(pcm);
        };
        pcm.check(&self.limits)?;
        let pcm = resample_with(pcm, self.config.sample_rate, &self.limits)?;
        pcm.check(&self.limits)?;
        let codes = analysis.encode(&pcm.samples)?;
        Ok(AudioCodes::new(vec![codes], self.config.sample_rate))
    }

    fn decode(&self, codes: &AudioCodes) -> Result<Pcm, AudioError> {
        let max_frames = self
            .mdct
            .frames_for(self.limits.max_frames(self.config.sample_rate));
        codes.validate(
            self.config.levels,
            self.config.codebook_size,
            self.config.sample_rate,
            max_frames,
        )?;
        let mut sum: Option<Tensor> = None;
        for (row, cb) in codes.codes.iter().zip(&self.codebooks) {
            let q = cb.index_select(&Tensor::new(row.as_slice(), &Device::Cpu)?, 0)?;
            sum = Some(match sum {
                None => q,
                Some(s) => (s + q)?,
            });
        }
        let coeffs = sum.ok_or_else(|| AudioError::CodesShape("no levels".into()))?;
        Ok(Pcm {
            samples: self.mdct.inverse(&coeffs)?,
            sample_rate: self.config.sample_rate,
        })
    }

    fn sample_rate(&self) -> u32 {
        self.config.sample_rate
    }

    fn levels(&self) -> usize {
        self.config.levels
    }

    fn codebook_size(&self) -> usize {
        self.config.codebook_size
    }

    fn frame_rate(&self) -> f64 {
        f64::from(self.config.sample_rate) / self.config.frame_size as f64
    }
}
