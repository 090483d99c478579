//! The taming-transformers building blocks MAGVIT-v2 is made of: residual blocks,
//! single-head spatial self-attention, and the strided / nearest-neighbour resamplers.
//!
//! Architecture from the public reference (Gen-Verse/MMaDA `models/common_modules.py`,
//! itself modified from CompVis/taming-transformers); this is an independent candle
//! implementation. On the CPU, convolutions and GroupNorm(+swish) run through the kernels
//! of [`super::cpu_ops`]; elsewhere through candle's own ops.

use candle_core::{D, Module, Result, Tensor};
use candle_nn::{Conv2dConfig, VarBuilder};

use tessera_kernels::{ConvGeometry, PackedConv};

use super::config::{NORM_EPS, NORM_GROUPS};
use super::cpu_ops::{GroupNormSwish, PackedConvOp};

/// GroupNorm(32 groups, eps 1e-6) with affine; [`Norm::forward_swish`] fuses the swish
/// (`x·σ(x)`, the reference's `nonlinearity`) that always follows it except in attention.
#[derive(Debug, Clone)]
pub(crate) struct Norm {
    weight: Tensor,
    bias: Tensor,
    generic: candle_nn::GroupNorm,
}

impl Norm {
    pub(crate) fn new(channels: usize, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get_with_hints(channels, "weight", candle_nn::Init::Const(1.0))?;
        let bias = vb.get_with_hints(channels, "bias", candle_nn::Init::Const(0.0))?;
        let generic = candle_nn::GroupNorm::new(
            weight.clone(),
            bias.clone(),
            channels,
            NORM_GROUPS,
            NORM_EPS,
        )?;
        Ok(Norm {
            weight,
            bias,
            generic,
        })
    }

    fn run(&self, x: &Tensor, swish: bool) -> Result<Tensor> {
        if x.device().is_cpu() {
            let op = GroupNormSwish {
                groups: NORM_GROUPS,
                eps: NORM_EPS,
                swish,
            };
            x.contiguous()?
                .apply_op3_no_bwd(&self.weight, &self.bias, &op)
        } else {
            let y = self.generic.forward(x)?;
            if swish { y.silu() } else { Ok(y) }
        }
    }

    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, false)
    }

    pub(crate) fn forward_swish(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, true)
    }
}

/// A square-kernel convolution with bias, optional asymmetric zero padding and an optional
/// nearest-neighbour ×`upsample` of its input.
#[derive(Debug, Clone)]
pub(crate) struct Conv {
    kernel: ConvKernel,
    geometry: ConvGeometry,
}

/// Input channels from which a 3×3 stride-1 convolution runs by Winograd (below, the
/// transforms cost more than the multiplies they save).
const WINOGRAD_MIN_CHANNELS: usize = 16;

/// How the convolution runs; only one copy of the weights is kept.
#[derive(Debug, Clone)]
enum ConvKernel {
    /// CPU: the weight packed once for `tessera_kernels::conv2d`, and the bias.
    Packed(std::sync::Arc<PackedConv>, Vec<f32>),
    /// Other devices: candle's convolution.
    Candle(candle_nn::Conv2d),
}

impl Conv {
    fn new(
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: [usize; 4],
        upsample: usize,
        vb: VarBuilder,
    ) -> Result<Self> {
        let cpu = vb.device().is_cpu();
        Self::with_kernel(cin, cout, k, stride, pad, upsample, vb, cpu)
    }

    #[allow(clippy::too_many_arguments)]
    fn with_kernel(
        cin: usize,
        cout: usize,
        k: usize,
        stride: usize,
        pad: [usize; 4],
        upsample: usize,
        vb: VarBuilder,
        packed: bool,
    ) -> Result<Self> {
        let cfg = Conv2dConfig {
            stride,
            ..Default::default()
        };
        let conv = candle_nn::conv2d(cin, cout, k, cfg, vb)?;
        let kernel = if packed {
            let bias = match conv.bias() {
                Some(b) => b.to_vec1::<f32>()?,
                None => candle_core::bail!("convolution without bias"),
            };
            let weight = conv.weight().flatten_all()?.to_vec1::<f32>()?;
            // 3×3 at stride 1 over enough channels: Winograd's F(2×2, 3×3), 1.5–1.9× the
            // direct implicit GEMM at this model's shapes (`conv_bench`).
            let packed = if k == 3 && stride == 1 && cin >= WINOGRAD_MIN_CHANNELS {
                PackedConv::winograd_3x3(&weight, cout, cin)
            } else {
                PackedConv::from_oihw(&weight, cout, cin, k, k)
            }
            .map_err(candle_core::Error::wrap)?;
            ConvKernel::Packed(std::sync::Arc::new(packed), bias)
        } else {
            ConvKernel::Candle(conv)
        };
        Ok(Conv {
            kernel,
            geometry: ConvGeometry {
                stride,
                pad,
                upsample,
            },
        })
    }

    /// `k × k`, stride 1, "same" padding.
    pub(crate) fn same(cin: usize, cout: usize, k: usize, vb: VarBuilder) -> Result<Self> {
        let p = k / 2;
        Self::new(cin, cout, k, 1, [p; 4], 1, vb)
    }

    fn forward_candle(&self, conv: &candle_nn::Conv2d, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        let up = self.geometry.upsample;
        if up > 1 {
            let (_, _, h, w) = x.dims4()?;
            x = x.upsample_nearest2d(h * up, w * up)?;
        }
        let [t, l, b, r] = self.geometry.pad;
        x = x
            .pad_with_zeros(D::Minus2, t, b)?
            .pad_with_zeros(D::Minus1, l, r)?;
        conv.forward(&x)
    }
}

impl Module for Conv {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match &self.kernel {
            ConvKernel::Packed(conv, bias) => x.contiguous()?.apply_op1_no_bwd(&PackedConvOp {
                conv: conv.clone(),
                bias: bias.clone(),
                geometry: self.geometry,
            }),
            ConvKernel::Candle(conv) => self.forward_candle(conv, x),
        }
    }
}

/// `x + conv2(swish(norm2(conv1(swish(norm1(x))))))`, with a 1×1 `nin_shortcut` on `x`
/// when the channel count changes. No timestep embedding (the reference passes `temb=None`).
#[derive(Debug, Clone)]
pub(crate) struct ResnetBlock {
    norm1: Norm,
    conv1: Conv,
    norm2: Norm,
    conv2: Conv,
    nin_shortcut: Option<Conv>,
}

impl ResnetBlock {
    pub(crate) fn new(cin: usize, cout: usize, vb: VarBuilder) -> Result<Self> {
        Ok(ResnetBlock {
            norm1: Norm::new(cin, vb.pp("norm1"))?,
            conv1: Conv::same(cin, cout, 3, vb.pp("conv1"))?,
            norm2: Norm::new(cout, vb.pp("norm2"))?,
            conv2: Conv::same(cout, cout, 3, vb.pp("conv2"))?,
            nin_shortcut: if cin == cout {
                None
            } else {
                Some(Conv::same(cin, cout, 1, vb.pp("nin_shortcut"))?)
            },
        })
    }
}

impl Module for ResnetBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward(&self.norm1.forward_swish(x)?)?;
        let h = self.conv2.forward(&self.norm2.forward_swish(&h)?)?;
        match &self.nin_shortcut {
            Some(conv) => conv.forward(x)? + h,
            None => x + h,
        }
    }
}

/// Single-head self-attention over all positions of a feature map, with 1×1 convolutions
/// as the q/k/v/output projections and a residual connection.
#[derive(Debug, Clone)]
pub(crate) struct AttnBlock {
    norm: Norm,
    q: Conv,
    k: Conv,
    v: Conv,
    proj_out: Conv,
}

impl AttnBlock {
    pub(crate) fn new(channels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(AttnBlock {
            norm: Norm::new(channels, vb.pp("norm"))?,
            q: Conv::same(channels, channels, 1, vb.pp("q"))?,
            k: Conv::same(channels, channels, 1, vb.pp("k"))?,
            v: Conv::same(channels, channels, 1, vb.pp("v"))?,
            proj_out: Conv::same(channels, channels, 1, vb.pp("proj_out"))?,
        })
    }
}

impl Module for AttnBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let n = h * w;
        let hn = self.norm.forward(x)?;
        // (b, n, c) · (b, c, n) -> (b, n, n): scores[i, j] = q_i · k_j / sqrt(c).
        let q = self
            .q
            .forward(&hn)?
            .reshape((b, c, n))?
            .transpose(1, 2)?
            .contiguous()?;
        let k = self.k.forward(&hn)?.reshape((b, c, n))?;
        let v = self.v.forward(&hn)?.reshape((b, c, n))?;
        let scores = (q.matmul(&k)? * (c as f64).powf(-0.5))?;
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        // out[:, :, i] = Σ_j v[:, :, j] · weights[i, j]
        let out = v.matmul(&weights.transpose(1, 2)?.contiguous()?)?;
        let out = self.proj_out.forward(&out.reshape((b, c, h, w))?)?;
        x + out
    }
}

/// Zero-pad right and bottom by one (torch pad `(0, 1, 0, 1)`), then a 3×3 convolution
/// with stride 2: halves each side.
#[derive(Debug, Clone)]
pub(crate) struct Downsample {
    conv: Conv,
}

impl Downsample {
    pub(crate) fn new(channels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Downsample {
            conv: Conv::new(channels, channels, 3, 2, [0, 0, 1, 1], 1, vb.pp("conv"))?,
        })
    }
}

impl Module for Downsample {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.conv.forward(x)
    }
}

/// Nearest-neighbour ×2 upsampling, then a 3×3 convolution (fused on the CPU).
#[derive(Debug, Clone)]
pub(crate) struct Upsample {
    conv: Conv,
}

impl Upsample {
    pub(crate) fn new(channels: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Upsample {
            conv: Conv::new(channels, channels, 3, 1, [1; 4], 2, vb.pp("conv"))?,
        })
    }
}

impl Module for Upsample {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.conv.forward(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::magvit::random::RandomWeights;
    use candle_core::{DType, Device};

    fn vb() -> VarBuilder<'static> {
        VarBuilder::from_backend(Box::new(RandomWeights { seed: 3 }), DType::F32, Device::Cpu)
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        assert_eq!(a.dims(), b.dims());
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// The CPU kernels agree with candle's generic ops (the path other devices take) for
    /// every convolution shape the model uses, on odd sizes and a tall picture.
    #[test]
    fn cpu_kernels_match_generic_ops() {
        let x = Tensor::randn(0f32, 1.0, (2, 32, 7, 9), &Device::Cpu).unwrap();
        // (cin, cout, k, stride, pad, upsample) of every kind of convolution in the model.
        let shapes = [
            (32, 64, 3, 1, [1; 4], 1),
            (32, 16, 1, 1, [0; 4], 1),
            (32, 32, 3, 2, [0, 0, 1, 1], 1),
            (32, 32, 3, 1, [1; 4], 2),
        ];
        let pair = |(cin, cout, k, s, pad, up): (usize, usize, usize, usize, [usize; 4], usize)| {
            let name = format!("c{cin}_{cout}_{k}_{s}_{up}");
            let make = |packed| {
                Conv::with_kernel(cin, cout, k, s, pad, up, vb().pp(&name), packed).unwrap()
            };
            (make(true), make(false))
        };
        let convs: Vec<(Conv, Conv)> = shapes.into_iter().map(pair).collect();
        for (fast, generic) in &convs {
            let (a, b) = (fast.forward(&x).unwrap(), generic.forward(&x).unwrap());
            assert!(max_diff(&a, &b) < 1e-4, "{:?}", a.dims());
        }
        // Down: (7+1-3)/2+1 = 3, (9+1-3)/2+1 = 4; up: 14×18.
        assert_eq!(convs[2].0.forward(&x).unwrap().dims(), [2, 32, 3, 4]);
        assert_eq!(convs[3].0.forward(&x).unwrap().dims(), [2, 32, 14, 18]);
        // A tall picture.
        let tall = Tensor::randn(0f32, 1.0, (1, 32, 300, 120), &Device::Cpu).unwrap();
        let (fast, generic) = &convs[0];
        let (a, b) = (
            fast.forward(&tall).unwrap(),
            generic.forward(&tall).unwrap(),
        );
        assert!(max_diff(&a, &b) < 1e-4);

        let norm = Norm::new(64, vb().pp("n")).unwrap();
        let y = (Tensor::randn(0f32, 2.0, (2, 64, 5, 3), &Device::Cpu).unwrap() + 3.0).unwrap();
        for swish in [false, true] {
            let fused = norm.run(&y, swish).unwrap();
            let mut generic = norm.generic.forward(&y).unwrap();
            if swish {
                generic = generic.silu().unwrap();
            }
            assert!(max_diff(&fused, &generic) < 1e-5);
        }
    }
}
