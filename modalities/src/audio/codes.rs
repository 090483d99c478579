//! Discrete audio codes, laid out level-major.

use serde::{Deserialize, Serialize};

use super::AudioError;

/// The codes of a residual-VQ audio tokenizer, level-major: `codes[level][frame]`.
///
/// Level 0 is the coarsest codebook; each further level quantizes what the levels before it
/// left over, so a controller can decode coarse to fine. Serialised as exactly
/// `{"codes": [[level 0 frames…], [level 1 frames…], …], "sample_rate": SR}` (a CLI contract),
/// where `sample_rate` is the tokenizer's own rate (the rate of the audio it decodes to).
///
/// # Example
/// ```
/// use tessera_modalities::audio::AudioCodes;
/// let codes = AudioCodes::new(vec![vec![1, 2, 3], vec![4, 5, 6]], 24_000);
/// assert_eq!(
///     serde_json::to_string(&codes).unwrap(),
///     r#"{"codes":[[1,2,3],[4,5,6]],"sample_rate":24000}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AudioCodes {
    /// `codes[level][frame]`.
    pub codes: Vec<Vec<u32>>,
    /// The tokenizer's sample rate in Hz.
    pub sample_rate: u32,
}

impl AudioCodes {
    /// Wraps level-major codes.
    pub fn new(codes: Vec<Vec<u32>>, sample_rate: u32) -> Self {
        Self { codes, sample_rate }
    }

    /// The number of levels (rows).
    pub fn levels(&self) -> usize {
        self.codes.len()
    }

    /// The number of frames (the length of level 0; 0 if there are no levels).
    pub fn frames(&self) -> usize {
        self.codes.first().map_or(0, Vec::len)
    }

    /// Checks the codes fit a tokenizer with `levels` levels of `codebook_size` codes at
    /// `sample_rate`: 1..=`levels` levels, all of the same non-zero length, at most
    /// `max_frames` frames, every code below `codebook_size`.
    ///
    /// # Errors
    /// [`AudioError::CodesShape`] for the shape or rate, [`AudioError::CodeOutOfRange`] for a
    /// code.
    pub fn validate(
        &self,
        levels: usize,
        codebook_size: usize,
        sample_rate: u32,
        max_frames: usize,
    ) -> Result<(), AudioError> {
        if self.sample_rate != sample_rate {
            return Err(AudioError::CodesShape(format!(
                "codes are for {} Hz, the tokenizer runs at {sample_rate} Hz",
                self.sample_rate
            )));
        }
        if self.codes.is_empty() || self.codes.len() > levels {
            return Err(AudioError::CodesShape(format!(
                "{} levels given, the tokenizer has 1..={levels}",
                self.codes.len()
            )));
        }
        let frames = self.frames();
        if frames == 0 {
            return Err(AudioError::CodesShape("no frames".into()));
        }
        if frames > max_frames {
            return Err(AudioError::CodesShape(format!(
                "{frames} frames exceed the limit of {max_frames}"
            )));
        }
        for (level, row) in self.codes.iter().enumerate() {
            if row.len() != frames {
                return Err(AudioError::CodesShape(format!(
                    "ragged levels: level {level} has {} frames, level 0 has {frames}",
                    row.len()
                )));
            }
            if let Some((frame, &code)) = row
                .iter()
                .enumerate()
                .find(|&(_, &c)| c as usize >= codebook_size)
            {
                return Err(AudioError::CodeOutOfRange {
                    level,
                    frame,
                    code,
                    codebook_size,
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_names_the_problem() {
        let ok = AudioCodes::new(vec![vec![0, 1], vec![2, 3]], 16_000);
        ok.validate(2, 4, 16_000, 10).unwrap();
        assert!(matches!(
            ok.validate(2, 3, 16_000, 10),
            Err(AudioError::CodeOutOfRange {
                level: 1,
                frame: 1,
                code: 3,
                ..
            })
        ));
        assert!(matches!(
            ok.validate(1, 4, 16_000, 10),
            Err(AudioError::CodesShape(_))
        ));
        assert!(matches!(
            ok.validate(2, 4, 24_000, 10),
            Err(AudioError::CodesShape(_))
        ));
        assert!(matches!(
            ok.validate(2, 4, 16_000, 1),
            Err(AudioError::CodesShape(_))
        ));
        let ragged = AudioCodes::new(vec![vec![0, 1], vec![2]], 16_000);
        assert!(matches!(
            ragged.validate(2, 4, 16_000, 10),
            Err(AudioError::CodesShape(_))
        ));
        let empty = AudioCodes::new(vec![vec![]], 16_000);
        assert!(matches!(
            empty.validate(2, 4, 16_000, 10),
            Err(AudioError::CodesShape(_))
        ));
    }

    #[test]
    fn json_is_the_cli_contract() {
        let c: AudioCodes =
            serde_json::from_str(r#"{"codes":[[7],[8]],"sample_rate":16000}"#).unwrap();
        assert_eq!(c.codes, vec![vec![7], vec![8]]);
        assert!(
            serde_json::from_str::<AudioCodes>(r#"{"codes":[[7]],"sample_rate":1,"x":0}"#).is_err()
        );
    }
}
