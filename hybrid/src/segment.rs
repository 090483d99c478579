//! Segments: a generation made of several spans decoded one after another, each with its
//! own policy, block length and step budget (`--segment LEN:POLICY[:STEPS[:BLOCK]]`), e.g. a
//! short answer decoded autoregressively followed by a long one decoded in parallel.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::policy::Policy;

/// One span of the generation and how it is decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct Segment {
    /// Tokens in the span.
    pub length: usize,
    /// Decoding order inside the span.
    pub policy: Policy,
    /// Denoising steps spent on the span (default: its length).
    #[serde(default)]
    pub steps: Option<usize>,
    /// Block length for `block` and `hybrid` (default: the request's, else the span).
    #[serde(default)]
    pub block_length: Option<usize>,
    /// The ids the span's positions may take (`start..end`; default: the whole logits row).
    /// Sampling sees only this slice of each row: an image span can only become image codes.
    #[serde(default)]
    pub vocab: Option<std::ops::Range<u32>>,
}

impl Segment {
    /// A span of `length` tokens decoded with `policy`, one step per token.
    pub fn new(length: usize, policy: Policy) -> Self {
        Segment {
            length,
            policy,
            steps: None,
            block_length: None,
            vocab: None,
        }
    }

    /// Restricts the span's positions to ids `vocab`.
    pub fn vocab(mut self, vocab: std::ops::Range<u32>) -> Self {
        self.vocab = Some(vocab);
        self
    }

    /// Sets the step budget.
    pub fn steps(mut self, steps: usize) -> Self {
        self.steps = Some(steps);
        self
    }

    /// Sets the block length.
    pub fn block_length(mut self, block: usize) -> Self {
        self.block_length = Some(block);
        self
    }

    /// The step budget.
    pub fn effective_steps(&self) -> usize {
        self.steps.unwrap_or(self.length)
    }

    /// Parses `LEN:POLICY[:STEPS[:BLOCK]]`, e.g. `16:ar` or `64:block:32:16`.
    ///
    /// # Errors
    /// [`Error::InvalidOption`] naming `segment`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = |why: String| Error::option("segment", format!("`{s}`: {why}"));
        let number = |v: &str, what: &str| {
            v.parse::<usize>()
                .map_err(|_| bad(format!("`{v}` is not a {what}")))
        };
        let parts: Vec<&str> = s.split(':').collect();
        let (len, policy, rest) = match parts.as_slice() {
            [len, policy, rest @ ..] if rest.len() <= 2 => (len, policy, rest),
            _ => return Err(bad("expected LEN:POLICY[:STEPS[:BLOCK]]".into())),
        };
        let policy = Policy::parse(policy).map_err(|e| bad(e.to_string()))?;
        let mut seg = Segment::new(number(len, "length")?, policy);
        if let Some(steps) = rest.first() {
            seg.steps = Some(number(steps, "number of steps")?);
        }
        if let Some(block) = rest.get(1) {
            seg.block_length = Some(number(block, "block length")?);
        }
        Ok(seg)
    }
}

impl std::fmt::Display for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}",
            self.length,
            self.policy,
            self.effective_steps()
        )?;
        if let Some(b) = self.block_length {
            write!(f, ":{b}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_cli_spelling() {
        assert_eq!(
            Segment::parse("16:ar").unwrap(),
            Segment::new(16, Policy::Ar)
        );
        let s = Segment::parse("64:block:32:16").unwrap();
        assert_eq!(
            s,
            Segment::new(64, Policy::Block).steps(32).block_length(16)
        );
        assert_eq!(Segment::parse(&s.to_string()).unwrap(), s);
        for bad in ["16", "16:fast", "x:ar", "16:ar:1:2:3", "16:block:y"] {
            assert!(
                matches!(
                    Segment::parse(bad),
                    Err(Error::InvalidOption {
                        option: "segment",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }
}
