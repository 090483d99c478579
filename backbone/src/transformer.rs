//! The bidirectional transformer both families share: embedding, pre-norm blocks with RoPE
//! attention and a SwiGLU MLP, final norm, LM head. A family contributes its dimensions
//! ([`Spec`], checked by [`crate::spec`]) and its tensor names ([`TensorNames`]); everything
//! else is here once.
//!
//! The forward pass computes logits only for the positions asked for: the last block runs
//! its queries and MLP only at the rows that feed those logits, and the LM head multiplies
//! only those rows (a 126k vocabulary times a whole canvas per step would dominate memory).

use candle_core::{DType, Device, Tensor};

use tessera_hybrid::DenoiseInput;

use crate::dense::Dense;
use crate::error::Stage;
use crate::fused;
use crate::profile::{matmul_cost, timed, traffic};
use crate::spec::Spec;
use crate::weights::{Embedding, Matrices};
use crate::{ForwardError, LoadError};

/// The pieces of one block, for [`TensorNames::layer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// Query projection `[d, d]`.
    Q,
    /// Key projection `[kv, d]`.
    K,
    /// Value projection `[kv, d]`.
    V,
    /// Query bias `[d]`.
    QBias,
    /// Key bias `[kv]`.
    KBias,
    /// Value bias `[kv]`.
    VBias,
    /// Attention output projection `[d, d]`.
    O,
    /// SwiGLU gate `[m, d]`.
    Gate,
    /// SwiGLU up projection `[m, d]`.
    Up,
    /// MLP down projection `[d, m]`.
    Down,
    /// RMSNorm weight before attention `[d]`.
    AttnNorm,
    /// RMSNorm weight before the MLP `[d]`.
    MlpNorm,
}

/// A family's tensor naming (public so that tools writing checkpoints, such as the trainer,
/// use the very names the loader reads).
pub trait TensorNames {
    /// The token embedding `[rows, d]`.
    fn embedding(&self) -> String;
    /// The final RMSNorm weight `[d]`.
    fn final_norm(&self) -> String;
    /// The LM head `[rows, d]`.
    fn head(&self) -> String;
    /// Piece `part` of block `i`.
    fn layer(&self, i: usize, part: Part) -> String;
}

#[derive(Debug)]
struct Block {
    qkv: Qkv,
    o: Dense,
    /// Gate and up stacked (`[2·m, d]`), split by `swiglu`.
    gate_up: Dense,
    down: Dense,
    attn_norm: Tensor,
    mlp_norm: Tensor,
}

/// A block's query, key and value projections.
#[derive(Debug)]
enum Qkv {
    /// q, k and v stacked into one `[d + 2·kv, d]` matrix (one larger GEMM instead of
    /// three), with views of its query and key/value rows for the last block, whose queries
    /// cover fewer rows than its keys.
    Stacked { qkv: Dense, q: Dense, kv: Dense },
    /// Packed for the CPU kernel, which keeps every row busy at either width: queries, and
    /// keys with values.
    Split { q: Dense, kv: Dense },
}

/// A loaded transformer.
#[derive(Debug)]
pub(crate) struct Transformer {
    spec: Spec,
    embed: Embedding,
    /// The digit-place embedding `[places, hidden]` (see [`crate::places`]).
    place: Option<Tensor>,
    blocks: Vec<Block>,
    final_norm: Tensor,
    head: Dense,
    inv_freq: Vec<f32>,
    device: Device,
    dtype: DType,
    /// Whether the CPU kernels run where they apply (see `LoadOptions::candle_only`).
    kernels: bool,
}

impl Transformer {
    pub(crate) fn load(
        m: &Matrices<'_>,
        names: &dyn TensorNames,
        spec: Spec,
    ) -> Result<Self, LoadError> {
        let (d, hd) = (spec.hidden, spec.head_dim());
        let kv = spec.kv_heads * hd;
        let embed = m.embedding(&names.embedding(), spec.embed_rows, d)?;
        let place = spec
            .places
            .as_ref()
            .map(|(pe, _)| m.tensor(crate::places::PLACE_TENSOR, &[pe.places, d]))
            .transpose()?;
        // Not `with_capacity(spec.layers)`: the count comes from the config, and a missing
        // tensor should end an absurd one, not an allocation.
        let mut blocks = Vec::new();
        for i in 0..spec.layers {
            let n = |p| names.layer(i, p);
            let bias = |p, len| -> Result<Option<Tensor>, LoadError> {
                if spec.qkv_bias {
                    Ok(Some(m.tensor(&n(p), &[len])?))
                } else {
                    Ok(None)
                }
            };
            let (qb, kb, vb) = (
                bias(Part::QBias, d)?,
                bias(Part::KBias, kv)?,
                bias(Part::VBias, kv)?,
            );
            let (q_part, k_part, v_part) = ((n(Part::Q), d), (n(Part::K), kv), (n(Part::V), kv));
            let qkv = if m.splits() {
                let kv_bias = match (kb, vb) {
                    (Some(k), Some(v)) => Some(Tensor::cat(&[k, v], 0)?),
                    _ => None,
                };
                Qkv::Split {
                    q: m.layer(&[q_part], d, qb)?,
                    kv: m.layer(&[k_part, v_part], d, kv_bias)?,
                }
            } else {
                // One stacked weight; the query and key/value layers are views of it.
                let w = m.stacked(&[q_part, k_part, v_part], d)?;
                let b = match (qb, kb, vb) {
                    (Some(q), Some(k), Some(v)) => Some(Tensor::cat(&[q, k, v], 0)?),
                    _ => None,
                };
                let part = |start, len| -> Result<Dense, LoadError> {
                    let b = b.as_ref().map(|t| t.narrow(0, start, len)).transpose()?;
                    m.dense(w.narrow(0, start, len)?, b)
                };
                Qkv::Stacked {
                    q: part(0, d)?,
                    kv: part(d, 2 * kv)?,
                    qkv: m.dense(w, b)?,
                }
            };
            let mlp = spec.intermediate;
            blocks.push(Block {
                qkv,
                o: m.layer(&[(n(Part::O), d)], d, None)?,
                gate_up: m.layer(&[(n(Part::Gate), mlp), (n(Part::Up), mlp)], d, None)?,
                down: m.layer(&[(n(Part::Down), d)], mlp, None)?,
                attn_norm: m.tensor(&n(Part::AttnNorm), &[d])?,
                mlp_norm: m.tensor(&n(Part::MlpNorm), &[d])?,
            });
        }
        let final_norm = m.tensor(&names.final_norm(), &[d])?;
        let head = if spec.tied_head {
            embed.tied_head(m)?
        } else {
            m.layer(&[(names.head(), spec.embed_rows)], d, None)?
        };
        // inv_freq_j = 1 / θ^(2j/d), in f32 as the reference implementations compute it.
        let inv_freq = (0..hd / 2)
            .map(|j| 1.0 / (spec.rope_theta as f32).powf((2 * j) as f32 / hd as f32))
            .collect();
        Ok(Transformer {
            spec,
            embed,
            place,
            blocks,
            final_norm,
            head,
            inv_freq,
            device: m.device.clone(),
            dtype: m.dtype,
            kernels: m.kernels,
        })
    }

    pub(crate) fn spec(&self) -> &Spec {
        &self.spec
    }

    pub(crate) fn dtype(&self) -> DType {
        self.dtype
    }

    /// Bytes the loaded weights occupy in memory (a view sharing a stacked weight's storage
    /// is counted once; a head tied to the embedding is counted again only if it holds its
    /// own copy, as a packed one does).
    pub(crate) fn weight_bytes(&self) -> u64 {
        let t = crate::dense::tensor_bytes;
        let blocks: usize = self
            .blocks
            .iter()
            .map(|b| {
                let qkv = match &b.qkv {
                    Qkv::Stacked { qkv, .. } => qkv.bytes(),
                    Qkv::Split { q, kv } => q.bytes() + kv.bytes(),
                };
                qkv + b.o.bytes()
                    + b.gate_up.bytes()
                    + b.down.bytes()
                    + t(&b.attn_norm)
                    + t(&b.mlp_norm)
            })
            .sum();
        let shared_head = self.spec.tied_head
            && matches!(
                self.head,
                Dense::Tensor(_) | Dense::Quantized { .. } | Dense::PackedQuant { .. }
            );
        let head = if shared_head { 0 } else { self.head.bytes() };
        (blocks
            + self.embed.bytes()
            + head
            + t(&self.final_norm)
            + self.place.as_ref().map_or(0, t)) as u64
    }

    /// Logits `[rows][positions][embed_rows]` predicting the tokens at `input.positions`.
    ///
    /// `mode` says which rows are computed: all of them ([`Mode::Full`]), all of them while
    /// keeping every block's keys and values ([`Mode::Capture`]), only `start..end` with the
    /// other rows' keys and values taken from an earlier capture ([`Mode::Span`]), or only
    /// `start..end` over a cached prefix, nothing after it ([`Mode::Extend`]).
    pub(crate) fn forward(
        &self,
        input: &DenoiseInput<'_>,
        mut mode: Mode<'_>,
    ) -> Result<Vec<f32>, ForwardError> {
        let rows = self.check_input(input)?;
        let (tokens, len, attention, positions) =
            (input.tokens, input.len, input.attention, input.positions);
        let s = &self.spec;
        let dev = &self.device;
        // Rows computed in this pass (`first..end`; one row earlier for shifted families,
        // whose logits at `start` come from `start − 1`), and how many keys they see.
        let (first, end, keys) = match &mode {
            Mode::Span { start, end, cache } => {
                if cache.rows != rows
                    || cache.len != len
                    || cache.layers.len() != self.blocks.len()
                    || *start >= *end
                    || *end > len
                {
                    return Err(ForwardError::Input(format!(
                        "span {start}..{end} does not fit a cache of {}×{} ({} layers) for a \
                         {rows}×{len} canvas ({} layers)",
                        cache.rows,
                        cache.len,
                        cache.layers.len(),
                        self.blocks.len()
                    )));
                }
                let first = if s.shift_logits {
                    start.saturating_sub(1)
                } else {
                    *start
                };
                (first, *end, len)
            }
            Mode::Extend {
                start,
                end,
                keep,
                cache,
            } => {
                self.check_extend(input, rows, *start, *end, *keep, cache)?;
                (*start, *end, *end)
            }
            _ => (0, len, len),
        };
        let n = end - first;
        // Which computed rows feed the requested logits.
        let mut sources = Vec::with_capacity(positions.len());
        for &p in positions {
            let src = if s.shift_logits {
                p.saturating_sub(1)
            } else {
                p
            };
            if src < first || src >= end {
                return Err(ForwardError::Input(format!(
                    "position {p} is outside the recomputed span {first}..{end}"
                )));
            }
            sources.push((src - first) as u32);
        }
        let sources = Tensor::from_vec(sources, positions.len(), dev)?;
        // `first ≤ end ≤ len` (checked above per mode) and every row has `len` tokens, so the
        // row slices below are in bounds.
        let ids: Vec<u32> = tokens
            .chunks(len)
            .flat_map(|r| r[first..end].iter().copied())
            .collect();
        let ids = Tensor::from_vec(ids, rows * n, dev)?;
        let embedded = traffic(rows * n * s.hidden, rows * n * s.hidden);
        let rows_of = |a: usize| move || format!("[{a}×{}]", s.hidden);
        let mut h = timed("embedding", rows_of(rows * n), embedded, || {
            self.embed.lookup(&ids)?.to_dtype(self.dtype)
        })?;
        if let (Some((pe, mask)), Some(table)) = (&s.places, &self.place) {
            // Places depend on the whole row (runs end to the right), so they are counted on
            // the full canvas and then cut to the computed rows.
            let all = pe.place_ids_keyed(tokens, len, *mask, input.attention);
            let cut: Vec<u32> = all
                .chunks(len)
                .flat_map(|r| r[first..end].iter().copied())
                .collect();
            let cut = Tensor::from_vec(cut, rows * n, dev)?;
            h = timed("place embedding", rows_of(rows * n), embedded, || {
                h + table.index_select(&cut, 0)?
            })?;
        }
        let mut h = h.reshape((rows, n, s.hidden))?;
        let (cos, sin) = timed("rotary tables", rows_of(rows * len), (0.0, 0.0), || {
            self.rotary(rows, len, attention)
        })?;
        let (cos, sin) = if n == len {
            (cos, sin)
        } else {
            (
                cos.narrow(1, first, n)?.contiguous()?,
                sin.narrow(1, first, n)?.contiguous()?,
            )
        };
        let bias = timed("attention mask", rows_of(rows * n), (0.0, 0.0), || {
            crate::attention::attention_bias(input, rows, first..end, keys, dev)
        })?;
        let last = self.blocks.len().saturating_sub(1);
        let mut appended = Vec::new();
        // Each stage's output summed: a NaN or an infinity anywhere makes the sum non-finite.
        // Read back only when the logits are non-finite, to name the first stage that was.
        let mut probes = Vec::with_capacity(self.blocks.len() + 1);
        let probed = |h: &Tensor| {
            let len = h.elem_count();
            timed(
                "finiteness probe",
                rows_of(len / s.hidden),
                traffic(len, 1),
                || probe(h),
            )
        };
        probes.push(probed(&h)?);
        let eps = s.norm_eps as f32;
        // The norm that reads block `i`'s input: its own, or the final one after the last.
        let norm_of = |i: usize| {
            self.blocks
                .get(i)
                .map_or(&self.final_norm, |b| &b.attn_norm)
        };
        let mut x = timed(
            "rms_norm",
            rows_of(rows * n),
            traffic(rows * n * s.hidden, rows * n * s.hidden),
            || candle_nn::ops::rms_norm(&h, norm_of(0), eps),
        )?;
        for (i, block) in self.blocks.iter().enumerate() {
            let only = (i == last).then_some(&sources);
            let kv = match &mut mode {
                Mode::Full => KvUse::None,
                Mode::Capture(store) => KvUse::Store(store),
                // The span check above made `cache.layers` one entry per block.
                Mode::Span { cache, .. } => KvUse::Splice {
                    cached: &cache.layers[i],
                    first,
                    end,
                },
                Mode::Extend {
                    start, keep, cache, ..
                } => KvUse::Prepend {
                    prefix: cache.layers.get(i).filter(|_| *start > 0),
                    keep: *keep - *start,
                    out: &mut appended,
                },
            };
            let (mid, mlp) = self.block(block, (&h, &x), &cos, &sin, bias.as_ref(), only, kv)?;
            // The block's closing residual add fused with the next block's norm (the final
            // norm after the last block).
            let len = mid.elem_count();
            (h, x) = timed(
                "residual add + rms_norm",
                rows_of(len / s.hidden),
                traffic(2 * len, 2 * len),
                || fused::add_norm(self.kernels, &mid, &mlp, norm_of(i + 1), eps),
            )?;
            probes.push(probed(&h)?);
        }
        let p = positions.len();
        let (m, v) = (rows * p, s.embed_rows);
        let head_shape = move || format!("[{m}×{}]·[{}×{v}]", s.hidden, s.hidden);
        // Straight into host memory (on the CPU no logits tensor is made).
        let data: Vec<f32> = timed("lm head", head_shape, matmul_cost(m, s.hidden, v), || {
            self.head.forward_host(&x.reshape((m, s.hidden))?)
        })?;
        if let Some(at) = data.iter().position(|v| !v.is_finite()) {
            // Before the cache bookkeeping: a failed pass leaves a block cache as it was.
            return Err(non_finite(&data, at, positions, s.embed_rows, &probes)?);
        }
        match &mut mode {
            Mode::Capture(store) => {
                store.rows = rows;
                store.len = len;
            }
            Mode::Extend {
                start, keep, cache, ..
            } if *keep > *start => {
                cache.layers = appended;
                cache.rows = rows;
                cache.len = *keep;
            }
            _ => {}
        }
        Ok(data)
    }

    /// The block cache's preconditions: the cache covers exactly `0..start`, the span and the
    /// kept rows end on attention-group boundaries (so nothing computed depends on rows that
    /// are not), and the family predicts in place.
    fn check_extend(
        &self,
        input: &DenoiseInput<'_>,
        rows: usize,
        start: usize,
        end: usize,
        keep: usize,
        cache: &KvCache,
    ) -> Result<(), ForwardError> {
        let fail = |why: String| Err(ForwardError::Input(why));
        if self.spec.shift_logits {
            return fail("the block cache needs a family that predicts in place".into());
        }
        if self.spec.places.is_some() {
            // A cached row's place can change when a later row is decoded (a run ends there),
            // so reusing its keys and values would not be exact.
            return fail("the block cache is not exact for a model with a place embedding".into());
        }
        if start >= end || end > input.len || keep < start || keep > end {
            return fail(format!(
                "block-cache span {start}..{end} keeping ..{keep} does not fit a canvas of {}",
                input.len
            ));
        }
        let Some(groups) = input.groups else {
            return fail("the block cache needs attention groups (block-causal attention)".into());
        };
        for at in [start, keep, end] {
            if !tessera_hybrid::group_boundary(groups, at) {
                return fail(format!(
                    "position {at} is inside an attention group: the block cache would be inexact"
                ));
            }
        }
        let covered = if start == 0 { 0 } else { cache.len };
        if covered != start
            || (start > 0 && (cache.rows != rows || cache.layers.len() != self.blocks.len()))
        {
            return fail(format!(
                "the block cache covers 0..{} of {} rows; the span starts at {start} for {rows} rows",
                cache.len, cache.rows
            ));
        }
        Ok(())
    }

    fn check_input(&self, input: &DenoiseInput<'_>) -> Result<usize, ForwardError> {
        let (tokens, len, attention, positions) =
            (input.tokens, input.len, input.attention, input.positions);
        if len == 0 || tokens.is_empty() || !tokens.len().is_multiple_of(len) {
            return Err(ForwardError::Input(format!(
                "{} tokens cannot form rows of length {len}",
                tokens.len()
            )));
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.spec.embed_rows) {
            return Err(ForwardError::Input(format!(
                "token id {bad} is outside the embedding ({} rows)",
                self.spec.embed_rows
            )));
        }
        if attention.is_some_and(|a| a.len() != tokens.len()) {
            return Err(ForwardError::Input(
                "attention mask length differs from the tokens".into(),
            ));
        }
        if let Some(g) = input.groups
            && (g.len() != len || g.windows(2).any(|w| w[0] > w[1]))
        {
            return Err(ForwardError::Input(format!(
                "attention groups must be {len} non-decreasing numbers, one per position"
            )));
        }
        if positions.is_empty()
            || positions.windows(2).any(|w| w[0] >= w[1])
            || positions.last().is_some_and(|&p| p >= len)
        {
            return Err(ForwardError::Input(format!(
                "positions must be non-empty, strictly ascending and below {len}"
            )));
        }
        Ok(tokens.len() / len)
    }

    /// RoPE tables `(rows, len, head_dim/2)` in f32.
    fn rotary(
        &self,
        rows: usize,
        len: usize,
        attention: Option<&[bool]>,
    ) -> Result<(Tensor, Tensor), ForwardError> {
        let half = self.inv_freq.len();
        let mut pos = vec![0f32; rows * len];
        // `check_input` made the attention mask exactly `rows × len` long.
        for r in 0..rows {
            let mut count = 0i64;
            for t in 0..len {
                pos[r * len + t] = match attention.filter(|_| self.spec.positions_skip_padding) {
                    // Dream: tok_idx = cumsum(mask) − 1, padded positions set to 1.
                    Some(a) if !a[r * len + t] => 1.0,
                    Some(_) => {
                        count += 1;
                        (count - 1) as f32
                    }
                    None => t as f32,
                };
            }
        }
        let mut cos = Vec::with_capacity(rows * len * half);
        let mut sin = Vec::with_capacity(rows * len * half);
        for &p in &pos {
            for &f in &self.inv_freq {
                let angle = p * f;
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        let dev = &self.device;
        Ok((
            Tensor::from_vec(cos, (rows, len, half), dev)?,
            Tensor::from_vec(sin, (rows, len, half), dev)?,
        ))
    }

    /// One pre-norm block over the `len` computed rows of `h`, given `x`, `h` through the
    /// block's first norm; returns the residual stream after attention and the MLP's output,
    /// whose sum is the block's output (left to the caller, which fuses it with the next
    /// norm). With `only`, queries, the residual and the MLP are computed just at those rows
    /// (keys and values still cover every computed row); `kv` says whether keys/values are
    /// stored or spliced into a cache.
    #[allow(clippy::too_many_arguments)]
    fn block(
        &self,
        b: &Block,
        (h, x): (&Tensor, &Tensor),
        cos: &Tensor,
        sin: &Tensor,
        bias: Option<&Tensor>,
        only: Option<&Tensor>,
        kv_use: KvUse<'_>,
    ) -> Result<(Tensor, Tensor), ForwardError> {
        let s = &self.spec;
        let (rows, len, d) = h.dims3()?;
        let hd = s.head_dim();
        let dims = |a: usize, b: usize| move || format!("[{a}×{b}]");
        let (xq, residual, cos_q, sin_q) = match only {
            Some(idx) => timed("gather rows", dims(rows, idx.dim(0)?), (0.0, 0.0), || {
                Ok::<_, candle_core::Error>((
                    x.index_select(idx, 1)?,
                    h.index_select(idx, 1)?,
                    cos.index_select(idx, 1)?,
                    sin.index_select(idx, 1)?,
                ))
            })?,
            None => (x.clone(), h.clone(), cos.clone(), sin.clone()),
        };
        let lq = xq.dim(1)?;
        let kv_dim = s.kv_heads * hd;
        let (q, kv) = match (&b.qkv, only) {
            (Qkv::Stacked { qkv, .. }, None) => {
                let qkv = linear("matmul qkv", qkv, x)?;
                (
                    qkv.narrow(2, 0, s.hidden)?,
                    qkv.narrow(2, s.hidden, 2 * kv_dim)?,
                )
            }
            (Qkv::Stacked { q, kv, .. } | Qkv::Split { q, kv }, _) => {
                (linear("matmul q", q, &xq)?, linear("matmul kv", kv, x)?)
            }
        };
        let moved = rows * (lq * s.hidden + 2 * len * kv_dim);
        let kernels = self.kernels;
        let (q, k, v) = timed(
            "split heads + rope",
            dims(rows, lq + 2 * len),
            traffic(moved, moved),
            || {
                Ok::<_, candle_core::Error>((
                    fused::heads(kernels, &q, 0, s.heads, hd, Some((&cos_q, &sin_q)))?,
                    fused::heads(kernels, &kv, 0, s.kv_heads, hd, Some((cos, sin)))?,
                    fused::heads(kernels, &kv, kv_dim, s.kv_heads, hd, None)?,
                ))
            },
        )?;
        let (k, v) = match kv_use {
            KvUse::None => (k, v),
            KvUse::Store(store) => {
                store.layers.push((k.clone(), v.clone()));
                (k, v)
            }
            KvUse::Splice { cached, first, end } => (
                splice(&cached.0, &k, first, end)?,
                splice(&cached.1, &v, first, end)?,
            ),
            KvUse::Prepend { prefix, keep, out } => {
                let (k, v) = match prefix {
                    Some((pk, pv)) => (Tensor::cat(&[pk, &k], 2)?, Tensor::cat(&[pv, &v], 2)?),
                    None => (k, v),
                };
                if keep > 0 {
                    let upto = k.dim(2)? - len + keep;
                    out.push((
                        k.narrow(2, 0, upto)?.contiguous()?,
                        v.narrow(2, 0, upto)?.contiguous()?,
                    ));
                }
                (k, v)
            }
        };
        let attn = crate::attention::attend(&q, &k, &v, bias, only, s, self.dtype, self.kernels)?;
        let merged = rows * lq * s.hidden;
        let o = linear("matmul o", &b.o, &attn)?;
        let (h, x) = timed(
            "residual add + rms_norm",
            dims(rows * lq, d),
            traffic(2 * merged, 2 * merged),
            || fused::add_norm(kernels, &residual, &o, &b.mlp_norm, s.norm_eps as f32),
        )?;
        let gate_up = linear("matmul gate_up", &b.gate_up, &x)?;
        let m = s.intermediate;
        let act = timed(
            "swiglu",
            dims(rows * lq, 2 * m),
            traffic(2 * rows * lq * m, rows * lq * m),
            || fused::swiglu(kernels, &gate_up),
        )?;
        let mlp = linear("matmul down", &b.down, &act)?;
        Ok((h, mlp))
    }
}

/// `layer.forward(x)`, timed as `op` when profiling.
fn linear(op: &'static str, layer: &Dense, x: &Tensor) -> candle_core::Result<Tensor> {
    let (n, k) = layer.dims()?;
    let m = x.elem_count() / k.max(1);
    timed(
        op,
        || format!("[{m}×{k}]·[{k}×{n}]"),
        matmul_cost(m, k, n),
        || layer.forward(x),
    )
}

/// Which rows a forward computes (see [`Transformer::forward`]).
#[derive(Debug)]
pub(crate) enum Mode<'a> {
    /// Every row, nothing kept.
    Full,
    /// Every row, keys and values of every block kept in the given cache.
    Capture(&'a mut KvCache),
    /// Only rows `start..end`; the other rows' keys and values come from `cache`.
    Span {
        start: usize,
        end: usize,
        cache: &'a KvCache,
    },
    /// Only rows `start..end`, attending to `cache` (which covers `0..start`) and to
    /// themselves; rows `start..keep` are appended to the cache.
    Extend {
        start: usize,
        end: usize,
        keep: usize,
        cache: &'a mut KvCache,
    },
}

/// Keys and values (after RoPE, `f32`, `(rows, kv_heads, len, head_dim)`) of every block for
/// positions `0..len`: a full forward's capture, or the block cache's finished prefix.
#[derive(Debug, Default)]
pub(crate) struct KvCache {
    layers: Vec<(Tensor, Tensor)>,
    rows: usize,
    len: usize,
}

/// What a block does with its keys and values.
enum KvUse<'a> {
    None,
    Store(&'a mut KvCache),
    Splice {
        cached: &'a (Tensor, Tensor),
        first: usize,
        end: usize,
    },
    /// Keys and values of a cached prefix go first; the first `keep` fresh rows are
    /// appended (with the prefix) to `out`.
    Prepend {
        prefix: Option<&'a (Tensor, Tensor)>,
        keep: usize,
        out: &'a mut Vec<(Tensor, Tensor)>,
    },
}

/// The sum of all of `h`: non-finite exactly when some element is (short of finite values
/// summing past the type's range, which f16's 65504 would allow, so f16 is summed in f32;
/// bf16 shares f32's range). Left on the device; read only on the error path.
fn probe(h: &Tensor) -> candle_core::Result<Tensor> {
    if h.dtype() == DType::F16 {
        h.to_dtype(DType::F32)?.sum_all()
    } else {
        h.sum_all()
    }
}

/// The error for the first non-finite logit `data[at]` of `[rows][positions][vocab]` logits,
/// naming the first stage whose probe (its output's sum) was non-finite: the embedding, a
/// block, or else the final norm and head.
fn non_finite(
    data: &[f32],
    at: usize,
    positions: &[usize],
    vocab: usize,
    probes: &[Tensor],
) -> Result<ForwardError, ForwardError> {
    let mut stage = Stage::Head;
    for (i, probe) in probes.iter().enumerate() {
        if !probe.to_dtype(DType::F32)?.to_scalar::<f32>()?.is_finite() {
            stage = match i.checked_sub(1) {
                None => Stage::Embedding,
                Some(b) => Stage::Block(b),
            };
            break;
        }
    }
    let per_row = positions.len().max(1) * vocab.max(1);
    let index = (at % per_row) / vocab.max(1);
    Ok(ForwardError::NonFinite {
        stage,
        row: at / per_row,
        position: positions.get(index).copied().unwrap_or(index),
        token: at % vocab.max(1),
        value: data.get(at).copied().unwrap_or(f32::NAN),
    })
}

/// `cached` (…, len, d) with rows `first..end` replaced by `fresh`.
fn splice(
    cached: &Tensor,
    fresh: &Tensor,
    first: usize,
    end: usize,
) -> candle_core::Result<Tensor> {
    let len = cached.dim(2)?;
    let mut parts = Vec::with_capacity(3);
    if first > 0 {
        parts.push(cached.narrow(2, 0, first)?);
    }
    parts.push(fresh.clone());
    if end < len {
        parts.push(cached.narrow(2, end, len - end)?);
    }
    Tensor::cat(&parts, 2)
}
