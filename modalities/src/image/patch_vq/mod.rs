//! A learned patch vector quantiser for small models.
//!
//! A picture is cut into non-overlapping `P × P` RGB patches; each patch is replaced by the
//! index of its nearest codeword (squared Euclidean distance, ties to the lower index);
//! decoding pastes the codewords back. The codebook is fitted by k-means over the patches
//! of a set of training pictures (see [`PatchVq::fit`]).
//!
//! A codeword is `P·P·3` floats in [0, 1] (`u8 / 255`), laid out like the patch's pixels:
//! entry `(dy·P + dx)·3 + c` is channel `c` of the pixel at `(dx, dy)` in the patch.
//!
//! **Reading moved shapes.** A codec may carry an *alignment* of `r` pixels
//! ([`PatchVq::with_alignment`]): [`ImageTokenizer::encode`] then reads the picture at the
//! offset within `r` pixels whose patches code with the least error, so a shape drawn a few
//! pixels off the grid codes as in place (see `align.rs`).
//!
//! On disk: `config.json` = `{"type": "patch-vq", "patch": P, "codebook_size": K,
//! "resolution": [W, H]}` (and `"align": r` with an alignment) and `model.safetensors` with
//! one tensor, `codebook`: `[K, P·P·3]` f32.

mod align;
mod kmeans;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use image::RgbImage;
use serde_json::{Value, json};

use super::{ImageCodes, ImageError, ImageTokenizer, ResizeFilter, prepare_image};

/// Largest patch side accepted.
const MAX_PATCH: usize = 1024;
/// Largest picture accepted (pixels), as [`super::ImageLoader::DEFAULT_MAX_PIXELS`].
const MAX_PIXELS: u64 = super::ImageLoader::DEFAULT_MAX_PIXELS;

/// The `type` value of a patch-VQ `config.json`.
pub(crate) const TYPE_NAME: &str = "patch-vq";

/// A patch vector quantiser with a k-means codebook.
///
/// ```
/// use image::{Rgb, RgbImage};
/// use tessera_modalities::image::{ImageTokenizer, PatchVq};
/// // Four flat quadrants: four distinct 4×4 patches, so four codes reproduce it exactly.
/// let img = RgbImage::from_fn(8, 8, |x, y| match (x < 4, y < 4) {
///     (true, true) => Rgb([255, 0, 0]),
///     (false, true) => Rgb([0, 255, 0]),
///     (true, false) => Rgb([0, 0, 255]),
///     (false, false) => Rgb([0, 0, 0]),
/// });
/// let vq = PatchVq::fit(&[img.clone()], 4, 4, 10, 0)?;
/// let codes = vq.encode(&img)?;
/// assert_eq!((codes.height(), codes.width()), (2, 2));
/// assert_eq!(vq.decode(&codes)?, img);
/// # Ok::<(), tessera_modalities::image::ImageError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PatchVq {
    patch: usize,
    width: u32,
    height: u32,
    /// `k × dim`, row-major.
    codebook: Vec<f32>,
    k: usize,
    filter: ResizeFilter,
    /// The alignment in pixels (0: none), [`PatchVq::with_alignment`].
    align: u32,
}

impl PatchVq {
    /// The largest alignment [`PatchVq::with_alignment`] accepts, in pixels.
    pub const MAX_ALIGN: u32 = align::MAX_ALIGN;

    /// Fits a codebook of `k` codewords to the `patch × patch` patches of `images`, with
    /// k-means++ seeding from `seed` and up to `iterations` Lloyd steps (weighted by how
    /// often each distinct patch occurs; stops early once stable). The resolution is that
    /// of the training pictures, which must all have the same size, a multiple of `patch`.
    ///
    /// Deterministic: the same pictures, arguments and seed give the same codebook. When
    /// the pictures have at most `k` distinct patches, each one becomes a codeword exactly,
    /// so every training picture decodes back bit for bit (the remaining codewords repeat
    /// earlier ones and are never chosen).
    ///
    /// # Errors
    /// [`ImageError::InvalidArgument`] for no pictures, pictures of different sizes, a
    /// size not divisible by `patch`, `patch == 0` or `k == 0` (or `k > 2^32`).
    pub fn fit(
        images: &[RgbImage],
        patch: usize,
        k: usize,
        iterations: usize,
        seed: u64,
    ) -> Result<Self, ImageError> {
        let first = images.first().ok_or(ImageError::InvalidArgument {
            name: "images",
            reason: "no training pictures".into(),
        })?;
        let (width, height) = first.dimensions();
        check_shape(patch, k, width, height)
            .map_err(|(name, reason)| ImageError::InvalidArgument { name, reason })?;
        if let Some(other) = images.iter().find(|i| i.dimensions() != (width, height)) {
            return Err(ImageError::InvalidArgument {
                name: "images",
                reason: format!(
                    "pictures differ in size: {width}x{height} and {}x{}",
                    other.width(),
                    other.height()
                ),
            });
        }
        // Distinct patches in first-seen order (deterministic), with their counts.
        let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut distinct: Vec<Vec<u8>> = Vec::new();
        let mut weights: Vec<f64> = Vec::new();
        for img in images {
            for_each_patch(img, patch, |_, bytes| match index.get(bytes) {
                Some(&i) => weights[i] += 1.0,
                None => {
                    index.insert(bytes.to_vec(), distinct.len());
                    distinct.push(bytes.to_vec());
                    weights.push(1.0);
                }
            });
        }
        let dim = patch * patch * 3;
        let points: Vec<f32> = distinct
            .iter()
            .flatten()
            .map(|&b| f32::from(b) / 255.0)
            .collect();
        let codebook = kmeans::fit(&points, &weights, dim, k, iterations, seed);
        Ok(PatchVq {
            patch,
            width,
            height,
            codebook,
            k,
            filter: ResizeFilter::Bicubic,
            align: 0,
        })
    }

    /// Writes `dir/config.json` and `dir/model.safetensors` (creating `dir` if needed).
    ///
    /// # Errors
    /// [`ImageError::Io`] or [`ImageError::Weights`] if a file cannot be written.
    pub fn save(&self, dir: &Path) -> Result<(), ImageError> {
        std::fs::create_dir_all(dir).map_err(|source| ImageError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut config = json!({
            "type": TYPE_NAME,
            "patch": self.patch,
            "codebook_size": self.k,
            "resolution": [self.width, self.height],
        });
        if self.align > 0 {
            config["align"] = json!(self.align);
        }
        let config_path = dir.join("config.json");
        let text = serde_json::to_string_pretty(&config).unwrap_or_default() + "\n";
        std::fs::write(&config_path, text).map_err(|source| ImageError::Io {
            path: config_path,
            source,
        })?;
        let path = dir.join("model.safetensors");
        let tensor = Tensor::from_vec(self.codebook.clone(), (self.k, self.dim()), &Device::Cpu)?;
        candle_core::safetensors::save(&HashMap::from([("codebook".to_string(), tensor)]), &path)
            .map_err(|e| ImageError::Weights {
                path,
                reason: format!("cannot write: {e}"),
            })
    }

    /// Loads a codebook written by [`Self::save`].
    ///
    /// # Errors
    /// [`ImageError::Io`] / [`ImageError::Config`] (naming the field) for the config,
    /// [`ImageError::Weights`] for a missing or truncated weights file, a missing
    /// `codebook` tensor or non-finite values, [`ImageError::ShapeMismatch`] if the
    /// tensor's shape disagrees with the config.
    pub fn load(dir: &Path) -> Result<Self, ImageError> {
        let config_path = dir.join("config.json");
        let value = super::read_json(&config_path)?;
        Self::load_with(dir, &value, &config_path)
    }

    pub(crate) fn load_with(
        dir: &Path,
        config: &Value,
        config_path: &Path,
    ) -> Result<Self, ImageError> {
        let cfg_err = |field: &str, reason: String| ImageError::Config {
            path: config_path.to_path_buf(),
            field: field.into(),
            reason,
        };
        let obj = config
            .as_object()
            .ok_or_else(|| cfg_err("(root)", "expected a JSON object".into()))?;
        match obj.get("type") {
            Some(Value::String(t)) if t == TYPE_NAME => {}
            other => {
                return Err(cfg_err(
                    "type",
                    format!(
                        "expected \"{TYPE_NAME}\", got {}",
                        other.unwrap_or(&Value::Null)
                    ),
                ));
            }
        }
        let int = |field: &str, v: Option<&Value>| -> Result<u64, ImageError> {
            v.and_then(Value::as_u64).ok_or_else(|| {
                cfg_err(
                    field,
                    format!(
                        "expected a non-negative integer, got {}",
                        v.unwrap_or(&Value::Null)
                    ),
                )
            })
        };
        let patch = usize::try_from(int("patch", obj.get("patch"))?)
            .map_err(|_| cfg_err("patch", "too large".into()))?;
        let k = usize::try_from(int("codebook_size", obj.get("codebook_size"))?)
            .map_err(|_| cfg_err("codebook_size", "too large".into()))?;
        let res = obj.get("resolution");
        let (width, height) = match res.and_then(Value::as_array).map(Vec::as_slice) {
            Some([w, h]) => {
                let side = |v: &Value| v.as_u64().and_then(|x| u32::try_from(x).ok());
                match (side(w), side(h)) {
                    (Some(w), Some(h)) => (w, h),
                    _ => {
                        return Err(cfg_err(
                            "resolution",
                            format!(
                                "expected [width, height] in pixels, got {}",
                                res.unwrap_or(&Value::Null)
                            ),
                        ));
                    }
                }
            }
            _ => {
                return Err(cfg_err(
                    "resolution",
                    format!(
                        "expected [width, height], got {}",
                        res.unwrap_or(&Value::Null)
                    ),
                ));
            }
        };
        check_shape(patch, k, width, height).map_err(|(name, reason)| {
            let field = match name {
                "k" => "codebook_size",
                "images" => "resolution",
                other => other,
            };
            cfg_err(field, reason)
        })?;

        let path = dir.join("model.safetensors");
        let weights_err = |reason: String| ImageError::Weights {
            path: path.clone(),
            reason,
        };
        let bytes = std::fs::read(&path).map_err(|e| weights_err(format!("cannot read: {e}")))?;
        let mut tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| weights_err(format!("not a valid safetensors file: {e}")))?;
        let codebook = tensors
            .remove("codebook")
            .ok_or_else(|| weights_err("no tensor named `codebook`".into()))?;
        let dim = patch * patch * 3;
        if codebook.dims() != [k, dim] {
            return Err(ImageError::ShapeMismatch {
                what: format!("tensor `codebook` in {}", path.display()),
                expected: format!("[{k}, {dim}] (codebook_size, patch·patch·3)"),
                found: format!("{:?}", codebook.dims()),
            });
        }
        let codebook = codebook
            .to_dtype(DType::F32)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        if codebook.iter().any(|v| !v.is_finite()) {
            return Err(weights_err("`codebook` holds non-finite values".into()));
        }
        let vq = PatchVq {
            patch,
            width,
            height,
            codebook,
            k,
            filter: ResizeFilter::Bicubic,
            align: 0,
        };
        match obj.get("align") {
            None => Ok(vq),
            Some(v) => {
                let r = v
                    .as_u64()
                    .and_then(|r| u32::try_from(r).ok())
                    .ok_or_else(|| {
                        cfg_err("align", format!("expected pixels (an integer), got {v}"))
                    })?;
                vq.with_alignment(r).map_err(|e| match e {
                    ImageError::InvalidArgument { reason, .. } => cfg_err("align", reason),
                    other => other,
                })
            }
        }
    }

    /// The same tokenizer resizing pictures with `filter` (default: bicubic). For flat-colour
    /// pictures [`ResizeFilter::Nearest`] keeps colours exact.
    pub fn with_resize_filter(mut self, filter: ResizeFilter) -> Self {
        self.filter = filter;
        self
    }

    /// The same codec reading pictures at the offset within `max_shift` pixels (each axis)
    /// whose patches code with the least squared error (module docs); 0 turns it off.
    /// Decoding is unchanged, and a picture whose patches are codewords exactly codes as
    /// without it. Costs `(2·max_shift + 1)²` quantisations per picture.
    ///
    /// # Errors
    /// [`ImageError::InvalidArgument`] (`align`) when `max_shift` exceeds
    /// [`PatchVq::MAX_ALIGN`] (16 pixels) or is not
    /// below half the resolution's smaller side.
    pub fn with_alignment(mut self, max_shift: u32) -> Result<Self, ImageError> {
        let half = self.width.min(self.height) / 2;
        if max_shift > align::MAX_ALIGN || (max_shift > 0 && max_shift >= half) {
            return Err(ImageError::InvalidArgument {
                name: "align",
                reason: format!(
                    "must be at most {} and below half the picture's smaller side ({half}), got {max_shift}",
                    align::MAX_ALIGN
                ),
            });
        }
        self.align = max_shift;
        Ok(self)
    }

    /// The alignment in pixels (0: none), [`PatchVq::with_alignment`].
    pub fn alignment(&self) -> u32 {
        self.align
    }

    /// Patch side in pixels.
    pub fn patch(&self) -> usize {
        self.patch
    }

    /// The codebook, `codebook_size × (patch·patch·3)` row-major, values in [0, 1].
    pub fn codebook(&self) -> &[f32] {
        &self.codebook
    }

    fn dim(&self) -> usize {
        self.patch * self.patch * 3
    }

    /// Each patch's nearest codeword and the total squared distance; `img` is prepared.
    fn quantize(&self, img: &RgbImage) -> (Vec<u32>, f64) {
        let (gh, gw) = self.grid();
        let mut codes = vec![0u32; gh * gw];
        let mut error = 0f64;
        let mut point = vec![0f32; self.dim()];
        for_each_patch(img, self.patch, |i, bytes| {
            for (p, &b) in point.iter_mut().zip(bytes) {
                *p = f32::from(b) / 255.0;
            }
            let (code, d) = kmeans::nearest(&point, &self.codebook, self.dim());
            // k <= 2^32 is checked at construction.
            codes[i] = code as u32;
            error += f64::from(d);
        });
        (codes, error)
    }
}

impl ImageTokenizer for PatchVq {
    fn encode(&self, img: &RgbImage) -> Result<ImageCodes, ImageError> {
        let img = prepare_image(img, self.width, self.height, self.filter)?;
        let (gh, gw) = self.grid();
        let (mut codes, mut best) = self.quantize(&img);
        // Offsets smallest first; only a strictly better reading replaces the best.
        for (dx, dy) in align::offsets(self.align).into_iter().skip(1) {
            let (c, e) = self.quantize(&align::translate(&img, dx, dy));
            if e < best {
                (codes, best) = (c, e);
            }
        }
        ImageCodes::new(codes, gh, gw)
    }

    fn decode(&self, codes: &ImageCodes) -> Result<RgbImage, ImageError> {
        codes.check(self.grid(), self.k)?;
        let (p, dim, gw) = (self.patch, self.dim(), self.grid().1);
        Ok(RgbImage::from_fn(self.width, self.height, |x, y| {
            let (x, y) = (x as usize, y as usize);
            let code = codes.codes()[(y / p) * gw + x / p] as usize;
            let base = code * dim + ((y % p) * p + x % p) * 3;
            image::Rgb(std::array::from_fn(|c| {
                (self.codebook[base + c] * 255.0).round().clamp(0.0, 255.0) as u8
            }))
        }))
    }

    fn codebook_size(&self) -> usize {
        self.k
    }

    fn resolution(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn grid(&self) -> (usize, usize) {
        (
            self.height as usize / self.patch,
            self.width as usize / self.patch,
        )
    }
}

/// Checks patch / codebook / resolution; on failure the argument's name and the reason.
fn check_shape(
    patch: usize,
    k: usize,
    width: u32,
    height: u32,
) -> Result<(), (&'static str, String)> {
    if patch == 0 || patch > MAX_PATCH {
        return Err((
            "patch",
            format!("must be between 1 and {MAX_PATCH}, got {patch}"),
        ));
    }
    if k == 0 || (k as u64) > 1u64 << 32 {
        return Err((
            "k",
            format!("codebook size must be between 1 and 2^32, got {k}"),
        ));
    }
    let fits = |side: u32| side > 0 && (side as usize).is_multiple_of(patch);
    if !fits(width) || !fits(height) {
        return Err((
            "images",
            format!("size {width}x{height} is not a positive multiple of the patch {patch}"),
        ));
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err((
            "images",
            format!("size {width}x{height} exceeds {MAX_PIXELS} pixels"),
        ));
    }
    Ok(())
}

/// Calls `f(patch index, patch bytes)` for each patch, row-major; `img` must be a whole
/// number of patches wide and high.
fn for_each_patch(img: &RgbImage, patch: usize, mut f: impl FnMut(usize, &[u8])) {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let raw = img.as_raw();
    let mut buf = Vec::with_capacity(patch * patch * 3);
    let gw = w / patch;
    for gy in 0..h / patch {
        for gx in 0..gw {
            buf.clear();
            for dy in 0..patch {
                let row = (gy * patch + dy) * w + gx * patch;
                buf.extend_from_slice(&raw[row * 3..(row + patch) * 3]);
            }
            f(gy * gw + gx, &buf);
        }
    }
}
