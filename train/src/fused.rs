//! Fused, differentiable CPU ops of the trainable transformer: RMSNorm, rotate-half RoPE,
//! softmax over the last axis and SwiGLU, each one pass forward and one pass backward.
//!
//! Written as compositions of candle's elementwise ops, each of these was 5–8 ops, each
//! allocating and walking its whole tensor again, forward and backward; at tessera-tiny's
//! size that bookkeeping, not the matrix products, was most of a training step. The
//! backward passes are the textbook derivatives (written out on each op); the unit tests
//! check every one against candle's autograd of the composed ops.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Storage, Tensor};

/// The contiguous f32 data of `s` under `l`.
fn data<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("fused ops take f32 tensors")
    };
    match l.contiguous_offsets() {
        // cannot fail: candle's layout offsets lie inside its own storage.
        Some((a, b)) => Ok(&v[a..b]),
        None => candle_core::bail!("fused ops take contiguous tensors"),
    }
}

/// Runs `f` on the contiguous f32 data of `t` (made contiguous first when it is not).
fn with_data<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        candle_core::bail!("fused ops run on the CPU")
    };
    f(data(cpu, layout)?)
}

fn tensor(v: Vec<f32>, shape: &Shape) -> Result<Tensor> {
    Tensor::from_vec(v, shape.clone(), &candle_core::Device::Cpu)
}

/// `x / √(mean(x²) + ε) · w` over the last axis (`x` `[…, d]`, `w` `[d]`).
///
/// With `r = 1/√(mean(x²)+ε)` and `u = g·w`: `dx = r·u − x·r³·(u·x)/d`,
/// `dw = Σ_rows g·x·r`.
#[derive(Debug, Clone, Copy)]
pub struct RmsNorm {
    /// ε.
    pub eps: f32,
}

impl RmsNorm {
    fn scales(x: &[f32], d: usize, eps: f32) -> Vec<f32> {
        x.chunks(d)
            .map(|row| {
                let ms = row.iter().map(|v| v * v).sum::<f32>() / d as f32;
                1.0 / (ms + eps).sqrt()
            })
            .collect()
    }
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "tessera-rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w) = (data(s1, l1)?, data(s2, l2)?);
        let d = w.len();
        if d == 0 || l1.dims().last() != Some(&d) {
            candle_core::bail!("rms-norm: weight of {d} for input {:?}", l1.dims())
        }
        let r = Self::scales(x, d, self.eps);
        let mut out = Vec::with_capacity(x.len());
        for (row, r) in x.chunks(d).zip(&r) {
            out.extend(row.iter().zip(w).map(|(v, w)| v * r * w));
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        xt: &Tensor,
        wt: &Tensor,
        _res: &Tensor,
        gt: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw) = with_data(xt, |x| {
            with_data(wt, |w| {
                with_data(gt, |g| {
                    // cannot fail: the forward refused `d == 0` and inputs whose last axis is
                    // not `d`; `g` has the output's (= input's) shape, so every row is `d` long.
                    let d = w.len();
                    let r = Self::scales(x, d, self.eps);
                    let mut dx = vec![0f32; x.len()];
                    let mut dw = vec![0f32; d];
                    for (((xr, gr), dxr), r) in
                        x.chunks(d).zip(g.chunks(d)).zip(dx.chunks_mut(d)).zip(&r)
                    {
                        let dot: f32 = xr.iter().zip(gr).zip(w).map(|((x, g), w)| g * w * x).sum();
                        let k = r * r * r * dot / d as f32;
                        for i in 0..d {
                            dxr[i] = r * gr[i] * w[i] - xr[i] * k;
                            dw[i] += gr[i] * xr[i] * r;
                        }
                    }
                    Ok((dx, dw))
                })
            })
        })?;
        Ok((Some(tensor(dx, xt.shape())?), Some(tensor(dw, wt.shape())?)))
    }
}

/// Rotate-half RoPE on contiguous `(batch, heads, len, head_dim)` with tables
/// `cos`, `sin` `(len, head_dim/2)`: `(x₁, x₂) ↦ (x₁c − x₂s, x₂c + x₁s)`. Its backward is
/// the same rotation by the opposite angle.
#[derive(Debug, Clone)]
pub struct Rope {
    cos: Arc<Vec<f32>>,
    sin: Arc<Vec<f32>>,
    half: usize,
    inverse: bool,
}

impl Rope {
    /// The rotation with these tables (`len × half` values each).
    pub fn new(cos: Vec<f32>, sin: Vec<f32>, half: usize) -> Self {
        Rope {
            cos: Arc::new(cos),
            sin: Arc::new(sin),
            half,
            inverse: false,
        }
    }

    fn rotate(&self, x: &[f32], dims: &[usize]) -> Result<Vec<f32>> {
        let h = self.half;
        let (len, hd) = match dims {
            [_, _, len, hd] => (*len, *hd),
            _ => candle_core::bail!("rope: expected (batch, heads, len, head_dim), got {dims:?}"),
        };
        if h == 0 || hd != 2 * h || self.cos.len() != len * h {
            candle_core::bail!("rope: tables of {} for {dims:?}", self.cos.len())
        }
        let sign = if self.inverse { -1.0 } else { 1.0 };
        let mut out = vec![0f32; x.len()];
        // cannot fail: `hd = 2h > 0` and the tables hold `len × h` values (checked above).
        for (i, (src, dst)) in x.chunks(hd).zip(out.chunks_mut(hd)).enumerate() {
            let p = i % len;
            let (c, s) = (&self.cos[p * h..][..h], &self.sin[p * h..][..h]);
            for j in 0..h {
                let (a, b, s) = (src[j], src[j + h], sign * s[j]);
                dst[j] = a * c[j] - b * s;
                dst[j + h] = b * c[j] + a * s;
            }
        }
        Ok(out)
    }
}

impl CustomOp1 for Rope {
    fn name(&self) -> &'static str {
        "tessera-rope"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = self.rotate(data(s, l)?, l.dims())?;
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, _res: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let back = Rope {
            inverse: !self.inverse,
            ..self.clone()
        };
        with_data(g, |gd| tensor(back.rotate(gd, g.dims())?, g.shape())).map(Some)
    }
}

/// Softmax over the last axis. Backward: `dx = y·(g − Σ g·y)` per row.
#[derive(Debug, Clone, Copy)]
pub struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "tessera-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = data(s, l)?;
        let d = *l.dims().last().unwrap_or(&0);
        if d == 0 {
            candle_core::bail!("softmax over an empty axis")
        }
        let mut out = vec![0f32; x.len()];
        for (src, dst) in x.chunks(d).zip(out.chunks_mut(d)) {
            let max = src.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for (o, v) in dst.iter_mut().zip(src) {
                *o = (v - max).exp();
                sum += *o;
            }
            for o in dst.iter_mut() {
                *o /= sum;
            }
        }
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        // cannot fail: the forward refused an empty last axis.
        let d = y.dim(candle_core::D::Minus1)?;
        with_data(y, |yd| {
            with_data(g, |gd| {
                let mut dx = vec![0f32; yd.len()];
                for ((yr, gr), dr) in yd.chunks(d).zip(gd.chunks(d)).zip(dx.chunks_mut(d)) {
                    let dot: f32 = yr.iter().zip(gr).map(|(y, g)| y * g).sum();
                    for ((o, y), g) in dr.iter_mut().zip(yr).zip(gr) {
                        *o = y * (g - dot);
                    }
                }
                tensor(dx, y.shape())
            })
        })
        .map(Some)
    }
}

/// SwiGLU's product `silu(a) · b`. With `σ = sigmoid(a)`: `db = g·a·σ`,
/// `da = g·b·σ·(1 + a·(1 − σ))`.
#[derive(Debug, Clone, Copy)]
pub struct SwiGlu;

fn sigmoid(a: f32) -> f32 {
    1.0 / (1.0 + (-a).exp())
}

impl CustomOp2 for SwiGlu {
    fn name(&self) -> &'static str {
        "tessera-swiglu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (a, b) = (data(s1, l1)?, data(s2, l2)?);
        if l1.dims() != l2.dims() {
            candle_core::bail!("swiglu: shapes {:?} and {:?}", l1.dims(), l2.dims())
        }
        let out = a.iter().zip(b).map(|(a, b)| a * sigmoid(*a) * b).collect();
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (da, db) = with_data(a, |ad| {
            with_data(b, |bd| {
                with_data(g, |gd| {
                    let mut da = Vec::with_capacity(ad.len());
                    let mut db = Vec::with_capacity(ad.len());
                    for ((a, b), g) in ad.iter().zip(bd).zip(gd) {
                        let s = sigmoid(*a);
                        db.push(g * a * s);
                        da.push(g * b * s * (1.0 + a * (1.0 - s)));
                    }
                    Ok((da, db))
                })
            })
        })?;
        Ok((Some(tensor(da, a.shape())?), Some(tensor(db, b.shape())?)))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{D, Device, Var};

    use super::*;

    fn random(shape: &[usize], seed: u64) -> Var {
        let mut rng = tessera_modalities::rng::SplitMix64::new(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.next_f64() as f32 * 4.0 - 2.0).collect();
        Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap()).unwrap()
    }

    fn close(a: &Tensor, b: &Tensor, tol: f32) {
        let d = (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(d < tol, "max |Δ| {d}");
    }

    /// Forward values and the gradients of `Σ out · probe` with respect to `vars`, for
    /// the fused op and the composed one.
    fn check(
        vars: &[&Var],
        fused: impl Fn() -> Tensor,
        composed: impl Fn() -> Tensor,
        probe_seed: u64,
    ) {
        let (f, c) = (fused(), composed());
        close(&f, &c, 1e-5);
        let probe = random(f.dims(), probe_seed);
        let gf = (f * probe.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        let gc = (c * probe.as_tensor())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for v in vars {
            close(
                gf.get(v.as_tensor()).unwrap(),
                gc.get(v.as_tensor()).unwrap(),
                1e-4,
            );
        }
    }

    #[test]
    fn rms_norm_matches_the_composed_ops() {
        let (x, w) = (random(&[3, 5, 8], 1), random(&[8], 2));
        check(
            &[&x, &w],
            || {
                x.as_tensor()
                    .apply_op2(w.as_tensor(), RmsNorm { eps: 1e-5 })
                    .unwrap()
            },
            || {
                let x = x.as_tensor();
                let rms = (x.sqr().unwrap().mean_keepdim(D::Minus1).unwrap() + 1e-5)
                    .unwrap()
                    .sqrt()
                    .unwrap();
                x.broadcast_div(&rms)
                    .unwrap()
                    .broadcast_mul(w.as_tensor())
                    .unwrap()
            },
            3,
        );
    }

    #[test]
    fn rope_matches_the_composed_ops() {
        let (len, half) = (5, 3);
        let x = random(&[2, 2, len, 2 * half], 4);
        let angles: Vec<f32> = (0..len * half).map(|i| i as f32 * 0.37).collect();
        let cos: Vec<f32> = angles.iter().map(|a| a.cos()).collect();
        let sin: Vec<f32> = angles.iter().map(|a| a.sin()).collect();
        let table = |v: &Vec<f32>| Tensor::from_vec(v.clone(), (len, half), &Device::Cpu).unwrap();
        let (c, s) = (table(&cos), table(&sin));
        check(
            &[&x],
            || {
                x.as_tensor()
                    .apply_op1(Rope::new(cos.clone(), sin.clone(), half))
                    .unwrap()
            },
            || {
                let x = x.as_tensor();
                let x1 = x.narrow(D::Minus1, 0, half).unwrap();
                let x2 = x.narrow(D::Minus1, half, half).unwrap();
                let a = (x1.broadcast_mul(&c).unwrap() - x2.broadcast_mul(&s).unwrap()).unwrap();
                let b = (x2.broadcast_mul(&c).unwrap() + x1.broadcast_mul(&s).unwrap()).unwrap();
                Tensor::cat(&[a, b], D::Minus1).unwrap()
            },
            5,
        );
    }

    #[test]
    fn softmax_matches_the_composed_ops() {
        let x = random(&[2, 3, 7], 6);
        check(
            &[&x],
            || x.as_tensor().apply_op1(Softmax).unwrap(),
            || {
                let x = x.as_tensor();
                let e = x.exp().unwrap();
                e.broadcast_div(&e.sum_keepdim(D::Minus1).unwrap()).unwrap()
            },
            7,
        );
    }

    #[test]
    fn swiglu_matches_the_composed_ops() {
        let (a, b) = (random(&[4, 6], 8), random(&[4, 6], 9));
        check(
            &[&a, &b],
            || a.as_tensor().apply_op2(b.as_tensor(), SwiGlu).unwrap(),
            || (a.as_tensor().silu().unwrap() * b.as_tensor()).unwrap(),
            10,
        );
    }
}
