//! The attention kernel's inner product: for eight rows at once, `acc[i] += a[s][i] · b[s]`
//! over steps `s`, where `b[s]` is eight consecutive floats at `offset + s·stride` of a slice
//! — scores (`a` = the block's queries transposed, `b` = transposed keys) and the weighted
//! values (`a` = the block's probabilities transposed, `b` = value rows) are both this shape.
//! The AVX2 and AVX-512 builds keep the eight accumulators in registers (`outer_simd!`).

/// Eight floats.
pub(super) type Lanes = [f32; 8];

/// `b`: eight floats at `offset + s·stride` of `data`, for each step `s`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rows<'a> {
    pub(super) data: &'a [f32],
    pub(super) offset: usize,
    pub(super) stride: usize,
}

impl Rows<'_> {
    /// Whether `steps` rows of `width` floats lie inside `data`.
    fn fits(&self, steps: usize, width: usize) -> bool {
        steps == 0
            || (steps - 1)
                .checked_mul(self.stride)
                .and_then(|x| x.checked_add(self.offset)?.checked_add(width))
                .is_some_and(|end| end <= self.data.len())
    }
}

/// `Σ_s a[s][i] · b[s]` for `i` in `0..8`; `simd` selects the AVX2+FMA build (the caller
/// has checked the CPU). Rows of `b` past `data` count as zeros.
pub(super) fn outer(simd: bool, a: &[Lanes], b: Rows<'_>) -> [Lanes; 8] {
    #[cfg(target_arch = "x86_64")]
    if simd && b.fits(a.len(), 8) {
        // SAFETY: `simd` is set only when the CPU has AVX2 and FMA, and `fits` checked
        // that every row read lies inside `b.data`.
        return unsafe { outer_avx2(a, b) };
    }
    let _ = simd;
    let mut acc = [[0.0f32; 8]; 8];
    for (s, ai) in a.iter().enumerate() {
        let start = b.offset + s * b.stride;
        let row: Lanes = std::array::from_fn(|l| b.data.get(start + l).copied().unwrap_or(0.0));
        for (acc, &x) in acc.iter_mut().zip(ai) {
            for l in 0..8 {
                acc[l] += x * row[l];
            }
        }
    }
    acc
}

/// Sixteen floats.
pub(super) type Wide = [f32; 16];

/// As [`outer`] over sixteen lanes (`b`'s rows are sixteen floats): one AVX-512 step when
/// `wide` (the caller has checked the CPU), else two eight-lane halves.
pub(super) fn outer16(simd: bool, wide: bool, a: &[Lanes], b: Rows<'_>) -> [Wide; 8] {
    #[cfg(target_arch = "x86_64")]
    if wide && b.fits(a.len(), 16) {
        // SAFETY: `wide` is set only when the CPU has AVX-512F, and `fits` checked that
        // every sixteen-float row read lies inside `b.data`.
        return unsafe { outer_avx512(a, b) };
    }
    let _ = wide;
    let lo = outer(simd, a, b);
    let hi = outer(
        simd,
        a,
        Rows {
            offset: b.offset + 8,
            ..b
        },
    );
    std::array::from_fn(|i| std::array::from_fn(|l| if l < 8 { lo[i][l] } else { hi[i][l - 8] }))
}

/// One register-blocked inner product per instruction set: eight accumulators of one vector
/// each, stepped by one fused multiply-add per row of `a` (written out: the compiler's own
/// vectorisation of the plain loop spilled one accumulator to the stack every step).
macro_rules! outer_simd {
    ($name:ident, $feature:literal, $width:literal, $zero:ident, $load:ident, $set1:ident,
     $fmadd:ident, $store:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        unsafe fn $name(a: &[Lanes], b: Rows<'_>) -> [[f32; $width]; 8] {
            use std::arch::x86_64::*;
            let mut c = [$zero(); 8];
            let base = b.data.as_ptr();
            for (s, ai) in a.iter().enumerate() {
                // SAFETY: the caller checked that row `s` (one vector of floats) lies inside
                // `b.data`.
                let row = unsafe { $load(base.add(b.offset + s * b.stride)) };
                c[0] = $fmadd($set1(ai[0]), row, c[0]);
                c[1] = $fmadd($set1(ai[1]), row, c[1]);
                c[2] = $fmadd($set1(ai[2]), row, c[2]);
                c[3] = $fmadd($set1(ai[3]), row, c[3]);
                c[4] = $fmadd($set1(ai[4]), row, c[4]);
                c[5] = $fmadd($set1(ai[5]), row, c[5]);
                c[6] = $fmadd($set1(ai[6]), row, c[6]);
                c[7] = $fmadd($set1(ai[7]), row, c[7]);
            }
            let mut out = [[0.0f32; $width]; 8];
            for (o, v) in out.iter_mut().zip(c) {
                // SAFETY: `o` holds exactly the floats of one vector.
                unsafe { $store(o.as_mut_ptr(), v) };
            }
            out
        }
    };
}

outer_simd!(
    outer_avx2,
    "avx2,fma",
    8,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_storeu_ps
);
outer_simd!(
    outer_avx512,
    "avx512f",
    16,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_storeu_ps
);
