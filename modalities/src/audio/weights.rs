//! A checkpoint's tensors with shape checks that name the tensor.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};

use super::AudioError;
use crate::rng::{SplitMix64, fnv1a};

/// The tensors of one safetensors file, converted to `f32` on the CPU, or a source of
/// seeded random tensors of whatever shape is asked for (to build published-size models for
/// benchmarks without a checkpoint).
#[derive(Debug)]
pub(crate) struct WeightStore {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
    random_seed: Option<u64>,
}

impl WeightStore {
    /// Loads every tensor of the safetensors file at `path`.
    pub(crate) fn load(path: &Path) -> Result<Self, AudioError> {
        if !path.is_file() {
            return Err(AudioError::Weights {
                path: path.to_path_buf(),
                reason: "file not found".into(),
            });
        }
        let bytes = std::fs::read(path).map_err(|e| AudioError::io(path, e))?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|e| {
            AudioError::Weights {
                path: path.to_path_buf(),
                reason: format!("not a readable safetensors file: {e}"),
            }
        })?;
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
            random_seed: None,
        })
    }

    /// A store that answers every request with uniform values in ±1/√fan_in, seeded by
    /// `seed` and the tensor's name. It offers weight-normed kernels in the published
    /// `weight_g`/`weight_v` naming and nothing else unasked.
    pub(crate) fn random(seed: u64) -> Self {
        Self {
            path: PathBuf::from("<random>"),
            tensors: HashMap::new(),
            random_seed: Some(seed),
        }
    }

    pub(crate) fn err(&self, reason: impl Into<String>) -> AudioError {
        AudioError::Weights {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        match self.random_seed {
            Some(_) => name.ends_with(".weight_v"),
            None => self.tensors.contains_key(name),
        }
    }

    /// The tensor `name` as `f32`, checked to have `shape`.
    pub(crate) fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor, AudioError> {
        if let Some(seed) = self.random_seed {
            let numel: usize = shape.iter().product();
            let fan_in = if shape.len() > 1 {
                numel / shape[0].max(1)
            } else {
                numel
            };
            let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
            let mut rng = SplitMix64::new(seed ^ fnv1a(name));
            let data: Vec<f32> = (0..numel)
                .map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32)
                .collect();
            return Ok(Tensor::from_vec(data, shape, &Device::Cpu)?);
        }
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| self.err(format!("missing tensor `{name}`")))?;
        if t.dims() != shape {
            return Err(self.err(format!(
                "tensor `{name}` has shape {:?}, the config implies {shape:?}",
                t.dims()
            )));
        }
        let t = t
            .to_dtype(candle_core::DType::F32)
            .map_err(|e| self.err(format!("tensor `{name}`: {e}")))?;
        if t.flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .any(|x| !x.is_finite())
        {
            return Err(self.err(format!("tensor `{name}` holds non-finite values")));
        }
        Ok(t)
    }
}
