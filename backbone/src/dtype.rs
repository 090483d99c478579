//! [`Dtype`]: the precision weights are held and computed in — dense floats, or one of
//! llama.cpp's block-quantized formats (through candle's `quantized` module).

use candle_core::DType;
use candle_core::quantized::GgmlDType;

/// Weight precision to compute in.
///
/// The quantized precisions apply to the matrices (attention and MLP projections, the LM
/// head, the token embedding); norms and biases stay `f32`, and activations are `f32`
/// between matmuls. A matrix whose rows do not split into whole blocks of the format falls
/// back to [`Dtype::Q8_0`] (blocks of 32), and to `f32` if those do not fit either, as
/// llama.cpp's quantizer does.
///
/// On an x86 CPU with AVX-512 VNNI, `q8_0` and `q4k` run on Tessera's integer kernels
/// (`tessera_kernels::matmul_quant`) on one repacked copy of each matrix, about twice as
/// fast as `f32`; `q6k` (and `q8_0`/`q4k` on CPUs without AVX-512 VNNI) on candle's, which
/// keep a repacked copy beside the blocks; `q4_0` has no integer kernel and is several times
/// slower than `f32` — it exists for GGUF files stored that way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Dtype {
    /// 32-bit float.
    F32,
    /// bfloat16 (what the public 7–8B checkpoints ship).
    Bf16,
    /// IEEE half.
    F16,
    /// 8-bit blocks of 32 with an f16 scale (llama.cpp `Q8_0`, 8.5 bits per weight).
    #[serde(rename = "q8_0")]
    Q8_0,
    /// 4-bit blocks of 32 with an f16 scale (llama.cpp `Q4_0`, 4.5 bits per weight).
    #[serde(rename = "q4_0")]
    Q4_0,
    /// 4-bit k-quant super-blocks of 256 (llama.cpp `Q4_K`, 4.5 bits per weight).
    Q4k,
    /// 6-bit k-quant super-blocks of 256 (llama.cpp `Q6_K`, 6.56 bits per weight).
    Q6k,
}

impl Dtype {
    /// Every precision, in the order `--dtype` lists them.
    pub const ALL: [Dtype; 7] = [
        Dtype::F32,
        Dtype::Bf16,
        Dtype::F16,
        Dtype::Q8_0,
        Dtype::Q4_0,
        Dtype::Q4k,
        Dtype::Q6k,
    ];

    /// The dense dtype of everything that is not a quantized matrix (`f32` for the
    /// quantized precisions).
    pub(crate) fn candle(self) -> DType {
        match self {
            Dtype::Bf16 => DType::BF16,
            Dtype::F16 => DType::F16,
            Dtype::F32 | Dtype::Q8_0 | Dtype::Q4_0 | Dtype::Q4k | Dtype::Q6k => DType::F32,
        }
    }

    /// The block format, for the quantized precisions.
    pub(crate) fn ggml(self) -> Option<GgmlDType> {
        match self {
            Dtype::F32 | Dtype::Bf16 | Dtype::F16 => None,
            Dtype::Q8_0 => Some(GgmlDType::Q8_0),
            Dtype::Q4_0 => Some(GgmlDType::Q4_0),
            Dtype::Q4k => Some(GgmlDType::Q4K),
            Dtype::Q6k => Some(GgmlDType::Q6K),
        }
    }

    /// Whether this is a block-quantized precision.
    pub fn is_quantized(self) -> bool {
        self.ggml().is_some()
    }

    /// The precision of a stored GGUF tensor type, if Tessera computes in it.
    pub(crate) fn from_ggml(g: GgmlDType) -> Option<Self> {
        match g {
            GgmlDType::F32 => Some(Dtype::F32),
            GgmlDType::F16 => Some(Dtype::F16),
            GgmlDType::BF16 => Some(Dtype::Bf16),
            GgmlDType::Q8_0 => Some(Dtype::Q8_0),
            GgmlDType::Q4_0 => Some(Dtype::Q4_0),
            GgmlDType::Q4K => Some(Dtype::Q4k),
            GgmlDType::Q6K => Some(Dtype::Q6k),
            _ => None,
        }
    }

    /// The precision of a safetensors dtype string (`F32`, `BF16`, `F16`).
    pub(crate) fn from_stored(s: &str) -> Option<Self> {
        match s {
            "F32" => Some(Dtype::F32),
            "BF16" => Some(Dtype::Bf16),
            "F16" => Some(Dtype::F16),
            _ => None,
        }
    }

    /// Parses `f32`, `bf16`, `f16`, `q8_0`, `q4_0`, `q4k` or `q6k` (any case; `q4_k`,
    /// `q6_k`, `float32`, `bfloat16` and `float16` too).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" => Some(Dtype::F32),
            "bf16" | "bfloat16" => Some(Dtype::Bf16),
            "f16" | "float16" => Some(Dtype::F16),
            "q8_0" => Some(Dtype::Q8_0),
            "q4_0" => Some(Dtype::Q4_0),
            "q4k" | "q4_k" => Some(Dtype::Q4k),
            "q6k" | "q6_k" => Some(Dtype::Q6k),
            _ => None,
        }
    }
}

impl std::fmt::Display for Dtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dtype::F32 => "f32",
            Dtype::Bf16 => "bf16",
            Dtype::F16 => "f16",
            Dtype::Q8_0 => "q8_0",
            Dtype::Q4_0 => "q4_0",
            Dtype::Q4k => "q4k",
            Dtype::Q6k => "q6k",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_parse_display_and_serde() {
        for d in Dtype::ALL {
            assert_eq!(Dtype::parse(&d.to_string()), Some(d));
            let json = serde_json::to_string(&d).unwrap();
            assert_eq!(json, format!("\"{d}\""));
            assert_eq!(serde_json::from_str::<Dtype>(&json).unwrap(), d);
            assert_eq!(d.ggml().and_then(Dtype::from_ggml).unwrap_or(d), d);
        }
        assert_eq!(Dtype::parse("Q4_K"), Some(Dtype::Q4k));
        assert_eq!(Dtype::parse("q5k"), None);
        assert_eq!(Dtype::Q4k.candle(), DType::F32);
    }
}
