//! AdamW (Loshchilov & Hutter 2019, decoupled weight decay) with global-norm gradient
//! clipping, and a state that is saved and restored exactly, so a resumed run continues
//! bit for bit.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::TrainError;

/// AdamW's hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWParams {
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε.
    pub eps: f64,
    /// Decoupled weight decay, applied to matrices only (not to norm weights).
    pub weight_decay: f64,
    /// Global gradient-norm clip (0 = off).
    pub clip: f64,
}

/// AdamW's per-weight moments and step count.
#[derive(Debug)]
pub struct AdamW {
    params: AdamWParams,
    /// Per weight (by name): first and second moments.
    moments: BTreeMap<String, (Tensor, Tensor)>,
    step: u64,
}

/// What one optimizer step saw.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
}

impl AdamW {
    /// Fresh moments (zeros) for `vars`.
    ///
    /// # Errors
    /// Candle errors.
    pub fn new(params: AdamWParams, vars: &BTreeMap<String, Var>) -> Result<Self, TrainError> {
        let mut moments = BTreeMap::new();
        for (name, v) in vars {
            moments.insert(
                name.clone(),
                (v.as_tensor().zeros_like()?, v.as_tensor().zeros_like()?),
            );
        }
        Ok(AdamW {
            params,
            moments,
            step: 0,
        })
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Counts a step in which nothing was trained (a batch without masked tokens), so the
    /// step count stays the trainer's.
    pub fn skip(&mut self) {
        // Saturating: the count may come from a checkpoint file.
        self.step = self.step.saturating_add(1);
    }

    /// One update of every weight in `vars` from `grads`, at learning rate `lr`. A weight
    /// without a gradient (unused this step) is left alone, moments included.
    ///
    /// # Errors
    /// Candle errors; [`TrainError::Checkpoint`] if `vars` has a weight the state lacks.
    pub fn step(
        &mut self,
        vars: &BTreeMap<String, Var>,
        grads: &GradStore,
        lr: f64,
    ) -> Result<StepReport, TrainError> {
        let p = self.params;
        let mut sq = 0f64;
        for v in vars.values() {
            if let Some(g) = grads.get(v.as_tensor()) {
                sq += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
            }
        }
        let norm = sq.sqrt();
        let scale = if p.clip > 0.0 && norm > p.clip {
            p.clip / norm
        } else {
            1.0
        };
        // Saturating: the count may come from a checkpoint file.
        self.step = self.step.saturating_add(1);
        let t = self.step as i32;
        let (c1, c2) = (1.0 - p.beta1.powi(t), 1.0 - p.beta2.powi(t));
        for (name, v) in vars {
            let Some(g) = grads.get(v.as_tensor()) else {
                continue;
            };
            let g = (g * scale)?;
            let (m, s) = self.moments.get_mut(name).ok_or_else(|| {
                TrainError::Checkpoint(format!("no optimizer state for `{name}`"))
            })?;
            *m = ((&*m * p.beta1)? + (&g * (1.0 - p.beta1))?)?;
            *s = ((&*s * p.beta2)? + (g.sqr()? * (1.0 - p.beta2))?)?;
            let update = ((&*m / c1)? / ((&*s / c2)?.sqrt()? + p.eps)?)?;
            let w = v.as_tensor();
            let decayed = if w.rank() >= 2 && p.weight_decay > 0.0 {
                (w * (1.0 - lr * p.weight_decay))?
            } else {
                w.clone()
            };
            v.set(&(decayed - (update * lr)?)?)?;
        }
        Ok(StepReport { grad_norm: norm })
    }

    /// Writes the moments (`m.{name}`, `v.{name}`) and the step count (`step`, as a
    /// one-element u32 pair) to `path`.
    ///
    /// # Errors
    /// [`TrainError::Checkpoint`] if the file cannot be written.
    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        let mut map = std::collections::HashMap::new();
        for (name, (m, v)) in &self.moments {
            map.insert(format!("m.{name}"), m.clone());
            map.insert(format!("v.{name}"), v.clone());
        }
        let step = [(self.step >> 32) as u32, self.step as u32];
        map.insert(
            "step".into(),
            Tensor::from_slice(&step, 2, &candle_core::Device::Cpu)?,
        );
        candle_core::safetensors::save(&map, path)
            .map_err(|e| TrainError::Checkpoint(format!("cannot write {}: {e}", path.display())))
    }

    /// Restores the state [`AdamW::save`] wrote, checking it has every weight of `vars` with
    /// the same shape.
    ///
    /// # Errors
    /// [`TrainError::Checkpoint`] for a missing, truncated or mismatched file.
    pub fn load(
        params: AdamWParams,
        vars: &BTreeMap<String, Var>,
        path: &Path,
    ) -> Result<Self, TrainError> {
        let fail = |why: String| TrainError::Checkpoint(format!("{}: {why}", path.display()));
        let map = candle_core::safetensors::load(path, &candle_core::Device::Cpu)
            .map_err(|e| fail(e.to_string()))?;
        let mut moments = BTreeMap::new();
        for (name, v) in vars {
            let get = |key: String| -> Result<Tensor, TrainError> {
                let t = map
                    .get(&key)
                    .ok_or_else(|| fail(format!("no tensor `{key}`")))?;
                if t.dims() != v.dims() {
                    return Err(fail(format!("`{key}` has shape {:?}", t.dims())));
                }
                Ok(t.clone())
            };
            moments.insert(
                name.clone(),
                (get(format!("m.{name}"))?, get(format!("v.{name}"))?),
            );
        }
        let step = map
            .get("step")
            .ok_or_else(|| fail("no tensor `step`".into()))?
            .to_vec1::<u32>()
            .map_err(|e| fail(e.to_string()))?;
        let [hi, lo] = step[..] else {
            return Err(fail("`step` must hold two numbers".into()));
        };
        Ok(AdamW {
            params,
            moments,
            step: (u64::from(hi) << 32) | u64::from(lo),
        })
    }
}
