//! A grid of image codes.

use serde::{Deserialize, Serialize};

use super::ImageError;

/// The codes of one picture: a `height × width` grid stored row-major.
///
/// Its JSON form is a contract of the command-line tools:
/// `{"codes": [...row-major...], "height": H, "width": W}`. Deserialising checks that
/// `codes` holds exactly `height × width` entries.
///
/// ```
/// use tessera_modalities::image::ImageCodes;
/// let codes = ImageCodes::new(vec![1, 2, 3, 4, 5, 6], 2, 3)?;
/// assert_eq!(codes.get(1, 0), Some(4));
/// let json = serde_json::to_string(&codes).unwrap();
/// assert_eq!(json, r#"{"codes":[1,2,3,4,5,6],"height":2,"width":3}"#);
/// # Ok::<(), tessera_modalities::image::ImageError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawCodes")]
pub struct ImageCodes {
    codes: Vec<u32>,
    height: usize,
    width: usize,
}

#[derive(Deserialize)]
struct RawCodes {
    codes: Vec<u32>,
    height: usize,
    width: usize,
}

impl TryFrom<RawCodes> for ImageCodes {
    type Error = ImageError;
    fn try_from(raw: RawCodes) -> Result<Self, ImageError> {
        ImageCodes::new(raw.codes, raw.height, raw.width)
    }
}

impl ImageCodes {
    /// A grid from row-major `codes`.
    ///
    /// # Errors
    /// [`ImageError::ShapeMismatch`] if `codes.len() != height × width`.
    pub fn new(codes: Vec<u32>, height: usize, width: usize) -> Result<Self, ImageError> {
        if height.checked_mul(width) != Some(codes.len()) {
            return Err(ImageError::ShapeMismatch {
                what: "codes".into(),
                expected: format!("{height}x{width} codes"),
                found: format!("{} codes", codes.len()),
            });
        }
        Ok(ImageCodes {
            codes,
            height,
            width,
        })
    }

    /// The codes, row-major.
    pub fn codes(&self) -> &[u32] {
        &self.codes
    }

    /// Takes the codes out, row-major.
    pub fn into_codes(self) -> Vec<u32> {
        self.codes
    }

    /// Rows of the grid.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Columns of the grid.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The code at `(row, col)`, if inside the grid.
    pub fn get(&self, row: usize, col: usize) -> Option<u32> {
        if row < self.height && col < self.width {
            self.codes.get(row * self.width + col).copied()
        } else {
            None
        }
    }

    /// Checks that the grid is `grid` (height, width) and every code is below
    /// `codebook_size`.
    ///
    /// # Errors
    /// [`ImageError::ShapeMismatch`] or [`ImageError::CodeOutOfRange`].
    pub fn check(&self, grid: (usize, usize), codebook_size: usize) -> Result<(), ImageError> {
        if (self.height, self.width) != grid {
            return Err(ImageError::ShapeMismatch {
                what: "codes".into(),
                expected: format!("a {}x{} grid", grid.0, grid.1),
                found: format!("a {}x{} grid", self.height, self.width),
            });
        }
        match self
            .codes
            .iter()
            .position(|&c| usize::try_from(c).map_or(true, |c| c >= codebook_size))
        {
            Some(position) => Err(ImageError::CodeOutOfRange {
                code: self.codes[position],
                position,
                codebook_size,
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_is_checked() {
        let ok: ImageCodes =
            serde_json::from_str(r#"{"codes":[0,1,2,3],"height":2,"width":2}"#).unwrap();
        assert_eq!(ok.codes(), &[0, 1, 2, 3]);
        let bad = serde_json::from_str::<ImageCodes>(r#"{"codes":[0,1,2],"height":2,"width":2}"#);
        assert!(bad.is_err());
        assert!(ImageCodes::new(vec![], usize::MAX, 2).is_err());
    }

    #[test]
    fn check_reports_first_bad_code_and_grid() {
        let c = ImageCodes::new(vec![0, 7, 9, 1], 2, 2).unwrap();
        assert!(c.check((2, 2), 10).is_ok());
        match c.check((2, 2), 8) {
            Err(ImageError::CodeOutOfRange {
                code: 9,
                position: 2,
                codebook_size: 8,
            }) => {}
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            c.check((1, 4), 10),
            Err(ImageError::ShapeMismatch { .. })
        ));
    }
}
