//! The integer GEMM against an `f64` product with the weight dequantized by candle (an
//! implementation of llama.cpp's formats independent of this one), with the error bound the
//! activations' 8-bit rounding allows, and the AVX-512 kernels against the portable ones.

use candle_core::quantized::{GgmlDType, QStorage, QTensor};
use candle_core::{Device, Tensor};

use super::*;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }
    /// Uniform in `[-1, 1)`.
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

fn ggml(format: QuantFormat) -> GgmlDType {
    match format {
        QuantFormat::Q8_0 => GgmlDType::Q8_0,
        QuantFormat::Q4K => GgmlDType::Q4K,
    }
}

/// `n` rows of random blocks: random quants and scales of a plausible size.
fn random_blocks(format: QuantFormat, n: usize, k: usize, rng: &mut Rng) -> Vec<u8> {
    let blocks = n * k / format.block();
    let mut out = Vec::with_capacity(blocks * format.block_bytes());
    for _ in 0..blocks {
        let scales = match format {
            QuantFormat::Q8_0 => 1,
            QuantFormat::Q4K => 2,
        };
        for _ in 0..scales {
            let d = half::f16::from_f32(0.001 + 0.01 * rng.unit().abs());
            out.extend_from_slice(&d.to_le_bytes());
        }
        for _ in 0..format.block_bytes() - 2 * scales {
            out.push(rng.byte());
        }
    }
    out
}

/// The weight dequantized by candle, row-major `[n, k]`.
fn candle_dequantized(format: QuantFormat, blocks: &[u8], n: usize, k: usize) -> Vec<f32> {
    let storage = QStorage::from_data(
        std::borrow::Cow::Borrowed(blocks),
        &Device::Cpu,
        ggml(format),
    )
    .unwrap();
    let t = QTensor::new(storage, (n, k)).unwrap();
    let d: Tensor = t.dequantize(&Device::Cpu).unwrap();
    d.flatten_all().unwrap().to_vec1().unwrap()
}

fn random_x(m: usize, k: usize, rng: &mut Rng) -> Vec<f32> {
    // Rows with a few large values, as activations have.
    (0..m * k)
        .map(|i| rng.unit() * if i % 37 == 0 { 8.0 } else { 1.0 })
        .collect()
}

fn isas() -> Vec<Isa> {
    let mut isas = vec![Isa::Portable];
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        isas.push(Isa::Avx512Vnni);
    }
    isas
}

#[test]
fn repacked_rows_dequantize_as_candle_does() {
    let mut rng = Rng(7);
    for (format, n, k) in [(QuantFormat::Q8_0, 21, 96), (QuantFormat::Q4K, 19, 512)] {
        let blocks = random_blocks(format, n, k, &mut rng);
        let want = candle_dequantized(format, &blocks, n, k);
        let w = PackedQuant::from_ggml(format, &blocks, n, k).unwrap();
        assert_eq!(
            w.bytes(),
            n.div_ceil(NR) * k / format.block() * format.unit_bytes()
        );
        let mut row = vec![0.0; k];
        for r in 0..n {
            w.dequantize_row(r, &mut row).unwrap();
            for (c, (a, b)) in row.iter().zip(&want[r * k..]).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-6 * b.abs(),
                    "{format} row {r} col {c}: {a} vs {b}"
                );
            }
        }
    }
}

#[test]
fn products_stay_within_the_activation_rounding_bound_and_isas_agree() {
    let mut rng = Rng(11);
    let cases = [
        (QuantFormat::Q8_0, 1, 16, 32),
        (QuantFormat::Q8_0, 5, 21, 96),
        (QuantFormat::Q8_0, 13, 40, 544),
        (QuantFormat::Q8_0, 200, 100, 1056),
        (QuantFormat::Q4K, 1, 16, 256),
        (QuantFormat::Q4K, 12, 33, 768),
        (QuantFormat::Q4K, 41, 64, 1280),
        (QuantFormat::Q4K, 200, 100, 512),
    ];
    for (format, m, n, k) in cases {
        let blocks = random_blocks(format, n, k, &mut rng);
        let deq = candle_dequantized(format, &blocks, n, k);
        let w = PackedQuant::from_ggml(format, &blocks, n, k).unwrap();
        let x = random_x(m, k, &mut rng);
        let bias: Vec<f32> = (0..n).map(|j| j as f32 * 0.25).collect();
        let mut outs = Vec::new();
        for isa in isas() {
            let mut out = vec![f32::NAN; m * n];
            matmul_with(isa, &x, m, &w, Some(&bias), &mut out).unwrap();
            outs.push(out);
        }
        for (i, j) in (0..m).flat_map(|i| (0..n).map(move |j| (i, j))) {
            let (xr, wr) = (&x[i * k..(i + 1) * k], &deq[j * k..(j + 1) * k]);
            let exact: f64 = bias[j] as f64
                + xr.iter()
                    .zip(wr)
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum::<f64>();
            // Each activation is off by at most half its block's step, max|x| / 254.
            let (mut bound, mut mass) = (0.0f64, 0.0f64);
            for (xb, wb) in xr.chunks(32).zip(wr.chunks(32)) {
                let amax = xb.iter().fold(0.0f32, |a, v| a.max(v.abs())) as f64;
                let wsum: f64 = wb.iter().map(|v| v.abs() as f64).sum();
                bound += amax / 254.0 * wsum;
                mass += xb
                    .iter()
                    .zip(wb)
                    .map(|(a, b)| (a * b).abs() as f64)
                    .sum::<f64>();
            }
            let got = outs[0][i * n + j] as f64;
            let tol = bound * 1.001 + 1e-5 * (mass + bias[j].abs() as f64);
            assert!(
                (got - exact).abs() <= tol,
                "{format} m{m} n{n} k{k} ({i},{j}): {got} vs {exact}, bound {tol}"
            );
        }
        for out in &outs[1..] {
            assert_eq!(out, &outs[0], "{format} m{m} n{n} k{k}: the ISAs differ");
        }
    }
}

#[test]
fn without_bias_and_with_k_zero_or_m_zero() {
    let mut rng = Rng(3);
    let blocks = random_blocks(QuantFormat::Q8_0, 3, 64, &mut rng);
    let w = PackedQuant::from_ggml(QuantFormat::Q8_0, &blocks, 3, 64).unwrap();
    let x = random_x(2, 64, &mut rng);
    let mut with = vec![0.0; 6];
    matmul_quant(&x, 2, &w, Some(&[1.0, 2.0, 3.0]), &mut with).unwrap();
    let mut without = vec![0.0; 6];
    matmul_quant(&x, 2, &w, None, &mut without).unwrap();
    for (i, (a, b)) in with.iter().zip(&without).enumerate() {
        assert!((a - b - (i % 3 + 1) as f32).abs() < 1e-5);
    }
    let empty = PackedQuant::from_ggml(QuantFormat::Q4K, &[], 2, 0).unwrap();
    let mut out = vec![9.0; 4];
    matmul_quant(&[], 2, &empty, Some(&[1.0, -1.0]), &mut out).unwrap();
    assert_eq!(out, [1.0, -1.0, 1.0, -1.0]);
    matmul_quant(&[], 0, &w, None, &mut []).unwrap();
}

#[test]
fn bad_shapes_are_typed_errors_and_write_nothing() {
    let mut rng = Rng(5);
    let blocks = random_blocks(QuantFormat::Q4K, 2, 256, &mut rng);
    assert!(matches!(
        PackedQuant::from_ggml(QuantFormat::Q4K, &blocks[1..], 2, 256),
        Err(KernelError::ShapeMismatch {
            operand: "weight",
            ..
        })
    ));
    assert!(matches!(
        PackedQuant::from_ggml(QuantFormat::Q4K, &blocks, 2, 100),
        Err(KernelError::Shape(_))
    ));
    let w = PackedQuant::from_ggml(QuantFormat::Q4K, &blocks, 2, 256).unwrap();
    let mut out = vec![7.0; 4];
    for (x, bias, operand) in [
        (vec![0.0; 511], None, "x"),
        (vec![0.0; 512], Some(vec![0.0; 3]), "bias"),
    ] {
        let err = matmul_quant(&x, 2, &w, bias.as_deref(), &mut out).unwrap_err();
        assert!(
            matches!(err, KernelError::ShapeMismatch { operand: o, .. } if o == operand),
            "{err}"
        );
    }
    let err = matmul_quant(&[0.0; 512], 2, &w, None, &mut out[..3]).unwrap_err();
    assert!(matches!(
        err,
        KernelError::ShapeMismatch { operand: "out", .. }
    ));
    assert_eq!(out, [7.0; 4]);
    let mut row = vec![0.0; 256];
    assert!(w.dequantize_row(2, &mut row).is_err());
    assert!(w.dequantize_row(0, &mut row[..255]).is_err());
}
