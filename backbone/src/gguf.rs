//! GGUF files — llama.cpp's single-file format — of the LLaDA and Dream architectures, as
//! its `convert_hf_to_gguf.py` and `llama-quantize` write them.
//!
//! The header is read by candle's reader (which bounds every length by the file's size);
//! the metadata is mapped onto the family's `config.json` fields and validated by the same
//! parser, with errors naming the GGUF key. Tensors are read one at a time as they are
//! loaded, in the format stored: block-quantized ones stay quantized unless another
//! precision is asked for ([`crate::weights::Quantize`]).
//!
//! Two things the conversion changed are undone here:
//! - **LLaDA's query and key rows are permuted.** llama.cpp rotates adjacent pairs
//!   (its "normal" RoPE) where the checkpoint rotates halves (`rotate_half`), so
//!   `LLaDAModel.modify_tensors` reorders each head's rows from `[half 0 | half 1]` to
//!   interleaved: GGUF row `h·hd + 2j + t` holds checkpoint row `h·hd + t·hd/2 + j`. The
//!   loader puts them back ([`unpermute`]); rows never share a block, so this is a copy of
//!   whole rows in any format. Dream (NEOX RoPE, like Qwen2) is stored as is.
//! - **Names**: `token_embd`, `blk.N.attn_q`, …, `output_norm`, `output` ([`GgufNames`]);
//!   no `output.weight` means the head is tied to the embedding.
//!
//! The tokenizer: `Engine` takes `tokenizer.json` from the folder holding the file, and
//! otherwise rebuilds the one the file carries ([`crate::gguf_vocab`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use serde_json::{Map, json};

use crate::config::ModelConfig;
use crate::dense::quantized_from_bytes;
use crate::transformer::{Part, TensorNames};
use crate::weights::Source;
use crate::{Dtype, LoadError};

/// An open GGUF file.
#[derive(Debug)]
pub(crate) struct GgufFile {
    path: PathBuf,
    file: File,
    content: Content,
    /// `(heads, kv_heads)` whose query and key rows are stored permuted (LLaDA).
    permuted: Option<(usize, usize)>,
}

/// The tensor names llama.cpp gives both families.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GgufNames;

impl TensorNames for GgufNames {
    fn embedding(&self) -> String {
        "token_embd.weight".into()
    }
    fn final_norm(&self) -> String {
        "output_norm.weight".into()
    }
    fn head(&self) -> String {
        "output.weight".into()
    }
    fn layer(&self, i: usize, part: Part) -> String {
        let leaf = match part {
            Part::Q => "attn_q.weight",
            Part::K => "attn_k.weight",
            Part::V => "attn_v.weight",
            Part::QBias => "attn_q.bias",
            Part::KBias => "attn_k.bias",
            Part::VBias => "attn_v.bias",
            Part::O => "attn_output.weight",
            Part::Gate => "ffn_gate.weight",
            Part::Up => "ffn_up.weight",
            Part::Down => "ffn_down.weight",
            Part::AttnNorm => "attn_norm.weight",
            Part::MlpNorm => "ffn_norm.weight",
        };
        format!("blk.{i}.{leaf}")
    }
}

/// Whether `path` is a GGUF file (by its magic bytes, whatever its name).
pub(crate) fn is_gguf(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    path.is_file()
        && File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
        && &magic == b"GGUF"
}

/// The one GGUF file of folder `dir` when the folder has no `config.json` (a GGUF-only
/// download); `None` for anything else.
///
/// # Errors
/// [`LoadError::Gguf`] when the folder holds several GGUF files (which one is meant is not
/// for the loader to guess); [`LoadError::Io`] when it cannot be listed.
pub(crate) fn only_gguf_in(dir: &Path) -> Result<Option<PathBuf>, LoadError> {
    if !dir.is_dir() || dir.join("config.json").exists() {
        return Ok(None);
    }
    let entries = std::fs::read_dir(dir).map_err(|source| LoadError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
                && is_gguf(p)
        })
        .collect();
    found.sort();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(LoadError::Gguf {
            path: dir.to_path_buf(),
            reason: format!(
                "no config.json and {} GGUF files ({}): name the file to load",
                found.len(),
                found
                    .iter()
                    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

impl GgufFile {
    /// Opens `path` and reads its header.
    pub(crate) fn open(path: &Path) -> Result<Self, LoadError> {
        let file = File::open(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let content = Content::read(&mut &file).map_err(|e| LoadError::Gguf {
            path: path.to_path_buf(),
            reason: format!("unreadable header: {e}"),
        })?;
        Ok(GgufFile {
            path: path.to_path_buf(),
            file,
            content,
            permuted: None,
        })
    }

    fn err(&self, reason: impl Into<String>) -> LoadError {
        LoadError::Gguf {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    /// `general.architecture`.
    fn architecture(&self) -> Result<&str, LoadError> {
        match self.content.metadata.get("general.architecture") {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(self.err("`general.architecture` is not a string")),
            None => Err(self.err("`general.architecture` is missing")),
        }
    }

    /// The model's config, from the metadata (see the module docs); records the query/key
    /// permutation for the tensors read afterwards.
    pub(crate) fn config(&mut self) -> Result<ModelConfig, LoadError> {
        let arch = self.architecture()?.to_string();
        let md = &self.content.metadata;
        let key = |k: &str| format!("{arch}.{k}");
        let embed_rows = self
            .content
            .tensor_infos
            .get(&GgufNames.embedding())
            .map(|t| t.shape.dims().first().copied().unwrap_or(0));
        let llada = match arch.as_str() {
            "llada" => true,
            "dream" => false,
            _ => {
                return Err(LoadError::UnknownFamily {
                    path: self.path.clone(),
                    model_type: Some(arch),
                    architectures: Vec::new(),
                });
            }
        };
        // (GGUF key, config.json field): the architecture's keys under the family's names
        // (LLaDA's OLMo-style, Dream's Qwen2-style), then the tokenizer's special ids.
        let family_fields: [(&str, &str, Option<&str>); 9] = [
            ("embedding_length", "d_model", Some("hidden_size")),
            ("block_count", "n_layers", Some("num_hidden_layers")),
            (
                "attention.head_count",
                "n_heads",
                Some("num_attention_heads"),
            ),
            (
                "attention.head_count_kv",
                "n_kv_heads",
                Some("num_key_value_heads"),
            ),
            (
                "feed_forward_length",
                "mlp_hidden_size",
                Some("intermediate_size"),
            ),
            ("vocab_size", "vocab_size", None),
            (
                "context_length",
                "max_sequence_length",
                Some("max_position_embeddings"),
            ),
            ("rope.freq_base", "rope_theta", Some("rope_theta")),
            (
                "attention.layer_norm_rms_epsilon",
                "rms_norm_eps",
                Some("rms_norm_eps"),
            ),
        ];
        let names: Vec<(String, &str)> = family_fields
            .iter()
            .filter_map(|&(k, l, d)| Some((key(k), if llada { l } else { d? })))
            .chain([
                ("tokenizer.ggml.mask_token_id".into(), "mask_token_id"),
                ("tokenizer.ggml.eos_token_id".into(), "eos_token_id"),
                ("tokenizer.ggml.padding_token_id".into(), "pad_token_id"),
                ("tokenizer.ggml.bos_token_id".into(), "bos_token_id"),
            ])
            .collect();
        let mut obj = Map::new();
        for (gguf_key, field) in &names {
            if let Some(v) = md.get(gguf_key) {
                obj.insert(field.to_string(), to_json(v));
            }
        }
        let tied = !self.content.tensor_infos.contains_key(&GgufNames.head());
        // `diffusion.shift_logits`: llama.cpp shifts unless told otherwise (Dream writes
        // nothing, LLaDA writes `false`).
        let shift = match md.get("diffusion.shift_logits") {
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(self.err("`diffusion.shift_logits` is not a boolean")),
            None => true,
        };
        let causal = matches!(md.get(&key("attention.causal")), Some(Value::Bool(true)));
        if llada {
            obj.insert("model_type".into(), json!("llada"));
            obj.insert("weight_tying".into(), json!(tied));
            if let Some(rows) = embed_rows {
                obj.insert("embedding_size".into(), json!(rows));
                obj.entry("vocab_size").or_insert(json!(rows));
            }
            if causal {
                obj.insert("attention".into(), json!("causal"));
            }
            if shift {
                return Err(self.err(
                    "`diffusion.shift_logits` is true: LLaDA predicts each position's own token",
                ));
            }
        } else {
            obj.insert("model_type".into(), json!("Dream"));
            obj.insert("tie_word_embeddings".into(), json!(tied));
            if let Some(rows) = embed_rows {
                obj.insert("vocab_size".into(), json!(rows));
            }
            if !shift {
                return Err(self
                    .err("`diffusion.shift_logits` is false: Dream's logits are shifted by one"));
            }
            if causal {
                return Err(self.err(format!(
                    "`{}` is true: Dream attends both ways",
                    key("attention.causal")
                )));
            }
        }
        let text = serde_json::Value::Object(obj).to_string();
        let config = ModelConfig::from_json(&text, &self.path).map_err(|e| match e {
            // Name the GGUF key the field came from.
            LoadError::Config {
                path,
                field,
                reason,
            } => {
                let field = names
                    .iter()
                    .find(|(_, f)| *f == field)
                    .map_or(field, |(k, f)| format!("{k} (as {f})"));
                LoadError::Config {
                    path,
                    field,
                    reason,
                }
            }
            other => other,
        })?;
        if let ModelConfig::Llada(c) = &config {
            self.permuted = Some((c.n_heads, c.n_kv_heads));
        }
        Ok(config)
    }

    /// How many tensors are stored in each format, e.g. `{"F32": 17, "Q4_K": 96, "Q6_K": 17}`.
    pub(crate) fn tensor_types(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for t in self.content.tensor_infos.values() {
            *counts.entry(type_name(t.ggml_dtype)).or_insert(0) += 1;
        }
        counts
    }

    /// Bytes of tensor data.
    pub(crate) fn data_bytes(&self) -> u64 {
        self.content
            .tensor_infos
            .values()
            .map(|t| {
                let g = t.ggml_dtype;
                (t.shape.elem_count() / g.block_size() * g.type_size()) as u64
            })
            .sum()
    }

    /// The precision most of the matrices' weights are stored in (by element count), for
    /// reporting and as the default compute precision.
    pub(crate) fn stored_dtype(&self) -> Result<Dtype, LoadError> {
        let mut by_type: BTreeMap<String, (usize, GgmlDType)> = BTreeMap::new();
        for t in self.content.tensor_infos.values() {
            if t.shape.rank() == 2 {
                let e = by_type
                    .entry(type_name(t.ggml_dtype))
                    .or_insert((0, t.ggml_dtype));
                e.0 = e.0.saturating_add(t.shape.elem_count());
            }
        }
        let (_, (_, g)) = by_type
            .into_iter()
            .max_by_key(|(_, (n, _))| *n)
            .ok_or_else(|| self.err("holds no matrices"))?;
        Dtype::from_ggml(g).ok_or_else(|| {
            self.err(format!(
                "its matrices are mostly {}, a format Tessera does not compute in \
                 (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)",
                type_name(g)
            ))
        })
    }

    /// Reads `name` as stored, checked against `shape`, with LLaDA's query/key rows put back.
    fn read(&self, name: &str, shape: &[usize]) -> Result<QTensor, LoadError> {
        let info = self
            .content
            .tensor_infos
            .get(name)
            .ok_or_else(|| LoadError::MissingTensor(name.to_string()))?;
        if info.shape.dims() != shape {
            return Err(LoadError::Shape {
                name: name.to_string(),
                expected: shape.to_vec(),
                found: info.shape.dims().to_vec(),
            });
        }
        let q = info
            .read(
                &mut &self.file,
                self.content.tensor_data_offset,
                &Device::Cpu,
            )
            .map_err(|e| self.err(format!("tensor `{name}`: {e}")))?;
        // The converter permutes the biases' rows with their weights'.
        let heads = match self.permuted {
            Some((heads, _)) if name.contains(".attn_q.") => Some(heads),
            Some((_, kv_heads)) if name.contains(".attn_k.") => Some(kv_heads),
            _ => None,
        };
        match heads {
            Some(h) => unpermute(&q, h),
            None => Ok(q),
        }
    }
}

impl Source for GgufFile {
    fn tensor(
        &self,
        name: &str,
        shape: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor, LoadError> {
        let q = self.read(name, shape)?;
        let t = match q.dtype() {
            // Exact: the stored values, widened only where the dtype asks.
            GgmlDType::F16 if dtype == DType::F16 => q.dequantize_f16(&Device::Cpu)?,
            _ => q.dequantize(&Device::Cpu)?,
        };
        Ok(t.to_dtype(dtype)?.to_device(device)?)
    }

    fn quantized(&self, name: &str, shape: &[usize]) -> Result<Option<QTensor>, LoadError> {
        let stored = self
            .content
            .tensor_infos
            .get(name)
            .map(|t| t.ggml_dtype)
            .ok_or_else(|| LoadError::MissingTensor(name.to_string()))?;
        if matches!(stored, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16) {
            return Ok(None);
        }
        self.read(name, shape).map(Some)
    }
}

/// llama.cpp's spelling of a tensor type (`Q4_K`, not candle's `Q4K`).
fn type_name(g: GgmlDType) -> String {
    let s = format!("{g:?}");
    match s.strip_suffix('K') {
        Some(base) if s.len() == 3 => format!("{base}_K"),
        _ => s,
    }
}

/// A metadata value as JSON (numbers, booleans, strings, arrays of them).
pub(crate) fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::U8(x) => json!(x),
        Value::I8(x) => json!(x),
        Value::U16(x) => json!(x),
        Value::I16(x) => json!(x),
        Value::U32(x) => json!(x),
        Value::I32(x) => json!(x),
        Value::U64(x) => json!(x),
        Value::I64(x) => json!(x),
        Value::F32(x) => json!(f64::from(*x)),
        Value::F64(x) => json!(x),
        Value::Bool(x) => json!(x),
        Value::String(x) => json!(x),
        Value::Array(xs) => xs.iter().map(to_json).collect(),
    }
}

/// Undoes llama.cpp's query/key row permutation for LLaDA (see the module docs) on a
/// `[heads·hd, k]` matrix or a `[heads·hd]` bias, in any format.
pub(crate) fn unpermute(q: &QTensor, heads: usize) -> Result<QTensor, LoadError> {
    let dims = q.shape().dims();
    let rows = dims.first().copied().unwrap_or(0);
    let k: usize = dims.iter().skip(1).product();
    let hd = rows / heads.max(1);
    let half = hd / 2;
    if heads == 0 || rows != heads * hd || hd != 2 * half {
        return Err(LoadError::Shape {
            name: "attention rows".into(),
            expected: vec![heads, 2, half, k],
            found: vec![rows, k],
        });
    }
    let data = q.data()?;
    let row = data.len() / rows.max(1);
    let mut out = vec![0u8; data.len()];
    for h in 0..heads {
        for t in 0..2 {
            for j in 0..half {
                let (ours, theirs) = (h * hd + t * half + j, h * hd + 2 * j + t);
                out[ours * row..(ours + 1) * row]
                    .copy_from_slice(&data[theirs * row..(theirs + 1) * row]);
            }
        }
    }
    Ok(quantized_from_bytes(
        &out,
        q.dtype(),
        q.shape().clone(),
        &Device::Cpu,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpermute_inverts_the_conversion() {
        // convert_hf_to_gguf's permute: reshape(heads, 2, hd/2, k).swapaxes(1, 2).
        let (heads, hd, k) = (2, 6, 4);
        let rows = heads * hd;
        let hf: Vec<f32> = (0..rows * k).map(|i| i as f32).collect();
        let mut gguf = vec![0f32; rows * k];
        for h in 0..heads {
            for t in 0..2 {
                for j in 0..hd / 2 {
                    let (src, dst) = (h * hd + t * hd / 2 + j, h * hd + 2 * j + t);
                    gguf[dst * k..(dst + 1) * k].copy_from_slice(&hf[src * k..(src + 1) * k]);
                }
            }
        }
        let t = Tensor::from_vec(gguf, (rows, k), &Device::Cpu).unwrap();
        let q = QTensor::quantize(&t, GgmlDType::F32).unwrap();
        let back = unpermute(&q, heads)
            .unwrap()
            .dequantize(&Device::Cpu)
            .unwrap();
        assert_eq!(back.flatten_all().unwrap().to_vec1::<f32>().unwrap(), hf);
        assert!(unpermute(&q, 5).is_err());
        // A bias: one value per row.
        let column = Tensor::from_vec(
            (0..rows)
                .map(|r| {
                    back.get(r)
                        .unwrap()
                        .get(0)
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap()
                })
                .collect::<Vec<_>>(),
            rows,
            &Device::Cpu,
        )
        .unwrap();
        let stored = q
            .dequantize(&Device::Cpu)
            .unwrap()
            .narrow(1, 0, 1)
            .unwrap()
            .flatten_all()
            .unwrap();
        let bias = QTensor::quantize(&stored, GgmlDType::F32).unwrap();
        let back_bias = unpermute(&bias, heads)
            .unwrap()
            .dequantize(&Device::Cpu)
            .unwrap();
        assert_eq!(
            back_bias.to_vec1::<f32>().unwrap(),
            column.to_vec1::<f32>().unwrap()
        );
    }

    #[test]
    fn type_names_follow_llama_cpp() {
        assert_eq!(type_name(GgmlDType::Q4K), "Q4_K");
        assert_eq!(type_name(GgmlDType::Q8_0), "Q8_0");
        assert_eq!(type_name(GgmlDType::F32), "F32");
        assert_eq!(type_name(GgmlDType::BF16), "BF16");
    }
}
