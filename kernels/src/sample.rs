//! One sampling pass over the logits rows of many masked positions: vocabulary restriction,
//! temperature, top-p and top-k, then the token and its probability, top-1 − top-2 margin and
//! entropy, without materialising a softmax row.
//!
//! The draws are the reference samplers' ([`Draw`]): LLaDA's Gumbel-max in `f64` with the
//! untempered probability as confidence, or Dream's tempered inverse-CDF draw. Each row is
//! read from memory once (max, first argmax and runner-up in one vectorised sweep, block by
//! block); the normaliser is summed from the cache. Filters keep a short candidate list
//! (top-k through a heap of `k` values, top-p through the sorted head of the distribution)
//! instead of a filtered copy of the row.
//!
//! [`Arithmetic::Reference`] sums `f32::exp` in index order, so the token and the
//! probability bits are those of [`crate::row_stats`] and the reference samplers;
//! [`Arithmetic::Fast`] uses [`crate::activation::exp`] and per-lane sums fused into the
//! sweep (probabilities within a few `f32` ulps, tokens equal except at draw boundaries).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::ops::Range;

use rayon::prelude::*;

use crate::KernelError;

#[cfg(all(test, feature = "cuda-shim"))]
mod cuda_shim_tests;
#[cfg(any(feature = "cuda", all(test, feature = "cuda-shim")))]
pub(crate) mod record;
mod simd;
#[cfg(test)]
mod tests;

/// How a row's token is drawn when the temperature is positive (at 0 both take the first
/// argmax and score it by the untempered, filtered softmax).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Draw {
    /// LLaDA: top-p/top-k on the raw logits, then `argmax exp(lᵢ) / (−ln uᵢ)^temperature` in
    /// `f64` with one uniform per allowed id; the probability is the untempered softmax.
    #[default]
    Gumbel,
    /// Dream's `sample_tokens`: logits divided by the temperature (in `f32`), top-p, top-k,
    /// then an inverse-CDF draw with one uniform per row; all outputs describe that
    /// tempered, filtered distribution.
    Categorical,
}

/// Which `exp` and summation order a pass uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Arithmetic {
    /// `f32::exp`, summed in index order: bit for bit what the reference samplers compute.
    #[default]
    Reference,
    /// The vectorised [`crate::activation::exp`] (two ulps), summed per lane inside the one
    /// sweep over the row. Several times faster; a draw whose uniform falls within rounding
    /// of a cumulative boundary may pick the neighbouring token.
    Fast,
}

/// What [`sample_rows`] does to every row. Build with [`SampleSpec::new`] and the `with_`
/// methods.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct SampleSpec {
    /// 0 takes the argmax; above it the [`Draw`] samples. `f64` because LLaDA's Gumbel
    /// exponent is (Dream divides by `temperature as f32`).
    pub temperature: f64,
    /// Keep only logits not below the `k`-th largest (ties kept), after top-p.
    pub top_k: Option<usize>,
    /// Keep the smallest head of the sorted distribution whose mass exceeds `p` (the top
    /// token always stays); `1.0` keeps everything, as in the reference.
    pub top_p: Option<f32>,
    /// Only these ids may be picked (e.g. the text ids or an image codebook); the
    /// distribution is the softmax over this slice of the row. `None`: the whole row.
    pub allowed: Option<Range<usize>>,
    /// How the token is drawn at a positive temperature.
    pub draw: Draw,
    /// Exact reference arithmetic or the fast one.
    pub arithmetic: Arithmetic,
}

impl SampleSpec {
    /// Greedy at `temperature` 0, Gumbel-drawn above it; no filter, no restriction.
    pub fn new(temperature: f64) -> Self {
        SampleSpec {
            temperature,
            ..Self::default()
        }
    }

    /// With top-k filtering.
    pub fn with_top_k(mut self, k: usize) -> Self {
        self.top_k = Some(k);
        self
    }

    /// With top-p (nucleus) filtering.
    pub fn with_top_p(mut self, p: f32) -> Self {
        self.top_p = Some(p);
        self
    }

    /// Restricted to the ids in `ids`.
    pub fn with_allowed(mut self, ids: Range<usize>) -> Self {
        self.allowed = Some(ids);
        self
    }

    /// With the given draw.
    pub fn with_draw(mut self, draw: Draw) -> Self {
        self.draw = draw;
        self
    }

    /// With the given arithmetic.
    pub fn with_arithmetic(mut self, arithmetic: Arithmetic) -> Self {
        self.arithmetic = arithmetic;
        self
    }

    /// How many uniforms [`sample_rows`] needs per row: one per allowed id for a Gumbel
    /// draw, one for a categorical draw, none at temperature 0.
    pub fn noise_per_row(&self, vocab: usize) -> usize {
        match (self.temperature > 0.0, self.draw) {
            (false, _) => 0,
            (true, Draw::Gumbel) => self.allowed.as_ref().map_or(vocab, |r| r.len()),
            (true, Draw::Categorical) => 1,
        }
    }

    fn validate(&self, vocab: usize) -> Result<(), KernelError> {
        let bad = |field: &str, why: String| Err(KernelError::Shape(format!("{field}: {why}")));
        check_vocab(vocab)?;
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return bad(
                "temperature",
                format!("{} is not in [0, ∞)", self.temperature),
            );
        }
        if self.top_k == Some(0) {
            return bad("top_k", "must be at least 1".into());
        }
        if let Some(p) = self.top_p.filter(|p| !(*p > 0.0 && *p <= 1.0)) {
            return bad("top_p", format!("{p} is not in (0, 1]"));
        }
        check_allowed(self.allowed.clone(), vocab)?;
        Ok(())
    }
}

/// `vocab` must be at least 1 (the error names it).
pub(crate) fn check_vocab(vocab: usize) -> Result<(), KernelError> {
    if vocab == 0 {
        return Err(KernelError::Shape("vocab: must be at least 1".into()));
    }
    Ok(())
}

/// `logits` must hold `rows` rows of `vocab` values (the error names it).
pub(crate) fn check_rows(logits_len: usize, vocab: usize, rows: usize) -> Result<(), KernelError> {
    if vocab.checked_mul(rows) != Some(logits_len) {
        return Err(KernelError::Shape(format!(
            "logits: {logits_len} values for {rows} rows of {vocab}"
        )));
    }
    Ok(())
}

/// The ids a row may take (`None`: the whole row), which must be non-empty and inside it
/// (the error names `allowed`).
pub(crate) fn check_allowed(
    allowed: Option<Range<usize>>,
    vocab: usize,
) -> Result<Range<usize>, KernelError> {
    match allowed {
        Some(r) if r.is_empty() || r.end > vocab => Err(KernelError::Shape(format!(
            "allowed: {r:?} is empty or outside 0..{vocab}"
        ))),
        r => Ok(r.unwrap_or(0..vocab)),
    }
}

/// One row's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sampled {
    /// The chosen id, in the full vocabulary (not relative to `allowed`).
    pub token: u32,
    /// Softmax probability of `token` after restriction, temperature (categorical draw)
    /// and filtering: the reference's `low_confidence` / `maskgit_plus` confidence.
    pub prob: f32,
    /// Top-1 minus top-2 probability of the same distribution (0 for a one-id row).
    pub margin: f32,
    /// Entropy (nats) of the same distribution: `−Σ p·ln p`, so Dream's `entropy`
    /// confidence is about `−entropy`.
    pub entropy: f32,
}

/// Samples every row of `logits` (`out.len()` rows of `vocab` values) by `spec` into `out`,
/// rows in parallel on the current rayon pool.
///
/// `noise` holds the uniforms in (0, 1), row after row, [`SampleSpec::noise_per_row`] of
/// them each: the draws a `NoiseSource` fills for a position (`Gumbel` purpose, as long
/// as the allowed slice, or one `Categorical` draw). At temperature 0 it may be empty.
///
/// # Errors
/// [`KernelError::Shape`] naming the field: `vocab` 0, `logits` not `rows × vocab` long,
/// `temperature` negative or not finite, `top_k` 0, `top_p` outside (0, 1], `allowed`
/// empty or past `vocab`, `noise` of the wrong length.
///
/// # Example
/// ```
/// use tessera_kernels::{SampleSpec, Sampled, sample_rows};
/// let logits = [0.0f32, 2.0, 1.0, /* row 2 */ 5.0, 0.0, 5.0];
/// let mut out = [Sampled::default(); 2];
/// sample_rows(&logits, 3, &SampleSpec::new(0.0), &[], &mut out)?;
/// assert_eq!((out[0].token, out[1].token), (1, 0));
/// assert_eq!(out[1].margin, 0.0);
/// # Ok::<(), tessera_kernels::KernelError>(())
/// ```
pub fn sample_rows(
    logits: &[f32],
    vocab: usize,
    spec: &SampleSpec,
    noise: &[f64],
    out: &mut [Sampled],
) -> Result<(), KernelError> {
    validate(logits.len(), vocab, spec, noise, out.len())?;
    let per_row = spec.noise_per_row(vocab);
    let allowed = spec.allowed.clone().unwrap_or(0..vocab);
    out.par_iter_mut()
        .zip(logits.par_chunks_exact(vocab))
        .enumerate()
        .for_each_init(Scratch::default, |scratch, (r, (o, row))| {
            // cannot fail: lengths were checked above.
            let u = &noise[(r * per_row).min(noise.len())..][..per_row];
            *o = sample_row(&row[allowed.clone()], spec, u, scratch);
            o.token += allowed.start as u32;
        });
    Ok(())
}

/// The checks of [`sample_rows`] on `logits_len` values, `rows` rows of `vocab`.
pub(crate) fn validate(
    logits_len: usize,
    vocab: usize,
    spec: &SampleSpec,
    noise: &[f64],
    rows: usize,
) -> Result<(), KernelError> {
    spec.validate(vocab)?;
    check_rows(logits_len, vocab, rows)?;
    let per_row = spec.noise_per_row(vocab);
    if per_row > 0 && per_row.checked_mul(rows) != Some(noise.len()) {
        return Err(KernelError::Shape(format!(
            "noise: {} uniforms for {} rows of {per_row}",
            noise.len(),
            rows
        )));
    }
    Ok(())
}

/// Candidate list and heap reused across the rows a thread samples.
#[derive(Debug, Default)]
struct Scratch {
    cand: Vec<(u32, f32)>,
    heap: BinaryHeap<Reverse<Total>>,
}

/// An `f32` ordered by `total_cmp`, as the reference's sorts order logits.
#[derive(Debug, Clone, Copy)]
struct Total(f32);

impl PartialEq for Total {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Total {}
impl PartialOrd for Total {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Total {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.total_cmp(&o.0)
    }
}

/// One row (already restricted), in the AVX2 build where the CPU has it.
fn sample_row(x: &[f32], spec: &SampleSpec, u: &[f64], s: &mut Scratch) -> Sampled {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        return unsafe { sample_row_avx2(x, spec, u, s) };
    }
    sample_row_plain(x, spec, u, s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn sample_row_avx2(x: &[f32], spec: &SampleSpec, u: &[f64], s: &mut Scratch) -> Sampled {
    sample_row_plain(x, spec, u, s)
}

#[inline(always)]
fn sample_row_plain(x: &[f32], spec: &SampleSpec, u: &[f64], s: &mut Scratch) -> Sampled {
    let fast = spec.arithmetic == Arithmetic::Fast;
    if spec.draw == Draw::Categorical && spec.temperature > 0.0 {
        let t = spec.temperature as f32;
        if fast {
            row_with(
                x,
                move |v| v / t,
                crate::activation::exp,
                Some(t),
                spec,
                u,
                s,
            )
        } else {
            row_with(x, move |v| v / t, f32::exp, None, spec, u, s)
        }
    } else if fast {
        row_with(x, |v| v, crate::activation::exp, Some(1.0), spec, u, s)
    } else {
        row_with(x, |v| v, f32::exp, None, spec, u, s)
    }
}

/// The whole per-row algorithm over the values `sc(xᵢ)` with exponential `exp`; `fast` is
/// `Some(t)` in the fast arithmetic, where `sc(v)` is `v / t`.
#[inline(always)]
fn row_with(
    x: &[f32],
    sc: impl Fn(f32) -> f32 + Copy,
    exp: impl Fn(f32) -> f32 + Copy,
    fast: Option<f32>,
    spec: &SampleSpec,
    u: &[f64],
    s: &mut Scratch,
) -> Sampled {
    let st = match fast {
        Some(t) => simd::sweep(x, t).unwrap_or_else(|| sweep::<true>(x, sc)),
        None => sweep::<false>(x, sc),
    };
    let fast = fast.is_some();
    let (m, argmax) = (st.max, st.argmax);
    let top_p = spec.top_p.filter(|&p| p < 1.0);
    let top_k = spec.top_k.filter(|&k| k < x.len());
    let (sum, tsum, second, filtered) = if top_p.is_none() && top_k.is_none() {
        let (sum, tsum) = if fast {
            (st.sum, st.tsum)
        } else {
            exact_sums(x, sc, exp, m)
        };
        (sum, tsum, st.second, false)
    } else {
        if let Some(p) = top_p {
            let full = if fast {
                st.sum
            } else {
                exact_sums(x, sc, exp, m).0
            };
            top_p_head(x, sc, exp, m, full, p, &mut s.cand);
            if let Some(k) = top_k.filter(|&k| k < s.cand.len()) {
                let kth = s.cand[k - 1].1;
                s.cand.retain(|c| c.1 >= kth);
            }
            s.cand.sort_unstable_by_key(|c| c.0);
        } else if let Some(k) = top_k {
            let kth = kth_largest(x, sc, k, &mut s.heap);
            s.cand.clear();
            s.cand.extend(
                x.iter()
                    .enumerate()
                    .filter(|(_, v)| sc(**v).partial_cmp(&kth) != Some(Ordering::Less))
                    .map(|(i, v)| (i as u32, sc(*v))),
            );
        }
        let (mut sum, mut tsum) = (0.0f32, 0.0f64);
        let (mut b1, mut b2) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
        for &(_, v) in &s.cand {
            let d = v - m;
            let e = exp(d);
            sum += e;
            if e > 0.0 {
                tsum += f64::from(e) * f64::from(d);
            }
            if v > b1 {
                (b1, b2) = (v, b1);
            } else if v > b2 {
                b2 = v;
            }
        }
        (sum, tsum, b2, true)
    };
    let cand = filtered.then_some(&s.cand[..]);
    let token = match spec.temperature > 0.0 {
        false => argmax,
        true if spec.draw == Draw::Gumbel => gumbel(x, cand, u, spec.temperature),
        true => categorical(x, sc, exp, cand, m, sum, u.first().copied().unwrap_or(0.5)),
    };
    // The token's value in the scored distribution: `f32::MIN` if a filter removed it.
    let value = match cand {
        None => sc(x[token]),
        Some(c) => c
            .binary_search_by_key(&(token as u32), |c| c.0)
            .map_or(f32::MIN, |i| c[i].1),
    };
    let p1 = exp(0.0) / sum;
    let p2 = if x.len() == 1 {
        p1
    } else {
        exp(second - m) / sum
    };
    let lse = f64::from(sum).ln();
    Sampled {
        token: token as u32,
        prob: exp(value - m) / sum,
        margin: p1 - p2,
        entropy: (lse - tsum / f64::from(sum)) as f32,
    }
}

/// What one sweep over a row learns.
struct Sweep {
    max: f32,
    argmax: usize,
    second: f32,
    /// `Σ exp(v − max)` and `Σ exp(v − max)·(v − max)`: only with `FAST`.
    sum: f32,
    tsum: f64,
}

const LANES: usize = 8;
const BLOCK: usize = 2048;

/// Max, first argmax and runner-up (with multiplicity) of `sc(x)` in one vectorised sweep;
/// with `FAST` also the softmax sums, rescaled block by block as the max grows.
#[inline(always)]
fn sweep<const FAST: bool>(x: &[f32], sc: impl Fn(f32) -> f32 + Copy) -> Sweep {
    let mut best = [f32::NEG_INFINITY; LANES];
    let mut second = [f32::NEG_INFINITY; LANES];
    let (mut max, mut argmax) = (f32::NEG_INFINITY, 0);
    let (mut sum, mut tsum) = (0.0f64, 0.0f64);
    for (b, block) in x.chunks(BLOCK).enumerate() {
        let mut chunks = block.chunks_exact(LANES);
        for c in &mut chunks {
            for l in 0..LANES {
                let v = sc(c[l]);
                let lo = if v < best[l] { v } else { best[l] };
                second[l] = if lo > second[l] { lo } else { second[l] };
                best[l] = if v > best[l] { v } else { best[l] };
            }
        }
        for &v in chunks.remainder() {
            push_top2(&mut best[0], &mut second[0], sc(v));
        }
        let m = best.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v));
        if m > max {
            // The first entry equal to the new max lies in this block.
            let i = block.iter().position(|&v| sc(v) == m).unwrap_or(0);
            if FAST && sum > 0.0 {
                let d = f64::from(max) - f64::from(m);
                let c = d.exp();
                tsum = c * (tsum + d * sum);
                sum *= c;
            }
            (max, argmax) = (m, b * BLOCK + i);
        }
        if FAST && max > f32::NEG_INFINITY {
            let (s, t) = block_sums(block, sc, max);
            sum += s;
            tsum += t;
        }
    }
    Sweep {
        max,
        argmax,
        second: runner_up(&best, &second),
        sum: sum as f32,
        tsum,
    }
}

/// One value into a lane's running max and runner-up (with multiplicity; a NaN is skipped).
#[inline(always)]
fn push_top2(best: &mut f32, second: &mut f32, v: f32) {
    let lo = if v < *best { v } else { *best };
    *second = if lo > *second { lo } else { *second };
    *best = if v > *best { v } else { *best };
}

/// The row's runner-up from every lane's max and runner-up: the second largest of them.
fn runner_up(best: &[f32], second: &[f32]) -> f32 {
    let mut all = [best, second].concat();
    all.sort_unstable_by(|a, b| b.total_cmp(a));
    all[1]
}

/// `Σ exp(v − m)` and `Σ exp(v − m)·(v − m)` over a cache-resident block, per lane.
#[inline(always)]
fn block_sums(block: &[f32], sc: impl Fn(f32) -> f32 + Copy, m: f32) -> (f64, f64) {
    let mut s = [0.0f32; LANES];
    let mut t = [0.0f32; LANES];
    let mut chunks = block.chunks_exact(LANES);
    for c in &mut chunks {
        for l in 0..LANES {
            let d = sc(c[l]) - m;
            let e = crate::activation::exp(d);
            s[l] += e;
            t[l] += if e > 0.0 { e * d } else { 0.0 };
        }
    }
    for &v in chunks.remainder() {
        let d = sc(v) - m;
        let e = crate::activation::exp(d);
        s[0] += e;
        t[0] += if e > 0.0 { e * d } else { 0.0 };
    }
    let f = |a: [f32; LANES]| a.iter().map(|&v| f64::from(v)).sum::<f64>();
    (f(s), f(t))
}

/// `Σ exp(v − m)` in index order in `f32` (the bits of [`crate::row_stats`]) and
/// `Σ exp(v − m)·(v − m)` in `f64`.
#[inline(always)]
fn exact_sums(x: &[f32], sc: impl Fn(f32) -> f32, exp: impl Fn(f32) -> f32, m: f32) -> (f32, f64) {
    let (mut s, mut t) = (0.0f32, 0.0f64);
    for &v in x {
        let d = sc(v) - m;
        let e = exp(d);
        s += e;
        if e > 0.0 {
            t += f64::from(e) * f64::from(d);
        }
    }
    (s, t)
}

/// The `k`-th largest of `sc(x)` in total order (`k < x.len()`), through a heap of `k`.
#[inline(always)]
fn kth_largest(
    x: &[f32],
    sc: impl Fn(f32) -> f32,
    k: usize,
    heap: &mut BinaryHeap<Reverse<Total>>,
) -> f32 {
    heap.clear();
    let mut floor = f32::NEG_INFINITY;
    for &v in x {
        let v = sc(v);
        if heap.len() < k {
            heap.push(Reverse(Total(v)));
            floor = heap.peek().map_or(v, |r| r.0.0);
        } else if v.total_cmp(&floor) == Ordering::Greater {
            if let Some(mut top) = heap.peek_mut() {
                *top = Reverse(Total(v));
            }
            floor = heap.peek().map_or(v, |r| r.0.0);
        }
    }
    floor
}

/// Leaves in `cand` the top-p head of `sc(x)`, largest first (ties by index): the shortest
/// prefix whose cumulative probability (normaliser `sum`) exceeds `p`. Collects the entries
/// within `c` of the max, widening `c` until the head fits.
#[inline(always)]
fn top_p_head(
    x: &[f32],
    sc: impl Fn(f32) -> f32,
    exp: impl Fn(f32) -> f32,
    m: f32,
    sum: f32,
    p: f32,
    cand: &mut Vec<(u32, f32)>,
) {
    let mut width = 8.0f32;
    loop {
        let floor = if width > 1e3 {
            f32::NEG_INFINITY
        } else {
            m - width
        };
        cand.clear();
        cand.extend(
            x.iter()
                .enumerate()
                .map(|(i, &v)| (i as u32, sc(v)))
                .filter(|c| c.1 >= floor),
        );
        cand.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut cum = 0.0f64;
        for r in 0..cand.len() {
            cum += f64::from(exp(cand[r].1 - m) / sum);
            if (cum as f32) > p {
                cand.truncate(r + 1);
                return;
            }
        }
        if floor == f32::NEG_INFINITY || cand.len() == x.len() {
            return;
        }
        width *= 4.0;
    }
}

/// LLaDA's Gumbel-max over the row, filtered entries (absent from `cand`) as `f32::MIN`.
#[inline(always)]
fn gumbel(x: &[f32], cand: Option<&[(u32, f32)]>, u: &[f64], temperature: f64) -> usize {
    let (mut best, mut arg, mut next) = (f64::NEG_INFINITY, 0, 0);
    for (i, (&l, &u)) in x.iter().zip(u).enumerate() {
        let l = match cand {
            None => l,
            Some(c) if c.get(next).is_some_and(|c| c.0 as usize == i) => {
                next += 1;
                l
            }
            Some(_) => f32::MIN,
        };
        let v = f64::from(l).exp() / (-u.ln()).powf(temperature);
        if v > best {
            (best, arg) = (v, i);
        }
    }
    arg
}

/// Dream's inverse-CDF draw over `pᵢ = exp(vᵢ − m) / sum` in index order; the last
/// non-zero entry when rounding leaves the cumulative sum short of `u`.
#[inline(always)]
fn categorical(
    x: &[f32],
    sc: impl Fn(f32) -> f32,
    exp: impl Fn(f32) -> f32,
    cand: Option<&[(u32, f32)]>,
    m: f32,
    sum: f32,
    u: f64,
) -> usize {
    let (mut acc, mut last) = (0.0f64, 0);
    let mut visit = |i: usize, v: f32| {
        let p = exp(v - m) / sum;
        if p > 0.0 {
            last = i;
            acc += f64::from(p);
            return u < acc;
        }
        false
    };
    match cand {
        Some(c) => c
            .iter()
            .find(|c| visit(c.0 as usize, c.1))
            .map(|c| c.0 as usize),
        None => x
            .iter()
            .enumerate()
            .find(|(i, v)| visit(*i, sc(**v)))
            .map(|(i, _)| i),
    }
    .unwrap_or(last)
}
