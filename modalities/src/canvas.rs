//! A canvas: the sequence a model denoises, described as parts that say what they hold — a
//! modality, and for audio a residual level — and their role: *given* (ids the model reads:
//! the prompt, a picture to caption, a clip to transcribe) or *generated* (a span of masks the
//! decoding controller fills, each position restricted to its part's ids in the model's
//! [`TokenSpace`]: an image position can only become an image code, a text position a text
//! id or `<|eos|>`).
//!
//! The templates build canvases ([`crate::tessera::TesseraPrompting`]); the SDK turns one
//! into the controller's prompt and one decoding segment per generated part
//! ([`Canvas::prompt`], [`Canvas::answer`]).

use std::ops::Range;

use serde::Serialize;

use crate::{Modality, SpaceError, TokenSpace};

/// What a part of a canvas is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Role {
    /// Ids the model reads.
    Given,
    /// Masks the controller fills.
    Generated,
}

/// One part of a canvas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Part {
    /// What the part holds.
    pub modality: Modality,
    /// The residual level (audio; 0 otherwise).
    pub level: usize,
    /// Given or generated.
    pub role: Role,
    /// The ids of a given part (empty for a generated one).
    pub ids: Vec<u32>,
    /// Positions in the part.
    pub length: usize,
}

/// A generated part as the controller decodes it: its length and the ids it may take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AnswerSpan {
    /// What the span holds.
    pub modality: Modality,
    /// The residual level (audio; 0 otherwise).
    pub level: usize,
    /// Positions in the span.
    pub length: usize,
    /// The ids its positions may take.
    pub vocab: Range<u32>,
}

/// A sequence of given and generated parts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Canvas {
    parts: Vec<Part>,
}

impl Canvas {
    /// An empty canvas.
    pub fn new() -> Self {
        Canvas::default()
    }

    /// Appends given `ids` of `modality` (level 0).
    pub fn given(self, modality: Modality, ids: &[u32]) -> Self {
        self.given_level(modality, 0, ids)
    }

    /// Appends given `ids` of `modality` at residual `level`.
    pub fn given_level(mut self, modality: Modality, level: usize, ids: &[u32]) -> Self {
        if !ids.is_empty() {
            self.parts.push(Part {
                modality,
                level,
                role: Role::Given,
                ids: ids.to_vec(),
                length: ids.len(),
            });
        }
        self
    }

    /// Appends `length` positions to generate, of `modality` at residual `level`.
    pub fn generated(mut self, modality: Modality, level: usize, length: usize) -> Self {
        if length > 0 {
            self.parts.push(Part {
                modality,
                level,
                role: Role::Generated,
                ids: Vec::new(),
                length,
            });
        }
        self
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Positions in the canvas.
    pub fn len(&self) -> usize {
        self.parts.iter().map(|p| p.length).sum()
    }

    /// Whether the canvas has no position.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The ids of the given parts before the first generated one: what the controller reads
    /// as the prompt.
    pub fn prompt(&self) -> Vec<u32> {
        self.parts
            .iter()
            .take_while(|p| p.role == Role::Given)
            .flat_map(|p| p.ids.iter().copied())
            .collect()
    }

    /// Positions to generate.
    pub fn answer_length(&self) -> usize {
        self.parts
            .iter()
            .filter(|p| p.role == Role::Generated)
            .map(|p| p.length)
            .sum()
    }

    /// The whole canvas with `mask` at every generated position.
    pub fn ids(&self, mask: u32) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.len());
        for p in &self.parts {
            match p.role {
                Role::Given => out.extend_from_slice(&p.ids),
                Role::Generated => out.extend(std::iter::repeat_n(mask, p.length)),
            }
        }
        out
    }

    /// Checks every given id against its part's range in `space` and returns the generated
    /// parts as spans with their vocabularies, in order. The generated parts must be the
    /// canvas's tail (the controller generates after the prompt).
    ///
    /// # Errors
    /// [`SpaceError::Config`] naming the modality when a given id is outside its range, the
    /// model lacks a part's modality or level, or a given part follows a generated one.
    pub fn answer(&self, space: &TokenSpace) -> Result<Vec<AnswerSpan>, SpaceError> {
        let mut spans = Vec::new();
        for p in &self.parts {
            let vocab = space.range(p.modality, p.level)?;
            match p.role {
                Role::Given => {
                    if !spans.is_empty() {
                        return Err(SpaceError::Config {
                            field: p.modality.to_string(),
                            reason: "given ids after a generated span: the answer must end \
                                     the canvas"
                                .into(),
                        });
                    }
                    if let Some(&id) = p.ids.iter().find(|id| !vocab.contains(id)) {
                        return Err(SpaceError::Config {
                            field: p.modality.to_string(),
                            reason: format!(
                                "id {id} is not a {} id ({}..{})",
                                p.modality, vocab.start, vocab.end
                            ),
                        });
                    }
                }
                Role::Generated => spans.push(AnswerSpan {
                    modality: p.modality,
                    level: p.level,
                    length: p.length,
                    vocab,
                }),
            }
        }
        Ok(spans)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn space() -> TokenSpace {
        let config = json!({"token_space": {"text": 10, "image_codes": 4, "audio_codes": [3, 3]}});
        TokenSpace::from_config(&config, 20, 21).unwrap()
    }

    #[test]
    fn parts_give_the_prompt_the_masks_and_each_spans_vocabulary() {
        let s = space();
        let c = Canvas::new()
            .given(Modality::Text, &[1, 2])
            .given(Modality::Image, &[10, 13])
            .given(Modality::Text, &[])
            .generated(Modality::Audio, 0, 2)
            .generated(Modality::Audio, 1, 2);
        assert_eq!(c.parts().len(), 4);
        assert_eq!((c.len(), c.answer_length()), (8, 4));
        assert_eq!(c.prompt(), [1, 2, 10, 13]);
        assert_eq!(c.ids(20), [1, 2, 10, 13, 20, 20, 20, 20]);
        let spans = c.answer(&s).unwrap();
        assert_eq!(spans.len(), 2);
        assert_eq!(
            (spans[0].vocab.clone(), spans[1].vocab.clone()),
            (14..17, 17..20)
        );
        assert_eq!(spans[1].level, 1);
    }

    #[test]
    fn wrong_ids_missing_levels_and_trailing_givens_are_refused() {
        let s = space();
        let bad_image = Canvas::new()
            .given(Modality::Image, &[3])
            .generated(Modality::Text, 0, 1);
        assert!(
            bad_image
                .answer(&s)
                .unwrap_err()
                .to_string()
                .contains("image")
        );
        let no_level = Canvas::new().generated(Modality::Audio, 2, 1);
        assert!(no_level.answer(&s).is_err());
        let trailing = Canvas::new()
            .generated(Modality::Image, 0, 2)
            .given(Modality::Text, &[1]);
        assert!(trailing.answer(&s).unwrap_err().to_string().contains("end"));
    }
}
