//! A batch of prompts, left-padded to a common length with an attention mask.

use crate::Error;

/// Prompts of possibly different lengths, left-padded to the longest.
///
/// Left padding keeps every row's generated span at the same canvas positions, which is
/// what lets the block schedule treat the batch as one canvas (as LLaDA and Dream do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromptBatch {
    tokens: Vec<u32>,
    attention: Option<Vec<bool>>,
    rows: usize,
    len: usize,
    /// What the generated span starts as in every row (infilling: given tokens with mask
    /// ids at the blanks); `None`: all masks.
    template: Option<Vec<u32>>,
}

impl PromptBatch {
    /// Left-pads `prompts` with `pad_id`; the attention mask is kept only when lengths differ.
    ///
    /// # Errors
    /// [`Error::InvalidPrompt`] for an empty batch or an empty prompt.
    pub fn left_padded(prompts: Vec<Vec<u32>>, pad_id: u32) -> Result<Self, Error> {
        if prompts.is_empty() {
            return Err(Error::InvalidPrompt("the batch has no prompts".into()));
        }
        if let Some(i) = prompts.iter().position(Vec::is_empty) {
            return Err(Error::InvalidPrompt(format!("prompt {i} is empty")));
        }
        let len = prompts.iter().map(Vec::len).max().unwrap_or(0);
        let ragged = prompts.iter().any(|p| p.len() != len);
        let rows = prompts.len();
        let cells = rows.checked_mul(len).ok_or_else(|| {
            Error::InvalidPrompt(format!(
                "{rows} prompts padded to {len} tokens are more than this machine can address"
            ))
        })?;
        let mut tokens = Vec::with_capacity(cells);
        let mut attention = Vec::with_capacity(cells);
        for p in &prompts {
            // cannot underflow: `len` is the longest prompt's length.
            let pad = len - p.len();
            tokens.extend(std::iter::repeat_n(pad_id, pad));
            tokens.extend_from_slice(p);
            attention.extend(std::iter::repeat_n(false, pad));
            attention.extend(std::iter::repeat_n(true, p.len()));
        }
        Ok(PromptBatch {
            template: None,
            tokens,
            attention: ragged.then_some(attention),
            rows,
            len,
        })
    }

    /// Rows that are already padded, with their mask (`1` = real token) if any.
    ///
    /// # Errors
    /// [`Error::InvalidPrompt`] if rows differ in length, the mask's shape differs, or a
    /// row has no real token.
    pub fn from_padded(rows: Vec<Vec<u32>>, mask: Option<Vec<Vec<bool>>>) -> Result<Self, Error> {
        let len = rows.first().map(Vec::len).unwrap_or(0);
        if rows.is_empty() || len == 0 {
            return Err(Error::InvalidPrompt(
                "the batch has no prompt tokens".into(),
            ));
        }
        if rows.iter().any(|r| r.len() != len) {
            return Err(Error::InvalidPrompt("padded rows differ in length".into()));
        }
        let attention = match mask {
            None => None,
            Some(m) => {
                if m.len() != rows.len() || m.iter().any(|r| r.len() != len) {
                    return Err(Error::InvalidPrompt(
                        "attention mask shape differs from the prompts".into(),
                    ));
                }
                if m.iter().any(|r| !r.iter().any(|&b| b)) {
                    return Err(Error::InvalidPrompt("a prompt row is all padding".into()));
                }
                Some(m.concat())
            }
        };
        Ok(PromptBatch {
            template: None,
            rows: rows.len(),
            len,
            tokens: rows.concat(),
            attention,
        })
    }

    /// Number of prompts.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Padded prompt length.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the batch holds no tokens (never true for a constructed batch).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Padded token ids, row-major.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Row-major key mask (`false` = padding), if any row is padded.
    pub fn attention(&self) -> Option<&[bool]> {
        self.attention.as_deref()
    }

    /// The largest id in the batch (for vocabulary checks).
    pub fn max_id(&self) -> u32 {
        self.tokens.iter().copied().max().unwrap_or(0)
    }

    /// This batch with the generated span starting as `template` in every row instead of all
    /// masks: **infilling** — the template's mask ids are the blanks to decode, its other
    /// tokens are given and stay (they count as prompt: visible, kept, masked out of an
    /// unconditional pass). The decoding's `gen_length` must be the template's length.
    ///
    /// # Errors
    /// [`Error::InvalidPrompt`] for an empty template.
    pub fn with_template(mut self, template: Vec<u32>) -> Result<Self, Error> {
        if template.is_empty() {
            return Err(Error::InvalidPrompt("the answer template is empty".into()));
        }
        self.template = Some(template);
        Ok(self)
    }

    /// The template's length, when the batch has one ([`PromptBatch::with_template`]).
    pub fn template_len(&self) -> Option<usize> {
        self.template.as_ref().map(Vec::len)
    }

    /// The generation canvas: each row followed by `gen_length` copies of `mask_id` (or the
    /// template, [`PromptBatch::with_template`]), and the mask extended with `true` for the
    /// generated span.
    pub(crate) fn canvas(&self, gen_length: usize, mask_id: u32) -> (Vec<u32>, Option<Vec<bool>>) {
        // cannot fail: both constructors refuse `len == 0` (so `chunks` gets a positive size),
        // and every caller runs after `check_canvas` bounded `rows × (len + gen_length)`.
        let total = self.len + gen_length;
        let mut tokens = Vec::with_capacity(self.rows * total);
        for r in self.tokens.chunks(self.len) {
            tokens.extend_from_slice(r);
            match self.template.as_deref().filter(|t| t.len() == gen_length) {
                Some(t) => tokens.extend_from_slice(t),
                None => tokens.extend(std::iter::repeat_n(mask_id, gen_length)),
            }
        }
        let attention = self.attention.as_ref().map(|a| {
            let mut out = Vec::with_capacity(self.rows * total);
            for r in a.chunks(self.len) {
                out.extend_from_slice(r);
                out.extend(std::iter::repeat_n(true, gen_length));
            }
            out
        });
        (tokens, attention)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_on_the_left_and_keeps_a_mask_only_when_ragged() {
        let b = PromptBatch::left_padded(vec![vec![5, 6], vec![7, 8, 9]], 0).unwrap();
        assert_eq!(b.tokens(), &[0, 5, 6, 7, 8, 9]);
        assert_eq!(
            b.attention().unwrap(),
            &[false, true, true, true, true, true]
        );
        let even = PromptBatch::left_padded(vec![vec![1], vec![2]], 0).unwrap();
        assert!(even.attention().is_none());
        let (canvas, mask) = b.canvas(2, 99);
        assert_eq!(canvas, vec![0, 5, 6, 99, 99, 7, 8, 9, 99, 99]);
        assert_eq!(mask.unwrap().iter().filter(|&&m| !m).count(), 1);
    }

    #[test]
    fn rejects_empty_and_ragged_input() {
        assert!(PromptBatch::left_padded(vec![], 0).is_err());
        assert!(PromptBatch::left_padded(vec![vec![1], vec![]], 0).is_err());
        assert!(PromptBatch::from_padded(vec![vec![1, 2], vec![3]], None).is_err());
        assert!(
            PromptBatch::from_padded(vec![vec![1, 2]], Some(vec![vec![false, false]])).is_err()
        );
        assert!(PromptBatch::from_padded(vec![vec![1, 2]], Some(vec![vec![true]])).is_err());
    }
}
