//! MAGVIT-v2 (`showlab/magvitv2`), the image tokenizer of Show-o and MMaDA.
//!
//! encoder → `quant_conv` → lookup-free quantiser (13 bits, 8192 codes) → `post_quant_conv`
//! → decoder, following the public reference (Gen-Verse/MMaDA
//! `models/modeling_magvitv2.py`). Pictures go in as `x/255` normalised to [-1, 1] after the
//! Show-o preprocessing (bicubic resize of the shorter side, centre crop); decoded pixels
//! come back as `clamp((x + 1)/2, 0, 1)·255` truncated to `u8`, as the reference's
//! `astype(np.uint8)` does.

mod blocks;
mod config;
mod cpu_ops;
mod decoder;
mod encoder;
mod random;

use std::path::Path;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;
use image::RgbImage;

pub use config::{CoderConfig, MagvitV2Config};
use decoder::Decoder;
use encoder::Encoder;

use super::{ImageCodes, ImageError, ImageTokenizer, Lfq, ResizeFilter, prepare_image};

/// The `type` value of a MAGVIT-v2 `config.json` written by this crate (the published one
/// has none and is recognised by its `_class_name`).
pub(crate) const TYPE_NAME: &str = "magvit-v2";

/// A MAGVIT-v2 image tokenizer.
///
/// ```
/// use tessera_modalities::image::{ImageTokenizer, MagvitV2, MagvitV2Config};
/// let cfg = MagvitV2Config::from_json(&serde_json::json!({
///     "encoder": {"ch": 32, "ch_mult": [1, 1], "num_res_blocks": [1, 1], "resolution": 16},
///     "decoder": {"ch": 32, "ch_mult": [1, 1], "num_res_blocks": [1, 1], "resolution": 16},
/// }))?;
/// let model = MagvitV2::random(&cfg, 7)?;
/// let img = image::RgbImage::from_pixel(20, 16, image::Rgb([200, 30, 30]));
/// let codes = model.encode(&img)?; // resized and centre-cropped to 16×16 first
/// assert_eq!((codes.height(), codes.width()), (8, 8));
/// assert_eq!(model.decode(&codes)?.dimensions(), (16, 16));
/// # Ok::<(), tessera_modalities::image::ImageError>(())
/// ```
#[derive(Debug, Clone)]
pub struct MagvitV2 {
    config: MagvitV2Config,
    encoder: Encoder,
    decoder: Decoder,
    lfq: Lfq,
    device: Device,
    filter: ResizeFilter,
}

impl MagvitV2 {
    /// Loads `dir/config.json` and `dir/model.safetensors` on the CPU. Weights of any
    /// float dtype are converted to f32; tensors the architecture does not use (e.g. the
    /// quantiser's `quantize.embedding` buffer) are ignored. The published config has no
    /// architecture fields, so it yields the published architecture.
    ///
    /// # Errors
    /// [`ImageError::Io`] / [`ImageError::Config`] for a missing or bad config,
    /// [`ImageError::Weights`] for a missing or truncated weights file or a missing or
    /// misshaped tensor (named).
    pub fn load(dir: &Path) -> Result<Self, ImageError> {
        Self::load_on(dir, &Device::Cpu)
    }

    /// [`Self::load`] onto `device`.
    ///
    /// # Errors
    /// As [`Self::load`].
    pub fn load_on(dir: &Path, device: &Device) -> Result<Self, ImageError> {
        let config_path = dir.join("config.json");
        let value = super::read_json(&config_path)?;
        Self::load_with(dir, &value, &config_path, device)
    }

    pub(crate) fn load_with(
        dir: &Path,
        config: &serde_json::Value,
        config_path: &Path,
        device: &Device,
    ) -> Result<Self, ImageError> {
        let config = MagvitV2Config::parse(config, config_path)?;
        let path = dir.join("model.safetensors");
        let weights_err = |reason: String| ImageError::Weights {
            path: path.clone(),
            reason,
        };
        let bytes = std::fs::read(&path).map_err(|e| weights_err(format!("cannot read: {e}")))?;
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, device)
            .map_err(|e| weights_err(format!("not a valid safetensors file: {e}")))?;
        Self::from_var_builder(config, vb, device).map_err(|e| weights_err(e.to_string()))
    }

    /// A model of architecture `config` with seeded random weights (PyTorch's default
    /// initialisation), on the CPU: for benchmarks and tests without a checkpoint.
    ///
    /// # Errors
    /// [`ImageError::Config`] if `config` is invalid.
    pub fn random(config: &MagvitV2Config, seed: u64) -> Result<Self, ImageError> {
        config.validate()?;
        let device = Device::Cpu;
        let vb = VarBuilder::from_backend(
            Box::new(random::RandomWeights { seed }),
            DType::F32,
            device.clone(),
        );
        Ok(Self::from_var_builder(config.clone(), vb, &device)?)
    }

    fn from_var_builder(
        config: MagvitV2Config,
        vb: VarBuilder,
        device: &Device,
    ) -> candle_core::Result<Self> {
        config
            .validate()
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let lfq =
            Lfq::new(config.codebook_dim).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        Ok(MagvitV2 {
            encoder: Encoder::new(&config.encoder, vb.pp("encoder"))?,
            decoder: Decoder::new(&config.decoder, vb.pp("decoder"))?,
            config,
            lfq,
            device: device.clone(),
            filter: ResizeFilter::Bicubic,
        })
    }

    /// The same model resizing pictures with `filter` (default: bicubic, as Show-o).
    pub fn with_resize_filter(mut self, filter: ResizeFilter) -> Self {
        self.filter = filter;
        self
    }

    /// The architecture.
    pub fn config(&self) -> &MagvitV2Config {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The encoder's input for `img` (prepared to the model's resolution first):
    /// `(1, 3, H, W)` f32, `(p/255 − 0.5)/0.5`.
    ///
    /// # Errors
    /// [`ImageError::InvalidArgument`] for an empty picture.
    pub fn pixels(&self, img: &RgbImage) -> Result<Tensor, ImageError> {
        let side = self.side()?;
        let img = prepare_image(img, side, side, self.filter)?;
        image_to_tensor(&img, &self.device)
    }

    /// The pre-quantisation latents of `img`: `(1, codebook_dim, h, w)` f32 (after
    /// `quant_conv`). Their signs are the bits of the codes.
    ///
    /// # Errors
    /// As [`Self::pixels`], and [`ImageError::Compute`] if the backend fails.
    pub fn encode_latents(&self, img: &RgbImage) -> Result<Tensor, ImageError> {
        Ok(self.encoder.forward(&self.pixels(img)?)?)
    }

    /// The decoder's raw output for `codes`: `(1, 3, H, W)` f32, about [-1, 1], before the
    /// conversion to `u8`.
    ///
    /// # Errors
    /// [`ImageError::ShapeMismatch`] if the grid is not [`ImageTokenizer::grid`],
    /// [`ImageError::CodeOutOfRange`] for a code ≥ 2^codebook_dim.
    pub fn decode_pixels(&self, codes: &ImageCodes) -> Result<Tensor, ImageError> {
        codes.check(self.config.grid(), self.lfq.codebook_size())?;
        let z = self
            .lfq
            .embed(codes.codes(), codes.height(), codes.width(), &self.device)?;
        Ok(self.decoder.forward(&z)?)
    }

    fn side(&self) -> Result<u32, ImageError> {
        u32::try_from(self.config.resolution()).map_err(|_| ImageError::Config {
            path: "".into(),
            field: "encoder.resolution".into(),
            reason: "too large".into(),
        })
    }
}

impl ImageTokenizer for MagvitV2 {
    fn encode(&self, img: &RgbImage) -> Result<ImageCodes, ImageError> {
        let z = self.encode_latents(img)?;
        let (h, w) = self.config.grid();
        ImageCodes::new(self.lfq.quantize(&z)?, h, w)
    }

    fn decode(&self, codes: &ImageCodes) -> Result<RgbImage, ImageError> {
        tensor_to_image(&self.decode_pixels(codes)?)
    }

    fn codebook_size(&self) -> usize {
        self.lfq.codebook_size()
    }

    fn resolution(&self) -> (u32, u32) {
        let side = self.side().unwrap_or(u32::MAX);
        (side, side)
    }

    fn grid(&self) -> (usize, usize) {
        self.config.grid()
    }
}

/// `(1, 3, H, W)` f32 in [-1, 1] from an RGB picture, computed as torchvision's
/// `ToTensor` + `Normalize(0.5, 0.5)`: `(p/255 − 0.5)/0.5`.
///
/// # Errors
/// [`ImageError::Compute`] if the tensor cannot be built on `device`.
pub fn image_to_tensor(img: &RgbImage, device: &Device) -> Result<Tensor, ImageError> {
    let (w, h) = img.dimensions();
    let (w, h) = (w as usize, h as usize);
    let mut data = vec![0f32; 3 * h * w];
    for (i, px) in img.pixels().enumerate() {
        for (c, &v) in px.0.iter().enumerate() {
            data[c * h * w + i] = (f32::from(v) / 255.0 - 0.5) / 0.5;
        }
    }
    Ok(Tensor::from_vec(data, (1, 3, h, w), device)?)
}

/// An RGB picture from a `(1, 3, H, W)` decoder output: `clamp((x + 1)/2, 0, 1)·255`,
/// truncated to `u8` like the reference's `astype(np.uint8)` (NaN becomes 0).
///
/// # Errors
/// [`ImageError::ShapeMismatch`] for a tensor of another shape.
pub fn tensor_to_image(pixels: &Tensor) -> Result<RgbImage, ImageError> {
    let dims = pixels.dims();
    let [1, 3, h, w] = *dims else {
        return Err(ImageError::ShapeMismatch {
            what: "decoded pixels".into(),
            expected: "(1, 3, H, W)".into(),
            found: format!("{dims:?}"),
        });
    };
    let values = pixels
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let (wu, hu) = match (u32::try_from(w), u32::try_from(h)) {
        (Ok(a), Ok(b)) => (a, b),
        _ => {
            return Err(ImageError::ShapeMismatch {
                what: "decoded pixels".into(),
                expected: "sides that fit in u32".into(),
                found: format!("{dims:?}"),
            });
        }
    };
    let n = h * w;
    Ok(RgbImage::from_fn(wu, hu, |x, y| {
        let i = y as usize * w + x as usize;
        image::Rgb(std::array::from_fn(|c| {
            // `as u8` truncates toward zero and maps NaN to 0.
            (((values[c * n + i] + 1.0) / 2.0).clamp(0.0, 1.0) * 255.0) as u8
        }))
    }))
}
