//! Requests with blanks (infilling): the canvas of the given parts with a run of mask
//! positions per blank — a text model's ids as given, a Tessera world model's in the template
//! it was trained on — and its decoding in place, both sides of every blank visible.

use std::ops::Range;

use crate::parts::Part;
use crate::{Engine, Error, Finisher, Job, Limits, Request, Target};

impl Engine {
    /// The job of a request with blanks: the given parts' ids with a run of masks per
    /// blank; everything from the first blank on is the answer template, decoded in place
    /// with both sides visible (one block unless the options say otherwise; one token per
    /// step by default).
    pub(crate) fn infill_job(&self, req: &Request) -> Result<Job, Error> {
        let (mut tokens, blanks) = if self.is_world_model() {
            self.world_fill(req)?
        } else {
            self.plain_fill(req)?
        };
        let first = blanks.first().map_or(0, |b| b.start);
        if first == 0 {
            return Err(Error::invalid(
                "parts",
                "give some text before the first blank (infilling decodes after a prompt)",
            ));
        }
        let template = tokens.split_off(first);
        let blanks: Vec<_> = blanks
            .into_iter()
            .map(|b| b.start - first..b.end - first)
            .collect();
        let masked: usize = blanks.iter().map(|b| b.len()).sum();
        let mut options = req.options.clone();
        if let Some(n) = options.gen_length.filter(|&n| n != template.len()) {
            return Err(Error::invalid(
                "gen_length",
                format!(
                    "is {n}, but the blanks and the text between them are {} tokens",
                    template.len()
                ),
            ));
        }
        options.gen_length = Some(template.len());
        // One step per blank token; `ar` steps through the whole template (one-position
        // blocks), and a block of given text costs no forward.
        let ar = options.policy == Some(tessera_hybrid::policy::Policy::Ar);
        let steps = if ar { template.len() } else { masked };
        options.steps = Some(options.steps.unwrap_or(steps));
        if options.policy.is_none() && options.block_length.is_none() && options.segments.is_none()
        {
            options.block_length = Some(template.len());
        }
        let start = tokens.len();
        let decoding = self.infill_decoding(tokens, template, &options)?;
        Ok(Job {
            decoding,
            finisher: Finisher::infill(self, start, blanks),
        })
    }

    /// A plain text model's fill canvas: the given parts' ids with a run of masks per blank.
    fn plain_fill(&self, req: &Request) -> Result<(Vec<u32>, Vec<Range<usize>>), Error> {
        let mask = self.info().mask_id;
        let mut tokens: Vec<u32> = Vec::new();
        let mut blanks = Vec::new();
        for part in &req.parts {
            match part {
                Part::Generate(Target::Blank { len }) => {
                    if *len == 0 {
                        return Err(Error::invalid("parts", "a blank has at least one token"));
                    }
                    let start = tokens.len();
                    Limits::check(
                        "max_canvas",
                        start.saturating_add(*len),
                        self.limits().max_canvas,
                    )?;
                    tokens.extend(std::iter::repeat_n(mask, *len));
                    blanks.push(start..tokens.len());
                }
                Part::Text(_) | Part::Ids(_) => {
                    tokens.extend(self.given_ids(&[part])?);
                }
                _ => {
                    return Err(Error::invalid(
                        "parts",
                        "blanks (infilling) go with given text and ids only",
                    ));
                }
            }
        }
        Ok((tokens, blanks))
    }

    /// A Tessera world model's fill canvas, in the template it was trained on: text with
    /// blanks (`[text, Blank, text, …]`), optionally after the picture the text is about
    /// (`[Image, text, Blank, …]`: a caption with a blank attribute).
    fn world_fill(&self, req: &Request) -> Result<(Vec<u32>, Vec<Range<usize>>), Error> {
        let mut parts = req.parts.iter().peekable();
        let image = match parts.peek() {
            Some(Part::Image(image)) => {
                parts.next();
                Some(self.picture_codes(image)?)
            }
            _ => None,
        };
        let (mut pieces, mut widths) = (vec![String::new()], Vec::new());
        // Text is bounded in bytes, the blanks in canvas positions.
        let (mut bytes, mut blanks) = (0usize, 0usize);
        for part in parts {
            match part {
                Part::Text(t) => {
                    bytes = bytes.saturating_add(t.len());
                    Limits::check("max_request_bytes", bytes, self.limits().max_request_bytes)?;
                    // cannot fail: `pieces` starts with one piece and only grows.
                    if let Some(last) = pieces.last_mut() {
                        last.push_str(t);
                    }
                }
                Part::Generate(Target::Blank { len }) => {
                    if *len == 0 {
                        return Err(Error::invalid("parts", "a blank has at least one token"));
                    }
                    blanks = blanks.saturating_add(*len);
                    Limits::check("max_canvas", blanks, self.limits().max_canvas)?;
                    widths.push(*len);
                    pieces.push(String::new());
                }
                _ => {
                    return Err(Error::invalid(
                        "parts",
                        "a world model fills blanks in given text, optionally after one picture \
                         (the first part)",
                    ));
                }
            }
        }
        let world = self.world_model()?;
        let tokenizer = self.tokenizer().ok_or(Error::NoTokenizer)?;
        world.fill_canvas(image.as_deref(), &pieces, &widths, tokenizer, self.space())
    }
}
