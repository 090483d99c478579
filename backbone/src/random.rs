//! Random checkpoints in the LLaDA format, written to disk exactly as a real one would be
//! (`config.json` + `model.safetensors`), for benchmarks and loader tests.

use std::io::Write;
use std::path::Path;

use tessera_hybrid::Attention;

use crate::LoadError;

/// Dimensions of a random LLaDA-format model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RandomLlada {
    /// Hidden size.
    pub d_model: usize,
    /// Blocks.
    pub n_layers: usize,
    /// Heads.
    pub n_heads: usize,
    /// MLP hidden size.
    pub mlp_hidden_size: usize,
    /// Vocabulary (= embedding rows).
    pub vocab_size: usize,
    /// Weights are written in bf16 instead of f32.
    pub bf16: bool,
    /// Seed of the weights.
    pub seed: u64,
    /// The attention structure the config declares.
    pub attention: Attention,
}

impl RandomLlada {
    /// ≈30M parameters: d_model 512, 8 layers, 8 heads, MLP 1024, vocabulary 8192.
    pub fn small() -> Self {
        RandomLlada {
            d_model: 512,
            n_layers: 8,
            n_heads: 8,
            mlp_hidden_size: 1024,
            vocab_size: 8192,
            bf16: false,
            seed: 0,
            attention: Attention::Full,
        }
    }

    /// ≈239M parameters: d_model 1024, 16 layers, 16 heads, MLP 2816, vocabulary 16384.
    pub fn medium() -> Self {
        RandomLlada {
            d_model: 1024,
            n_layers: 16,
            n_heads: 16,
            mlp_hidden_size: 2816,
            vocab_size: 16384,
            bf16: false,
            seed: 0,
            attention: Attention::Full,
        }
    }

    /// A tiny model for tests: d_model 32, 2 layers, 4 heads, MLP 48, vocabulary 64.
    pub fn tiny() -> Self {
        RandomLlada {
            d_model: 32,
            n_layers: 2,
            n_heads: 4,
            mlp_hidden_size: 48,
            vocab_size: 64,
            bf16: false,
            seed: 0,
            attention: Attention::Full,
        }
    }

    /// Writes the weights in bf16.
    pub fn bf16(mut self, on: bool) -> Self {
        self.bf16 = on;
        self
    }

    /// Declares the given attention structure in the config.
    pub fn attention(mut self, attention: Attention) -> Self {
        self.attention = attention;
        self
    }

    /// The mask id written to the config (the last vocabulary entry).
    pub fn mask_id(&self) -> u32 {
        self.vocab_size as u32 - 1
    }

    /// Writes `config.json` and `model.safetensors` into `dir` (created if needed).
    ///
    /// # Errors
    /// [`LoadError::Io`] if the folder or files cannot be written.
    pub fn write(&self, dir: &Path) -> Result<(), LoadError> {
        let io = |source| LoadError::Io {
            path: dir.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut config = serde_json::json!({
            "model_type": "llada",
            "architectures": ["LLaDAModelLM"],
            "block_type": "llama",
            "d_model": self.d_model,
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "n_kv_heads": self.n_heads,
            "mlp_hidden_size": self.mlp_hidden_size,
            "activation_type": "silu",
            "vocab_size": self.vocab_size,
            "embedding_size": self.vocab_size,
            "max_sequence_length": 4096,
            "rope": true,
            "rope_theta": 500000.0,
            "layer_norm_type": "rms",
            "rms_norm_eps": 1e-5,
            "include_bias": false,
            "include_qkv_bias": false,
            "weight_tying": false,
            "mask_token_id": self.mask_id(),
            "eos_token_id": self.vocab_size as u32 - 2,
            "pad_token_id": self.vocab_size as u32 - 2,
        });
        if self.attention != Attention::Full {
            config["attention"] = self.attention.to_string().into();
        }
        std::fs::write(dir.join("config.json"), config.to_string()).map_err(io)?;
        let shapes = crate::llada::weight_shapes(
            self.d_model,
            self.mlp_hidden_size,
            self.vocab_size,
            self.n_layers,
        );
        write_streaming(
            &dir.join("model.safetensors"),
            &shapes,
            self.bf16,
            self.seed,
        )
    }
}

/// Writes a safetensors file one tensor at a time (header first, then each tensor's bytes
/// as it is generated), so even a large random model never sits in memory whole.
/// Matrices are uniform in ±√(3/fan_in); vectors (norm weights) are ones.
fn write_streaming(
    path: &Path,
    shapes: &[(String, Vec<usize>)],
    bf16: bool,
    seed: u64,
) -> Result<(), LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    let elem = if bf16 { 2 } else { 4 };
    let mut header = serde_json::Map::new();
    let mut offset = 0usize;
    for (name, shape) in shapes {
        let bytes = shape.iter().product::<usize>() * elem;
        header.insert(
            name.clone(),
            serde_json::json!({
                "dtype": if bf16 { "BF16" } else { "F32" },
                "shape": shape,
                "data_offsets": [offset, offset + bytes],
            }),
        );
        offset += bytes;
    }
    let mut text = serde_json::Value::Object(header).to_string();
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
    out.write_all(&(text.len() as u64).to_le_bytes())
        .map_err(io)?;
    out.write_all(text.as_bytes()).map_err(io)?;
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut buf = Vec::new();
    for (_, shape) in shapes {
        let n: usize = shape.iter().product();
        let scale = if shape.len() == 1 {
            0.0
        } else {
            (3.0 / shape[1] as f32).sqrt()
        };
        buf.clear();
        for _ in 0..n {
            let v = if shape.len() == 1 {
                1.0
            } else {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                ((rng >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
            };
            if bf16 {
                buf.extend_from_slice(&half::bf16::from_f32(v).to_bits().to_le_bytes());
            } else {
                buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        out.write_all(&buf).map_err(io)?;
    }
    out.flush().map_err(io)
}
