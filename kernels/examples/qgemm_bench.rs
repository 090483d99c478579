//! [`matmul_quant`] (one packed copy, 8-bit activations, AVX-512 VNNI) against candle's
//! quantized matmul (`QMatMul`, which keeps a repacked copy beside the blocks) and the
//! packed `f32` GEMM, at the linear layers' shapes of a decoding block of 160 positions.
//!
//! `cargo run --release -p tessera-kernels --example qgemm_bench`

use std::time::Instant;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use tessera_kernels::{PackedQuant, PackedWeights, QuantFormat, matmul_packed, matmul_quant};

fn best_of<T>(reps: usize, mut f: impl FnMut() -> T) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..reps {
        let t = Instant::now();
        std::hint::black_box(f());
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "fast integer kernels: {}",
        tessera_kernels::quant_kernels_fast()
    );
    println!(
        "{:>22} {:>6} {:>10} {:>10} {:>10} {:>12} {:>10}",
        "m × n × k", "format", "tessera", "candle", "f32", "candle/tess", "f32/tess"
    );
    for (m, n, k) in [
        (160, 1024, 1024),
        (160, 2816, 1024),
        (160, 1024, 2816),
        (64, 4096, 4096),
    ] {
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 7919) % 1013) as f32 / 1013.0 - 0.5)
            .collect();
        let x: Vec<f32> = (0..m * k)
            .map(|i| ((i * 31) % 97) as f32 / 97.0 - 0.5)
            .collect();
        let wt = Tensor::from_slice(&w, (n, k), &Device::Cpu)?;
        let xt = Tensor::from_slice(&x, (m, k), &Device::Cpu)?;
        let packed = PackedWeights::from_rows(&w, n, k)?;
        let mut out = vec![0.0f32; m * n];
        let f32_time = best_of(5, || matmul_packed(&x, m, &packed, None, &mut out));
        for (format, ggml) in [
            (QuantFormat::Q8_0, GgmlDType::Q8_0),
            (QuantFormat::Q4K, GgmlDType::Q4K),
        ] {
            let q = QTensor::quantize(&wt, ggml)?;
            let ours = PackedQuant::from_ggml(format, &q.data()?, n, k)?;
            let candle = QMatMul::from_qtensor(q)?;
            candle.forward(&xt)?;
            let candle_time = best_of(5, || candle.forward(&xt));
            let time = best_of(5, || matmul_quant(&x, m, &ours, None, &mut out));
            println!(
                "{:>22} {:>6} {:>8.2}ms {:>8.2}ms {:>8.2}ms {:>11.2}× {:>9.2}×",
                format!("{m} × {n} × {k}"),
                format.to_string(),
                time * 1e3,
                candle_time * 1e3,
                f32_time * 1e3,
                candle_time / time,
                f32_time / time
            );
        }
    }
    Ok(())
}
