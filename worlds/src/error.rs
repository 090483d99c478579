//! Errors of the worlds: malformed captions and prompts, and pictures or clips a checker
//! cannot read.

/// Why a caption, prompt, picture or clip could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WorldError {
    /// A word is not one of the known names of its kind (a shape, a colour, a note, a task…).
    #[error("unknown {kind} `{word}`")]
    UnknownWord {
        /// What the word should have named (`shape`, `colour`, `note`, `task`, …).
        kind: &'static str,
        /// The word as given.
        word: String,
    },
    /// A caption does not have the caption's form.
    #[error("malformed caption `{caption}`: {reason}")]
    Caption {
        /// The caption as given.
        caption: String,
        /// What is wrong.
        reason: String,
    },
    /// A text-task prompt does not have the task's form.
    #[error("malformed {task} prompt `{prompt}`: {reason}")]
    Prompt {
        /// The task's name (`addition`, `sorting`, `sudoku`).
        task: &'static str,
        /// The prompt as given.
        prompt: String,
        /// What is wrong.
        reason: String,
    },
    /// A picture is not of the world's size.
    #[error("picture is {width}x{height}, the shapes world draws {expected}x{expected}")]
    ImageSize {
        /// The picture's width.
        width: u32,
        /// The picture's height.
        height: u32,
        /// The world's side (64).
        expected: u32,
    },
    /// A picture shows no shape: too few lit pixels, or none in a shape's form.
    #[error("no shape found: {0}")]
    NoShape(String),
    /// A clip's sample rate is not the world's.
    #[error("clip is at {got} Hz, the tones world plays at {expected} Hz")]
    SampleRate {
        /// The clip's rate.
        got: u32,
        /// The world's rate (16000).
        expected: u32,
    },
    /// A clip is far from the length of a tune.
    #[error("clip has {got} samples, a tune has about {expected} (accepted: {min}..={max})")]
    AudioLength {
        /// The clip's length in samples.
        got: usize,
        /// A tune's length (12000).
        expected: usize,
        /// The shortest accepted length.
        min: usize,
        /// The longest accepted length.
        max: usize,
    },
    /// A clip holds a sample that is NaN or infinite.
    #[error("clip holds a non-finite sample at {index}")]
    NonFinite {
        /// The first such sample.
        index: usize,
    },
    /// A note's window is silent, or holds no tone (noise).
    #[error("note {note} of the clip: {reason}")]
    NoTone {
        /// The note's place in the tune (0, 1 or 2).
        note: usize,
        /// What is wrong.
        reason: String,
    },
}
