//! [`Note`]: the eight notes of the tones world, C4 to C5 (the C major scale).

use crate::named::named_enum;

named_enum! {
    /// A note of the C major scale from middle C to the C above, equal temperament with
    /// A4 = 440 Hz.
    pub enum Note ("note") {
        /// Middle C, MIDI 60, ≈ 261.63 Hz.
        C4 => "C4",
        /// MIDI 62, ≈ 293.66 Hz.
        D4 => "D4",
        /// MIDI 64, ≈ 329.63 Hz.
        E4 => "E4",
        /// MIDI 65, ≈ 349.23 Hz.
        F4 => "F4",
        /// MIDI 67, ≈ 392.00 Hz.
        G4 => "G4",
        /// MIDI 69, 440 Hz.
        A4 => "A4",
        /// MIDI 71, ≈ 493.88 Hz.
        B4 => "B4",
        /// MIDI 72, ≈ 523.25 Hz.
        C5 => "C5",
    }
}

impl Note {
    /// The MIDI note number (C4 = 60).
    pub fn midi(self) -> u8 {
        match self {
            Note::C4 => 60,
            Note::D4 => 62,
            Note::E4 => 64,
            Note::F4 => 65,
            Note::G4 => 67,
            Note::A4 => 69,
            Note::B4 => 71,
            Note::C5 => 72,
        }
    }

    /// The frequency in Hz: `440 · 2^((midi − 69) / 12)`.
    pub fn frequency(self) -> f64 {
        440.0 * 2f64.powf((f64::from(self.midi()) - 69.0) / 12.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequencies() {
        assert_eq!(Note::A4.frequency(), 440.0);
        assert!((Note::C4.frequency() - 261.6256).abs() < 1e-3);
        assert!((Note::C5.frequency() - 2.0 * Note::C4.frequency()).abs() < 1e-9);
        assert!((Note::E4.frequency() - 329.6276).abs() < 1e-3);
        for w in Note::ALL.windows(2) {
            assert!(w[0].frequency() < w[1].frequency());
        }
    }

    #[test]
    fn names() {
        assert_eq!(Note::ALL.len(), 8);
        for n in Note::ALL {
            assert_eq!(Note::parse(n.name()), Ok(n));
        }
        assert!(Note::parse("c4").is_err());
        assert!(Note::parse("C#4").is_err());
        assert!(Note::parse("A5").is_err());
    }
}
