//! Attention structures: which canvas positions a position may attend to.
//!
//! Every structure is one rule over *attention groups*, a non-decreasing group number per
//! canvas position: position `i` sees key `j` iff `group[j] ≤ group[i]` (and `j` is not
//! padding). Full attention is one group; causal attention gives each position its own
//! group; block-causal attention (BD3-LM, SDAR, Fast-dLLM v2) gives the prompt one group
//! and each generation block the next one, so a block sees itself and everything before it;
//! Show-o's omni attention gives each text token its own group and a whole image segment one
//! group. Because a group never sees later groups, the keys and values of finished groups
//! never change: that is what makes the block cache exact.

use serde::{Deserialize, Serialize};

use crate::Error;

/// The attention structure a model was trained with (a model declares it; the controller
/// lays the request's blocks out under it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Attention {
    /// Every position sees every other (LLaDA, Dream, MMaDA).
    #[default]
    Full,
    /// Every position sees itself and the positions before it.
    Causal,
    /// Bidirectional inside a block, causal across blocks; the prompt is one block.
    BlockCausal,
}

impl Attention {
    /// Parses `full`, `causal` or `block-causal` (also `block_causal`).
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `attention`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "full" => Ok(Attention::Full),
            "causal" => Ok(Attention::Causal),
            "block-causal" | "block_causal" => Ok(Attention::BlockCausal),
            _ => Err(Error::option(
                "attention",
                format!("unknown attention `{s}` (full, causal, block-causal)"),
            )),
        }
    }

    /// Whether finished blocks' keys and values stay valid (an exact block cache applies).
    pub fn caches_blocks(&self) -> bool {
        !matches!(self, Attention::Full)
    }

    /// The attention groups of a canvas `[prompt | generation]` of `total` positions whose
    /// generation starts at `prompt_len` and is decoded in blocks of `block`; `None` for full
    /// attention (no restriction beyond padding).
    pub fn groups(&self, prompt_len: usize, total: usize, block: usize) -> Option<Vec<u32>> {
        let block = block.max(1);
        // cannot overflow: canvases are at most `u32::MAX` positions (`check_canvas`).
        let ends: Vec<usize> = (prompt_len + block..)
            .step_by(block)
            .take_while(|&e| e < total)
            .chain(std::iter::once(total))
            .collect();
        self.groups_for_blocks(prompt_len, &ends)
    }

    /// As [`Attention::groups`] for blocks of any lengths, given by their ends (ascending;
    /// the last is the canvas length): the prompt `0..prompt_len` is group 0, each block the
    /// next.
    pub fn groups_for_blocks(&self, prompt_len: usize, ends: &[usize]) -> Option<Vec<u32>> {
        let total = ends.last().copied().unwrap_or(prompt_len);
        match self {
            Attention::Full => None,
            Attention::Causal => Some((0..total as u32).collect()),
            Attention::BlockCausal => {
                let mut groups = vec![0; prompt_len.min(total)];
                for (b, &end) in ends.iter().enumerate() {
                    groups.resize(end.max(groups.len()), 1 + b as u32);
                }
                Some(groups)
            }
        }
    }
}

impl std::fmt::Display for Attention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Attention::Full => "full",
            Attention::Causal => "causal",
            Attention::BlockCausal => "block-causal",
        })
    }
}

/// Show-o's omni attention over a canvas made of segments, given as `(length,
/// bidirectional)` in order: a causal segment (text) gives each position its own group, a
/// bidirectional one (an image or audio segment) one group for all of its positions. Text
/// after an image sees all of it; the image sees the text before it and itself.
pub fn omni_groups(segments: &[(usize, bool)]) -> Vec<u32> {
    let mut groups = Vec::with_capacity(segments.iter().map(|s| s.0).sum());
    let mut next = 0u32;
    for &(len, bidirectional) in segments {
        if bidirectional {
            groups.extend(std::iter::repeat_n(next, len));
            next = next.saturating_add(u32::from(len > 0));
        } else {
            // Saturating: a layout past `u32::MAX` positions cannot be decoded anyway.
            groups.extend(next..next.saturating_add(len as u32));
            next = next.saturating_add(len as u32);
        }
    }
    groups
}

/// Whether `groups` has a boundary just before `at` (position `at − 1` cannot see `at`):
/// true at the canvas edges.
pub fn group_boundary(groups: &[u32], at: usize) -> bool {
    // cannot fail: `0 < at < groups.len()` once the first two tests are false.
    at == 0 || at >= groups.len() || groups[at - 1] < groups[at]
}

/// Whether query `q` may attend key `k` under `groups` (ignoring padding).
pub fn visible(groups: &[u32], q: usize, k: usize) -> bool {
    // Not input-derived: `q` and `k` are canvas positions of the canvas `groups` describes.
    groups[k] <= groups[q]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_causal_groups_put_the_prompt_first_and_blocks_after() {
        let g = Attention::BlockCausal.groups(3, 11, 4).unwrap();
        assert_eq!(g, vec![0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
        assert!(group_boundary(&g, 3) && group_boundary(&g, 7) && !group_boundary(&g, 5));
        assert!(visible(&g, 3, 0) && visible(&g, 3, 6) && !visible(&g, 3, 7));
        assert!(visible(&g, 10, 0));
        let uneven = Attention::BlockCausal
            .groups_for_blocks(2, &[3, 4, 8])
            .unwrap();
        assert_eq!(uneven, vec![0, 0, 1, 2, 3, 3, 3, 3]);
    }

    #[test]
    fn omni_is_causal_on_text_and_full_inside_an_image() {
        let g = omni_groups(&[(2, false), (3, true), (2, false)]);
        assert_eq!(g, vec![0, 1, 2, 2, 2, 3, 4]);
        assert!(visible(&g, 2, 4) && !visible(&g, 1, 2) && visible(&g, 5, 4));
        assert!(!visible(&g, 5, 6));
    }

    #[test]
    fn causal_and_full() {
        assert_eq!(Attention::Causal.groups(2, 4, 1).unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(Attention::Full.groups(2, 4, 1), None);
        for a in [Attention::Full, Attention::Causal, Attention::BlockCausal] {
            assert_eq!(Attention::parse(&a.to_string()).unwrap(), a);
        }
        assert!(Attention::parse("sliding").is_err());
        assert!(!Attention::Full.caches_blocks() && Attention::BlockCausal.caches_blocks());
    }
}
