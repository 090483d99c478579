//! A block's attention, from roped queries, keys and values to the merged-heads input of
//! the output projection.
//!
//! On the CPU in `f32` this is one fused kernel ([`tessera_kernels::attention`]): no score
//! tensor, no transposes, rows and query blocks spread over the cores. Elsewhere (CUDA, and
//! as the definition the fused path is tested against) it is the sequence of tensor ops:
//! `softmax(q·kᵀ·scale + bias)·v`.

use candle_core::{DType, Device, Tensor};
use tessera_hybrid::DenoiseInput;
use tessera_kernels::{AttentionBias, AttentionShape, Strided};

use crate::ForwardError;
use crate::dense::with_f32;
use crate::profile::{matmul_cost, timed, traffic};
use crate::spec::Spec;

/// Attention of `q` `(rows, heads, lq, hd)` over `k`, `v` `(rows, kv_heads, keys, hd)`, all
/// `f32`, with the additive `bias` `(rows|1, 1, 1|queries, keys)` whose queries `only`
/// selects (the last block keeps fewer queries than keys). Returns `(rows, lq, hidden)` in
/// `dtype`. `kernels: false` keeps the tensor ops on the CPU too.
#[allow(clippy::too_many_arguments)]
pub(crate) fn attend(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: Option<&Tensor>,
    only: Option<&Tensor>,
    s: &Spec,
    dtype: DType,
    kernels: bool,
) -> candle_core::Result<Tensor> {
    let (rows, heads, lq, hd) = q.dims4()?;
    let keys = k.dim(2)?;
    let bias = match (bias, only) {
        (Some(b), Some(idx)) if b.dim(2)? > 1 => Some(b.index_select(idx, 2)?),
        (b, _) => b.cloned(),
    };
    let shape = AttentionShape {
        rows,
        heads,
        kv_heads: s.kv_heads,
        queries: lq,
        keys,
        head_dim: hd,
    };
    let flops = matmul_cost(rows * heads * lq, hd, keys).0 * 2.0;
    let moved = rows * heads * lq * (keys + hd) + 2 * rows * s.kv_heads * keys * hd;
    let cost = (flops, traffic(moved, 0).1);
    let label = || format!("{rows}×{heads}×[{lq}×{hd}] over {keys} keys");
    if kernels && matches!(q.device(), Device::Cpu) {
        let out = timed("attention (fused)", label, cost, || {
            fused(q, k, v, bias.as_ref(), shape)
        })?;
        return Tensor::from_vec(out, (rows, lq, heads * hd), &Device::Cpu)?.to_dtype(dtype);
    }
    timed("attention (tensor ops)", label, cost, || {
        unfused(q, k, v, bias.as_ref(), shape)
    })?
    .to_dtype(dtype)
}

/// The fused CPU kernel.
fn fused(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: Option<&Tensor>,
    shape: AttentionShape,
) -> candle_core::Result<Vec<f32>> {
    let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
    let bias = bias.map(Tensor::contiguous).transpose()?;
    let AttentionShape {
        rows,
        heads,
        kv_heads,
        queries,
        keys,
        head_dim,
    } = shape;
    let mut out = vec![0.0f32; rows * queries * heads * head_dim];
    with_f32(&q, |q| {
        with_f32(&k, |k| {
            with_f32(&v, |v| {
                let mut run = |b: Option<AttentionBias<'_>>| {
                    tessera_kernels::attention(
                        Strided::heads_major(q, heads, queries, head_dim),
                        Strided::heads_major(k, kv_heads, keys, head_dim),
                        Strided::heads_major(v, kv_heads, keys, head_dim),
                        shape,
                        (1.0 / (head_dim as f64).sqrt()) as f32,
                        b,
                        &mut out,
                    )
                    .map_err(candle_core::Error::wrap)
                };
                match &bias {
                    None => run(None),
                    Some(b) => {
                        let (per_row, per_query) = (b.dim(0)? > 1, b.dim(2)? > 1);
                        with_f32(b, |values| {
                            run(Some(AttentionBias {
                                values,
                                per_row,
                                per_query,
                            }))
                        })?
                    }
                }
            })?
        })?
    })??;
    Ok(out)
}

/// The additive attention bias of queries `queries` (canvas positions) over keys `0..keys`:
/// `−∞` on padded keys and on keys in a later attention group. A query always sees itself, so
/// a padded query under causal attention still has one key. `(rows|1, 1, 1|queries, keys)`,
/// or `None` when nothing is masked.
pub(crate) fn attention_bias(
    input: &DenoiseInput<'_>,
    rows: usize,
    queries: std::ops::Range<usize>,
    keys: usize,
    dev: &Device,
) -> Result<Option<Tensor>, ForwardError> {
    let len = input.len;
    let bias = |ok: bool| if ok { 0.0 } else { f32::NEG_INFINITY };
    Ok(match (input.groups, input.attention) {
        (None, None) => None,
        // `check_input` made the mask `rows × len` long, and `keys ≤ len`.
        (None, Some(a)) => {
            let v: Vec<f32> = (0..rows)
                .flat_map(|r| a[r * len..r * len + keys].iter().map(|&ok| bias(ok)))
                .collect();
            Some(Tensor::from_vec(v, (rows, 1, 1, keys), dev)?)
        }
        (Some(g), a) => {
            let bias_rows = if a.is_some() { rows } else { 1 };
            let nq = queries.len();
            let mut v = Vec::with_capacity(bias_rows * nq * keys);
            for r in 0..bias_rows {
                for q in queries.clone() {
                    v.extend((0..keys).map(|k| {
                        let real = a.is_none_or(|a| a[r * len + k]);
                        bias(k == q || (real && tessera_hybrid::visible(g, q, k)))
                    }));
                }
            }
            Some(Tensor::from_vec(v, (bias_rows, 1, nq, keys), dev)?)
        }
    })
}

/// The same attention as tensor ops.
fn unfused(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: Option<&Tensor>,
    shape: AttentionShape,
) -> candle_core::Result<Tensor> {
    let AttentionShape {
        rows,
        heads,
        kv_heads,
        queries: lq,
        head_dim: hd,
        ..
    } = shape;
    let rep = heads / kv_heads;
    // Grouped-query attention without copying K/V: query head h uses KV head h / rep, so
    // the `rep` query heads of a group stack into one (rep·lq)-row matrix per KV head.
    let q = q.reshape((rows, kv_heads, rep * lq, hd))?;
    let scale = 1.0 / (hd as f64).sqrt();
    let mut scores = (q.matmul(&k.t()?)? * scale)?;
    if let Some(bias) = bias {
        // GQA stacks the `rep` query heads of a group along the query axis.
        let bias = if rep > 1 && bias.dim(2)? > 1 {
            bias.repeat((1, 1, rep, 1))?
        } else {
            bias.clone()
        };
        scores = scores.broadcast_add(&bias)?;
    }
    candle_nn::ops::softmax_last_dim(&scores)?
        .matmul(v)?
        .reshape((rows, heads, lq, hd))?
        .transpose(1, 2)?
        .reshape((rows, lq, heads * hd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fused_kernel_matches_the_tensor_ops() {
        let dev = Device::Cpu;
        let spec_kv = 2;
        let (rows, heads, lq, keys, hd) = (2, 4, 3, 7, 8);
        let q = Tensor::randn(0f32, 1.0, (rows, heads, lq, hd), &dev).unwrap();
        let k = Tensor::randn(0f32, 1.0, (rows, spec_kv, keys, hd), &dev).unwrap();
        let v = Tensor::randn(0f32, 1.0, (rows, spec_kv, keys, hd), &dev).unwrap();
        let mut mask = vec![0f32; rows * keys];
        mask[0] = f32::NEG_INFINITY;
        let bias = Tensor::from_vec(mask, (rows, 1, 1, keys), &dev).unwrap();
        let shape = AttentionShape {
            rows,
            heads,
            kv_heads: spec_kv,
            queries: lq,
            keys,
            head_dim: hd,
        };
        for b in [None, Some(&bias)] {
            let a: Vec<f32> = unfused(&q, &k, &v, b, shape)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let f = fused(&q, &k, &v, b, shape).unwrap();
            for (x, y) in a.iter().zip(&f) {
                assert!((x - y).abs() < 1e-5, "{x} vs {y}");
            }
        }
    }
}
