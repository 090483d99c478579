//! Dream (Dream-v0-Base/Instruct-7B): Qwen2 config fields and tensor names.
//!
//! Architecture: Qwen2 blocks (q/k/v bias, grouped-query attention) with bidirectional
//! attention. Dream's logits are *shifted*: the output at position `i−1` predicts token `i`
//! (position 0 keeps its own); the model does that shift itself, so callers ask for the
//! positions they want predicted. With left padding, positions count real tokens only
//! (`cumsum(mask) − 1`), as Dream's `diffusion_generate` does.

use crate::LoadError;
use crate::fields::Fields;
use crate::spec::Spec;
use crate::transformer::{Part, TensorNames};

/// Dream's `config.json`, as published.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct DreamConfig {
    /// Hidden size.
    pub hidden_size: usize,
    /// Transformer blocks.
    pub num_hidden_layers: usize,
    /// Attention heads.
    pub num_attention_heads: usize,
    /// Key/value heads.
    pub num_key_value_heads: usize,
    /// SwiGLU hidden size.
    pub intermediate_size: usize,
    /// Vocabulary (rows of the embedding and the LM head).
    pub vocab_size: usize,
    /// Longest supported sequence.
    pub max_position_embeddings: usize,
    /// RoPE base.
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Whether the LM head reuses the embedding.
    pub tie_word_embeddings: bool,
    /// The mask token id.
    pub mask_token_id: u32,
    /// End of sequence.
    pub eos_token_id: Option<u32>,
    /// Padding.
    pub pad_token_id: Option<u32>,
    /// Beginning of sequence.
    pub bos_token_id: Option<u32>,
}

/// Dream's mask id when the config does not say (`<|mask|>` of Dream-v0-7B).
pub const DEFAULT_MASK_ID: u32 = 151_666;

impl DreamConfig {
    pub(crate) fn parse(f: &Fields<'_>) -> Result<Self, LoadError> {
        f.expect_str("hidden_act", &["silu"])?;
        f.expect_bool("use_sliding_window", false)?;
        let heads = f.req_count("num_attention_heads")?;
        f.opt_positive("layer_norm_eps")?;
        let cfg = DreamConfig {
            hidden_size: f.req_count("hidden_size")?,
            num_hidden_layers: f.req_count("num_hidden_layers")?,
            num_attention_heads: heads,
            num_key_value_heads: f.opt_count("num_key_value_heads")?.unwrap_or(heads),
            intermediate_size: f.req_count("intermediate_size")?,
            vocab_size: f.req_count("vocab_size")?,
            max_position_embeddings: f.opt_count("max_position_embeddings")?.unwrap_or(32_768),
            rope_theta: f.opt_positive("rope_theta")?.unwrap_or(10_000.0),
            rms_norm_eps: f.opt_positive("rms_norm_eps")?.unwrap_or(1e-6),
            tie_word_embeddings: f.opt_bool("tie_word_embeddings")?.unwrap_or(false),
            mask_token_id: f.opt_u32("mask_token_id")?.unwrap_or(DEFAULT_MASK_ID),
            eos_token_id: f.opt_u32("eos_token_id")?,
            pad_token_id: f.opt_u32("pad_token_id")?,
            bos_token_id: f.opt_u32("bos_token_id")?,
        };
        if f.obj.get("rope_scaling").is_some_and(|v| !v.is_null()) {
            return Err(f.err("rope_scaling", "RoPE scaling is not supported"));
        }
        crate::spec::check_dims(
            f,
            &cfg.spec(),
            [
                "hidden_size",
                "num_attention_heads",
                "num_key_value_heads",
                "num_hidden_layers",
            ],
        )?;
        for (field, id) in [
            ("mask_token_id", Some(cfg.mask_token_id)),
            ("eos_token_id", cfg.eos_token_id),
            ("pad_token_id", cfg.pad_token_id),
            ("bos_token_id", cfg.bos_token_id),
        ] {
            if id.is_some_and(|id| id as usize >= cfg.vocab_size) {
                return Err(f.err(
                    field,
                    &format!("is outside the vocabulary ({})", cfg.vocab_size),
                ));
            }
        }
        Ok(cfg)
    }

    pub(crate) fn spec(&self) -> Spec {
        Spec {
            hidden: self.hidden_size,
            layers: self.num_hidden_layers,
            heads: self.num_attention_heads,
            kv_heads: self.num_key_value_heads,
            intermediate: self.intermediate_size,
            embed_rows: self.vocab_size,
            rope_theta: self.rope_theta,
            norm_eps: self.rms_norm_eps,
            qkv_bias: true,
            tied_head: self.tie_word_embeddings,
            shift_logits: true,
            positions_skip_padding: true,
            attention: tessera_hybrid::Attention::Full,
            places: None,
        }
    }
}

/// Qwen2 tensor names (`model.layers.*`, `lm_head`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct DreamNames;

impl TensorNames for DreamNames {
    fn embedding(&self) -> String {
        "model.embed_tokens.weight".into()
    }
    fn final_norm(&self) -> String {
        "model.norm.weight".into()
    }
    fn head(&self) -> String {
        "lm_head.weight".into()
    }
    fn layer(&self, i: usize, part: Part) -> String {
        let leaf = match part {
            Part::Q => "self_attn.q_proj.weight",
            Part::K => "self_attn.k_proj.weight",
            Part::V => "self_attn.v_proj.weight",
            Part::QBias => "self_attn.q_proj.bias",
            Part::KBias => "self_attn.k_proj.bias",
            Part::VBias => "self_attn.v_proj.bias",
            Part::O => "self_attn.o_proj.weight",
            Part::Gate => "mlp.gate_proj.weight",
            Part::Up => "mlp.up_proj.weight",
            Part::Down => "mlp.down_proj.weight",
            Part::AttnNorm => "input_layernorm.weight",
            Part::MlpNorm => "post_attention_layernorm.weight",
        };
        format!("model.layers.{i}.{leaf}")
    }
}
