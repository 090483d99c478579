//! Reading `config.json`: family detection, and typed access to fields that names the field
//! when it is missing or wrong.

use std::path::Path;

use serde_json::{Map, Value};

use crate::fields::Fields;
use crate::{LoadError, dream::DreamConfig, llada::LladaConfig};

/// The transformer families Tessera loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Family {
    /// LLaDA-8B / LLaDA-1.5 (OLMo-style names, `model_type: "llada"`).
    Llada,
    /// Dream-v0-7B (Qwen2 names, shifted logits, `model_type: "Dream"`).
    Dream,
    /// MMaDA-8B (a LLaDA network whose vocabulary continues with image codes,
    /// `model_type: "mmada"`).
    Mmada,
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Family::Llada => "llada",
            Family::Dream => "dream",
            Family::Mmada => "mmada",
        })
    }
}

/// A parsed config of a known family.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ModelConfig {
    /// LLaDA.
    Llada(LladaConfig),
    /// Dream.
    Dream(DreamConfig),
    /// MMaDA: LLaDA's fields (its network), read from an MMaDA config.
    Mmada(LladaConfig),
}

impl ModelConfig {
    /// Reads and validates `dir/config.json`.
    ///
    /// # Errors
    /// [`LoadError::Io`]/[`LoadError::Json`] for an unreadable file,
    /// [`LoadError::UnknownFamily`] for an unsupported model, [`LoadError::Config`] naming
    /// the field for anything missing or inconsistent.
    pub fn from_dir(dir: &Path) -> Result<Self, LoadError> {
        let path = dir.join("config.json");
        let text = crate::safetensors::read(&path)?;
        Self::from_json(&text, &path)
    }

    /// Parses config text; `path` is used in error messages.
    ///
    /// # Errors
    /// As [`ModelConfig::from_dir`].
    pub fn from_json(text: &str, path: &Path) -> Result<Self, LoadError> {
        let value: Value = serde_json::from_str(text).map_err(|source| LoadError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        let Value::Object(obj) = value else {
            return Err(LoadError::Config {
                path: path.to_path_buf(),
                field: "(root)".into(),
                reason: "must be a JSON object".into(),
            });
        };
        let fields = Fields { path, obj: &obj };
        match detect(&fields)? {
            Family::Llada => Ok(ModelConfig::Llada(LladaConfig::parse(&fields)?)),
            Family::Dream => Ok(ModelConfig::Dream(DreamConfig::parse(&fields)?)),
            Family::Mmada => {
                // The vocabulary is text ids then image codes: without both sizes (at least
                // 1) the two cannot be told apart.
                fields.req_count("llm_vocab_size")?;
                fields.req_count("codebook_size")?;
                Ok(ModelConfig::Mmada(LladaConfig::parse(&fields)?))
            }
        }
    }

    /// The family.
    pub fn family(&self) -> Family {
        match self {
            ModelConfig::Llada(_) => Family::Llada,
            ModelConfig::Dream(_) => Family::Dream,
            ModelConfig::Mmada(_) => Family::Mmada,
        }
    }
}

/// Special ids from the optional `generation_config.json` (used where `config.json` is silent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GenerationIds {
    pub(crate) eos: Option<u32>,
    pub(crate) pad: Option<u32>,
    pub(crate) bos: Option<u32>,
}

impl GenerationIds {
    /// Reads `dir/generation_config.json` if it exists; `eos_token_id` may be an id or a list
    /// (the first entry is taken). Ids must lie below `rows` (the embedding size).
    pub(crate) fn from_dir(dir: &Path, rows: usize) -> Result<Self, LoadError> {
        let path = dir.join("generation_config.json");
        if !path.exists() {
            return Ok(Self::default());
        }
        let text = crate::safetensors::read(&path)?;
        let value: Value = serde_json::from_str(&text).map_err(|source| LoadError::Json {
            path: path.clone(),
            source,
        })?;
        let empty = Map::new();
        let f = Fields {
            path: &path,
            obj: value.as_object().unwrap_or(&empty),
        };
        let eos = match f.obj.get("eos_token_id") {
            Some(Value::Array(list)) => match list.first() {
                None => None,
                Some(v) => Some(
                    v.as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| f.err("eos_token_id", "expected a list of token ids"))?,
                ),
            },
            _ => f.opt_u32("eos_token_id")?,
        };
        let ids = GenerationIds {
            eos,
            pad: f.opt_u32("pad_token_id")?,
            bos: f.opt_u32("bos_token_id")?,
        };
        for (field, id) in [
            ("eos_token_id", ids.eos),
            ("pad_token_id", ids.pad),
            ("bos_token_id", ids.bos),
        ] {
            if id.is_some_and(|i| i as usize >= rows) {
                return Err(f.err(field, &format!("is outside the embedding ({rows} rows)")));
            }
        }
        Ok(ids)
    }
}

fn detect(f: &Fields<'_>) -> Result<Family, LoadError> {
    let model_type = f.opt_str("model_type")?.map(str::to_string);
    let architectures: Vec<String> = match f.obj.get("architectures") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(_) => return Err(f.err("architectures", "must be a list of strings")),
    };
    let by_type = match model_type
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("llada") => Some(Family::Llada),
        Some("dream") => Some(Family::Dream),
        Some("mmada") => Some(Family::Mmada),
        _ => None,
    };
    let by_arch = architectures.iter().find_map(|a| match a.as_str() {
        "LLaDAModelLM" => Some(Family::Llada),
        "DreamModel" => Some(Family::Dream),
        "MMadaModelLM" => Some(Family::Mmada),
        _ => None,
    });
    match (by_type, by_arch) {
        (Some(t), Some(a)) if t != a => Err(f.err(
            "architectures",
            &format!(
                "{architectures:?} contradicts model_type {:?}",
                model_type.unwrap_or_default()
            ),
        )),
        (Some(t), _) => Ok(t),
        (None, Some(a)) => Ok(a),
        (None, None) => Err(LoadError::UnknownFamily {
            path: f.path.to_path_buf(),
            model_type,
            architectures,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ModelConfig, LoadError> {
        ModelConfig::from_json(text, Path::new("config.json"))
    }

    fn field_of(e: LoadError) -> String {
        match e {
            LoadError::Config { field, .. } => field,
            other => panic!("expected a config error, got {other}"),
        }
    }

    #[test]
    fn detects_families_and_names_bad_fields() {
        let llada = r#"{"model_type":"llada","d_model":64,"n_layers":2,"n_heads":4,"mlp_hidden_size":96,"vocab_size":300,"mask_token_id":299}"#;
        assert_eq!(parse(llada).unwrap().family(), Family::Llada);
        let dream = r#"{"architectures":["DreamModel"],"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"intermediate_size":96,"vocab_size":300,"mask_token_id":299}"#;
        assert_eq!(parse(dream).unwrap().family(), Family::Dream);
        let mmada = r#"{"model_type":"mmada","architectures":["MMadaModelLM"],"d_model":64,"n_layers":2,"n_heads":4,"mlp_hidden_size":96,"vocab_size":364,"llm_vocab_size":300,"codebook_size":64,"mask_token_id":299}"#;
        assert_eq!(parse(mmada).unwrap().family(), Family::Mmada);
        for field in ["llm_vocab_size", "codebook_size"] {
            let zero = mmada.replace(&format!("\"{field}\":"), &format!("\"{field}\":0,\"was\":"));
            assert_eq!(field_of(parse(&zero).unwrap_err()), field, "{zero}");
            let gone = mmada.replace(&format!("\"{field}\":"), "\"was\":");
            assert_eq!(field_of(parse(&gone).unwrap_err()), field, "{gone}");
        }
        assert!(matches!(
            parse(r#"{"model_type":"gpt2"}"#),
            Err(LoadError::UnknownFamily { .. })
        ));
        assert_eq!(
            field_of(
                parse(r#"{"model_type":"llada","architectures":["DreamModel"]}"#).unwrap_err()
            ),
            "architectures"
        );
        assert_eq!(
            field_of(parse(r#"{"model_type":"llada","d_model":64}"#).unwrap_err()),
            "n_layers"
        );
        assert_eq!(
            field_of(parse(&llada.replace("\"d_model\":64", "\"d_model\":\"x\"")).unwrap_err()),
            "d_model"
        );
        assert_eq!(
            field_of(parse(&llada.replace("\"n_heads\":4", "\"n_heads\":5")).unwrap_err()),
            "d_model"
        );
        assert_eq!(
            field_of(
                parse(&llada.replace("\"n_heads\":4", "\"n_heads\":4,\"n_kv_heads\":3"))
                    .unwrap_err()
            ),
            "n_kv_heads"
        );
        assert!(matches!(parse("{not json"), Err(LoadError::Json { .. })));
        assert_eq!(field_of(parse("[1]").unwrap_err()), "(root)");
    }

    #[test]
    fn values_must_make_sense() {
        let llada = r#"{"model_type":"llada","d_model":64,"n_layers":2,"n_heads":4,"mlp_hidden_size":96,"vocab_size":300,"mask_token_id":299}"#;
        let dream = r#"{"model_type":"Dream","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,"intermediate_size":96,"vocab_size":300,"mask_token_id":299}"#;
        let with = |base: &str, extra: &str| format!("{},{extra}}}", &base[..base.len() - 1]);
        for (base, extra, field) in [
            (llada, r#""rms_norm_eps":-1"#, "rms_norm_eps"),
            (llada, r#""rms_norm_eps":0"#, "rms_norm_eps"),
            (llada, r#""rms_norm_eps":1e-50"#, "rms_norm_eps"),
            (llada, r#""layer_norm_eps":-1e-5"#, "layer_norm_eps"),
            (llada, r#""rope_theta":0"#, "rope_theta"),
            (llada, r#""rope_theta":1e39"#, "rope_theta"),
            (llada, r#""max_sequence_length":0"#, "max_sequence_length"),
            (llada, r#""embedding_size":0"#, "embedding_size"),
            (llada, r#""n_kv_heads":0"#, "n_kv_heads"),
            (dream, r#""rms_norm_eps":-1"#, "rms_norm_eps"),
            (dream, r#""rope_theta":-10000"#, "rope_theta"),
            (
                dream,
                r#""max_position_embeddings":0"#,
                "max_position_embeddings",
            ),
            (dream, r#""num_key_value_heads":3"#, "num_key_value_heads"),
        ] {
            let text = with(base, extra);
            assert_eq!(field_of(parse(&text).unwrap_err()), field, "{text}");
        }
        for (field, base) in [
            ("d_model", llada),
            ("n_heads", llada),
            ("n_layers", llada),
            ("vocab_size", llada),
            ("mlp_hidden_size", llada),
            ("hidden_size", dream),
            ("intermediate_size", dream),
            ("vocab_size", dream),
        ] {
            let text = base.replacen(
                &format!("\"{field}\":"),
                &format!("\"{field}\":0,\"was\":"),
                1,
            );
            let e = parse(&text).unwrap_err();
            assert!(e.to_string().contains("found 0"), "{e}");
            assert_eq!(field_of(e), field, "{text}");
        }
        assert!(parse(&with(llada, r#""rms_norm_eps":1e-6,"rope_theta":1e6"#)).is_ok());
    }
}
