//! [`Task`]: the ten tasks a tiny model is trained and evaluated on, and their
//! [`Example`]s drawn per split and index.

use serde::{Deserialize, Serialize};
use tessera_modalities::rng::SplitMix64;

use crate::fill::{self, FillExample, FillKind};
use crate::named::named_enum;
use crate::shapes::ShapeSpec;
use crate::split::{Split, example_rng, is_held_out};
use crate::text::{OperandDraw, TextExample, TextTask};
use crate::tones::Tune;

named_enum! {
    /// A task of the worlds.
    pub enum Task ("task") {
        /// Text to image: caption → picture of the shapes world.
        T2i => "t2i",
        /// Image captioning: picture → caption.
        Caption => "caption",
        /// Text to audio: note names → clip of the tones world.
        T2a => "t2a",
        /// Transcription: clip → note names.
        Transcribe => "transcribe",
        /// Addition prompts.
        Addition => "addition",
        /// Sorting prompts.
        Sorting => "sorting",
        /// 4×4 sudoku prompts.
        Sudoku => "sudoku",
        /// An addend from the sum: `123+[_]=168` → `45` ([`crate::fill`]).
        FillAddition => "fill-addition",
        /// Digits missing from a sorted list: `sort 5 3 9 1 = 1 [_] 5 [_]` → `3`, `9`.
        FillSorting => "fill-sorting",
        /// A caption's missing attribute, given the picture: `a [_] blue square at the
        /// center` → `small`.
        FillCaption => "fill-caption",
    }
}

/// One example of a task: what to render or prompt, with its reference answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Example {
    /// A picture of the shapes world and its caption (`t2i`, `caption`).
    Image {
        /// The picture.
        spec: ShapeSpec,
    },
    /// A clip of the tones world and its note names (`t2a`, `transcribe`).
    Tones {
        /// The tune.
        tune: Tune,
    },
    /// A text prompt and its answer (`addition`, `sorting`, `sudoku`).
    Text {
        /// The text task.
        task: TextTask,
        /// The prompt and reference answer.
        example: TextExample,
    },
    /// Text with blanks and their fills (`fill-addition`, `fill-sorting`, `fill-caption`).
    Fill {
        /// The template, the reference fills and the blanks' widths.
        example: FillExample,
        /// The picture the text is about (`fill-caption`).
        spec: Option<ShapeSpec>,
    },
}

impl Example {
    /// How [`check_fill`](crate::check_fill) judges this example's fills (`None` for an
    /// example without blanks).
    pub fn fill_kind(&self, task: Task) -> Option<FillKind> {
        match (task, self) {
            (Task::FillAddition, Example::Fill { .. }) => Some(FillKind::Addition),
            (Task::FillSorting, Example::Fill { .. }) => Some(FillKind::Sorting),
            (Task::FillCaption, Example::Fill { spec: Some(s), .. }) => Some(FillKind::Caption(*s)),
            _ => None,
        }
    }
}

impl Task {
    /// The text task this is, if it is one.
    pub fn text_task(self) -> Option<TextTask> {
        match self {
            Task::Addition => Some(TextTask::Addition),
            Task::Sorting => Some(TextTask::Sorting),
            Task::Sudoku => Some(TextTask::Sudoku),
            _ => None,
        }
    }

    /// Whether the task fills blanks inside given text ([`crate::fill`]).
    pub fn is_fill(self) -> bool {
        matches!(
            self,
            Task::FillAddition | Task::FillSorting | Task::FillCaption
        )
    }

    /// The `index`-th example of the task in `split`: a pure function of its arguments,
    /// drawn from [`example_rng`]`(self, split, index)`.
    ///
    /// Pictures and tunes are uniform over the world's 210 / 512 combinations in both
    /// splits. Text prompts are drawn by [`TextTask::sample`] and redrawn (from the same
    /// generator) until [`is_held_out`] is `false` for train and `true` for eval, so the
    /// splits share no prompt; about 1 in 10 draws is kept for eval. The fill tasks over
    /// addition and sorting split by the same rule on the underlying addition or sorting
    /// prompt, so a held-out sum is never seen in training with a blank either.
    pub fn sample(self, split: Split, index: u64) -> Example {
        self.sample_with(split, index, OperandDraw::Uniform)
    }

    /// [`Task::sample`] with addition operands drawn as `draw` says (a training choice: the
    /// held-out test stays [`OperandDraw::Uniform`]). Other tasks ignore `draw`; with
    /// [`OperandDraw::Uniform`] this is [`Task::sample`].
    pub fn sample_with(self, split: Split, index: u64, draw: OperandDraw) -> Example {
        let mut rng = example_rng(self, split, index);
        let text = |task: TextTask, rng: &mut SplitMix64| loop {
            let example = task.sample_with(rng, draw);
            if is_held_out(self, &example.prompt) == (split == Split::Eval) {
                return Example::Text { task, example };
            }
        };
        match self {
            Task::T2i | Task::Caption => Example::Image {
                spec: ShapeSpec::sample(&mut rng),
            },
            Task::T2a | Task::Transcribe => Example::Tones {
                tune: Tune::sample(&mut rng),
            },
            Task::Addition => text(TextTask::Addition, &mut rng),
            Task::Sorting => text(TextTask::Sorting, &mut rng),
            Task::Sudoku => text(TextTask::Sudoku, &mut rng),
            Task::FillAddition => Example::Fill {
                example: fill::sample_addition(&mut rng, draw, |p| {
                    is_held_out(Task::Addition, p) == (split == Split::Eval)
                }),
                spec: None,
            },
            Task::FillSorting => Example::Fill {
                example: fill::sample_sorting(&mut rng, |p| {
                    is_held_out(Task::Sorting, p) == (split == Split::Eval)
                }),
                spec: None,
            },
            Task::FillCaption => {
                let spec = ShapeSpec::sample(&mut rng);
                Example::Fill {
                    example: fill::fill_caption(&spec, rng.below(3)),
                    spec: Some(spec),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names() {
        let names: Vec<&str> = Task::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(
            names,
            [
                "t2i",
                "caption",
                "t2a",
                "transcribe",
                "addition",
                "sorting",
                "sudoku",
                "fill-addition",
                "fill-sorting",
                "fill-caption"
            ]
        );
        for t in Task::ALL {
            assert_eq!(Task::parse(t.name()), Ok(t));
        }
        assert!(Task::parse("T2I").is_err());
        assert_eq!(Split::parse("eval"), Ok(Split::Eval));
    }

    #[test]
    fn examples_have_the_task_kind_and_are_reproducible() {
        for task in Task::ALL {
            for index in 0..20 {
                let ex = task.sample(Split::Train, index);
                assert_eq!(ex, task.sample(Split::Train, index));
                match (&ex, task) {
                    (Example::Image { .. }, Task::T2i | Task::Caption)
                    | (Example::Tones { .. }, Task::T2a | Task::Transcribe) => {}
                    (Example::Text { task: t, example }, _) => {
                        assert_eq!(task.text_task(), Some(*t));
                        assert!(t.check(&example.prompt, &example.answer));
                    }
                    (Example::Fill { example, .. }, _) if task.is_fill() => {
                        let kind = ex.fill_kind(task).unwrap();
                        assert!(crate::check_fill(kind, example, &example.fills));
                    }
                    _ => panic!("{task}: {ex:?}"),
                }
            }
        }
    }

    #[test]
    fn text_splits_share_no_prompt() {
        for task in [Task::Addition, Task::Sorting, Task::Sudoku] {
            let prompts = |split| -> HashSet<String> {
                (0..400)
                    .filter_map(|i| match task.sample(split, i) {
                        Example::Text { example, .. } => Some(example.prompt),
                        _ => None,
                    })
                    .collect()
            };
            let (train, eval) = (prompts(Split::Train), prompts(Split::Eval));
            assert!(train.iter().all(|p| !is_held_out(task, p)));
            assert!(eval.iter().all(|p| is_held_out(task, p)));
            assert!(train.is_disjoint(&eval), "{task}");
            // Both splits are varied.
            assert!(train.len() > 100 && eval.len() > 100, "{task}");
        }
    }

    #[test]
    fn finite_worlds_are_not_held_out() {
        // Every picture and tune appears in both splits.
        let specs = |split| -> HashSet<ShapeSpec> {
            (0..4000)
                .filter_map(|i| match Task::T2i.sample(split, i) {
                    Example::Image { spec } => Some(spec),
                    _ => None,
                })
                .collect()
        };
        assert_eq!(specs(Split::Train).len(), 210);
        assert_eq!(specs(Split::Eval).len(), 210);
        let tunes: HashSet<Tune> = (0..8000)
            .filter_map(|i| match Task::Transcribe.sample(Split::Eval, i) {
                Example::Tones { tune } => Some(tune),
                _ => None,
            })
            .collect();
        assert_eq!(tunes.len(), 512);
    }
}
