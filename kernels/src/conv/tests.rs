//! [`conv2d`] against a direct `f64` convolution over every geometry MAGVIT-v2 uses and a
//! few it does not.

use super::*;

/// Direct convolution, `f64` accumulation: upsample, pad, slide.
#[allow(clippy::too_many_arguments)]
fn direct(
    x: &[f32],
    (cin, h, w): (usize, usize, usize),
    wt: &[f32],
    (cout, kh, kw): (usize, usize, usize),
    bias: &[f32],
    g: ConvGeometry,
) -> (Vec<f32>, usize, usize) {
    let [t, l, b, r] = g.pad;
    let (vh, vw) = (h * g.upsample + t + b, w * g.upsample + l + r);
    let at = |ci: usize, y: usize, xx: usize| -> f64 {
        if y < t || xx < l || y - t >= h * g.upsample || xx - l >= w * g.upsample {
            return 0.0;
        }
        f64::from(x[(ci * h + (y - t) / g.upsample) * w + (xx - l) / g.upsample])
    };
    let (oh, ow) = ((vh - kh) / g.stride + 1, (vw - kw) / g.stride + 1);
    let mut out = vec![0.0; cout * oh * ow];
    for o in 0..cout {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = f64::from(bias[o]);
                for ci in 0..cin {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let wv = f64::from(wt[((o * cin + ci) * kh + ky) * kw + kx]);
                            acc += wv * at(ci, oy * g.stride + ky, ox * g.stride + kx);
                        }
                    }
                }
                out[(o * oh + oy) * ow + ox] = acc as f32;
            }
        }
    }
    (out, oh, ow)
}

fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
        })
        .collect()
}

#[test]
fn matches_the_direct_convolution() {
    let geometries = [
        ConvGeometry::same(1),
        ConvGeometry::same(0),
        // MAGVIT's downsampler: stride 2, one zero column/row right and below.
        ConvGeometry {
            stride: 2,
            pad: [0, 0, 1, 1],
            upsample: 1,
        },
        // Its upsampler: nearest ×2, then a "same" 3×3.
        ConvGeometry {
            stride: 1,
            pad: [1; 4],
            upsample: 2,
        },
        ConvGeometry {
            stride: 3,
            pad: [2, 0, 1, 3],
            upsample: 1,
        },
    ];
    let shapes = [
        // (cin, cout, k, h, w)
        (3, 20, 3, 9, 13),
        (5, 7, 1, 6, 6),
        (130, 33, 3, 7, 11),
        (16, 16, 3, 14, 14),
        (1, 1, 1, 1, 1),
        // stride·cin a multiple of 1024 (copied rows), cout past one column block.
        (512, 300, 1, 3, 4),
    ];
    for g in geometries {
        for &(cin, cout, k, h, w) in &shapes {
            let [t, l, b, r] = g.pad;
            if h * g.upsample + t + b < k || w * g.upsample + l + r < k {
                continue;
            }
            let x = values(cin * h * w, (cin * h + w) as u64);
            let wt = values(cout * cin * k * k, (cout + k) as u64);
            let bias = values(cout, 9);
            let conv = PackedConv::from_oihw(&wt, cout, cin, k, k).unwrap();
            let (got, oh, ow) = conv2d(&x, h, w, &conv, Some(&bias), g).unwrap();
            let (want, wh, ww) = direct(&x, (cin, h, w), &wt, (cout, k, k), &bias, g);
            assert_eq!((oh, ow), (wh, ww), "{g:?} {cin}->{cout} k{k} {h}x{w}");
            let tol = 1e-5 * ((cin * k * k) as f32).sqrt();
            for (i, (a, e)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a - e).abs() <= tol * (1.0 + e.abs()),
                    "{g:?} {cin}->{cout} k{k} {h}x{w} at {i}: {a} vs {e}"
                );
            }
        }
    }
}

#[test]
fn bad_shapes_are_errors() {
    let conv = PackedConv::from_oihw(&[1.0; 18], 2, 1, 3, 3).unwrap();
    assert_eq!(conv.kernel(), (3, 3));
    let short = conv2d(&[0.0; 8], 3, 3, &conv, None, ConvGeometry::same(1));
    assert!(matches!(
        short,
        Err(KernelError::ShapeMismatch { operand: "x", .. })
    ));
    let bias = conv2d(&[0.0; 9], 3, 3, &conv, Some(&[0.0]), ConvGeometry::same(1));
    assert!(matches!(
        bias,
        Err(KernelError::ShapeMismatch {
            operand: "bias",
            ..
        })
    ));
    let small = conv2d(&[0.0; 4], 2, 2, &conv, None, ConvGeometry::same(0));
    assert!(matches!(small, Err(KernelError::Shape(_))));
    let g = ConvGeometry {
        stride: 0,
        ..ConvGeometry::same(1)
    };
    assert!(matches!(
        conv2d(&[0.0; 9], 3, 3, &conv, None, g),
        Err(KernelError::Shape(_))
    ));
    assert!(PackedConv::from_oihw(&[1.0; 17], 2, 1, 3, 3).is_err());
    assert!(PackedConv::from_oihw(&[], 0, 1, 3, 3).is_err());
}

#[test]
fn channels_last_is_the_padded_transposed_convolution() {
    let (cin, cout, h, w, k, stride) = (6, 9, 5, 23, 3, 2);
    let x = values(cin * h * w, 3);
    let wt = values(cout * cin * k * k, 4);
    let bias = values(cout, 5);
    let conv = PackedConv::from_oihw(&wt, cout, cin, k, k).unwrap();
    let g = ConvGeometry {
        stride,
        pad: [0; 4],
        upsample: 1,
    };
    let (want, oh, ow) = conv2d(&x, h, w, &conv, Some(&bias), g).unwrap();
    let mut xl = vec![0.0; x.len()];
    for c in 0..cin {
        for p in 0..h * w {
            xl[p * cin + c] = x[c * h * w + p];
        }
    }
    let (got, gh, gw) = conv2d_channels_last(&xl, h, w, &conv, Some(&bias), stride).unwrap();
    assert_eq!((gh, gw), (oh, ow));
    for c in 0..cout {
        for p in 0..oh * ow {
            assert_eq!(got[p * cout + c].to_bits(), want[c * oh * ow + p].to_bits());
        }
    }
    assert!(conv2d_channels_last(&xl, h, w, &conv, None, 0).is_err());
    assert!(conv2d_channels_last(&xl[1..], h, w, &conv, None, 1).is_err());
}

#[test]
fn winograd_matches_the_direct_convolution() {
    let geometries = [
        ConvGeometry::same(1),
        ConvGeometry::same(0),
        ConvGeometry {
            stride: 1,
            pad: [1; 4],
            upsample: 2,
        },
        ConvGeometry {
            stride: 1,
            pad: [0, 2, 1, 0],
            upsample: 1,
        },
    ];
    // (cin, cout, h, w): odd and even sides (edge tiles), one batch and many (over 256
    // tiles: batches in parallel, a map narrower than a batch's 128 tiles and one wider).
    let shapes = [
        (3, 20, 9, 13),
        (130, 33, 7, 11),
        (16, 16, 14, 14),
        (1, 1, 3, 3),
        (8, 5, 41, 37),
        (4, 6, 12, 300),
    ];
    for g in geometries {
        for &(cin, cout, h, w) in &shapes {
            let x = values(cin * h * w, (cin * h + w) as u64);
            let wt = values(cout * cin * 9, (cout + 3) as u64);
            let bias = values(cout, 9);
            let conv = PackedConv::winograd_3x3(&wt, cout, cin).unwrap();
            assert_eq!(conv.kernel(), (3, 3));
            let (got, oh, ow) = conv2d(&x, h, w, &conv, Some(&bias), g).unwrap();
            let (want, wh, ww) = direct(&x, (cin, h, w), &wt, (cout, 3, 3), &bias, g);
            assert_eq!((oh, ow), (wh, ww), "{g:?} {cin}->{cout} {h}x{w}");
            // The transforms' additions: a few times the direct path's rounding.
            let tol = 4e-5 * ((cin * 9) as f32).sqrt();
            for (i, (a, e)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (a - e).abs() <= tol * (1.0 + e.abs()),
                    "{g:?} {cin}->{cout} {h}x{w} at {i}: {a} vs {e}"
                );
            }
        }
    }
}

#[test]
fn winograd_refuses_other_strides_and_bad_weights() {
    let conv = PackedConv::winograd_3x3(&[1.0; 18], 2, 1).unwrap();
    let g = ConvGeometry {
        stride: 2,
        ..ConvGeometry::same(1)
    };
    assert!(matches!(
        conv2d(&[0.0; 9], 3, 3, &conv, None, g),
        Err(KernelError::Shape(_))
    ));
    // Channels-last inputs take the direct packing.
    assert!(conv2d_channels_last(&[0.0; 9], 3, 3, &conv, None, 1).is_err());
    assert!(PackedConv::winograd_3x3(&[1.0; 17], 2, 1).is_err());
    assert!(PackedConv::winograd_3x3(&[], 0, 1).is_err());
}
