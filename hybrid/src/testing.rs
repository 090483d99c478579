//! Test doubles shared by the samplers' unit tests.

use crate::{DenoiseError, DenoiseInput, Denoiser, Logits, PromptBatch, Span};

/// The trivial cached path of a test double: no cache, every pass recomputed (exact).
macro_rules! exact_cache {
    () => {
        type Cache = ();

        fn denoise_and_cache(
            &self,
            input: &$crate::DenoiseInput<'_>,
        ) -> Result<($crate::Logits, ()), $crate::DenoiseError> {
            Ok((self.denoise(input)?, ()))
        }

        fn denoise_span(
            &self,
            input: &$crate::DenoiseInput<'_>,
            _: $crate::Span,
            _: &(),
        ) -> Result<$crate::Logits, $crate::DenoiseError> {
            self.denoise(input)
        }
    };
}
pub(crate) use exact_cache;

/// Predicts, at position `p`, token `p % 10` with a confidence growing with `p` (vocabulary 12).
#[derive(Debug)]
pub(crate) struct Ramp;

impl Denoiser for Ramp {
    exact_cache!();

    fn logits_width(&self) -> usize {
        12
    }

    fn denoise(&self, input: &DenoiseInput<'_>) -> Result<Logits, crate::DenoiseError> {
        let mut l = Logits::filled(input.rows(), input.positions.len(), 12, 0.0);
        for r in 0..input.rows() {
            for (k, &p) in input.positions.iter().enumerate() {
                l.row_mut(r, k)[p % 10] = 1.0 + p as f32 * 0.1;
            }
        }
        Ok(l)
    }
}

/// The prompt `[1, 2]`.
pub(crate) fn prompt() -> PromptBatch {
    PromptBatch::left_padded(vec![vec![1, 2]], 0).expect("valid prompt")
}

/// Predicts token 5 (surely) before position `at`, and EOS (token 3) from `at` on, with a
/// confidence that falls with the position, so the first EOS is committed first.
#[derive(Debug)]
pub(crate) struct EosAfter {
    pub(crate) at: usize,
}

impl Denoiser for EosAfter {
    exact_cache!();

    fn logits_width(&self) -> usize {
        12
    }

    fn denoise(&self, input: &DenoiseInput<'_>) -> Result<Logits, DenoiseError> {
        let mut l = Logits::filled(input.rows(), input.positions.len(), 12, 0.0);
        for r in 0..input.rows() {
            for (k, &p) in input.positions.iter().enumerate() {
                if p < self.at {
                    l.row_mut(r, k)[5] = 8.0;
                } else {
                    l.row_mut(r, k)[3] = 5.0 - p as f32 * 0.1;
                }
            }
        }
        Ok(l)
    }
}

/// A block-causal test double with a real block cache: the logits at `p` are a hash of the
/// tokens `p` can see (keys whose group is at most `p`'s), so a stale or misplaced cache
/// changes the prediction. Vocabulary 12, mask 11.
#[derive(Debug)]
pub(crate) struct Structured {
    pub(crate) attention: crate::Attention,
}

/// [`Structured`]'s block cache: the cached tokens of every row, and how many positions
/// they cover.
#[derive(Debug, Default)]
pub(crate) struct SeenTokens {
    rows: Vec<Vec<u32>>,
}

impl Structured {
    fn predict(&self, visible: impl Iterator<Item = u32>, p: usize) -> [f32; 12] {
        let mut h = 0x9E37_79B9u64.wrapping_add(p as u64);
        for t in visible {
            h = (h ^ u64::from(t)).wrapping_mul(0x1000_0000_01B3);
        }
        let mut row = [0.0; 12];
        for (k, v) in row.iter_mut().enumerate().take(11) {
            *v = ((h >> (k * 5)) & 31) as f32 * 0.2;
        }
        row
    }

    /// Logits where the tokens outside `fresh` come from `cache` (when it has them).
    fn run(&self, input: &DenoiseInput<'_>, cache: Option<(&SeenTokens, Span)>) -> Logits {
        let len = input.len;
        let mut l = Logits::filled(input.rows(), input.positions.len(), 12, -1e9);
        for r in 0..input.rows() {
            let row = &input.tokens[r * len..(r + 1) * len];
            let (cached, fresh) = cache.map_or((&[][..], Span { start: 0, end: 0 }), |(c, s)| {
                (&c.rows[r][..], s)
            });
            for (k, &p) in input.positions.iter().enumerate() {
                let visible = (0..len)
                    .filter(|&j| input.groups.is_none_or(|g| crate::visible(g, p, j)))
                    .filter(|&j| input.attention.is_none_or(|a| a[r * len + j]))
                    .map(|j| match cached.get(j) {
                        Some(&t) if !(fresh.start..fresh.end).contains(&j) => t,
                        _ => row[j],
                    });
                l.row_mut(r, k).copy_from_slice(&self.predict(visible, p));
            }
        }
        l
    }
}

impl Denoiser for Structured {
    type Cache = SeenTokens;

    fn logits_width(&self) -> usize {
        12
    }

    fn attention(&self) -> crate::Attention {
        self.attention
    }

    fn denoise(&self, input: &DenoiseInput<'_>) -> Result<Logits, DenoiseError> {
        Ok(self.run(input, None))
    }

    fn denoise_and_cache(
        &self,
        input: &DenoiseInput<'_>,
    ) -> Result<(Logits, SeenTokens), DenoiseError> {
        let rows = input
            .tokens
            .chunks(input.len)
            .map(<[u32]>::to_vec)
            .collect();
        Ok((self.run(input, None), SeenTokens { rows }))
    }

    fn denoise_span(
        &self,
        input: &DenoiseInput<'_>,
        span: Span,
        cache: &SeenTokens,
    ) -> Result<Logits, DenoiseError> {
        Ok(self.run(input, Some((cache, span))))
    }

    fn denoise_extend(
        &self,
        input: &DenoiseInput<'_>,
        span: Span,
        keep: usize,
        cache: &mut SeenTokens,
    ) -> Result<Logits, DenoiseError> {
        let rows = input.rows();
        if cache.rows.is_empty() {
            cache.rows = vec![Vec::new(); rows];
        }
        if cache.rows.iter().any(|r| r.len() != span.start) {
            return Err("cache does not cover the span's prefix".into());
        }
        if input
            .positions
            .iter()
            .any(|&p| p < span.start || p >= span.end)
        {
            return Err("position outside the span".into());
        }
        // Positions after the span must be invisible: blank them so a leak shows.
        let mut tokens = input.tokens.to_vec();
        for r in 0..rows {
            for t in &mut tokens[r * input.len + span.end..(r + 1) * input.len] {
                *t = 0;
            }
        }
        let blanked = DenoiseInput {
            tokens: &tokens,
            ..*input
        };
        let logits = self.run(&blanked, Some((cache, span)));
        for (r, seen) in cache.rows.iter_mut().enumerate() {
            seen.extend_from_slice(&input.tokens[r * input.len + span.start..r * input.len + keep]);
        }
        Ok(logits)
    }
}

/// Wants an answer of `need` tokens, `need` being the last prompt token: token 5 (surely)
/// everywhere, except that while the row's canvas is shorter than `need`, its first masked
/// answer position is a flat, unsure row (no room yet). It never predicts EOS. Vocabulary 12,
/// mask 11; the row's length is read from the key mask.
#[derive(Debug)]
pub(crate) struct NeedsRoom {
    /// Prompt length (the answer starts here).
    pub(crate) prompt: usize,
}

impl Denoiser for NeedsRoom {
    exact_cache!();

    fn logits_width(&self) -> usize {
        12
    }

    fn denoise(&self, input: &DenoiseInput<'_>) -> Result<Logits, DenoiseError> {
        let mut l = Logits::filled(input.rows(), input.positions.len(), 12, 0.0);
        for r in 0..input.rows() {
            let row = &input.tokens[r * input.len..(r + 1) * input.len];
            let need = row[self.prompt - 1] as usize;
            let valid = input.attention.map_or(input.len, |a| {
                a[r * input.len..(r + 1) * input.len]
                    .iter()
                    .filter(|&&k| k)
                    .count()
            });
            let unsure = (valid - self.prompt < need)
                .then(|| (self.prompt..valid).find(|&p| row[p] == 11))
                .flatten();
            for (k, &p) in input.positions.iter().enumerate() {
                if Some(p) != unsure {
                    l.row_mut(r, k)[5] = 9.0;
                }
            }
        }
        Ok(l)
    }
}

/// Wants every answer token equal: at a masked answer position it predicts the most common
/// token among the visible answer tokens (logit 3 per occurrence, ties to the smaller id),
/// and with none visible, token 5 at the first answer position and 4 elsewhere (logit 3).
/// Decoded all at once, the answer is `5 4 4 …` — one token disagrees with the rest.
/// Padding keys are ignored. Vocabulary 12, mask 11.
#[derive(Debug)]
pub(crate) struct Majority {
    /// Prompt length (the answer starts here).
    pub(crate) prompt: usize,
}

impl Denoiser for Majority {
    exact_cache!();

    fn logits_width(&self) -> usize {
        12
    }

    fn denoise(&self, input: &DenoiseInput<'_>) -> Result<Logits, DenoiseError> {
        let len = input.len;
        let mut l = Logits::filled(input.rows(), input.positions.len(), 12, 0.0);
        for r in 0..input.rows() {
            let row = &input.tokens[r * len..(r + 1) * len];
            let mut counts = [0usize; 11];
            for (j, &t) in row.iter().enumerate().skip(self.prompt) {
                // Padding keys (a driver's right padding) are not part of the answer.
                if input.attention.is_some_and(|a| !a[r * len + j]) {
                    continue;
                }
                if let Some(c) = counts.get_mut(t as usize) {
                    *c += 1;
                }
            }
            for (k, &p) in input.positions.iter().enumerate() {
                let out = l.row_mut(r, k);
                if counts.iter().all(|&c| c == 0) {
                    out[if p == self.prompt { 5 } else { 4 }] = 3.0;
                } else {
                    for (t, &c) in counts.iter().enumerate() {
                        out[t] = 3.0 * c as f32;
                    }
                }
            }
        }
        Ok(l)
    }
}
