//! The MAGVIT-v2 decoder (`VQGANDecoder`): quantised latents (±1) → pixels in about [-1, 1].
//!
//! Structure from the public reference (Gen-Verse/MMaDA `models/modeling_magvitv2.py`);
//! independent candle implementation. Parameter names are the checkpoint's own:
//! `decoder.post_quant_conv`, `decoder.conv_in`, `decoder.mid.{block_1,attn_1,block_2}`,
//! `decoder.up.{i}.block.{j}`, `decoder.up.{i}.attn.{j}`, `decoder.up.{i}.upsample.conv`,
//! `decoder.norm_out`, `decoder.conv_out`. Level `up.{i}` works at the resolution of
//! encoder level `i`; they run from the coarsest (`i = L − 1`) to the finest.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::blocks::{AttnBlock, Conv, Norm, ResnetBlock, Upsample};
use super::config::CoderConfig;

#[derive(Debug, Clone)]
struct UpLevel {
    blocks: Vec<ResnetBlock>,
    attns: Vec<AttnBlock>,
    upsample: Option<Upsample>,
}

#[derive(Debug, Clone)]
pub(crate) struct Decoder {
    post_quant_conv: Conv,
    conv_in: Conv,
    mid_block_1: ResnetBlock,
    mid_attn_1: AttnBlock,
    mid_block_2: ResnetBlock,
    /// Indexed by level: `up[0]` is the finest and runs last.
    up: Vec<UpLevel>,
    norm_out: Norm,
    conv_out: Conv,
}

impl Decoder {
    /// `vb` is rooted at `decoder`.
    pub(crate) fn new(cfg: &CoderConfig, vb: VarBuilder) -> Result<Self> {
        let levels = cfg.levels();
        let mut block_in = cfg.ch * cfg.ch_mult[levels - 1];
        let mut curr_res = cfg.latent_side();
        let post_quant_conv =
            Conv::same(cfg.z_channels, cfg.z_channels, 1, vb.pp("post_quant_conv"))?;
        let conv_in = Conv::same(cfg.z_channels, block_in, 3, vb.pp("conv_in"))?;
        let mid = vb.pp("mid");
        let mid_block_1 = ResnetBlock::new(block_in, block_in, mid.pp("block_1"))?;
        let mid_attn_1 = AttnBlock::new(block_in, mid.pp("attn_1"))?;
        let mid_block_2 = ResnetBlock::new(block_in, block_in, mid.pp("block_2"))?;
        let mut up: Vec<Option<UpLevel>> = vec![None; levels];
        for i in (0..levels).rev() {
            let vb_level = vb.pp(format!("up.{i}"));
            let block_out = cfg.ch * cfg.ch_mult[i];
            let mut blocks = Vec::with_capacity(cfg.num_res_blocks[i]);
            let mut attns = Vec::new();
            for j in 0..cfg.num_res_blocks[i] {
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
            let upsample = if i != 0 {
                curr_res *= 2;
                Some(Upsample::new(block_in, vb_level.pp("upsample"))?)
            } else {
                None
            };
            up[i] = Some(UpLevel {
                blocks,
                attns,
                upsample,
            });
        }
        Ok(Decoder {
            post_quant_conv,
            conv_in,
            mid_block_1,
            mid_attn_1,
            mid_block_2,
            up: up.into_iter().flatten().collect(),
            norm_out: Norm::new(block_in, vb.pp("norm_out"))?,
            conv_out: Conv::same(block_in, cfg.out_ch, 3, vb.pp("conv_out"))?,
        })
    }
}

impl Module for Decoder {
    /// `(b, z_channels, h, w)` → `(b, 3, h·2^(L−1), w·2^(L−1))`.
    fn forward(&self, z: &Tensor) -> Result<Tensor> {
        let z = self.post_quant_conv.forward(z)?;
        let h = self.conv_in.forward(&z)?;
        let h = self.mid_block_1.forward(&h)?;
        let h = self.mid_attn_1.forward(&h)?;
        let mut h = self.mid_block_2.forward(&h)?;
        for level in self.up.iter().rev() {
            for (j, block) in level.blocks.iter().enumerate() {
                h = block.forward(&h)?;
                if let Some(attn) = level.attns.get(j) {
                    h = attn.forward(&h)?;
                }
            }
            if let Some(us) = &level.upsample {
                h = us.forward(&h)?;
            }
        }
        let h = self.norm_out.forward_swish(&h)?;
        self.conv_out.forward(&h)
    }
}
