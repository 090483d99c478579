//! MAGVIT-v2 configuration: the published architecture by default, explicit fields for
//! small models.
//!
//! The published `showlab/magvitv2/config.json` carries no architecture fields (only
//! diffusers bookkeeping such as `_class_name`), so every field defaults to the published
//! value. A config may describe another size with `"encoder": {…}` and `"decoder": {…}`
//! objects using the reference constructor's argument names and a top-level `codebook_dim`.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::image::ImageError;

/// Groups of every GroupNorm in the model (the reference's `Normalize`).
pub(crate) const NORM_GROUPS: usize = 32;
/// Epsilon of every GroupNorm.
pub(crate) const NORM_EPS: f64 = 1e-6;
/// Largest picture side accepted (keeps a config from asking for absurd allocations).
const MAX_RESOLUTION: usize = 8192;

/// One side of the autoencoder (`VQGANEncoder` / `VQGANDecoder` constructor arguments).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CoderConfig {
    /// Base channel count.
    pub ch: usize,
    /// Channel multiplier per resolution level (level 0 is the full resolution).
    pub ch_mult: Vec<usize>,
    /// Residual blocks per level.
    pub num_res_blocks: Vec<usize>,
    /// Resolutions (feature-map sides) at which each residual block of a level is followed
    /// by a self-attention block. The published value `[5]` never matches, so the published
    /// model only attends in its middle block.
    pub attn_resolutions: Vec<usize>,
    /// Input channels (3 for the encoder).
    pub in_ch: usize,
    /// Output channels (3 for the decoder).
    pub out_ch: usize,
    /// Picture side in pixels.
    pub resolution: usize,
    /// Latent channels (= `codebook_dim`).
    pub z_channels: usize,
    /// Whether the encoder outputs mean and variance; must be `false` for LFQ.
    pub double_z: bool,
}

impl CoderConfig {
    /// The published encoder: ch 128, `ch_mult` `[1, 2, 2, 4, 4]`, `num_res_blocks` `[4, 3, 4, 3, 4]`.
    pub fn published_encoder() -> Self {
        CoderConfig {
            ch: 128,
            ch_mult: vec![1, 2, 2, 4, 4],
            num_res_blocks: vec![4, 3, 4, 3, 4],
            attn_resolutions: vec![5],
            in_ch: 3,
            out_ch: 3,
            resolution: 256,
            z_channels: 13,
            double_z: false,
        }
    }

    /// The published decoder: ch 128, `ch_mult` `[1, 1, 2, 2, 4]`, `num_res_blocks` `[4, 4, 3, 4, 3]`.
    pub fn published_decoder() -> Self {
        CoderConfig {
            ch_mult: vec![1, 1, 2, 2, 4],
            num_res_blocks: vec![4, 4, 3, 4, 3],
            ..Self::published_encoder()
        }
    }

    /// Number of resolution levels.
    pub fn levels(&self) -> usize {
        self.ch_mult.len()
    }

    /// Side of the latent grid: `resolution / 2^(levels − 1)`.
    pub fn latent_side(&self) -> usize {
        self.resolution >> self.levels().saturating_sub(1)
    }
}

/// A MAGVIT-v2 tokenizer's architecture.
///
/// ```
/// use tessera_modalities::image::MagvitV2Config;
/// let published = MagvitV2Config::from_json(&serde_json::json!({"_class_name": "MAGVITv2"}))?;
/// assert_eq!(published, MagvitV2Config::published());
/// assert_eq!(published.grid(), (16, 16));
/// let tiny = MagvitV2Config::from_json(&serde_json::json!({
///     "encoder": {"ch": 32, "ch_mult": [1, 2], "num_res_blocks": [1, 1], "resolution": 32},
///     "decoder": {"ch": 32, "ch_mult": [1, 2], "num_res_blocks": [1, 1], "resolution": 32},
/// }))?;
/// assert_eq!(tiny.grid(), (16, 16));
/// assert!(MagvitV2Config::from_json(&serde_json::json!({"codebook_dim": "x"})).is_err());
/// # Ok::<(), tessera_modalities::image::ImageError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MagvitV2Config {
    /// The encoder.
    pub encoder: CoderConfig,
    /// The decoder.
    pub decoder: CoderConfig,
    /// Bits per code of the lookup-free quantiser (13: 8192 codes).
    pub codebook_dim: usize,
}

impl Default for MagvitV2Config {
    fn default() -> Self {
        Self::published()
    }
}

impl MagvitV2Config {
    /// The published `showlab/magvitv2` architecture.
    pub fn published() -> Self {
        MagvitV2Config {
            encoder: CoderConfig::published_encoder(),
            decoder: CoderConfig::published_decoder(),
            codebook_dim: 13,
        }
    }

    /// Reads and validates `config.json`.
    ///
    /// # Errors
    /// [`ImageError::Io`] if it cannot be read, [`ImageError::Config`] naming the field if
    /// it is malformed or invalid.
    pub fn from_file(path: &Path) -> Result<Self, ImageError> {
        Self::parse(&crate::image::read_json(path)?, path)
    }

    /// Builds and validates a config from parsed JSON (fields not given take the published
    /// values).
    ///
    /// # Errors
    /// [`ImageError::Config`] naming the field.
    pub fn from_json(value: &Value) -> Result<Self, ImageError> {
        Self::parse(value, Path::new(""))
    }

    pub(crate) fn parse(value: &Value, path: &Path) -> Result<Self, ImageError> {
        let err = |field: &str, reason: String| ImageError::Config {
            path: path.to_path_buf(),
            field: field.into(),
            reason,
        };
        let obj = value
            .as_object()
            .ok_or_else(|| err("(root)", "expected a JSON object".into()))?;
        let mut cfg = Self::published();
        if let Some(v) = obj.get("codebook_dim") {
            cfg.codebook_dim = as_usize(v).ok_or_else(|| {
                err(
                    "codebook_dim",
                    format!("expected a non-negative integer, got {v}"),
                )
            })?;
        }
        for (name, side) in [("encoder", &mut cfg.encoder), ("decoder", &mut cfg.decoder)] {
            match obj.get(name) {
                None => {}
                Some(Value::Object(fields)) => parse_coder(fields, name, side, path)?,
                Some(v) => return Err(err(name, format!("expected an object, got {v}"))),
            }
        }
        cfg.validate_at(path)?;
        Ok(cfg)
    }

    /// Checks that the architecture can be built and quantised.
    ///
    /// # Errors
    /// [`ImageError::Config`] naming the offending field.
    pub fn validate(&self) -> Result<(), ImageError> {
        self.validate_at(Path::new(""))
    }

    fn validate_at(&self, path: &Path) -> Result<(), ImageError> {
        let err = |field: String, reason: String| ImageError::Config {
            path: path.to_path_buf(),
            field,
            reason,
        };
        if !(1..=crate::image::Lfq::MAX_BITS).contains(&self.codebook_dim) {
            return Err(err(
                "codebook_dim".into(),
                format!("must be between 1 and 31, got {}", self.codebook_dim),
            ));
        }
        for (name, c) in [("encoder", &self.encoder), ("decoder", &self.decoder)] {
            let f = |field: &str| format!("{name}.{field}");
            if c.ch_mult.is_empty() {
                return Err(err(f("ch_mult"), "must not be empty".into()));
            }
            if c.ch == 0 || c.ch_mult.contains(&0) {
                return Err(err(f("ch_mult"), "channel counts must be positive".into()));
            }
            if let Some(m) = c
                .ch_mult
                .iter()
                .find(|&&m| !(c.ch * m).is_multiple_of(NORM_GROUPS))
            {
                return Err(err(
                    f("ch"),
                    format!(
                        "ch × ch_mult ({} × {m}) must be a multiple of {NORM_GROUPS} (GroupNorm groups)",
                        c.ch
                    ),
                ));
            }
            if c.num_res_blocks.len() != c.ch_mult.len() {
                return Err(err(
                    f("num_res_blocks"),
                    format!(
                        "has {} entries but ch_mult has {}",
                        c.num_res_blocks.len(),
                        c.ch_mult.len()
                    ),
                ));
            }
            if c.num_res_blocks.contains(&0) {
                return Err(err(f("num_res_blocks"), "every level needs a block".into()));
            }
            let scale = 1usize
                .checked_shl(u32::try_from(c.levels() - 1).unwrap_or(u32::MAX))
                .filter(|&s| s <= c.resolution);
            match scale {
                Some(s) if c.resolution.is_multiple_of(s) && c.resolution <= MAX_RESOLUTION => {}
                _ => {
                    return Err(err(
                        f("resolution"),
                        format!(
                            "{} is not a positive multiple of 2^{} (one halving per level) \
                             up to {MAX_RESOLUTION}",
                            c.resolution,
                            c.levels() - 1
                        ),
                    ));
                }
            }
            if c.z_channels != self.codebook_dim {
                return Err(err(
                    f("z_channels"),
                    format!(
                        "{} differs from codebook_dim {} (LFQ uses one bit per channel)",
                        c.z_channels, self.codebook_dim
                    ),
                ));
            }
            if c.double_z {
                return Err(err(
                    f("double_z"),
                    "must be false for a lookup-free quantiser".into(),
                ));
            }
        }
        if self.encoder.in_ch != 3 {
            return Err(err(
                "encoder.in_ch".into(),
                format!("must be 3 (RGB), got {}", self.encoder.in_ch),
            ));
        }
        if self.decoder.out_ch != 3 {
            return Err(err(
                "decoder.out_ch".into(),
                format!("must be 3 (RGB), got {}", self.decoder.out_ch),
            ));
        }
        if self.encoder.resolution != self.decoder.resolution {
            return Err(err(
                "decoder.resolution".into(),
                format!(
                    "{} differs from encoder.resolution {}",
                    self.decoder.resolution, self.encoder.resolution
                ),
            ));
        }
        if self.encoder.latent_side() != self.decoder.latent_side() {
            return Err(err(
                "decoder.ch_mult".into(),
                format!(
                    "decoder has {} levels but the encoder {}: their latent grids differ",
                    self.decoder.levels(),
                    self.encoder.levels()
                ),
            ));
        }
        Ok(())
    }

    /// Picture side in pixels.
    pub fn resolution(&self) -> usize {
        self.encoder.resolution
    }

    /// The code grid (height, width).
    pub fn grid(&self) -> (usize, usize) {
        let s = self.encoder.latent_side();
        (s, s)
    }

    /// Number of codes, `2^codebook_dim`.
    pub fn codebook_size(&self) -> usize {
        1usize << self.codebook_dim.min(crate::image::Lfq::MAX_BITS)
    }
}

fn as_usize(v: &Value) -> Option<usize> {
    v.as_u64().and_then(|n| usize::try_from(n).ok())
}

fn parse_coder(
    fields: &Map<String, Value>,
    name: &str,
    c: &mut CoderConfig,
    path: &Path,
) -> Result<(), ImageError> {
    let err = |field: &str, reason: String| ImageError::Config {
        path: PathBuf::from(path),
        field: format!("{name}.{field}"),
        reason,
    };
    let int = |key: &str, v: &Value| {
        as_usize(v).ok_or_else(|| err(key, format!("expected a non-negative integer, got {v}")))
    };
    let list = |key: &str, v: &Value| -> Result<Vec<usize>, ImageError> {
        let items = v
            .as_array()
            .ok_or_else(|| err(key, format!("expected a list of integers, got {v}")))?;
        items
            .iter()
            .map(|x| {
                as_usize(x).ok_or_else(|| {
                    err(
                        key,
                        format!("expected a list of non-negative integers, got {v}"),
                    )
                })
            })
            .collect()
    };
    for (key, v) in fields {
        match key.as_str() {
            "ch" => c.ch = int(key, v)?,
            "ch_mult" => c.ch_mult = list(key, v)?,
            "num_res_blocks" => c.num_res_blocks = list(key, v)?,
            "attn_resolutions" => c.attn_resolutions = list(key, v)?,
            "in_ch" => c.in_ch = int(key, v)?,
            "out_ch" => c.out_ch = int(key, v)?,
            "resolution" => c.resolution = int(key, v)?,
            "z_channels" => c.z_channels = int(key, v)?,
            "double_z" => {
                c.double_z = v
                    .as_bool()
                    .ok_or_else(|| err(key, format!("expected true or false, got {v}")))?;
            }
            // Training-only; accepted because the reference constructor takes it.
            "dropout" => {
                if !v.is_number() {
                    return Err(err(key, format!("expected a number, got {v}")));
                }
            }
            _ => return Err(err(key, "unknown field".into())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(v: Value) -> String {
        match MagvitV2Config::from_json(&v) {
            Err(ImageError::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn published_defaults_and_grid() {
        let c = MagvitV2Config::from_json(&json!({})).unwrap();
        assert_eq!(c, MagvitV2Config::published());
        assert_eq!(c.grid(), (16, 16));
        assert_eq!(c.codebook_size(), 8192);
        assert_eq!(c.decoder.ch_mult, [1, 1, 2, 2, 4]);
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(field_of(json!({"codebook_dim": -1})), "codebook_dim");
        assert_eq!(field_of(json!({"codebook_dim": 12})), "encoder.z_channels");
        assert_eq!(field_of(json!({"encoder": {"ch": 20}})), "encoder.ch");
        assert_eq!(field_of(json!({"encoder": {"chh": 32}})), "encoder.chh");
        assert_eq!(
            field_of(json!({"encoder": {"ch_mult": "x"}})),
            "encoder.ch_mult"
        );
        assert_eq!(
            field_of(json!({"decoder": {"num_res_blocks": [1, 2]}})),
            "decoder.num_res_blocks"
        );
        assert_eq!(
            field_of(json!({"encoder": {"double_z": true}})),
            "encoder.double_z"
        );
        assert_eq!(
            field_of(json!({"encoder": {"resolution": 200}})),
            "encoder.resolution"
        );
        assert_eq!(
            field_of(json!({"decoder": {"resolution": 512}})),
            "decoder.resolution"
        );
        assert_eq!(field_of(json!({"encoder": {"in_ch": 1}})), "encoder.in_ch");
        assert_eq!(field_of(json!({"decoder": 3})), "decoder");
        assert_eq!(field_of(json!([1])), "(root)");
    }
}
