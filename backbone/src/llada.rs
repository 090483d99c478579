//! LLaDA (LLaDA-8B Base/Instruct, LLaDA-1.5): config with the checkpoint's own (OLMo-style)
//! field names, and its tensor names.
//!
//! Architecture: Llama blocks (RMSNorm, rotate-half RoPE, SwiGLU `ff_out(silu(ff_proj(x)) ·
//! up_proj(x))`) with bidirectional attention; logits have `embedding_size` columns, which
//! may exceed the tokenizer's `vocab_size` (padding rows, or MMaDA's image codes). With left
//! padding, LLaDA keeps positions `0..L` and only masks the padded keys.

use tessera_hybrid::Attention;

use crate::LoadError;
use crate::fields::Fields;
use crate::places::PlaceEmbedding;
use crate::spec::Spec;
use crate::transformer::{Part, TensorNames};

/// LLaDA's `config.json`, as published.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct LladaConfig {
    /// Hidden size.
    pub d_model: usize,
    /// Transformer blocks.
    pub n_layers: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// Key/value heads (defaults to `n_heads`).
    pub n_kv_heads: usize,
    /// SwiGLU hidden size.
    pub mlp_hidden_size: usize,
    /// Tokenizer vocabulary.
    pub vocab_size: usize,
    /// Rows of the embedding and the LM head (≥ `vocab_size`).
    pub embedding_size: usize,
    /// Longest supported sequence.
    pub max_sequence_length: usize,
    /// RoPE base.
    pub rope_theta: f64,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Whether q/k/v projections carry a bias.
    pub include_qkv_bias: bool,
    /// Whether the LM head reuses the embedding.
    pub weight_tying: bool,
    /// The mask token id.
    pub mask_token_id: u32,
    /// End of sequence.
    pub eos_token_id: Option<u32>,
    /// Padding.
    pub pad_token_id: Option<u32>,
    /// Beginning of sequence.
    pub bos_token_id: Option<u32>,
    /// The attention structure the model was trained with. A Tessera extension (`"attention":
    /// "full" | "causal" | "block-causal"`); the published LLaDA configs omit it: full.
    pub attention: Attention,
    /// The digit-place embedding, a Tessera extension (`"place_embedding": {"places": P,
    /// "digit_ids": [...]}`, see [`crate::places`]); the published LLaDA configs omit it.
    pub place_embedding: Option<PlaceEmbedding>,
}

/// LLaDA's mask id when the config does not say (`<|mdm_mask|>` of LLaDA-8B).
pub const DEFAULT_MASK_ID: u32 = 126_336;

impl LladaConfig {
    pub(crate) fn parse(f: &Fields<'_>) -> Result<Self, LoadError> {
        f.expect_str("block_type", &["llama", "sequential"])?;
        f.expect_str("layer_norm_type", &["rms"])?;
        f.expect_str("activation_type", &["silu", "swiglu"])?;
        f.expect_bool("alibi", false)?;
        f.expect_bool("rope", true)?;
        f.expect_bool("include_bias", false)?;
        f.expect_bool("multi_query_attention", false)?;
        let d_model = f.req_count("d_model")?;
        let n_layers = f.req_count("n_layers")?;
        let n_heads = f.req_count("n_heads")?;
        let n_kv_heads = f.opt_count("n_kv_heads")?.unwrap_or(n_heads);
        let vocab_size = f.req_count("vocab_size")?;
        let embedding_size = f.opt_count("embedding_size")?.unwrap_or(vocab_size);
        // OLMo-style configs may also carry `layer_norm_eps`; the RMSNorm reads
        // `rms_norm_eps`, but a nonsensical value in either is refused.
        f.opt_positive("layer_norm_eps")?;
        let cfg = LladaConfig {
            d_model,
            n_layers,
            n_heads,
            n_kv_heads,
            mlp_hidden_size: f.req_count("mlp_hidden_size")?,
            vocab_size,
            embedding_size,
            max_sequence_length: f.opt_count("max_sequence_length")?.unwrap_or(4096),
            rope_theta: f.opt_positive("rope_theta")?.unwrap_or(10_000.0),
            rms_norm_eps: f.opt_positive("rms_norm_eps")?.unwrap_or(1e-5),
            include_qkv_bias: f.opt_bool("include_qkv_bias")?.unwrap_or(false),
            weight_tying: f.opt_bool("weight_tying")?.unwrap_or(false),
            mask_token_id: f.opt_u32("mask_token_id")?.unwrap_or(DEFAULT_MASK_ID),
            eos_token_id: f.opt_u32("eos_token_id")?,
            pad_token_id: f.opt_u32("pad_token_id")?,
            bos_token_id: f.opt_u32("bos_token_id")?,
            attention: match f.opt_str("attention")? {
                None => Attention::Full,
                Some(a) => Attention::parse(a).map_err(|_| {
                    f.err(
                        "attention",
                        &format!("unknown attention `{a}` (full, causal, block-causal)"),
                    )
                })?,
            },
            place_embedding: parse_places(f)?,
        };
        crate::spec::check_dims(
            f,
            &cfg.spec(),
            ["d_model", "n_heads", "n_kv_heads", "n_layers"],
        )?;
        if embedding_size < vocab_size {
            return Err(f.err(
                "embedding_size",
                &format!("{embedding_size} is smaller than vocab_size {vocab_size}"),
            ));
        }
        for (field, id) in [
            ("mask_token_id", Some(cfg.mask_token_id)),
            ("eos_token_id", cfg.eos_token_id),
            ("pad_token_id", cfg.pad_token_id),
            ("bos_token_id", cfg.bos_token_id),
        ] {
            if id.is_some_and(|id| id as usize >= embedding_size) {
                return Err(f.err(
                    field,
                    &format!("is outside the embedding ({embedding_size} rows)"),
                ));
            }
        }
        if let Some(pe) = &cfg.place_embedding {
            pe.check_ids(embedding_size, cfg.mask_token_id)
                .map_err(|why| f.err("place_embedding", &why))?;
        }
        Ok(cfg)
    }

    pub(crate) fn spec(&self) -> Spec {
        Spec {
            hidden: self.d_model,
            layers: self.n_layers,
            heads: self.n_heads,
            kv_heads: self.n_kv_heads,
            intermediate: self.mlp_hidden_size,
            embed_rows: self.embedding_size,
            rope_theta: self.rope_theta,
            norm_eps: self.rms_norm_eps,
            qkv_bias: self.include_qkv_bias,
            tied_head: self.weight_tying,
            shift_logits: false,
            positions_skip_padding: false,
            attention: self.attention,
            places: self
                .place_embedding
                .clone()
                .map(|pe| (pe, self.mask_token_id)),
        }
    }
}

/// `"place_embedding": {"places": P, "digit_ids": [...]}`, absent or null: none.
fn parse_places(f: &Fields<'_>) -> Result<Option<PlaceEmbedding>, LoadError> {
    let field = "place_embedding";
    let Some(v) = f.obj.get(field).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let bad = |why: &str| f.err(field, why);
    let obj = v
        .as_object()
        .ok_or_else(|| bad("expected an object {\"places\": P, \"digit_ids\": [...]}"))?;
    if let Some(k) = obj
        .keys()
        .find(|k| !["places", "digit_ids"].contains(&k.as_str()))
    {
        return Err(bad(&format!("unknown key `{k}` (places, digit_ids)")));
    }
    let places = obj
        .get("places")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| bad("`places` must be a non-negative integer"))?;
    let digits = obj
        .get("digit_ids")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| bad("`digit_ids` must be an array of token ids"))?
        .iter()
        .map(|d| {
            d.as_u64()
                .and_then(|d| u32::try_from(d).ok())
                .ok_or_else(|| bad(&format!("`{d}` in digit_ids is not a token id")))
        })
        .collect::<Result<Vec<u32>, _>>()?;
    PlaceEmbedding::new(usize::try_from(places).unwrap_or(usize::MAX), digits)
        .map(Some)
        .map_err(|why| bad(&why))
}

/// LLaDA's tensor names (`model.transformer.*`).
#[derive(Debug, Clone, Copy)]
pub struct LladaNames;

impl TensorNames for LladaNames {
    fn embedding(&self) -> String {
        "model.transformer.wte.weight".into()
    }
    fn final_norm(&self) -> String {
        "model.transformer.ln_f.weight".into()
    }
    fn head(&self) -> String {
        "model.transformer.ff_out.weight".into()
    }
    fn layer(&self, i: usize, part: Part) -> String {
        let leaf = match part {
            Part::Q => "q_proj.weight",
            Part::K => "k_proj.weight",
            Part::V => "v_proj.weight",
            Part::QBias => "q_proj.bias",
            Part::KBias => "k_proj.bias",
            Part::VBias => "v_proj.bias",
            Part::O => "attn_out.weight",
            Part::Gate => "ff_proj.weight",
            Part::Up => "up_proj.weight",
            Part::Down => "ff_out.weight",
            Part::AttnNorm => "attn_norm.weight",
            Part::MlpNorm => "ff_norm.weight",
        };
        format!("model.transformer.blocks.{i}.{leaf}")
    }
}

/// Every weight of a LLaDA-format model without biases and with an untied head — its name and
/// shape, in a fixed order: the embedding, the final norm, the head, then each block. What the
/// random-model writer and the trainer write.
pub fn weight_shapes(
    d_model: usize,
    mlp_hidden_size: usize,
    rows: usize,
    n_layers: usize,
) -> Vec<(String, Vec<usize>)> {
    let names = LladaNames;
    let (d, m) = (d_model, mlp_hidden_size);
    let mut out = vec![
        (names.embedding(), vec![rows, d]),
        (names.final_norm(), vec![d]),
        (names.head(), vec![rows, d]),
    ];
    for i in 0..n_layers {
        for (part, shape) in [
            (Part::Q, vec![d, d]),
            (Part::K, vec![d, d]),
            (Part::V, vec![d, d]),
            (Part::O, vec![d, d]),
            (Part::Gate, vec![m, d]),
            (Part::Up, vec![m, d]),
            (Part::Down, vec![d, m]),
            (Part::AttnNorm, vec![d]),
            (Part::MlpNorm, vec![d]),
        ] {
            out.push((names.layer(i, part), shape));
        }
    }
    out
}
