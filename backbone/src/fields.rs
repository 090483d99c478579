//! Typed access to the fields of a JSON config object (`config.json`,
//! `generation_config.json`), with errors that name the file and the field.
//!
//! A leaf module (it imports only the error type): the config reader, the family parsers
//! and the shared transformer's dimension checks all read their fields through `Fields`.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::LoadError;

/// Typed, error-naming access to a config object's fields.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a> {
    pub(crate) path: &'a Path,
    pub(crate) obj: &'a Map<String, Value>,
}

impl Fields<'_> {
    pub(crate) fn err(&self, field: &str, reason: &str) -> LoadError {
        LoadError::Config {
            path: PathBuf::from(self.path),
            field: field.to_string(),
            reason: reason.to_string(),
        }
    }

    fn get(&self, field: &str) -> Option<&Value> {
        self.obj.get(field).filter(|v| !v.is_null())
    }

    pub(crate) fn opt_usize(&self, field: &str) -> Result<Option<usize>, LoadError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    self.err(
                        field,
                        &format!("expected a non-negative integer, found {v}"),
                    )
                }),
        }
    }

    /// A required count (a size, a number of heads or layers), at least 1.
    pub(crate) fn req_count(&self, field: &str) -> Result<usize, LoadError> {
        self.opt_count(field)?
            .ok_or_else(|| self.err(field, "is missing"))
    }

    /// An optional count, at least 1 when present.
    pub(crate) fn opt_count(&self, field: &str) -> Result<Option<usize>, LoadError> {
        match self.opt_usize(field)? {
            Some(0) => Err(self.err(field, "must be at least 1, found 0")),
            n => Ok(n),
        }
    }

    /// An optional number that must be positive and finite, also once rounded to `f32`, the
    /// precision the model computes with (an epsilon of 1e-50 would be 0 there, a RoPE base of
    /// 1e39 infinite).
    pub(crate) fn opt_positive(&self, field: &str) -> Result<Option<f64>, LoadError> {
        let Some(x) = self.opt_f64(field)? else {
            return Ok(None);
        };
        let narrow = x as f32;
        if x.is_finite() && x > 0.0 && narrow.is_finite() && narrow > 0.0 {
            return Ok(Some(x));
        }
        // The value as spelt in the file (1e-60 stays 1e-60).
        let found = self
            .get(field)
            .map_or_else(|| x.to_string(), Value::to_string);
        Err(self.err(
            field,
            &format!("must be a positive finite number (also in f32), found {found}"),
        ))
    }

    pub(crate) fn opt_u32(&self, field: &str) -> Result<Option<u32>, LoadError> {
        match self.opt_usize(field)? {
            None => Ok(None),
            Some(n) => u32::try_from(n)
                .map(Some)
                .map_err(|_| self.err(field, "is too large for a token id")),
        }
    }

    pub(crate) fn opt_f64(&self, field: &str) -> Result<Option<f64>, LoadError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.err(field, &format!("expected a number, found {v}"))),
        }
    }

    pub(crate) fn opt_bool(&self, field: &str) -> Result<Option<bool>, LoadError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_bool()
                .map(Some)
                .ok_or_else(|| self.err(field, &format!("expected true or false, found {v}"))),
        }
    }

    pub(crate) fn opt_str(&self, field: &str) -> Result<Option<&str>, LoadError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| self.err(field, &format!("expected a string, found {v}"))),
        }
    }

    /// A field that, when present, must equal one of `allowed`.
    pub(crate) fn expect_str(&self, field: &str, allowed: &[&str]) -> Result<(), LoadError> {
        match self.opt_str(field)? {
            Some(s) if !allowed.contains(&s) => Err(self.err(
                field,
                &format!("{s:?} is not supported (supported: {allowed:?})"),
            )),
            _ => Ok(()),
        }
    }

    /// A boolean field that, when present, must equal `want`.
    pub(crate) fn expect_bool(&self, field: &str, want: bool) -> Result<(), LoadError> {
        match self.opt_bool(field)? {
            Some(b) if b != want => Err(self.err(field, &format!("{b} is not supported"))),
            _ => Ok(()),
        }
    }
}
