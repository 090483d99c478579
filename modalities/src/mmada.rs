//! MMaDA's canvases, built exactly as the checkpoint was trained (Gen-Verse/MMaDA
//! `training/prompting_utils.py`, `UniversalPrompting` with reserved tokens):
//! - text-to-image: `[iPAD]…[iPAD] <|t2i|> <bos> text <eos> <|soi|> mask × N <|eoi|>`, the text
//!   part left-padded with `[iPAD]` to `text_length + 1` tokens (padding masked out);
//! - understanding: `<|mmu|> <|soi|> image ids <|eoi|>` followed by the chat-templated
//!   question with the generation prompt (`inference_mmu.py`).

use serde_json::Value;

use crate::{SpaceError, TextTokenizer, TokenSpace};

/// MMaDA's reserved ids in LLaDA's vocabulary, used when the tokenizer does not name them.
const RESERVED: [(&str, u32); 5] = [
    ("<|soi|>", 126_084),
    ("<|eoi|>", 126_085),
    ("<|t2i|>", 126_088),
    ("<|mmu|>", 126_089),
    ("[iPAD]", 126_093),
];

/// MMaDA's default text length of the t2i template (`dataset.preprocessing.max_seq_length`
/// of its demo config).
pub const DEFAULT_TEXT_LENGTH: usize = 512;

/// The context length of a config without `max_sequence_length` (the backbone's default).
const DEFAULT_MAX_SEQUENCE_LENGTH: u64 = 4096;

/// The special ids and sizes MMaDA's templates need.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MmadaPrompting {
    /// `<|soi|>`.
    pub soi: u32,
    /// `<|eoi|>`.
    pub eoi: u32,
    /// `<|t2i|>`.
    pub t2i: u32,
    /// `<|mmu|>`.
    pub mmu: u32,
    /// `[iPAD]`.
    pub pad: u32,
    /// Beginning of text.
    pub bos: u32,
    /// End of text.
    pub eos: u32,
    /// The mask id.
    pub mask: u32,
    /// Image tokens per picture (`num_vq_tokens`).
    pub num_vq_tokens: usize,
}

impl MmadaPrompting {
    /// Reads the ids from the tokenizer (by name; MMaDA's reserved ids when it does not name
    /// them) and the model's `config.json` object (`num_vq_tokens`, `bos_token_id`,
    /// `eos_token_id`; `mask` is the model's mask id).
    ///
    /// # Errors
    /// [`SpaceError::Config`] naming a missing id or field.
    pub fn new(tokenizer: &TextTokenizer, config: &Value, mask: u32) -> Result<Self, SpaceError> {
        let special = |name: &str| -> Result<u32, SpaceError> {
            tokenizer
                .token_to_id(name)
                .or_else(|| {
                    RESERVED
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|&(_, id)| id)
                        .filter(|&id| (id as usize) < tokenizer.vocab_size())
                })
                .ok_or_else(|| bad(name, "the tokenizer has no such token"))
        };
        let id = |field: &str| -> Result<u32, SpaceError> {
            config
                .get(field)
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| bad(field, "missing from config.json"))
        };
        // The image span lies inside the model's context, so the context bounds it (and
        // everything the t2i canvas allocates for it).
        let context = config
            .get("max_sequence_length")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_MAX_SEQUENCE_LENGTH);
        let num_vq_tokens = match config.get("num_vq_tokens") {
            None | Some(Value::Null) => {
                return Err(bad("num_vq_tokens", "missing from config.json"));
            }
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=context).contains(n))
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    bad(
                        "num_vq_tokens",
                        &format!(
                            "expected an integer in 1..={context} (the model's \
                             max_sequence_length), found {v}"
                        ),
                    )
                })?,
        };
        Ok(MmadaPrompting {
            soi: special("<|soi|>")?,
            eoi: special("<|eoi|>")?,
            t2i: special("<|t2i|>")?,
            mmu: special("<|mmu|>")?,
            pad: special("[iPAD]")?,
            bos: id("bos_token_id")?,
            eos: id("eos_token_id")?,
            mask,
            num_vq_tokens,
        })
    }

    /// The t2i canvas for `text` (token ids, no specials) with the text part padded to
    /// `text_length + 1`: the ids, the attention mask (`false` on padding), and the range of
    /// the image positions. Text longer than the template keeps its first tokens.
    pub fn t2i_canvas(
        &self,
        text: &[u32],
        text_length: usize,
    ) -> (Vec<u32>, Vec<bool>, std::ops::Range<usize>) {
        let mut body = Vec::with_capacity(text.len() + 3);
        body.push(self.t2i);
        if text.first() != Some(&self.bos) {
            body.push(self.bos);
        }
        body.extend_from_slice(text);
        body.push(self.eos);
        let max_text_len = text_length + 1;
        let mut ids = Vec::with_capacity(max_text_len + self.num_vq_tokens + 2);
        if body.len() <= max_text_len {
            ids.resize(max_text_len - body.len(), self.pad);
            ids.extend_from_slice(&body);
        } else {
            ids.extend_from_slice(&body[..max_text_len - 1]);
            ids.push(self.eos);
        }
        let pad = ids.iter().take_while(|&&t| t == self.pad).count();
        ids.push(self.soi);
        let start = ids.len();
        ids.extend(std::iter::repeat_n(self.mask, self.num_vq_tokens));
        let end = ids.len();
        ids.push(self.eoi);
        let attention = (0..ids.len()).map(|i| i >= pad).collect();
        (ids, attention, start..end)
    }

    /// The understanding canvas: `<|mmu|> <|soi|>` + the image's codes as model ids + `<|eoi|>`
    /// + the chat-templated question.
    ///
    /// # Errors
    /// [`SpaceError::Config`] for a code outside the image codebook.
    pub fn mmu_canvas(
        &self,
        space: &TokenSpace,
        codes: &[u32],
        question: &[u32],
    ) -> Result<Vec<u32>, SpaceError> {
        let mut ids = Vec::with_capacity(codes.len() + question.len() + 3);
        ids.push(self.mmu);
        ids.push(self.soi);
        for &c in codes {
            ids.push(space.image_id(c)?);
        }
        ids.push(self.eoi);
        ids.extend_from_slice(question);
        Ok(ids)
    }
}

fn bad(field: &str, reason: &str) -> SpaceError {
    SpaceError::Config {
        field: field.to_string(),
        reason: reason.to_string(),
    }
}
