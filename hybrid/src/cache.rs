//! Which cached forward the controller uses (`--cache`).

use serde::{Deserialize, Serialize};

use crate::Error;

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

    /// Refuses modes that need attention structures the full-attention samplers do not have.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `cache` for `block`.
    pub fn validate_for_full_attention(&self) -> Result<(), Error> {
        if *self == CacheMode::Block {
            return Err(Error::option(
                "cache",
                "`block` needs a model with block-causal attention; LLaDA and Dream attend bidirectionally \
                 (use `prefix` or `dual`)",
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
    fn parses_and_refuses_block_for_full_attention() {
        for m in [
            CacheMode::None,
            CacheMode::Prefix,
            CacheMode::Dual,
            CacheMode::Block,
        ] {
            assert_eq!(CacheMode::parse(&m.to_string()).unwrap(), m);
        }
        assert!(CacheMode::parse("kv").is_err());
        assert!(CacheMode::Dual.validate_for_full_attention().is_ok());
        assert!(matches!(
            CacheMode::Block.validate_for_full_attention(),
            Err(Error::InvalidOption {
                option: "cache",
                ..
            })
        ));
    }
}
