//! [`Tune`]: one clip of the tones world — three notes — its caption and its random draw.

use serde::{Deserialize, Serialize};
use tessera_modalities::rng::SplitMix64;

use super::Note;
use crate::WorldError;

/// One clip of the tones world: three notes of 0.25 s each, played one after the other.
///
/// There are 8³ = 512 of them ([`Tune::all`]); [`Tune::render`] plays one and
/// [`check_audio`](super::check_audio) reads one back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tune {
    /// The notes, in playing order.
    pub notes: [Note; 3],
}

impl Tune {
    /// How many distinct tunes the world has: 512.
    pub const COUNT: usize = Note::ALL.len() * Note::ALL.len() * Note::ALL.len();

    /// Every tune of the world, each once.
    pub fn all() -> impl Iterator<Item = Tune> {
        Note::ALL.into_iter().flat_map(|a| {
            Note::ALL.into_iter().flat_map(move |b| {
                Note::ALL
                    .into_iter()
                    .map(move |c| Tune { notes: [a, b, c] })
            })
        })
    }

    /// A tune drawn uniformly from the 512 (each note uniform and independent).
    pub fn sample(rng: &mut SplitMix64) -> Tune {
        // cannot fail: `below(n)` is `< n`.
        Tune {
            notes: [0; 3].map(|_| Note::ALL[rng.below(Note::ALL.len())]),
        }
    }

    /// The caption: the note names separated by single spaces, e.g. `C4 E4 G4`.
    pub fn caption(&self) -> String {
        self.notes.map(Note::name).join(" ")
    }

    /// Reads a caption back: exactly three note names (exact, case-sensitive), separated by
    /// any run of whitespace; surrounding whitespace is ignored.
    pub fn parse_caption(caption: &str) -> Result<Tune, WorldError> {
        let words: Vec<&str> = caption.split_whitespace().collect();
        let [a, b, c] = words.as_slice() else {
            return Err(WorldError::Caption {
                caption: caption.to_owned(),
                reason: format!("expected three note names, got {} words", words.len()),
            });
        };
        Ok(Tune {
            notes: [Note::parse(a)?, Note::parse(b)?, Note::parse(c)?],
        })
    }
}

impl std::fmt::Display for Tune {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.caption())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    #[test]
    fn the_world_has_512_tunes() {
        let all: HashSet<Tune> = Tune::all().collect();
        assert_eq!(all.len(), 512);
        assert_eq!(Tune::COUNT, 512);
    }

    #[test]
    fn captions_round_trip() {
        let tune = Tune {
            notes: [Note::C4, Note::E4, Note::G4],
        };
        assert_eq!(tune.caption(), "C4 E4 G4");
        for tune in Tune::all() {
            assert_eq!(Tune::parse_caption(&tune.caption()), Ok(tune));
        }
        assert_eq!(Tune::parse_caption(" C4\tE4  G4\n"), Ok(tune));
    }

    #[test]
    fn malformed_captions_are_errors() {
        for caption in [
            "",
            "C4 E4",
            "C4 E4 G4 C5",
            "C4 E4 H4",
            "c4 e4 g4",
            "C4,E4,G4",
        ] {
            assert!(Tune::parse_caption(caption).is_err(), "`{caption}` parsed");
        }
        assert!(matches!(
            Tune::parse_caption("C4 E4 X9"),
            Err(WorldError::UnknownWord { kind: "note", .. })
        ));
    }

    #[test]
    fn sampling_covers_every_tune_evenly() {
        let mut rng = SplitMix64::new(1);
        let mut counts: HashMap<Tune, usize> = HashMap::new();
        for _ in 0..512 * 100 {
            *counts.entry(Tune::sample(&mut rng)).or_default() += 1;
        }
        assert_eq!(counts.len(), 512);
        // Expected 100 each, sd ≈ 10.
        assert!(counts.values().all(|&c| (45..=155).contains(&c)));
    }
}
