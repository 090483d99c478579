//! EnCodec's SEANet encoder and decoder and its residual vector quantizer, with the tensor
//! names of the Hugging Face checkpoints (`encoder.layers.N…`, `quantizer.layers.N…`).

use candle_core::Tensor;

use super::config::EncodecConfig;
use super::layers::{Conv, ConvTranspose, ResnetBlock};
use super::lstm::Lstm;
use crate::audio::AudioError;
use crate::audio::weights::WeightStore;

/// The encoder: waveform `(1, samples, 1)` → latent `(1, frames, hidden)` (time-major).
#[derive(Debug)]
pub(crate) struct Encoder {
    first: Conv,
    /// Per resolution: residual blocks, then the strided downsampling convolution.
    stages: Vec<(Vec<ResnetBlock>, Conv)>,
    lstm: Lstm,
    last: Conv,
}

impl Encoder {
    pub(crate) fn load(cfg: &EncodecConfig, w: &WeightStore) -> Result<Self, AudioError> {
        // Layer indices count the parameter-free ELUs too, as in the checkpoint.
        let mut idx = 0;
        let mut next = || {
            let p = format!("encoder.layers.{idx}");
            idx += 1;
            p
        };
        let nf = cfg.num_filters;
        let first = Conv::load(cfg, w, &next(), 1, nf, cfg.kernel_size, 1, 1)?;
        let mut stages = Vec::new();
        let mut scale = 1;
        for &ratio in cfg.upsampling_ratios.iter().rev() {
            let dim = scale * nf;
            let mut blocks = Vec::new();
            for j in 0..cfg.num_residual_layers {
                let dilation = cfg.dilation_growth_rate.pow(j as u32);
                blocks.push(ResnetBlock::load(cfg, w, &next(), dim, dilation)?);
            }
            next(); // ELU
            let down = Conv::load(cfg, w, &next(), dim, dim * 2, ratio * 2, ratio, 1)?;
            stages.push((blocks, down));
            scale *= 2;
        }
        let lstm = Lstm::load(cfg, w, &next(), scale * nf)?;
        next(); // ELU
        let last = Conv::load(
            cfg,
            w,
            &next(),
            scale * nf,
            cfg.hidden_size,
            cfg.last_kernel_size,
            1,
            1,
        )?;
        Ok(Self {
            first,
            stages,
            lstm,
            last,
        })
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, AudioError> {
        let mut x = self.first.forward(x)?;
        for (blocks, down) in &self.stages {
            for b in blocks {
                x = b.forward(&x)?;
            }
            x = down.forward_elu(&x)?;
        }
        let x = self.lstm.forward(&x)?;
        self.last.forward_elu(&x)
    }
}

/// The decoder: latent `(1, frames, hidden)` → waveform `(1, frames · hop, 1)` (time-major).
#[derive(Debug)]
pub(crate) struct Decoder {
    first: Conv,
    lstm: Lstm,
    /// Per resolution: the upsampling transposed convolution, then residual blocks.
    stages: Vec<(ConvTranspose, Vec<ResnetBlock>)>,
    last: Conv,
}

impl Decoder {
    pub(crate) fn load(cfg: &EncodecConfig, w: &WeightStore) -> Result<Self, AudioError> {
        let mut idx = 0;
        let mut next = || {
            let p = format!("decoder.layers.{idx}");
            idx += 1;
            p
        };
        let nf = cfg.num_filters;
        let mut scale = 1usize << cfg.upsampling_ratios.len();
        // `transformers` builds the decoder's first convolution with `kernel_size`, not
        // `last_kernel_size` (equal in the published models).
        let first = Conv::load(
            cfg,
            w,
            &next(),
            cfg.hidden_size,
            scale * nf,
            cfg.kernel_size,
            1,
            1,
        )?;
        let lstm = Lstm::load(cfg, w, &next(), scale * nf)?;
        let mut stages = Vec::new();
        for &ratio in &cfg.upsampling_ratios {
            let dim = scale * nf;
            next(); // ELU
            let up = ConvTranspose::load(cfg, w, &next(), dim, dim / 2, ratio * 2, ratio)?;
            let mut blocks = Vec::new();
            for j in 0..cfg.num_residual_layers {
                let dilation = cfg.dilation_growth_rate.pow(j as u32);
                blocks.push(ResnetBlock::load(cfg, w, &next(), dim / 2, dilation)?);
            }
            stages.push((up, blocks));
            scale /= 2;
        }
        next(); // ELU
        let last = Conv::load(cfg, w, &next(), nf, 1, cfg.last_kernel_size, 1, 1)?;
        Ok(Self {
            first,
            lstm,
            stages,
            last,
        })
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor, AudioError> {
        let x = self.first.forward(x)?;
        let mut x = self.lstm.forward(&x)?;
        for (up, blocks) in &self.stages {
            x = up.forward_elu(&x)?;
            for b in blocks {
                x = b.forward(&x)?;
            }
        }
        self.last.forward_elu(&x)
    }
}

/// Residual vector quantizer: level `l` quantizes what levels `0..l` left over, each to its
/// nearest codeword in Euclidean distance.
#[derive(Debug)]
pub(crate) struct Rvq {
    /// Per level, the codebook `(codebook_size, dim)`.
    codebooks: Vec<Tensor>,
    /// Per level, `‖e‖²` of each codeword, `(1, codebook_size)`.
    norms: Vec<Tensor>,
}

impl Rvq {
    pub(crate) fn load(cfg: &EncodecConfig, w: &WeightStore) -> Result<Self, AudioError> {
        let mut codebooks = Vec::new();
        let mut norms = Vec::new();
        for l in 0..cfg.num_quantizers() {
            let e = w.get(
                &format!("quantizer.layers.{l}.codebook.embed"),
                &[cfg.codebook_size, cfg.hidden_size],
            )?;
            norms.push(e.sqr()?.sum_keepdim(1)?.t()?.contiguous()?);
            codebooks.push(e);
        }
        let extra = format!("quantizer.layers.{}.codebook.embed", cfg.num_quantizers());
        if w.contains(&extra) {
            return Err(w.err(format!(
                "`{extra}` exists but target_bandwidths imply {} codebooks",
                cfg.num_quantizers()
            )));
        }
        Ok(Self { codebooks, norms })
    }

    pub(crate) fn max_levels(&self) -> usize {
        self.codebooks.len()
    }

    /// `latent`: `(frames, dim)` → `levels` rows of codes.
    pub(crate) fn encode(
        &self,
        latent: &Tensor,
        levels: usize,
    ) -> Result<Vec<Vec<u32>>, AudioError> {
        let mut residual = latent.clone();
        let mut out = Vec::with_capacity(levels);
        for (e, n) in self.codebooks.iter().zip(&self.norms).take(levels) {
            // argmin ‖x − e‖² = argmin (‖e‖² − 2 x·e); ‖x‖² is the same for every codeword.
            let dist = n.broadcast_sub(&(residual.matmul(&e.t()?)? * 2.0)?)?;
            let codes: Vec<u32> = dist
                .to_vec2::<f32>()?
                .iter()
                .map(|row| argmin(row))
                .collect();
            let idx = Tensor::new(codes.as_slice(), latent.device())?;
            residual = (residual - e.index_select(&idx, 0)?)?;
            out.push(codes);
        }
        Ok(out)
    }

    /// Sum of the codewords of each level: `(frames, dim)`. Codes must be validated.
    pub(crate) fn decode(&self, codes: &[Vec<u32>]) -> Result<Tensor, AudioError> {
        let mut sum: Option<Tensor> = None;
        for (row, e) in codes.iter().zip(&self.codebooks) {
            let idx = Tensor::new(row.as_slice(), e.device())?;
            let q = e.index_select(&idx, 0)?;
            sum = Some(match sum {
                None => q,
                Some(s) => (s + q)?,
            });
        }
        sum.ok_or_else(|| AudioError::CodesShape("no levels".into()))
    }
}

/// Index of the smallest value (the first one on ties, as `torch.max` on the negation).
fn argmin(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v < row[best] {
            best = i;
        }
    }
    best as u32
}

/// `(1, frames, dim)` ↔ `(frames, dim)`.
pub(crate) fn latent_to_rows(x: &Tensor) -> Result<Tensor, AudioError> {
    Ok(x.squeeze(0)?)
}

pub(crate) fn rows_to_latent(x: &Tensor) -> Result<Tensor, AudioError> {
    Ok(x.unsqueeze(0)?)
}
