//! Which cached forward the controller uses (`--cache`).

use serde::{Deserialize, Serialize};

use crate::{Attention, Error};

/// How much of the canvas a step recomputes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum CacheMode {
    /// Every step is a full forward (the reference samplers).
    #[default]
    None,
    /// Fast-dLLM prefix cache: one full forward per block keeps every layer's keys and
    /// values; later steps of the block recompute the block and everything after it.
    /// Approximate: the prefix's keys do not see tokens committed since.
    Prefix,
    /// Fast-dLLM dual cache: as `prefix`, but later steps recompute only the block itself,
    /// the suffix's keys and values also coming from the block's first pass.
    Dual,
    /// Exact cache of finished blocks for block-causal attention.
    Block,
}

impl CacheMode {
    /// Parses `none`, `prefix`, `dual` or `block`.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `cache`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "none" => Ok(CacheMode::None),
            "prefix" => Ok(CacheMode::Prefix),
            "dual" => Ok(CacheMode::Dual),
            "block" => Ok(CacheMode::Block),
            _ => Err(Error::option(
                "cache",
                format!("unknown cache `{s}` (none, prefix, dual, block)"),
            )),
        }
    }

    /// Refuses a mode the model's attention structure cannot serve: the exact block cache
    /// needs attention that never looks ahead (block-causal or causal).
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `cache` for `block` on a full-attention model.
    pub fn validate_for(&self, attention: Attention) -> Result<(), Error> {
        if *self == CacheMode::Block && !attention.caches_blocks() {
            return Err(Error::option(
                "cache",
                format!(
                    "`block` needs a model with block-causal (or causal) attention; this model's \
                     attention is {attention} (use `prefix` or `dual`)"
                ),
            ));
        }
        Ok(())
    }
}

impl std::fmt::Display for CacheMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CacheMode::None => "none",
            CacheMode::Prefix => "prefix",
            CacheMode::Dual => "dual",
            CacheMode::Block => "block",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_block_for_full_attention_models() {
        for m in [
            CacheMode::None,
            CacheMode::Prefix,
            CacheMode::Dual,
            CacheMode::Block,
        ] {
            assert_eq!(CacheMode::parse(&m.to_string()).unwrap(), m);
        }
        assert!(CacheMode::parse("kv").is_err());
        assert!(CacheMode::Dual.validate_for(Attention::Full).is_ok());
        assert!(
            CacheMode::Block
                .validate_for(Attention::BlockCausal)
                .is_ok()
        );
        assert!(CacheMode::Block.validate_for(Attention::Causal).is_ok());
        assert!(matches!(
            CacheMode::Block.validate_for(Attention::Full),
            Err(Error::InvalidOption {
                option: "cache",
                ..
            })
        ));
    }
}
