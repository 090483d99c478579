//! The MAGVIT-v2 encoder (`VQGANEncoder`): pixels in [-1, 1] → pre-quantisation latents.
//!
//! Structure from the public reference (Gen-Verse/MMaDA `models/modeling_magvitv2.py`);
//! independent candle implementation. Parameter names are the checkpoint's own:
//! `encoder.conv_in`, `encoder.down.{i}.block.{j}`, `encoder.down.{i}.attn.{j}`,
//! `encoder.down.{i}.downsample.conv`, `encoder.mid.{block_1,attn_1,block_2}`,
//! `encoder.norm_out`, `encoder.conv_out`, `encoder.quant_conv`.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::blocks::{AttnBlock, Conv, Downsample, Norm, ResnetBlock};
use super::config::CoderConfig;

/// One resolution level: residual blocks, each optionally followed by attention.
#[derive(Debug, Clone)]
struct DownLevel {
    blocks: Vec<ResnetBlock>,
    attns: Vec<AttnBlock>,
    downsample: Option<Downsample>,
}

#[derive(Debug, Clone)]
pub(crate) struct Encoder {
    conv_in: Conv,
    down: Vec<DownLevel>,
    mid_block_1: ResnetBlock,
    mid_attn_1: AttnBlock,
    mid_block_2: ResnetBlock,
    norm_out: Norm,
    conv_out: Conv,
    quant_conv: Conv,
}

impl Encoder {
    /// `vb` is rooted at `encoder`.
    pub(crate) fn new(cfg: &CoderConfig, vb: VarBuilder) -> Result<Self> {
        let conv_in = Conv::same(cfg.in_ch, cfg.ch, 3, vb.pp("conv_in"))?;
        let mut curr_res = cfg.resolution;
        // The input channels of level i are those of level i − 1's output (ch for level 0).
        let mut block_in = cfg.ch;
        let mut down = Vec::with_capacity(cfg.levels());
        for (i, (&mult, &n_blocks)) in cfg.ch_mult.iter().zip(&cfg.num_res_blocks).enumerate() {
            let vb_level = vb.pp(format!("down.{i}"));
            let block_out = cfg.ch * mult;
            let mut blocks = Vec::with_capacity(n_blocks);
            let mut attns = Vec::new();
            for j in 0..n_blocks {
                blocks.push(ResnetBlock::new(
                    block_in,
                    block_out,
                    vb_level.pp(format!("block.{j}")),
                )?);
                block_in = block_out;
                if cfg.attn_resolutions.contains(&curr_res) {
                    attns.push(AttnBlock::new(block_in, vb_level.pp(format!("attn.{j}")))?);
                }
            }
            let downsample = if i + 1 != cfg.levels() {
                curr_res /= 2;
                Some(Downsample::new(block_in, vb_level.pp("downsample"))?)
            } else {
                None
            };
            down.push(DownLevel {
                blocks,
                attns,
                downsample,
            });
        }
        let mid = vb.pp("mid");
        Ok(Encoder {
            conv_in,
            down,
            mid_block_1: ResnetBlock::new(block_in, block_in, mid.pp("block_1"))?,
            mid_attn_1: AttnBlock::new(block_in, mid.pp("attn_1"))?,
            mid_block_2: ResnetBlock::new(block_in, block_in, mid.pp("block_2"))?,
            norm_out: Norm::new(block_in, vb.pp("norm_out"))?,
            conv_out: Conv::same(block_in, cfg.z_channels, 3, vb.pp("conv_out"))?,
            quant_conv: Conv::same(cfg.z_channels, cfg.z_channels, 1, vb.pp("quant_conv"))?,
        })
    }
}

impl Module for Encoder {
    /// `(b, 3, H, W)` pixels in [-1, 1] → `(b, z_channels, H/2^(L−1), W/2^(L−1))`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = self.conv_in.forward(x)?;
        for level in &self.down {
            for (j, block) in level.blocks.iter().enumerate() {
                h = block.forward(&h)?;
                if let Some(attn) = level.attns.get(j) {
                    h = attn.forward(&h)?;
                }
            }
            if let Some(ds) = &level.downsample {
                h = ds.forward(&h)?;
            }
        }
        let h = self.mid_block_1.forward(&h)?;
        let h = self.mid_attn_1.forward(&h)?;
        let h = self.mid_block_2.forward(&h)?;
        let h = self.norm_out.forward_swish(&h)?;
        let h = self.conv_out.forward(&h)?;
        self.quant_conv.forward(&h)
    }
}
