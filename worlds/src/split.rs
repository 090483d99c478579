//! Train and eval streams: [`Split`], the per-example generator [`example_rng`], and the
//! held-out rule for text prompts [`is_held_out`].

use tessera_modalities::rng::{SplitMix64, fnv1a};

use crate::Task;
use crate::named::named_enum;

named_enum! {
    /// Which stream an example belongs to.
    pub enum Split ("split") {
        /// Training examples.
        Train => "train",
        /// Evaluation examples.
        Eval => "eval",
    }
}

/// A text prompt is held out for evaluation when its hash is divisible by this (1 in 10).
pub const HELD_OUT_MODULUS: u64 = 10;

/// The SplitMix64 output function of `x`: a bijection of `u64` that spreads every input bit
/// over every output bit.
pub(crate) fn mix64(x: u64) -> u64 {
    SplitMix64::new(x).next_u64()
}

/// The generator of the `index`-th example of `task` in `split`.
///
/// Its seed is `mix64(((mix64(fnv1a(task name)) + index) << 1) | tag)` (wrapping), where
/// `tag` is 0 for train and 1 for eval and `mix64` is the SplitMix64 output function, a
/// bijection of `u64`. Train inputs are even and eval inputs odd, so **no eval seed ever
/// equals a train seed**, for any tasks and indices. Within one split, the streams of two
/// tasks start at offsets `mix64(fnv1a(name))` that are pseudo-random, so indices of
/// different tasks do not share seeds in practice (checked for every task up to 2⁴⁰
/// examples in the tests).
pub fn example_rng(task: Task, split: Split, index: u64) -> SplitMix64 {
    let stream = mix64(fnv1a(task.name())).wrapping_add(index);
    let tag = match split {
        Split::Train => 0,
        Split::Eval => 1,
    };
    SplitMix64::new(mix64((stream << 1) | tag))
}

/// Whether a text prompt is reserved for evaluation: `mix64(fnv1a(prompt)) % 10 == 0` for the
/// text tasks (addition, sorting, sudoku), so about 1 prompt in 10. Train sampling
/// ([`Task::sample`]) never produces such a prompt and eval sampling produces only those, so
/// no eval prompt is ever trained on. (`mix64` spreads the hash: FNV-1a's low bits alone
/// depend only on the low bits of the bytes.)
///
/// Always `false` for the image and audio tasks: those worlds are finite (210 pictures, 512
/// tunes) and every combination may appear in both splits.
pub fn is_held_out(task: Task, prompt: &str) -> bool {
    task.text_task().is_some() && mix64(fnv1a(prompt)).is_multiple_of(HELD_OUT_MODULUS)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn mix64_is_the_splitmix_output() {
        // SplitMix64 seeded with 0: its first output is a published constant.
        assert_eq!(mix64(0), 0xE220_A839_7B1D_CDAF);
        assert_ne!(mix64(1), mix64(2));
    }

    #[test]
    fn train_and_eval_seeds_never_meet() {
        let mut train = HashSet::new();
        let mut eval = HashSet::new();
        for task in Task::ALL {
            for index in 0..2000 {
                train.insert(example_rng(task, Split::Train, index).next_u64());
                eval.insert(example_rng(task, Split::Eval, index).next_u64());
            }
        }
        assert_eq!(train.len(), Task::ALL.len() * 2000);
        assert_eq!(eval.len(), Task::ALL.len() * 2000);
        assert!(train.is_disjoint(&eval));
    }

    #[test]
    fn task_streams_are_far_apart() {
        let offsets: Vec<u64> = Task::ALL
            .iter()
            .map(|t| mix64(fnv1a(t.name())) & (u64::MAX >> 1))
            .collect();
        for (i, a) in offsets.iter().enumerate() {
            for b in &offsets[i + 1..] {
                let d = a.wrapping_sub(*b) & (u64::MAX >> 1);
                let d = d.min((1u64 << 63) - d);
                assert!(d > 1 << 40, "stream offsets {a:#x} and {b:#x} are close");
            }
        }
    }

    #[test]
    fn the_same_index_gives_the_same_generator() {
        let mut a = example_rng(Task::Sudoku, Split::Eval, 42);
        let mut b = example_rng(Task::Sudoku, Split::Eval, 42);
        assert_eq!(a.next_u64(), b.next_u64());
        let mut c = example_rng(Task::Sudoku, Split::Eval, 43);
        let mut d = example_rng(Task::Sorting, Split::Eval, 42);
        let x = example_rng(Task::Sudoku, Split::Eval, 42).next_u64();
        assert_ne!(c.next_u64(), x);
        assert_ne!(d.next_u64(), x);
    }

    #[test]
    fn about_a_tenth_of_prompts_are_held_out() {
        let held = (0..1000u32)
            .flat_map(|a| (0..10u32).map(move |b| format!("{a}+{b}=")))
            .filter(|p| is_held_out(Task::Addition, p))
            .count();
        assert!((850..=1150).contains(&held), "{held} of 10000");
        assert!(!is_held_out(Task::T2i, "anything"));
        assert!(
            (0..1000).all(|i| !is_held_out(Task::Caption, &i.to_string())
                && !is_held_out(Task::Transcribe, &i.to_string()))
        );
        // The rule depends on the prompt only, so it is the same for every text task.
        let p = "sort 1 2 3 4 =";
        assert_eq!(
            is_held_out(Task::Sorting, p),
            is_held_out(Task::Addition, p)
        );
    }
}
