//! The trainable transformer: the architecture of the LLaDA family (pre-norm blocks, RMSNorm,
//! rotate-half RoPE, SwiGLU MLP, bidirectional attention, untied LM head) written with
//! differentiable candle ops over [`Var`]s, and saved under LLaDA's own tensor names so the
//! inference backbone loads what the trainer writes (`tests/train.rs` checks that both give
//! the same logits).
//!
//! The inference forward uses candle's fused ops, which have no backward passes
//! (`rms_norm`, `softmax_last_dim`, `rope`); here RMSNorm, RoPE, softmax and SwiGLU are the
//! trainer's own fused ops with backward passes ([`crate::fused`]), the rest candle's
//! differentiable ops.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};
use tessera_backbone::llada::LladaNames;
use tessera_backbone::places::{PLACE_TENSOR, PlaceEmbedding};
use tessera_backbone::{Part, TensorNames};
use tessera_modalities::rng::SplitMix64;

use crate::TrainError;
use crate::fused::{RmsNorm, Rope, Softmax, SwiGlu};

/// Additive attention bias of a padded key (finite, so softmax's backward stays finite).
const MASKED: f32 = -1e9;

/// Dimensions of a trainable model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDims {
    /// Hidden size.
    pub d_model: usize,
    /// Transformer blocks.
    pub n_layers: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// SwiGLU hidden size.
    pub mlp_hidden_size: usize,
    /// RoPE base.
    #[serde(default = "default_theta")]
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// Rows of a digit-place embedding (0: none; see [`tessera_backbone::places`]): each
    /// position's place in its run of digits or masks, counted from the right, capped at
    /// `places − 1`, gets a learned vector added to its token embedding.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub places: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn default_theta() -> f64 {
    10_000.0
}

fn default_eps() -> f64 {
    1e-5
}

impl ModelDims {
    /// Checks divisibility and sizes; names the field at fault.
    ///
    /// # Errors
    /// [`TrainError::Config`].
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |field: &str, reason: &str| {
            Err(TrainError::Config {
                field: format!("model.{field}"),
                reason: reason.into(),
            })
        };
        if self.d_model == 0 || self.n_layers == 0 || self.mlp_hidden_size == 0 {
            return bad(
                "d_model",
                "d_model, n_layers and mlp_hidden_size must be positive",
            );
        }
        if self.n_heads == 0 || !self.d_model.is_multiple_of(self.n_heads) {
            return bad("n_heads", "must divide d_model");
        }
        if !(self.d_model / self.n_heads).is_multiple_of(2) {
            return bad("n_heads", "the head dimension must be even for RoPE");
        }
        if self.rope_theta <= 0.0 || self.rms_norm_eps <= 0.0 {
            return bad("rope_theta", "rope_theta and rms_norm_eps must be positive");
        }
        if self.places == 1 || self.places > tessera_backbone::places::MAX_PLACES {
            return bad(
                "places",
                "0 (no place embedding) or 2 and more (place 0 is \"not a digit\")",
            );
        }
        Ok(())
    }

    fn head_dim(&self) -> usize {
        self.d_model / self.n_heads
    }
}

/// A transformer whose weights are candle [`Var`]s, keyed by their LLaDA tensor names.
#[derive(Debug)]
pub struct TrainModel {
    dims: ModelDims,
    rows: usize,
    params: BTreeMap<String, Var>,
    device: Device,
    /// The digits and mask id the place embedding counts (set by
    /// [`TrainModel::set_place_tokens`]).
    places: Option<(PlaceEmbedding, u32)>,
}

impl TrainModel {
    /// A freshly initialised model with `rows` embedding rows (= logits width): matrices
    /// normal with σ = 0.02 (output projections σ / √(2·layers), GPT-2's rule), norm weights
    /// one. Deterministic for a seed.
    ///
    /// # Errors
    /// [`TrainError::Config`] for bad dimensions.
    pub fn init(dims: ModelDims, rows: usize, seed: u64) -> Result<Self, TrainError> {
        dims.validate()?;
        let device = Device::Cpu;
        let mut rng = SplitMix64::new(seed);
        let mut params = BTreeMap::new();
        let out_scale = 1.0 / (2.0 * dims.n_layers as f64).sqrt();
        for (name, shape) in shapes(&dims, rows) {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = if shape.len() == 1 {
                vec![1.0; n]
            } else {
                let sigma = if name.ends_with("attn_out.weight")
                    || (name.ends_with("ff_out.weight") && name.contains("blocks"))
                {
                    0.02 * out_scale
                } else {
                    0.02
                };
                (0..n).map(|_| (normal(&mut rng) * sigma) as f32).collect()
            };
            let t = Tensor::from_vec(data, shape.as_slice(), &device)?;
            params.insert(name, Var::from_tensor(&t)?);
        }
        Ok(TrainModel {
            dims,
            rows,
            params,
            device,
            places: None,
        })
    }

    /// Loads the weights of `path` (a `model.safetensors` written by [`TrainModel::save`] or
    /// any LLaDA-format file with these dimensions), as f32.
    ///
    /// # Errors
    /// [`TrainError::Checkpoint`] for a missing tensor or a wrong shape.
    pub fn load(dims: ModelDims, rows: usize, path: &Path) -> Result<Self, TrainError> {
        dims.validate()?;
        let device = Device::Cpu;
        let tensors = candle_core::safetensors::load(path, &device)
            .map_err(|e| TrainError::Checkpoint(format!("cannot read {}: {e}", path.display())))?;
        let mut params = BTreeMap::new();
        for (name, shape) in shapes(&dims, rows) {
            let t = tensors.get(&name).ok_or_else(|| {
                TrainError::Checkpoint(format!("{} has no tensor `{name}`", path.display()))
            })?;
            if t.dims() != shape.as_slice() {
                return Err(TrainError::Checkpoint(format!(
                    "`{name}` in {} has shape {:?}, expected {shape:?}",
                    path.display(),
                    t.dims()
                )));
            }
            params.insert(name, Var::from_tensor(&t.to_dtype(DType::F32)?)?);
        }
        Ok(TrainModel {
            dims,
            rows,
            params,
            device,
            places: None,
        })
    }

    /// Writes every weight, f32, under its LLaDA name.
    ///
    /// # Errors
    /// [`TrainError::Io`]-like failures as [`TrainError::Checkpoint`].
    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        let map: std::collections::HashMap<String, Tensor> = self
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect();
        candle_core::safetensors::save(&map, path)
            .map_err(|e| TrainError::Checkpoint(format!("cannot write {}: {e}", path.display())))
    }

    /// Tells a model with a place embedding which ids are digits and which is the mask (the
    /// runs its places count). Needed before [`TrainModel::forward`] when `dims.places > 0`.
    ///
    /// # Errors
    /// [`TrainError::Config`] for a model without a place embedding, no digits, or ids
    /// outside the embedding.
    pub fn set_place_tokens(&mut self, digit_ids: Vec<u32>, mask: u32) -> Result<(), TrainError> {
        let bad = |reason: String| TrainError::Config {
            field: "model.places".into(),
            reason,
        };
        if self.dims.places == 0 {
            return Err(bad("the model has no place embedding".into()));
        }
        let pe = PlaceEmbedding::new(self.dims.places, digit_ids).map_err(bad)?;
        pe.check_ids(self.rows, mask).map_err(bad)?;
        self.places = Some((pe, mask));
        Ok(())
    }

    /// The place embedding's parameters, once [`TrainModel::set_place_tokens`] has set them.
    pub fn place_embedding(&self) -> Option<&PlaceEmbedding> {
        self.places.as_ref().map(|(pe, _)| pe)
    }

    /// The dimensions.
    pub fn dims(&self) -> &ModelDims {
        &self.dims
    }

    /// Embedding rows (= logits width).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Every weight with its name, in name order (the optimizer's order).
    pub fn params(&self) -> &BTreeMap<String, Var> {
        &self.params
    }

    /// Number of parameters.
    pub fn parameter_count(&self) -> usize {
        self.params.values().map(|v| v.elem_count()).sum()
    }

    fn w(&self, name: &str) -> Result<&Tensor, TrainError> {
        self.params
            .get(name)
            .map(Var::as_tensor)
            .ok_or_else(|| TrainError::Checkpoint(format!("missing weight `{name}`")))
    }

    /// Logits `[positions.len(), rows]` at the flat positions `positions` (row-major into the
    /// `batch × len` canvas `ids`). Keys where `valid` is false (right padding) are hidden
    /// from every query.
    ///
    /// # Errors
    /// [`TrainError::Shape`] for inconsistent inputs; candle errors otherwise.
    pub fn forward(
        &self,
        ids: &[u32],
        batch: usize,
        valid: &[bool],
        positions: &[u32],
    ) -> Result<Tensor, TrainError> {
        let len = ids.len() / batch.max(1);
        if batch == 0 || len == 0 || ids.len() != batch * len || valid.len() != ids.len() {
            return Err(TrainError::Shape(format!(
                "{} ids and {} validity flags do not form {batch} rows",
                ids.len(),
                valid.len()
            )));
        }
        if let Some(&bad) = ids.iter().find(|&&t| t as usize >= self.rows) {
            return Err(TrainError::Shape(format!(
                "token id {bad} is outside the embedding ({} rows)",
                self.rows
            )));
        }
        if let Some(&bad) = positions.iter().find(|&&p| p as usize >= ids.len()) {
            return Err(TrainError::Shape(format!(
                "position {bad} is outside the batch"
            )));
        }
        let d = &self.dims;
        let (hidden, heads, hd) = (d.d_model, d.n_heads, d.head_dim());
        let names = LladaNames;
        let dev = &self.device;
        let ids_t = Tensor::from_slice(ids, ids.len(), dev)?;
        let mut h = self.w(&names.embedding())?.index_select(&ids_t, 0)?;
        if d.places > 0 {
            let (pe, mask) = self.places.as_ref().ok_or_else(|| TrainError::Config {
                field: "model.places".into(),
                reason: "the place embedding's digit ids are not set".into(),
            })?;
            let at = Tensor::from_vec(pe.place_ids(ids, len, *mask), ids.len(), dev)?;
            h = (h + self.w(PLACE_TENSOR)?.index_select(&at, 0)?)?;
        }
        let rope = rotary(len, hd, d.rope_theta);
        let bias = if valid.iter().all(|&v| v) {
            None
        } else {
            let b: Vec<f32> = valid
                .iter()
                .map(|&v| if v { 0.0 } else { MASKED })
                .collect();
            Some(Tensor::from_vec(b, (batch, 1, 1, len), dev)?)
        };
        let scale = 1.0 / (hd as f64).sqrt();
        for i in 0..d.n_layers {
            let w = |p| self.w(&names.layer(i, p));
            let x = rms_norm(&h, w(Part::AttnNorm)?, d.rms_norm_eps)?;
            let split = |t: Tensor| -> candle_core::Result<Tensor> {
                t.reshape((batch, len, heads, hd))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let q = split(x.matmul(&w(Part::Q)?.t()?)?)?.apply_op1(rope.clone())?;
            let k = split(x.matmul(&w(Part::K)?.t()?)?)?.apply_op1(rope.clone())?;
            let v = split(x.matmul(&w(Part::V)?.t()?)?)?;
            let mut scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?;
            if let Some(b) = &bias {
                scores = scores.broadcast_add(b)?;
            }
            let attn = scores
                .apply_op1(Softmax)?
                .matmul(&v)?
                .transpose(1, 2)?
                .reshape((batch * len, hidden))?;
            h = (h + attn.matmul(&w(Part::O)?.t()?)?)?;
            let x = rms_norm(&h, w(Part::MlpNorm)?, d.rms_norm_eps)?;
            let gate = x.matmul(&w(Part::Gate)?.t()?)?;
            let up = x.matmul(&w(Part::Up)?.t()?)?;
            h = (h + gate.apply_op2(&up, SwiGlu)?.matmul(&w(Part::Down)?.t()?)?)?;
        }
        let pos = Tensor::from_slice(positions, positions.len(), dev)?;
        let x = rms_norm(
            &h.index_select(&pos, 0)?,
            self.w(&names.final_norm())?,
            d.rms_norm_eps,
        )?;
        Ok(x.matmul(&self.w(&names.head())?.t()?)?)
    }

    /// The LLaDA-format `config.json` object of this model (without the token space, which
    /// the caller adds), with its place embedding once its digits are set.
    pub fn llada_config(&self, mask: u32, eos: u32, bos: u32) -> serde_json::Value {
        Self::llada_config_for(
            &self.dims,
            self.rows,
            self.place_embedding(),
            mask,
            eos,
            bos,
        )
    }

    /// The LLaDA-format `config.json` object of a model with dimensions `d`, `rows`
    /// embedding rows and, when `places` is given, that place embedding.
    pub fn llada_config_for(
        d: &ModelDims,
        rows: usize,
        places: Option<&PlaceEmbedding>,
        mask: u32,
        eos: u32,
        bos: u32,
    ) -> serde_json::Value {
        let mut c = serde_json::json!({
            "model_type": "llada",
            "architectures": ["LLaDAModelLM"],
            "block_type": "llama",
            "d_model": d.d_model,
            "n_layers": d.n_layers,
            "n_heads": d.n_heads,
            "n_kv_heads": d.n_heads,
            "mlp_hidden_size": d.mlp_hidden_size,
            "activation_type": "silu",
            "vocab_size": rows,
            "embedding_size": rows,
            "max_sequence_length": 1024,
            "rope": true,
            "rope_theta": d.rope_theta,
            "layer_norm_type": "rms",
            "rms_norm_eps": d.rms_norm_eps,
            "include_bias": false,
            "include_qkv_bias": false,
            "weight_tying": false,
            "alibi": false,
            "multi_query_attention": false,
            "mask_token_id": mask,
            "eos_token_id": eos,
            "pad_token_id": eos,
            "bos_token_id": bos,
        });
        if let Some(pe) = places {
            c["place_embedding"] = serde_json::json!(pe);
        }
        c
    }
}

/// Every weight's LLaDA name and shape (the place embedding last, so adding it leaves the
/// other weights' initial values unchanged).
fn shapes(d: &ModelDims, rows: usize) -> Vec<(String, Vec<usize>)> {
    let mut s =
        tessera_backbone::llada::weight_shapes(d.d_model, d.mlp_hidden_size, rows, d.n_layers);
    if d.places > 0 {
        s.push((PLACE_TENSOR.to_string(), vec![d.places, d.d_model]));
    }
    s
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut SplitMix64) -> f64 {
    let u1 = rng.next_f64().max(f64::MIN_POSITIVE);
    let u2 = rng.next_f64();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// `x / √(mean(x²) + ε) · w` over the last axis (fused: [`RmsNorm`]).
fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op2(w, RmsNorm { eps: eps as f32 })
}

/// The rotate-half RoPE of `(batch, heads, len, head_dim)` tensors: inverse frequencies in
/// f32 as the inference side computes them.
fn rotary(len: usize, hd: usize, theta: f64) -> Rope {
    let inv: Vec<f32> = (0..hd / 2)
        .map(|j| 1.0 / (theta as f32).powf((2 * j) as f32 / hd as f32))
        .collect();
    let mut cos = Vec::with_capacity(len * hd / 2);
    let mut sin = Vec::with_capacity(len * hd / 2);
    for p in 0..len {
        for &f in &inv {
            let a = p as f32 * f;
            cos.push(a.cos());
            sin.push(a.sin());
        }
    }
    Rope::new(cos, sin, hd / 2)
}
