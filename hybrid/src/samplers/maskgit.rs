//! MaskGIT decoding of a span of image (or audio) codes, as MMaDA's `t2i_generate` runs it
//! (Gen-Verse/MMaDA `models/modeling_mmada.py`, after google-research/maskgit
//! `parallel_decode.py`): the preset. The algorithm, its options and its per-step state live
//! in the strategy module `span_decode`; a MaskGIT decode is a phase of [`Decoding`]
//! ([`Decoding::maskgit`]), so its requests step and batch like any other.

pub use crate::span_decode::{Annealing, MaskGitOptions, SpanCanvas};
use crate::{Decoding, Denoiser, Error, Generation, NoiseSource, StepInfo};

/// Decodes `canvas.span` of every row; the returned canvases hold the last step's draws there:
/// a [`Decoding`] of the canvas ([`Decoding::maskgit`]) run to the end on `model` alone.
///
/// # Errors
/// Invalid options or shapes ([`Error::InvalidOption`], [`Error::InvalidPrompt`]), a denoiser
/// failure, or missing recorded noise.
pub fn generate<D: Denoiser + ?Sized>(
    model: &D,
    canvas: &SpanCanvas<'_>,
    opts: &MaskGitOptions,
    noise: &dyn NoiseSource,
    on_step: &mut dyn FnMut(StepInfo),
) -> Result<Generation, Error>
where
    D::Cache: Send + Default,
{
    Decoding::maskgit(model, canvas, opts, noise)?.run(model, on_step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SeededNoise;
    use crate::testing::Ramp;

    fn canvas(tokens: &[u32]) -> SpanCanvas<'_> {
        SpanCanvas {
            tokens,
            len: tokens.len(),
            attention: None,
            span: 2..8,
            uncond: None,
        }
    }

    #[test]
    fn decodes_the_span_inside_the_codebook_with_cosine_counts() {
        let tokens = [1, 2, 11, 11, 11, 11, 11, 11, 3];
        let opts = MaskGitOptions {
            cfg_scale: 0.0,
            steps: 4,
            ..MaskGitOptions::new(11, 4..10)
        };
        let mut committed = Vec::new();
        let out = generate(
            &Ramp,
            &canvas(&tokens),
            &opts,
            &SeededNoise::new(3),
            &mut |s| committed.push(s.committed),
        )
        .unwrap();
        let row = out.canvas(0);
        assert_eq!(
            (row[0], row[1], row[8]),
            (1, 2, 3),
            "outside the span untouched"
        );
        assert!(row[2..8].iter().all(|t| (4..10).contains(t)), "{row:?}");
        // N = 6: after step 1 of 4, ⌊6·cos(π/8)⌋ = 5 stay masked → 1 committed; then
        // ⌊6·cos(π/4)⌋ = 4 → 1 more; ⌊6·cos(3π/8)⌋ = 2 → 2 more; the last step keeps one
        // masked (mask_len ≥ 1) and the output takes every draw.
        assert_eq!(committed, vec![1, 1, 2, 1]);
        assert_eq!(out.nfe(), 4);
    }

    #[test]
    fn annealings_differ_and_guidance_needs_an_unconditional_canvas() {
        assert_eq!(Annealing::parse("maskgit").unwrap(), Annealing::Maskgit);
        assert!(Annealing::parse("linear").is_err());
        let tokens = [1, 2, 11, 11, 11, 11, 11, 11, 3];
        let opts = MaskGitOptions::new(11, 4..10);
        assert!(matches!(
            generate(
                &Ramp,
                &canvas(&tokens),
                &opts,
                &SeededNoise::new(3),
                &mut |_| {}
            ),
            Err(Error::InvalidOption {
                option: "cfg-scale",
                ..
            })
        ));
        let uncond = [0, 0, 11, 11, 11, 11, 11, 11, 3];
        let guided = SpanCanvas {
            uncond: Some((&uncond, None)),
            ..canvas(&tokens)
        };
        let out = generate(&Ramp, &guided, &opts, &SeededNoise::new(3), &mut |_| {}).unwrap();
        assert!(out.canvas(0)[2..8].iter().all(|t| (4..10).contains(t)));
        let bad = MaskGitOptions {
            vocab: 4..40,
            ..opts
        };
        assert!(matches!(
            generate(&Ramp, &guided, &bad, &SeededNoise::new(3), &mut |_| {}),
            Err(Error::InvalidOption {
                option: "vocab",
                ..
            })
        ));
    }
}
