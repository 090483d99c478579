//! The canvases of Tessera's own unified models (`tessera-tiny`): one template per task, the
//! same in training and in generation, so a model is prompted exactly as it was trained.
//!
//! Every canvas is a given prompt followed by the span to generate:
//! - text (`123+45=`, `sort 5 3 9 1 =`, `sudoku … =`): `<|bos|> text` → answer + `<|eos|>` padding;
//! - text → image: `<|bos|> <|t2i|> caption <|soi|>` → image ids (one per patch, row-major);
//! - image → caption: `<|bos|> <|caption|> <|soi|> image ids <|eoi|>` → caption + `<|eos|>`…;
//! - notes → audio: `<|bos|> <|t2a|> notes <|soa|>` → audio ids (level-major);
//! - audio → notes: `<|bos|> <|transcribe|> <|soa|> audio ids <|eoa|>` → notes + `<|eos|>`….
//!
//! Image and audio ids are codes moved into the model's [`crate::TokenSpace`].

use serde_json::Value;

use crate::{Canvas, Modality, SpaceError, TextTokenizer};

/// The special tokens of a Tessera tokenizer, in id order (the tokenizer builder writes them
/// first). The mask token is not a text token: it is the last row of the embedding.
pub const SPECIAL_TOKENS: [&str; 11] = [
    "<|eos|>",
    "<|bos|>",
    "<|unk|>",
    "<|t2i|>",
    "<|caption|>",
    "<|t2a|>",
    "<|transcribe|>",
    "<|soi|>",
    "<|eoi|>",
    "<|soa|>",
    "<|eoa|>",
];

/// Default length of a generated text answer (answer plus `<|eos|>` padding).
pub const DEFAULT_TEXT_LENGTH: usize = 24;

/// Where a text answer sits in its span (`"tessera": {"text_align": "left" | "right"}` in
/// `config.json`; default left). Generation reads the span the same way either way: its
/// `<|eos|>` tokens are special and dropped when the answer is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextAlign {
    /// The answer, then `<|eos|>` padding: `168<eos><eos>…`.
    #[default]
    Left,
    /// `<|eos|>` padding, then the answer: `…<eos><eos>168`. A number's last digit then
    /// always sits in the span's last position, so its digits of equal significance line up
    /// across examples (what a model needs to learn addition; see the training recipe).
    Right,
}

impl TextAlign {
    /// The config word: `left` or `right`.
    pub fn name(self) -> &'static str {
        match self {
            TextAlign::Left => "left",
            TextAlign::Right => "right",
        }
    }

    /// The alignment named `word` (`left`, `right`).
    pub fn parse(word: &str) -> Option<TextAlign> {
        match word {
            "left" => Some(TextAlign::Left),
            "right" => Some(TextAlign::Right),
            _ => None,
        }
    }
}

/// The ids a Tessera model's templates need, read by name from its tokenizer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TesseraPrompting {
    /// `<|eos|>`: ends and pads a text answer.
    pub eos: u32,
    /// `<|bos|>`: starts every canvas.
    pub bos: u32,
    /// `<|unk|>`: what the tokenizer makes of a word outside the vocabulary.
    pub unk: u32,
    /// `<|t2i|>`.
    pub t2i: u32,
    /// `<|caption|>`.
    pub caption: u32,
    /// `<|t2a|>`.
    pub t2a: u32,
    /// `<|transcribe|>`.
    pub transcribe: u32,
    /// `<|soi|>`: start of image.
    pub soi: u32,
    /// `<|eoi|>`: end of image.
    pub eoi: u32,
    /// `<|soa|>`: start of audio.
    pub soa: u32,
    /// `<|eoa|>`: end of audio.
    pub eoa: u32,
    /// Length of a generated text answer (`"tessera": {"text_length": N}` in `config.json`,
    /// default [`DEFAULT_TEXT_LENGTH`]).
    pub text_length: usize,
    /// Where a text answer sits in its span (`"tessera": {"text_align": …}`).
    pub align: TextAlign,
}

impl TesseraPrompting {
    /// Reads the special ids from `tokenizer` and the answer length from the model's
    /// `config.json` object.
    ///
    /// # Errors
    /// [`SpaceError::Config`] naming a special token the tokenizer lacks, or a bad
    /// `tessera.text_length` or `tessera.text_align`.
    pub fn new(tokenizer: &TextTokenizer, config: &Value) -> Result<Self, SpaceError> {
        let id = |name: &str| {
            tokenizer
                .token_to_id(name)
                .ok_or_else(|| SpaceError::Config {
                    field: name.into(),
                    reason: "the tokenizer has no such special token".into(),
                })
        };
        let text_length = match config.get("tessera").and_then(|t| t.get("text_length")) {
            None | Some(Value::Null) => DEFAULT_TEXT_LENGTH,
            Some(v) => v
                .as_u64()
                .filter(|&n| (1..=4096).contains(&n))
                .ok_or_else(|| SpaceError::Config {
                    field: "tessera.text_length".into(),
                    reason: "expected an integer in 1..=4096".into(),
                })? as usize,
        };
        let align = match config.get("tessera").and_then(|t| t.get("text_align")) {
            None | Some(Value::Null) => TextAlign::Left,
            Some(v) => v
                .as_str()
                .and_then(TextAlign::parse)
                .ok_or_else(|| SpaceError::Config {
                    field: "tessera.text_align".into(),
                    reason: format!("expected \"left\" or \"right\", found {v}"),
                })?,
        };
        Ok(TesseraPrompting {
            eos: id("<|eos|>")?,
            bos: id("<|bos|>")?,
            unk: id("<|unk|>")?,
            t2i: id("<|t2i|>")?,
            caption: id("<|caption|>")?,
            t2a: id("<|t2a|>")?,
            transcribe: id("<|transcribe|>")?,
            soi: id("<|soi|>")?,
            eoi: id("<|eoi|>")?,
            soa: id("<|soa|>")?,
            eoa: id("<|eoa|>")?,
            text_length,
            align,
        })
    }

    /// `<|bos|> text`.
    pub fn text(&self, text: &[u32]) -> Vec<u32> {
        join(&[&[self.bos], text])
    }

    /// `<|bos|> <|t2i|> caption <|soi|>`.
    pub fn t2i(&self, caption: &[u32]) -> Vec<u32> {
        join(&[&[self.bos, self.t2i], caption, &[self.soi]])
    }

    /// `<|bos|> <|caption|> <|soi|> image <|eoi|>`.
    pub fn caption(&self, image: &[u32]) -> Vec<u32> {
        join(&[&[self.bos, self.caption, self.soi], image, &[self.eoi]])
    }

    /// `<|bos|> <|t2a|> notes <|soa|>`.
    pub fn t2a(&self, notes: &[u32]) -> Vec<u32> {
        join(&[&[self.bos, self.t2a], notes, &[self.soa]])
    }

    /// `<|bos|> <|transcribe|> <|soa|> audio <|eoa|>`.
    pub fn transcribe(&self, audio: &[u32]) -> Vec<u32> {
        join(&[&[self.bos, self.transcribe, self.soa], audio, &[self.eoa]])
    }

    /// The text task's canvas: `<|bos|> text` → `text_length` text positions.
    pub fn text_canvas(&self, text: &[u32]) -> Canvas {
        Canvas::new()
            .given(Modality::Text, &self.text(text))
            .generated(Modality::Text, 0, self.text_length)
    }

    /// Text → image: `<|bos|> <|t2i|> caption <|soi|>` → `codes` image positions.
    pub fn t2i_canvas(&self, caption: &[u32], codes: usize) -> Canvas {
        Canvas::new()
            .given(Modality::Text, &self.t2i(caption))
            .generated(Modality::Image, 0, codes)
    }

    /// Image → caption: `<|bos|> <|caption|> <|soi|>`, the image ids, `<|eoi|>` → a caption.
    pub fn caption_canvas(&self, image: &[u32]) -> Canvas {
        Canvas::new()
            .given(Modality::Text, &[self.bos, self.caption, self.soi])
            .given(Modality::Image, image)
            .given(Modality::Text, &[self.eoi])
            .generated(Modality::Text, 0, self.text_length)
    }

    /// Notes → audio: `<|bos|> <|t2a|> notes <|soa|>` → `levels` spans of `frames` audio
    /// positions, level-major (decoded coarse to fine).
    pub fn t2a_canvas(&self, notes: &[u32], levels: usize, frames: usize) -> Canvas {
        (0..levels).fold(
            Canvas::new().given(Modality::Text, &self.t2a(notes)),
            |c, level| c.generated(Modality::Audio, level, frames),
        )
    }

    /// Audio → notes: `<|bos|> <|transcribe|> <|soa|>`, the audio ids (level-major, `levels`
    /// equal parts), `<|eoa|>` → the note names.
    pub fn transcribe_canvas(&self, audio: &[u32], levels: usize) -> Canvas {
        let frames = audio.len().div_ceil(levels.max(1)).max(1);
        let c = Canvas::new().given(Modality::Text, &[self.bos, self.transcribe, self.soa]);
        audio
            .chunks(frames)
            .enumerate()
            .fold(c, |c, (level, ids)| {
                c.given_level(Modality::Audio, level, ids)
            })
            .given(Modality::Text, &[self.eoa])
            .generated(Modality::Text, 0, self.text_length)
    }

    /// A text answer laid out for training: the answer's ids and `<|eos|>` padding to
    /// `length` (at least one `<|eos|>`), in the order [`TesseraPrompting::align`] says, or
    /// `None` when the answer does not fit.
    pub fn text_answer(&self, answer: &[u32], length: usize) -> Option<Vec<u32>> {
        (answer.len() < length).then(|| {
            let pad = vec![self.eos; length - answer.len()];
            match self.align {
                TextAlign::Left => join(&[answer, &pad]),
                TextAlign::Right => join(&[&pad, answer]),
            }
        })
    }

    /// The answer of a blank of `width` positions: `fill` padded with `<|eos|>` on the side
    /// [`TesseraPrompting::align`] pads (`fill` may take the whole width); `None` if it is
    /// longer.
    pub fn blank_answer(&self, fill: &[u32], width: usize) -> Option<Vec<u32>> {
        if fill.len() == width {
            return Some(fill.to_vec());
        }
        self.text_answer(fill, width)
    }

    /// The given start of a fill-in-the-blank canvas: `<|bos|>` before text, or
    /// `<|bos|> <|caption|> <|soi|> image <|eoi|>` when the text is about a picture (then
    /// the text with blanks follows where a caption would).
    pub fn fill_head(&self, image: Option<&[u32]>) -> Vec<u32> {
        match image {
            None => vec![self.bos],
            Some(image) => self.caption(image),
        }
    }

    /// A fill-in-the-blank canvas: `head`, then `pieces[0]`, a blank of `widths[0]`
    /// positions, `pieces[1]`, … — the ids with `blank` at every blank position, and the
    /// blanks' ranges. `None` unless there is one piece more than there are blanks.
    pub fn fill_canvas(
        &self,
        head: &[u32],
        pieces: &[Vec<u32>],
        widths: &[usize],
        blank: u32,
    ) -> Option<(Vec<u32>, Vec<std::ops::Range<usize>>)> {
        if pieces.len() != widths.len() + 1 {
            return None;
        }
        let mut ids = head.to_vec();
        let mut blanks = Vec::with_capacity(widths.len());
        for (piece, &width) in pieces.iter().zip(widths) {
            ids.extend_from_slice(piece);
            blanks.push(ids.len()..ids.len() + width);
            ids.extend(std::iter::repeat_n(blank, width));
        }
        ids.extend_from_slice(&pieces[widths.len()]);
        Some((ids, blanks))
    }

    /// Checks that `ids` (a tokenized user text, given in the request's field `field`) has
    /// no out-of-vocabulary word.
    ///
    /// # Errors
    /// [`SpaceError::Config`] naming `field` when a word became `<|unk|>`.
    pub fn check_known(&self, field: &str, ids: &[u32], text: &str) -> Result<(), SpaceError> {
        if ids.contains(&self.unk) {
            return Err(SpaceError::Config {
                field: field.into(),
                reason: format!("`{text}` has a word outside the model's vocabulary"),
            });
        }
        Ok(())
    }
}

fn join(parts: &[&[u32]]) -> Vec<u32> {
    parts.concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompting() -> TesseraPrompting {
        TesseraPrompting {
            eos: 0,
            bos: 1,
            unk: 2,
            t2i: 3,
            caption: 4,
            t2a: 5,
            transcribe: 6,
            soi: 7,
            eoi: 8,
            soa: 9,
            eoa: 10,
            text_length: 5,
            align: TextAlign::Left,
        }
    }

    #[test]
    fn text_answers_are_padded_on_the_aligned_side() {
        let mut p = prompting();
        assert_eq!(p.text_answer(&[20, 21], 4), Some(vec![20, 21, 0, 0]));
        assert_eq!(p.text_answer(&[20, 21, 22, 23], 4), None);
        p.align = TextAlign::Right;
        assert_eq!(p.text_answer(&[20, 21], 4), Some(vec![0, 0, 20, 21]));
        assert_eq!(p.text_answer(&[20, 21, 22], 4), Some(vec![0, 20, 21, 22]));
        for a in [TextAlign::Left, TextAlign::Right] {
            assert_eq!(TextAlign::parse(a.name()), Some(a));
        }
        assert_eq!(TextAlign::parse("centre"), None);
    }

    #[test]
    fn canvases_read_as_the_training_templates() {
        let p = prompting();
        let words = [20, 21];
        let (image, audio) = ([40, 41, 42], [60, 61, 70, 71]);
        assert_eq!(p.text_canvas(&words).prompt(), p.text(&words));
        assert_eq!(p.t2i_canvas(&words, 3).prompt(), p.t2i(&words));
        assert_eq!(p.caption_canvas(&image).prompt(), p.caption(&image));
        assert_eq!(p.t2a_canvas(&words, 2, 2).prompt(), p.t2a(&words));
        assert_eq!(
            p.transcribe_canvas(&audio, 2).prompt(),
            p.transcribe(&audio)
        );
        // Roles and lengths: what the controller generates.
        assert_eq!(p.text_canvas(&words).answer_length(), 5);
        assert_eq!(p.t2a_canvas(&words, 2, 3).answer_length(), 6);
        let t = p.transcribe_canvas(&audio, 2);
        let levels: Vec<usize> = t
            .parts()
            .iter()
            .filter(|x| x.modality == Modality::Audio)
            .map(|x| x.level)
            .collect();
        assert_eq!(levels, [0, 1]);
    }
}
