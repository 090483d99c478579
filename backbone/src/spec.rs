//! A family's transformer dimensions ([`Spec`]) and the checks that make them usable: heads
//! that divide the hidden size, an even head dimension for RoPE, key/value heads that divide
//! the heads. Each family parser fills a `Spec` from its own field names, and the shared
//! transformer is built from it.

use crate::LoadError;
use crate::fields::Fields;

/// Dimensions and behaviour of a family's transformer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spec {
    pub(crate) hidden: usize,
    pub(crate) layers: usize,
    pub(crate) heads: usize,
    pub(crate) kv_heads: usize,
    pub(crate) intermediate: usize,
    /// Rows of the embedding / LM head (= logits width).
    pub(crate) embed_rows: usize,
    pub(crate) rope_theta: f64,
    pub(crate) norm_eps: f64,
    pub(crate) qkv_bias: bool,
    pub(crate) tied_head: bool,
    /// Position `i−1`'s output predicts token `i` (Dream).
    pub(crate) shift_logits: bool,
    /// With left padding, RoPE positions count real tokens only (Dream).
    pub(crate) positions_skip_padding: bool,
    /// The attention structure the model was trained with.
    pub(crate) attention: tessera_hybrid::Attention,
    /// The digit-place embedding and the mask id its runs count (LLaDA extension).
    pub(crate) places: Option<(crate::places::PlaceEmbedding, u32)>,
}

impl Spec {
    pub(crate) fn head_dim(&self) -> usize {
        self.hidden / self.heads
    }

    /// Parameter count implied by the dimensions (saturating: the dimensions come from a
    /// config file, and absurd ones are refused only once the tensors are compared).
    pub(crate) fn parameters(&self) -> u64 {
        let n = |x: usize| x as u64;
        let sum = |xs: &[u64]| xs.iter().fold(0u64, |a, &x| a.saturating_add(x));
        let (d, hd) = (n(self.hidden), n(self.head_dim()));
        let kv = n(self.kv_heads).saturating_mul(hd);
        let bias = if self.qkv_bias {
            sum(&[d, kv.saturating_mul(2)])
        } else {
            0
        };
        let attn = sum(&[
            d.saturating_mul(d).saturating_mul(2),
            d.saturating_mul(kv).saturating_mul(2),
            bias,
        ]);
        let mlp = d.saturating_mul(n(self.intermediate)).saturating_mul(3);
        let per_layer = sum(&[attn, mlp, d.saturating_mul(2)]);
        let embed = n(self.embed_rows).saturating_mul(d);
        let places = self
            .places
            .as_ref()
            .map_or(0, |(pe, _)| n(pe.places).saturating_mul(d));
        sum(&[
            per_layer.saturating_mul(n(self.layers)),
            embed.saturating_mul(if self.tied_head { 1 } else { 2 }),
            d,
            places,
        ])
    }
}

/// Checks divisibility of heads; `names` = the family's spelling of
/// `[hidden, heads, kv_heads, layers]`.
pub(crate) fn check_dims(f: &Fields<'_>, s: &Spec, names: [&str; 4]) -> Result<(), LoadError> {
    let [hidden, heads, kv_heads, layers] = names;
    if s.heads == 0 {
        return Err(f.err(heads, "must be at least 1"));
    }
    if s.layers == 0 {
        return Err(f.err(layers, "must be at least 1"));
    }
    if s.hidden == 0 || !s.hidden.is_multiple_of(s.heads) {
        return Err(f.err(
            hidden,
            &format!("{} is not divisible by {heads} = {}", s.hidden, s.heads),
        ));
    }
    if !s.head_dim().is_multiple_of(2) {
        return Err(f.err(heads, "head dimension must be even for RoPE"));
    }
    if s.kv_heads == 0 || !s.heads.is_multiple_of(s.kv_heads) {
        return Err(f.err(
            kv_heads,
            &format!("{} does not divide {heads} = {}", s.kv_heads, s.heads),
        ));
    }
    Ok(())
}
