use super::*;

/// A deterministic pseudo-random vector in [-1, 1).
fn data(n: usize, seed: u32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f32 / u32::MAX as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The definition, in f64, over contiguous heads-major q, k, v.
fn reference(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    s: AttentionShape,
    scale: f32,
    bias: Option<AttentionBias<'_>>,
) -> Vec<f32> {
    let hd = s.head_dim;
    let mut out = vec![0.0f32; s.rows * s.queries * s.heads * hd];
    for r in 0..s.rows {
        for h in 0..s.heads {
            let kvh = h / (s.heads / s.kv_heads);
            for i in 0..s.queries {
                let qi = &q[((r * s.heads + h) * s.queries + i) * hd..][..hd];
                let scores: Vec<f64> = (0..s.keys)
                    .map(|j| {
                        let kj = &k[((r * s.kv_heads + kvh) * s.keys + j) * hd..][..hd];
                        let dot: f64 = qi.iter().zip(kj).map(|(a, b)| *a as f64 * *b as f64).sum();
                        let b = bias.map_or(0.0, |b| {
                            let row = if b.per_row { r } else { 0 };
                            let qq = if b.per_query { i } else { 0 };
                            let nq = if b.per_query { s.queries } else { 1 };
                            b.values[(row * nq + qq) * s.keys + j] as f64
                        });
                        dot * scale as f64 + b
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                for c in 0..hd {
                    let o: f64 = (0..s.keys)
                        .map(|j| {
                            e[j] / sum * v[((r * s.kv_heads + kvh) * s.keys + j) * hd + c] as f64
                        })
                        .sum();
                    out[(r * s.queries + i) * s.heads * hd + h * hd + c] = o as f32;
                }
            }
        }
    }
    out
}

fn check(s: AttentionShape, bias: Option<(bool, bool)>) {
    let q = data(s.rows * s.heads * s.queries * s.head_dim, 1);
    let k = data(s.rows * s.kv_heads * s.keys * s.head_dim, 2);
    let v = data(s.rows * s.kv_heads * s.keys * s.head_dim, 3);
    let bias_values = bias.map(|(per_row, per_query)| {
        let n = if per_row { s.rows } else { 1 } * if per_query { s.queries } else { 1 };
        let mut b = data(n * s.keys, 4);
        // Hide one key per bias row, as a padding mask does.
        for chunk in b.chunks_mut(s.keys) {
            chunk[0] = f32::NEG_INFINITY;
        }
        (b, per_row, per_query)
    });
    let bias = bias_values
        .as_ref()
        .map(|(values, per_row, per_query)| AttentionBias {
            values,
            per_row: *per_row,
            per_query: *per_query,
        });
    let scale = 1.0 / (s.head_dim as f32).sqrt();
    let want = reference(&q, &k, &v, s, scale, bias);
    // The baseline build, the AVX2+FMA one and its AVX-512 steps where the CPU has them.
    #[cfg(target_arch = "x86_64")]
    let builds = {
        let simd = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
        let wide = simd && is_x86_feature_detected!("avx512f");
        [(false, false), (simd, false), (simd, wide)]
    };
    #[cfg(not(target_arch = "x86_64"))]
    let builds = [(false, false)];
    for build in builds {
        let mut out = vec![f32::NAN; s.rows * s.queries * s.heads * s.head_dim];
        attention_on(
            build,
            Strided::heads_major(&q, s.heads, s.queries, s.head_dim),
            Strided::heads_major(&k, s.kv_heads, s.keys, s.head_dim),
            Strided::heads_major(&v, s.kv_heads, s.keys, s.head_dim),
            s,
            scale,
            bias,
            &mut out,
        )
        .unwrap();
        for (i, (a, b)) in out.iter().zip(&want).enumerate() {
            assert!(
                (a - b).abs() <= 1e-5 + 1e-5 * b.abs(),
                "{s:?} build {build:?} at {i}: {a} vs {b}"
            );
        }
    }
}

fn shape(
    rows: usize,
    heads: usize,
    kv_heads: usize,
    queries: usize,
    keys: usize,
    hd: usize,
) -> AttentionShape {
    AttentionShape {
        rows,
        heads,
        kv_heads,
        queries,
        keys,
        head_dim: hd,
    }
}

#[test]
fn matches_the_definition() {
    check(shape(1, 8, 8, 40, 40, 32), None);
    check(shape(3, 4, 4, 17, 17, 64), Some((true, false)));
    check(shape(2, 4, 4, 9, 9, 20), Some((true, true)));
    check(shape(2, 4, 4, 5, 9, 16), Some((false, true)));
    // Grouped-query attention, fewer queries than keys (the last block), odd head size.
    check(shape(2, 6, 2, 3, 33, 7), Some((true, false)));
    check(shape(1, 1, 1, 1, 1, 1), None);
    // Head sizes of 16, 24 and 48: sixteen-lane steps with and without an eight-lane rest.
    check(shape(2, 2, 2, 19, 19, 16), Some((true, false)));
    check(shape(1, 2, 1, 9, 40, 24), None);
    check(shape(1, 2, 2, 8, 17, 48), Some((false, true)));
}

#[test]
fn reads_queries_in_place_from_a_merged_layout() {
    // q as a projection writes it: [rows][queries][heads·hd] with a wider row (qkv stacked).
    let s = shape(2, 4, 2, 6, 6, 8);
    let width = s.heads * s.head_dim + 32;
    let merged = data(s.rows * s.queries * width, 9);
    let mut heads_major = vec![0.0; s.rows * s.heads * s.queries * s.head_dim];
    for r in 0..s.rows {
        for h in 0..s.heads {
            for i in 0..s.queries {
                for c in 0..s.head_dim {
                    heads_major[((r * s.heads + h) * s.queries + i) * s.head_dim + c] =
                        merged[(r * s.queries + i) * width + h * s.head_dim + c];
                }
            }
        }
    }
    let k = data(s.rows * s.kv_heads * s.keys * s.head_dim, 2);
    let run = |q: Strided<'_>| {
        let mut out = vec![0.0; s.rows * s.queries * s.heads * s.head_dim];
        let kv = Strided::heads_major(&k, s.kv_heads, s.keys, s.head_dim);
        attention(q, kv, kv, s, 0.5, None, &mut out).unwrap();
        out
    };
    let strided = Strided {
        data: &merged,
        row: s.queries * width,
        head: s.head_dim,
        pos: width,
    };
    assert_eq!(
        run(strided),
        run(Strided::heads_major(
            &heads_major,
            s.heads,
            s.queries,
            s.head_dim
        ))
    );
}

#[test]
fn wrong_shapes_are_errors_not_panics() {
    let s = shape(1, 4, 3, 2, 2, 4);
    let x = vec![0.0; 64];
    let view = Strided::heads_major(&x, 4, 2, 4);
    let mut out = vec![0.0; 32];
    let err = attention(view, view, view, s, 1.0, None, &mut out).unwrap_err();
    assert!(err.to_string().contains("multiple"), "{err}");
    let s = shape(1, 4, 4, 2, 2, 4);
    let short = Strided::heads_major(&x[..10], 4, 2, 4);
    assert!(attention(short, view, view, s, 1.0, None, &mut out).is_err());
    assert!(attention(view, view, view, s, 1.0, None, &mut out[..5]).is_err());
    let bias = AttentionBias {
        values: &x[..3],
        per_row: false,
        per_query: false,
    };
    assert!(attention(view, view, view, s, 1.0, Some(bias), &mut out).is_err());
    let huge = Strided {
        data: &x,
        row: usize::MAX,
        head: 1,
        pos: 1,
    };
    assert!(
        attention(
            view,
            huge,
            view,
            shape(2, 4, 4, 2, 2, 4),
            1.0,
            None,
            &mut vec![0.0; 64]
        )
        .is_err()
    );
}
