//! Typed field access to a codec's `config.json`, with errors that name the field.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::AudioError;

/// A parsed `config.json` object and where it came from.
#[derive(Debug)]
pub(crate) struct ConfigJson {
    path: PathBuf,
    obj: Map<String, Value>,
}

impl ConfigJson {
    /// Reads and parses `dir/config.json`.
    pub(crate) fn read_dir(dir: &Path) -> Result<Self, AudioError> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| AudioError::io(&path, e))?;
        Self::parse(&text, path)
    }

    pub(crate) fn parse(text: &str, path: PathBuf) -> Result<Self, AudioError> {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(obj)) => Ok(Self { path, obj }),
            Ok(_) => Err(AudioError::config(path, "<root>", "not a JSON object")),
            Err(e) => Err(AudioError::config(
                path,
                "<root>",
                format!("invalid JSON: {e}"),
            )),
        }
    }

    /// An error about `field`.
    pub(crate) fn err(&self, field: &str, reason: impl Into<String>) -> AudioError {
        AudioError::config(&self.path, field, reason)
    }

    /// The value of `field`, `None` when absent or JSON `null`.
    fn get(&self, field: &str) -> Option<&Value> {
        self.obj.get(field).filter(|v| !v.is_null())
    }

    pub(crate) fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }

    pub(crate) fn string(&self, field: &str) -> Result<Option<String>, AudioError> {
        match self.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.err(field, format!("expected a string, found {v}"))),
        }
    }

    pub(crate) fn usize_or(&self, field: &str, default: usize) -> Result<usize, AudioError> {
        match self.get(field) {
            None => Ok(default),
            Some(v) => self.as_usize(field, v),
        }
    }

    pub(crate) fn usize_req(&self, field: &str) -> Result<usize, AudioError> {
        match self.get(field) {
            None => Err(self.err(field, "missing")),
            Some(v) => self.as_usize(field, v),
        }
    }

    fn as_usize(&self, field: &str, v: &Value) -> Result<usize, AudioError> {
        v.as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| self.err(field, format!("expected a non-negative integer, found {v}")))
    }

    pub(crate) fn f64_opt(&self, field: &str) -> Result<Option<f64>, AudioError> {
        match self.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .map(Some)
                .ok_or_else(|| self.err(field, format!("expected a number, found {v}"))),
        }
    }

    pub(crate) fn f64_or(&self, field: &str, default: f64) -> Result<f64, AudioError> {
        Ok(self.f64_opt(field)?.unwrap_or(default))
    }

    pub(crate) fn bool_or(&self, field: &str, default: bool) -> Result<bool, AudioError> {
        match self.get(field) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.err(field, format!("expected true or false, found {v}"))),
        }
    }

    pub(crate) fn usize_list_or(
        &self,
        field: &str,
        default: &[usize],
    ) -> Result<Vec<usize>, AudioError> {
        match self.get(field) {
            None => Ok(default.to_vec()),
            Some(Value::Array(items)) => items.iter().map(|v| self.as_usize(field, v)).collect(),
            Some(v) => Err(self.err(field, format!("expected a list of integers, found {v}"))),
        }
    }

    pub(crate) fn f64_list_or(&self, field: &str, default: &[f64]) -> Result<Vec<f64>, AudioError> {
        match self.get(field) {
            None => Ok(default.to_vec()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_f64()
                        .filter(|x| x.is_finite())
                        .ok_or_else(|| self.err(field, format!("expected numbers, found {v}")))
                })
                .collect(),
            Some(v) => Err(self.err(field, format!("expected a list of numbers, found {v}"))),
        }
    }
}
