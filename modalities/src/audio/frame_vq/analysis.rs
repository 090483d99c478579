//! The frame VQ's analysis: which code a heard frame gets, judged by what is heard rather
//! than by the waveform.
//!
//! Nearest-codeword search in MDCT space (the codec's exact encoding) is right for
//! reconstruction and wrong for listening: the MDCT of a sine depends on its phase, so the
//! same note started half a period later, played 1 % sharp or more quietly lands on another
//! codeword — one a model trained on the canonical renderings has never seen with that note.
//! The analysis compares frames by a **phase-free, loudness-free spectrum** instead:
//!
//! - each hop's frame is the `window` samples centred on the hop's boundary (the centre of
//!   its MDCT block), Hann-windowed, zero outside the signal;
//! - its magnitude spectrum is taken at `low_hz, low_hz + step_hz, …, ≤ high_hz` (a direct
//!   DFT at those frequencies: the band where the notes' fundamentals and first overtones
//!   lie, so upper harmonics — timbre — weigh little);
//! - divided by `max(‖spectrum‖, floor)`, `floor` a tenth of the loudest frame's norm in the
//!   clip: sounding frames are compared by shape alone (amplitude drops out), near-silent
//!   ones stay small (silence stays silence, faint noise does not become a note).
//!
//! Every codeword has a *signature*: the mean signature of the frames it exactly encodes in
//! the signals it was analysed on ([`Analysis::signatures`]). A frame's code is the codeword
//! whose signature is nearest. The codes decode as ever (the codewords are MDCT frames), so
//! the reconstruction of heard audio is the codec's rendering of the notes it recognised.

use candle_core::{Device, Tensor};

use super::kmeans::nearest;
use crate::audio::AudioError;

/// The analysis' parameters (`config.json`: `"analysis": "spectrum"`, `"analysis_window"`,
/// `"analysis_low_hz"`, `"analysis_high_hz"`, `"analysis_step_hz"`).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct AnalysisConfig {
    /// Samples per analysed frame (even), centred on the hop's boundary. Default 1600.
    pub window: usize,
    /// Lowest analysed frequency in Hz. Default 150.
    pub low_hz: f64,
    /// Highest analysed frequency in Hz. Default 1100.
    pub high_hz: f64,
    /// Spacing of the analysed frequencies in Hz. Default 5.
    pub step_hz: f64,
}

impl Default for AnalysisConfig {
    fn default() -> Self {
        AnalysisConfig {
            window: 1600,
            low_hz: 150.0,
            high_hz: 1100.0,
            step_hz: 5.0,
        }
    }
}

impl AnalysisConfig {
    /// Checks the values against the codec's sample rate; the offending field and why.
    pub(crate) fn validate(&self, sample_rate: u32) -> Result<(), (&'static str, String)> {
        if !(2..=1 << 16).contains(&self.window) || !self.window.is_multiple_of(2) {
            return Err(("analysis_window", "must be even and in 2..=65536".into()));
        }
        let nyquist = f64::from(sample_rate) / 2.0;
        if !(self.low_hz.is_finite() && self.low_hz >= 0.0) {
            return Err(("analysis_low_hz", "must be a finite frequency ≥ 0".into()));
        }
        if !(self.high_hz.is_finite() && self.high_hz >= self.low_hz && self.high_hz <= nyquist) {
            return Err((
                "analysis_high_hz",
                format!("must lie in [analysis_low_hz, {nyquist}] (the Nyquist frequency)"),
            ));
        }
        if !(self.step_hz.is_finite() && self.step_hz > 0.0) {
            return Err(("analysis_step_hz", "must be positive".into()));
        }
        if self.bins() > 4096 {
            return Err((
                "analysis_step_hz",
                "gives more than 4096 analysed frequencies".into(),
            ));
        }
        Ok(())
    }

    /// The analysed frequencies' count.
    pub(crate) fn bins(&self) -> usize {
        ((self.high_hz - self.low_hz) / self.step_hz).floor() as usize + 1
    }
}

/// The analysis of a frame VQ: its parameters, the DFT basis and one signature per codeword.
#[derive(Debug)]
pub(crate) struct Analysis {
    pub(crate) config: AnalysisConfig,
    hop: usize,
    /// `(window, 2·bins)`: Hann-windowed cosines then sines.
    basis: Tensor,
    /// `(codebook_size, bins)`.
    pub(crate) signatures: Tensor,
}

impl Analysis {
    /// An analysis with the given signatures (`(codebook_size, bins)`).
    pub(crate) fn new(
        config: AnalysisConfig,
        sample_rate: u32,
        hop: usize,
        signatures: Tensor,
    ) -> Result<Self, AudioError> {
        let (w, bins) = (config.window, config.bins());
        let rate = f64::from(sample_rate);
        let mut b = vec![0f32; w * 2 * bins];
        for t in 0..w {
            let hann = 0.5 - 0.5 * (std::f64::consts::TAU * (t as f64 + 0.5) / w as f64).cos();
            for k in 0..bins {
                let f = config.low_hz + k as f64 * config.step_hz;
                let arg = std::f64::consts::TAU * f * t as f64 / rate;
                b[t * 2 * bins + k] = (hann * arg.cos()) as f32;
                b[t * 2 * bins + bins + k] = (hann * arg.sin()) as f32;
            }
        }
        Ok(Analysis {
            config,
            hop,
            basis: Tensor::from_vec(b, (w, 2 * bins), &Device::Cpu)?,
            signatures,
        })
    }

    /// The signatures `(frames, bins)` of `samples`, one per MDCT frame of the codec
    /// (`ceil(len / hop) + 1`).
    pub(crate) fn signatures_of(&self, samples: &[f32]) -> Result<Tensor, AudioError> {
        let (w, hop) = (self.config.window, self.hop);
        let frames = samples.len().div_ceil(hop) + 1;
        let mut blocks = vec![0f32; frames * w];
        for f in 0..frames {
            // The window centred on sample f·hop.
            let start = (f * hop) as isize - (w / 2) as isize;
            for (t, out) in blocks[f * w..(f + 1) * w].iter_mut().enumerate() {
                let i = start + t as isize;
                if i >= 0 && (i as usize) < samples.len() {
                    *out = samples[i as usize];
                }
            }
        }
        let blocks = Tensor::from_vec(blocks, (frames, w), &Device::Cpu)?;
        let bins = self.config.bins();
        let spec = blocks.matmul(&self.basis)?.to_vec2::<f32>()?;
        let mut mags: Vec<f32> = Vec::with_capacity(frames * bins);
        let mut norms = Vec::with_capacity(frames);
        for row in &spec {
            let (re, im) = row.split_at(bins);
            let start = mags.len();
            mags.extend(re.iter().zip(im).map(|(a, b)| (a * a + b * b).sqrt()));
            norms.push(mags[start..].iter().map(|m| m * m).sum::<f32>().sqrt());
        }
        let floor = norms.iter().copied().fold(0f32, f32::max) * 0.1;
        for (f, &norm) in norms.iter().enumerate() {
            let scale = 1.0 / norm.max(floor).max(f32::MIN_POSITIVE);
            for m in &mut mags[f * bins..(f + 1) * bins] {
                *m *= scale;
            }
        }
        Ok(Tensor::from_vec(mags, (frames, bins), &Device::Cpu)?)
    }

    /// The code of each frame of `samples`: the codeword with the nearest signature.
    pub(crate) fn encode(&self, samples: &[f32]) -> Result<Vec<u32>, AudioError> {
        let sig = self.signatures_of(samples)?;
        Ok(nearest(&sig, &self.signatures)?.0)
    }

    /// Signatures for a codebook of `codebook_size` codewords: the mean signature of the
    /// frames each codeword exactly encodes (`exact[i]` the exact codes of `clips[i]`). A
    /// codeword no frame uses gets a signature far from every frame's (it is never heard).
    pub(crate) fn fit(
        config: AnalysisConfig,
        sample_rate: u32,
        hop: usize,
        codebook_size: usize,
        clips: &[(Vec<f32>, Vec<u32>)],
    ) -> Result<Self, AudioError> {
        let bins = config.bins();
        let placeholder =
            Tensor::zeros((codebook_size, bins), candle_core::DType::F32, &Device::Cpu)?;
        let mut analysis = Analysis::new(config, sample_rate, hop, placeholder)?;
        let mut sum = vec![0f64; codebook_size * bins];
        let mut count = vec![0usize; codebook_size];
        for (samples, codes) in clips {
            let sig = analysis.signatures_of(samples)?.to_vec2::<f32>()?;
            for (row, &c) in sig.iter().zip(codes) {
                let c = c as usize;
                if c >= codebook_size {
                    return Err(AudioError::Fit(format!(
                        "code {c} is outside the codebook of {codebook_size}"
                    )));
                }
                count[c] += 1;
                for (s, &v) in sum[c * bins..(c + 1) * bins].iter_mut().zip(row) {
                    *s += f64::from(v);
                }
            }
        }
        let mut sig = vec![0f32; codebook_size * bins];
        for c in 0..codebook_size {
            for k in 0..bins {
                sig[c * bins + k] = if count[c] == 0 {
                    // Signatures have norm ≤ 1: a codeword at norm ~100 is never nearest.
                    10.0
                } else {
                    (sum[c * bins + k] / count[c] as f64) as f32
                };
            }
        }
        analysis.signatures = Tensor::from_vec(sig, (codebook_size, bins), &Device::Cpu)?;
        Ok(analysis)
    }
}
