//! Seeded random weights for MAGVIT-v2 models of any configuration (benchmarks, tests).
//!
//! Each tensor gets its own stream, seeded from the model seed and the tensor's name, so a
//! weight does not depend on the order in which layers are built. Convolution weights and
//! biases follow PyTorch's default `Conv2d` initialisation (uniform in ±1/√fan_in);
//! GroupNorm scales are 1 and shifts 0.

use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::Init;
use candle_nn::var_builder::SimpleBackend;

use crate::rng::{SplitMix64, fnv1a};

pub(crate) struct RandomWeights {
    pub(crate) seed: u64,
}

impl SimpleBackend for RandomWeights {
    fn get(&self, s: Shape, name: &str, h: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let dims = s.dims();
        let n = s.elem_count();
        let mut rng = SplitMix64::new(self.seed ^ fnv1a(name));
        let mut uniform = |bound: f64| -> Vec<f32> {
            (0..n)
                .map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32)
                .collect()
        };
        let data = match h {
            Init::Const(v) => vec![v as f32; n],
            Init::Uniform { lo, up } => {
                let mid = (lo + up) / 2.0;
                uniform((up - lo) / 2.0)
                    .into_iter()
                    .map(|x| x + mid as f32)
                    .collect()
            }
            // Conv weights: PyTorch's kaiming_uniform(a = √5) gives ±1/√fan_in.
            Init::Kaiming { .. } | Init::Randn { .. } => {
                let fan_in: usize = dims.iter().skip(1).product::<usize>().max(1);
                uniform(1.0 / (fan_in as f64).sqrt())
            }
        };
        Tensor::from_vec(data, dims, dev)?.to_dtype(dtype)
    }

    fn get_unchecked(&self, name: &str, _dtype: DType, _dev: &Device) -> Result<Tensor> {
        candle_core::bail!("random weights need a shape for {name}")
    }

    fn contains_tensor(&self, _name: &str) -> bool {
        true
    }
}
