//! Tessera's own CUDA kernels (feature `cuda`), launched through cudarc: the sources in
//! `kernels/cuda/` are compiled by NVRTC when a [`CudaKernels`] is created, for the
//! device's own architecture. The feature also turns on candle's CUDA backend, which links
//! the CUDA libraries: a binary built with it needs them to start, and a machine without a
//! GPU reports [`KernelError::Cuda`] when a device is opened.
//!
//! Every kernel has a CPU twin it is tested against: `tessera_sample_rows` ↔
//! [`crate::sample_rows`] in [`crate::Arithmetic::Fast`] (the same tokens; probabilities,
//! margins and entropies within `f32` rounding of the summation order);
//! `tessera_token_probs` ↔ [`crate::token_probs`] (the same within that rounding). The
//! same source also runs on the CPU through `cuda/host_shim.h` (`--features cuda-shim`), so
//! its logic is tested in CI without a GPU; on a GPU, `scripts/gpu-check.sh` runs the tests below.

use std::sync::Arc;

use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DeviceRepr, LaunchConfig, PushKernelArg,
    ValidAsZeroBits,
};
use cudarc::nvrtc::{CompileOptions, compile_ptx_with_opts};

use crate::sample::record::Record;
use crate::{Draw, KernelError, SampleSpec, Sampled};

/// The fused sampling kernel's source.
const SAMPLE_CU: &str = include_str!("../cuda/sample.cu");
/// Threads per block of `tessera_sample_rows` (`SAMPLE_THREADS` in the source).
const SAMPLE_THREADS: u32 = 256;

// SAFETY: `Record` is `repr(C)`, four 4-byte plain fields, the layout of `SampleRecord`.
unsafe impl DeviceRepr for Record {}
// SAFETY: all-zero bits are a valid `Record`.
unsafe impl ValidAsZeroBits for Record {}

fn cuda_err(what: &str) -> impl Fn(cudarc::driver::DriverError) -> KernelError + '_ {
    move |e| KernelError::Cuda(format!("{what}: {e}"))
}

/// An allowed id range as the kernels' 32-bit bounds.
fn id_range(allowed: std::ops::Range<usize>) -> Result<(u32, u32), KernelError> {
    match (u32::try_from(allowed.start), u32::try_from(allowed.end)) {
        (Ok(lo), Ok(hi)) => Ok((lo, hi)),
        _ => Err(KernelError::Shape(format!(
            "allowed: {allowed:?} past the kernel's 32-bit ids"
        ))),
    }
}

/// One block of `SAMPLE_THREADS` per row, as both kernels launch; `field` names the input
/// whose rows overflow a grid.
fn row_blocks(rows: usize, field: &str) -> Result<LaunchConfig, KernelError> {
    let grid = u32::try_from(rows)
        .map_err(|_| KernelError::Shape(format!("{field}: {rows} rows in one launch")))?;
    Ok(LaunchConfig {
        grid_dim: (grid, 1, 1),
        block_dim: (SAMPLE_THREADS, 1, 1),
        shared_mem_bytes: 0,
    })
}

/// Tessera's kernels loaded on one CUDA device, with the stream they run on.
#[derive(Debug)]
pub struct CudaKernels {
    stream: Arc<CudaStream>,
    sample: CudaFunction,
    token_probs: CudaFunction,
}

impl CudaKernels {
    /// Opens device `ordinal` and compiles the kernels for it.
    ///
    /// # Errors
    /// [`KernelError::Cuda`] when the device does not exist (or the machine has no GPU), or a kernel fails to compile or load (the message says which).
    pub fn new(ordinal: usize) -> Result<Self, KernelError> {
        let ctx = CudaContext::new(ordinal).map_err(cuda_err("opening the device"))?;
        let (major, minor) = ctx
            .compute_capability()
            .map_err(cuda_err("reading the compute capability"))?;
        let arch: &'static str = match (major, minor) {
            (8, 0) => "compute_80",
            (8, 6) => "compute_86",
            (8, 9) => "compute_89",
            (9, _) => "compute_90",
            (m, _) if m >= 10 => "compute_90",
            (m, n) => {
                return Err(KernelError::Cuda(format!(
                    "compute capability {m}.{n}: Tessera's kernels need 8.0 (Ampere) or newer"
                )));
            }
        };
        let opts = CompileOptions {
            arch: Some(arch),
            name: Some("sample.cu".into()),
            ..Default::default()
        };
        let ptx = compile_ptx_with_opts(SAMPLE_CU, opts)
            .map_err(|e| KernelError::Cuda(format!("compiling sample.cu: {e}")))?;
        let module = ctx
            .load_module(ptx)
            .map_err(cuda_err("loading sample.cu"))?;
        let sample = module
            .load_function("tessera_sample_rows")
            .map_err(cuda_err("tessera_sample_rows"))?;
        let token_probs = module
            .load_function("tessera_token_probs")
            .map_err(cuda_err("tessera_token_probs"))?;
        Ok(CudaKernels {
            stream: ctx.default_stream(),
            sample,
            token_probs,
        })
    }

    /// The stream the kernels run on (copy logits to the device with it).
    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    /// [`crate::sample_rows`] on the device: every row of `logits` (`rows × vocab`, on this
    /// device) sampled by `spec` in one launch; only the records cross to the host.
    ///
    /// Everything [`SampleSpec`] asks for: restriction, top-p, top-k, the argmax, LLaDA's
    /// Gumbel draw and Dream's categorical draw; `noise` as for [`crate::sample_rows`].
    ///
    /// # Errors
    /// As [`crate::sample_rows`]; [`KernelError::Cuda`] if a copy or the launch fails.
    pub fn sample_rows(
        &self,
        logits: &CudaSlice<f32>,
        vocab: usize,
        spec: &SampleSpec,
        noise: &[f64],
    ) -> Result<Vec<Sampled>, KernelError> {
        let rows = logits.len() / vocab.max(1);
        // The spec and the shapes are checked exactly as the CPU pass checks them.
        crate::sample::validate(logits.len(), vocab, spec, noise, rows)?;
        let top_k = u32::try_from(spec.top_k.unwrap_or(0).min(vocab)).unwrap_or(u32::MAX);
        let top_p = spec.top_p.unwrap_or(1.0);
        if rows == 0 {
            return Ok(Vec::new());
        }
        let (lo, hi) = id_range(spec.allowed.clone().unwrap_or(0..vocab))?;
        let cfg = row_blocks(rows, "logits")?;
        let s = &self.stream;
        let noise_dev = if noise.is_empty() {
            s.alloc_zeros::<f64>(1)
        } else {
            s.clone_htod(noise)
        }
        .map_err(cuda_err("copying the noise"))?;
        let mut out = s
            .alloc_zeros::<Record>(rows)
            .map_err(cuda_err("allocating the records"))?;
        let vocab64 = vocab as u64;
        let categorical = u32::from(spec.draw == Draw::Categorical);
        let mut launch = s.launch_builder(&self.sample);
        launch
            .arg(logits)
            .arg(&vocab64)
            .arg(&lo)
            .arg(&hi)
            .arg(&spec.temperature)
            .arg(&categorical)
            .arg(&top_k)
            .arg(&top_p)
            .arg(&noise_dev)
            .arg(&mut out);
        // SAFETY: the arguments match `tessera_sample_rows`' parameters in order and type;
        // `logits` holds `rows × vocab` floats, `noise_dev` the uniforms the spec needs (or
        // one unused value), `out` one record per row — the kernel reads and writes nothing
        // else.
        unsafe { launch.launch(cfg) }.map_err(cuda_err("launching tessera_sample_rows"))?;
        let records = s
            .clone_dtoh(&out)
            .map_err(cuda_err("copying the records back"))?;
        Ok(records.into_iter().map(Sampled::from).collect())
    }

    /// [`crate::token_probs`] on the device — remask scoring: the probability each row of
    /// `logits` (`rows × vocab`, on this device), restricted to `allowed`, gives the token
    /// `tokens` names for it, in one launch; only those numbers cross to the host.
    ///
    /// # Errors
    /// As [`crate::token_probs`]; [`KernelError::Cuda`] if a copy or the launch fails.
    pub fn token_probs(
        &self,
        logits: &CudaSlice<f32>,
        vocab: usize,
        allowed: Option<std::ops::Range<usize>>,
        tokens: &[u32],
    ) -> Result<Vec<f32>, KernelError> {
        let rows = tokens.len();
        let allowed = crate::support::check(logits.len(), vocab, allowed, rows, rows)?;
        if rows == 0 {
            return Ok(Vec::new());
        }
        let (lo, hi) = id_range(allowed)?;
        let cfg = row_blocks(rows, "tokens")?;
        let s = &self.stream;
        let tokens_dev = s
            .clone_htod(tokens)
            .map_err(cuda_err("copying the tokens"))?;
        let mut out = s
            .alloc_zeros::<f32>(rows)
            .map_err(cuda_err("allocating the probabilities"))?;
        let vocab64 = vocab as u64;
        let mut launch = s.launch_builder(&self.token_probs);
        launch
            .arg(logits)
            .arg(&vocab64)
            .arg(&lo)
            .arg(&hi)
            .arg(&tokens_dev)
            .arg(&mut out);
        // SAFETY: the arguments match `tessera_token_probs`' parameters in order and type;
        // `logits` holds `rows × vocab` floats (checked), `tokens_dev` and `out` one entry
        // per row — the kernel reads and writes nothing else.
        unsafe { launch.launch(cfg) }.map_err(cuda_err("launching tessera_token_probs"))?;
        s.clone_dtoh(&out)
            .map_err(cuda_err("copying the probabilities back"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Arithmetic;

    /// On a machine with an NVIDIA GPU: the device pass against the CPU pass. Elsewhere it
    /// says it did not run.
    #[test]
    fn the_device_samples_as_the_cpu_does() {
        let kernels = match CudaKernels::new(0) {
            Ok(k) => k,
            Err(e) => {
                eprintln!("no CUDA device, not run: {e}");
                return;
            }
        };
        let (rows, vocab) = (64, 126_464);
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let logits: Vec<f32> = (0..rows * vocab)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state >> 40) as f32 / (1u64 << 24) as f32 * 30.0 - 15.0
            })
            .collect();
        let dev = kernels.stream().clone_htod(&logits).unwrap();
        let cases = [
            (0.0, Draw::Gumbel, None, None, None),
            (0.0, Draw::Gumbel, Some(500..90_000), None, None),
            (0.8, Draw::Gumbel, None, Some(50), None),
            (0.8, Draw::Categorical, Some(500..90_000), None, None),
            // Dream's model-card settings.
            (0.2, Draw::Categorical, None, None, Some(0.95)),
        ];
        for (temperature, draw, allowed, top_k, top_p) in cases {
            let spec = SampleSpec {
                allowed,
                top_k,
                top_p,
                ..SampleSpec::new(temperature)
                    .with_draw(draw)
                    .with_arithmetic(Arithmetic::Fast)
            };
            let n = spec.noise_per_row(vocab) * rows;
            let u: Vec<f64> = (0..n)
                .map(|i| (i as f64 * 0.618_034).fract().max(1e-9))
                .collect();
            let got = kernels.sample_rows(&dev, vocab, &spec, &u).unwrap();
            let mut want = vec![Sampled::default(); rows];
            crate::sample_rows(&logits, vocab, &spec, &u, &mut want).unwrap();
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.token, w.token);
                assert!((g.prob - w.prob).abs() <= 1e-5 * w.prob.abs().max(1e-3));
                assert!((g.entropy - w.entropy).abs() <= 1e-4 * w.entropy.abs().max(1.0));
            }
        }
        // Remask scoring: each row's argmax, an id in the middle and one outside the slice.
        for allowed in [None, Some(500..90_000)] {
            let a = allowed.clone().unwrap_or(0..vocab);
            let tokens: Vec<u32> = (0..rows)
                .map(|r| {
                    let row = &logits[r * vocab..][a.clone()];
                    match r % 3 {
                        0 => (a.start + crate::row_stats(row).argmax) as u32,
                        1 => ((a.start + a.end) / 2) as u32,
                        _ => a.end as u32,
                    }
                })
                .collect();
            let got = kernels
                .token_probs(&dev, vocab, allowed.clone(), &tokens)
                .unwrap();
            let mut want = vec![0.0f32; rows];
            crate::token_probs(&logits, vocab, allowed, &tokens, &mut want).unwrap();
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= 1e-5 * w.abs().max(1e-3), "{g} vs {w}");
            }
        }
    }
}
