//! Which safetensors files make up a checkpoint: `model.safetensors`, or the shards named by
//! `model.safetensors.index.json`, each confined to the model folder.
//!
//! A shard name comes from a file that may have been downloaded, so it is refused
//! ([`LoadError::ShardPath`]) before it is opened when it is absolute, has a `..` component,
//! or resolves (symlinks followed) outside the model folder. "The model folder" is the
//! canonical form of the folder asked for, or the canonical folder the index file itself
//! resolves into: a folder whose files are all links into one other folder (the Hugging Face
//! hub cache's `snapshots/<rev>/ → blobs/` layout, or a copy of a model with only its config
//! changed) loads, while a shard linked anywhere else does not. Either root holds only files
//! that are really inside a folder the index lives in, so an index cannot reach any other file.
//! The single-file `model.safetensors` has a fixed name and is not confined.

use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::LoadError;

/// A weight file: where it is reported from and where it is opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WeightFile {
    /// The path as named (the model folder joined with the index's name), for messages.
    pub(crate) path: PathBuf,
    /// The path to open: for a shard, its canonical form, checked to be inside the folder.
    pub(crate) open: PathBuf,
}

#[derive(Debug, Deserialize)]
struct Index {
    weight_map: std::collections::HashMap<String, String>,
}

/// The weight files of the model in `dir`, sorted by path.
pub(crate) fn weight_files(dir: &Path) -> Result<Vec<WeightFile>, LoadError> {
    let index_path = dir.join("model.safetensors.index.json");
    let single = dir.join("model.safetensors");
    if !index_path.exists() {
        if single.exists() {
            return Ok(vec![WeightFile {
                path: single.clone(),
                open: single,
            }]);
        }
        return Err(LoadError::NoWeights(dir.to_path_buf()));
    }
    let text = super::read(&index_path)?;
    let index: Index = serde_json::from_str(&text).map_err(|source| LoadError::Json {
        path: index_path.clone(),
        source,
    })?;
    let mut names: Vec<String> = index.weight_map.into_values().collect();
    names.sort();
    names.dedup();
    let roots = roots(dir, &index_path)?;
    let mut files = names
        .iter()
        .map(|name| confine(dir, &index_path, &roots, name))
        .collect::<Result<Vec<_>, _>>()?;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// The canonical folders a shard may resolve into: the model folder, and the folder the index
/// file resolves into (the same folder unless the index is a link).
fn roots(dir: &Path, index_path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let canonical = |path: &Path| {
        std::fs::canonicalize(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })
    };
    let mut roots = vec![canonical(dir)?];
    let index = canonical(index_path)?;
    if let Some(parent) = index.parent()
        && !roots.iter().any(|r| r == parent)
    {
        roots.push(parent.to_path_buf());
    }
    Ok(roots)
}

/// Checks shard `name` of `index_path` and resolves it; nothing is opened or read.
fn confine(
    dir: &Path,
    index_path: &Path,
    roots: &[PathBuf],
    name: &str,
) -> Result<WeightFile, LoadError> {
    let refuse = |reason: String| LoadError::ShardPath {
        index: index_path.to_path_buf(),
        shard: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(refuse("the name is empty".into()));
    }
    let relative = Path::new(name);
    for component in relative.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => {
                return Err(refuse("a `..` component leaves the model folder".into()));
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(refuse("an absolute path leaves the model folder".into()));
            }
        }
    }
    let path = dir.join(relative);
    let open = std::fs::canonicalize(&path).map_err(|source| LoadError::Io {
        path: path.clone(),
        source,
    })?;
    if !roots.iter().any(|root| open.starts_with(root)) {
        return Err(refuse(format!(
            "it resolves to {}, outside the model folder {}",
            open.display(),
            roots.first().map_or(dir, PathBuf::as_path).display()
        )));
    }
    if !open.is_file() {
        return Err(refuse("it is not a regular file".into()));
    }
    Ok(WeightFile { path, open })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "tessera-shards-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("model/sub")).unwrap();
        dir
    }

    fn reason(dir: &Path, name: &str) -> String {
        let model = dir.join("model");
        let index = model.join("model.safetensors.index.json");
        let roots = roots(&model, &index).unwrap();
        match confine(&model, &index, &roots, name) {
            Err(LoadError::ShardPath { reason, shard, .. }) => {
                assert_eq!(shard, name);
                reason
            }
            other => panic!("expected ShardPath for {name}, got {other:?}"),
        }
    }

    #[test]
    fn shard_names_stay_in_the_folder() {
        let dir = temp("confine");
        let model = dir.join("model");
        std::fs::write(model.join("model.safetensors.index.json"), "{}").unwrap();
        std::fs::write(model.join("sub/a.safetensors"), "secret-a").unwrap();
        std::fs::write(dir.join("outside.safetensors"), "secret-b").unwrap();
        std::os::unix::fs::symlink(dir.join("outside.safetensors"), model.join("link")).unwrap();
        std::os::unix::fs::symlink(model.join("sub/a.safetensors"), model.join("inner")).unwrap();
        assert!(reason(&dir, "../outside.safetensors").contains(".."));
        assert!(reason(&dir, "sub/../../outside.safetensors").contains(".."));
        let absolute = dir.join("outside.safetensors");
        assert!(reason(&dir, absolute.to_str().unwrap()).contains("absolute"));
        assert!(reason(&dir, "link").contains("outside the model folder"));
        assert!(reason(&dir, "sub").contains("not a regular file"));
        assert!(reason(&dir, "").contains("empty"));
        let index = model.join("model.safetensors.index.json");
        let roots = roots(&model, &index).unwrap();
        for name in ["sub/a.safetensors", "./sub/a.safetensors", "inner"] {
            let file = confine(&model, &index, &roots, name).unwrap();
            assert_eq!(file.path, model.join(name));
            assert!(file.open.ends_with("sub/a.safetensors"));
        }
        assert!(matches!(
            confine(&model, &index, &roots, "missing.safetensors"),
            Err(LoadError::Io { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
