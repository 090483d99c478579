//! [`Rendering`]: which renderings of the perception worlds an example's picture or tune is
//! drawn from — the canonical one, one aspect of natural variation, or all of them — and the
//! seeded draw of one ([`Rendering::image`], [`Rendering::audio`]).

use tessera_modalities::rng::{SplitMix64, fnv1a};

use crate::shapes::{self, Drawing, ShapeSpec};
use crate::split::mix64;
use crate::tones::{self, Performance, Tune};
use crate::{Split, Task, WorldError};

/// A family of renderings: what varies in the pictures and in the tunes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rendering {
    /// The name (`canonical`, an aspect such as `detune` or `shift`, or `all`).
    pub name: &'static str,
    /// What varies in a tune.
    pub tones: tones::Variation,
    /// What varies in a picture.
    pub shapes: shapes::Variation,
}

impl Rendering {
    /// The canonical rendering: [`Tune::render`], [`ShapeSpec::render`].
    pub const CANONICAL: Rendering = Rendering {
        name: "canonical",
        tones: tones::Variation::NONE,
        shapes: shapes::Variation::NONE,
    };

    /// Every aspect of both worlds at once.
    pub const ALL: Rendering = Rendering {
        name: "all",
        tones: tones::Variation::ALL,
        shapes: shapes::Variation::ALL,
    };

    /// Every family by name: canonical, each aspect of the tunes, each aspect of the
    /// pictures, then all together.
    pub fn every() -> Vec<Rendering> {
        let tones = tones::Variation::each()
            .into_iter()
            .map(|(name, tones)| Rendering {
                name,
                tones,
                shapes: shapes::Variation::NONE,
            });
        let shapes = shapes::Variation::each()
            .into_iter()
            .map(|(name, shapes)| Rendering {
                name,
                tones: tones::Variation::NONE,
                shapes,
            });
        std::iter::once(Rendering::CANONICAL)
            .chain(tones)
            .chain(shapes)
            .chain(std::iter::once(Rendering::ALL))
            .collect()
    }

    /// The family named `name` (one of [`Rendering::every`]'s).
    ///
    /// # Errors
    /// [`WorldError::UnknownWord`] of kind `rendering`.
    pub fn parse(name: &str) -> Result<Rendering, WorldError> {
        Rendering::every()
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| WorldError::UnknownWord {
                kind: "rendering",
                word: name.to_owned(),
            })
    }

    /// The families of [`Rendering::every`] that vary `task`'s input (empty for a task that
    /// reads no picture or tune).
    pub fn varied_for(task: Task) -> Vec<Rendering> {
        Rendering::every()
            .into_iter()
            .filter(|r| r.varies(task))
            .collect()
    }

    /// Whether this family changes the input of `task`: the picture to caption (or whose
    /// caption to fill), or the tune to transcribe (no other task reads one).
    pub fn varies(&self, task: Task) -> bool {
        match task {
            Task::Caption | Task::FillCaption => self.shapes != shapes::Variation::NONE,
            Task::Transcribe => self.tones != tones::Variation::NONE,
            _ => false,
        }
    }

    /// The draw for example `index` of `task`'s `split`: a stream of its own, apart from the
    /// example's, so the same example is drawn whatever the rendering.
    fn rng(&self, task: Task, split: Split, index: u64) -> SplitMix64 {
        let base = crate::example_rng(task, split, index).next_u64();
        SplitMix64::new(mix64(base ^ fnv1a("rendering")))
    }

    /// The picture of `spec` for example `index` of `task`'s `split`, drawn from this family.
    pub fn image(&self, spec: &ShapeSpec, task: Task, split: Split, index: u64) -> image::RgbImage {
        let drawing = Drawing::sample(&mut self.rng(task, split, index), self.shapes);
        spec.render_with(&drawing)
    }

    /// The clip of `tune` for example `index` of `task`'s `split`, drawn from this family.
    pub fn audio(&self, tune: &Tune, task: Task, split: Split, index: u64) -> Vec<f32> {
        let performance = Performance::sample(&mut self.rng(task, split, index), self.tones);
        tune.render_with(&performance)
    }
}

/// An aspect of a variation: its name and the setter that switches it on.
pub(crate) type Aspect<V> = (&'static str, fn(&mut V));

/// Each aspect alone: `none` with one aspect switched on by its setter, by name.
pub(crate) fn one_at_a_time<V: Copy, const N: usize>(
    none: V,
    aspects: [Aspect<V>; N],
) -> [(&'static str, V); N] {
    aspects.map(|(name, set)| {
        let mut v = none;
        set(&mut v);
        (name, v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_the_canonical_family_is_the_canonical_rendering() {
        for r in Rendering::every() {
            assert_eq!(Rendering::parse(r.name).unwrap(), r);
        }
        assert!(Rendering::parse("sharp").is_err());
        let detune = Rendering::parse("detune").unwrap();
        assert!(detune.varies(Task::Transcribe) && !detune.varies(Task::Caption));
        assert!(Rendering::ALL.varies(Task::Caption) && !Rendering::ALL.varies(Task::Sudoku));
        assert!(!Rendering::CANONICAL.varies(Task::Caption));
        let spec = ShapeSpec::all().next().unwrap();
        let tune = Tune::all().next().unwrap();
        let c = Rendering::CANONICAL;
        assert_eq!(c.image(&spec, Task::Caption, Split::Eval, 3), spec.render());
        assert_eq!(
            c.audio(&tune, Task::Transcribe, Split::Eval, 3),
            tune.render()
        );
        // Drawn per example, the same draw every time.
        let a = Rendering::ALL;
        let one = a.audio(&tune, Task::Transcribe, Split::Eval, 3);
        assert_eq!(one, a.audio(&tune, Task::Transcribe, Split::Eval, 3));
        assert_ne!(one, a.audio(&tune, Task::Transcribe, Split::Eval, 4));
    }
}
