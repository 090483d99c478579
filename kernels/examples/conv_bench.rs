//! [`conv2d`] at MAGVIT-v2's convolution shapes (256×256 picture, 128–512 channels) against
//! candle's `conv2d` on the same data, with GFLOP/s and this machine's FMA peak, and the
//! Winograd F(2×2, 3×3) packing (`PackedConv::winograd_3x3`) where it applies.
//!
//! `cargo run --release -p tessera-kernels --example conv_bench`

use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use tessera_kernels::{ConvGeometry, PackedConv, conv2d};

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
    let threads = rayon::current_num_threads();
    let peak = tessera_kernels::ceiling::fma_peak(threads, Duration::from_millis(300));
    println!("FMA peak, {threads} threads: {peak:.0} GFLOP/s");
    println!(
        "{:>28} {:>10} {:>8} {:>10} {:>8} {:>8} {:>10} {:>8}",
        "shape", "tessera", "GFLOP/s", "candle", "GFLOP/s", "speed-up", "winograd", "vs direct"
    );
    // (cin, cout, k, side, stride)
    for (cin, cout, k, side, stride) in [
        (128, 128, 3, 256, 1),
        (128, 128, 3, 256, 2),
        (256, 256, 3, 128, 1),
        (512, 512, 3, 32, 1),
        (512, 512, 3, 16, 1),
        (128, 256, 1, 128, 1),
    ] {
        let x: Vec<f32> = (0..cin * side * side)
            .map(|i| (i % 17) as f32 * 0.1 - 0.8)
            .collect();
        let w: Vec<f32> = (0..cout * cin * k * k)
            .map(|i| (i % 13) as f32 * 0.01 - 0.06)
            .collect();
        let bias = vec![0.1f32; cout];
        let conv = PackedConv::from_oihw(&w, cout, cin, k, k)?;
        let g = ConvGeometry {
            stride,
            pad: if stride == 2 {
                [0, 0, 1, 1]
            } else {
                [k / 2; 4]
            },
            upsample: 1,
        };
        let (_, oh, ow) = conv2d(&x, side, side, &conv, Some(&bias), g)?;
        let flops = 2.0 * (oh * ow * cout * cin * k * k) as f64;
        let t_ours = best_of(3, || conv2d(&x, side, side, &conv, Some(&bias), g));
        let xt = Tensor::from_slice(&x, (1, cin, side, side), &Device::Cpu)?;
        let xt = xt
            .pad_with_zeros(2, g.pad[0], g.pad[2])?
            .pad_with_zeros(3, g.pad[1], g.pad[3])?;
        let wt = Tensor::from_slice(&w, (cout, cin, k, k), &Device::Cpu)?;
        let t_candle = best_of(2, || xt.conv2d(&wt, 0, stride, 1, 1));
        // Winograd F(2×2, 3×3) where it applies (3×3, stride 1).
        let t_wino = if k == 3 && stride == 1 {
            let wino = PackedConv::winograd_3x3(&w, cout, cin)?;
            best_of(3, || conv2d(&x, side, side, &wino, Some(&bias), g))
        } else {
            f64::NAN
        };
        println!(
            "{:>28} {:>8.1}ms {:>8.0} {:>8.1}ms {:>8.0} {:>7.2}× {:>8.1}ms {:>7.2}×",
            format!("{cin}→{cout} k{k} s{stride} {side}²"),
            t_ours * 1e3,
            flops / t_ours / 1e9,
            t_candle * 1e3,
            flops / t_candle / 1e9,
            t_candle / t_ours,
            t_wino * 1e3,
            t_ours / t_wino
        );
    }
    Ok(())
}
