//! Models by name: a local folder, or a Hugging Face Hub id (`GSAI-ML/LLaDA-8B-Instruct`,
//! optionally `@REVISION`) found in the local Hub cache, as the other Rust ML tools resolve
//! them (the `hf-hub` crate's cache layout: `models--OWNER--NAME/refs/REVISION` names a
//! snapshot folder whose files link into `blobs/`). Lookup is offline; nothing is downloaded.

use std::path::{Path, PathBuf};

use hf_hub::{Cache, Repo, RepoType};

use crate::Error;

/// The Hub cache the environment names: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
/// `~/.cache/huggingface/hub`.
pub fn hub_cache() -> PathBuf {
    match std::env::var_os("HF_HUB_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => Cache::from_env().path().clone(),
    }
}

/// The model folder `name` stands for: `name` itself when it is a folder or does not read as
/// a Hub id, else the snapshot of the Hub id `name` in [`hub_cache`].
///
/// # Errors
/// [`Error::InvalidRequest`] naming `model` for a Hub id that is not in the cache.
pub fn resolve_model(name: impl AsRef<Path>) -> Result<PathBuf, Error> {
    resolve_model_in(name, &hub_cache())
}

/// As [`resolve_model`], looking Hub ids up in the cache folder `cache`.
///
/// # Errors
/// As [`resolve_model`].
pub fn resolve_model_in(name: impl AsRef<Path>, cache: &Path) -> Result<PathBuf, Error> {
    let path = name.as_ref();
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let text = path.to_string_lossy();
    let Some(id) = hub_id(&text) else {
        // Not a Hub id: a path, which the loader reports on (naming the file it missed).
        return Ok(path.to_path_buf());
    };
    let (repo_id, revision) = id.split_once('@').unwrap_or((id, "main"));
    let repo = Repo::with_revision(repo_id.to_string(), RepoType::Model, revision.to_string());
    Cache::new(cache.to_path_buf())
        .repo(repo)
        .get("config.json")
        .and_then(|config| config.parent().map(Path::to_path_buf))
        .ok_or_else(|| {
            Error::invalid(
                "model",
                format!(
                    "{id} is neither a folder nor in the Hugging Face cache {} (fetch it there \
                     first, e.g. `huggingface-cli download {repo_id}`)",
                    cache.display()
                ),
            )
        })
}

/// `text` if it reads as a Hub id: `OWNER/NAME` or `NAME`, optionally `@REVISION`, of the
/// characters the Hub allows.
fn hub_id(text: &str) -> Option<&str> {
    let (repo, revision) = text.split_once('@').unwrap_or((text, "main"));
    let ok = |s: &str| {
        !s.is_empty()
            && !s.starts_with(['.', '-'])
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let parts: Vec<&str> = repo.split('/').collect();
    let valid = parts.len() <= 2 && parts.iter().all(|p| ok(p)) && !revision.contains("..");
    valid.then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache folder in the Hub's layout holding `owner/name` at `revision`, files linked
    /// into `blobs/` as the Hub client writes them.
    fn cache_with(root: &Path, owner_name: &str, revision: &str) -> PathBuf {
        let repo = root.join(format!("models--{}", owner_name.replace('/', "--")));
        let commit = "0123456789abcdef";
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        std::fs::write(repo.join("refs").join(revision), commit).unwrap();
        let snapshot = repo.join("snapshots").join(commit);
        std::fs::create_dir_all(&snapshot).unwrap();
        std::fs::write(repo.join("blobs/abc"), "{}").unwrap();
        std::os::unix::fs::symlink("../../blobs/abc", snapshot.join("config.json")).unwrap();
        snapshot
    }

    #[test]
    fn hub_ids_resolve_to_their_cached_snapshot() {
        let root = std::env::temp_dir().join(format!("tessera-hub-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let snapshot = cache_with(&root, "GSAI-ML/LLaDA-8B-Instruct", "main");
        let found = resolve_model_in("GSAI-ML/LLaDA-8B-Instruct", &root).unwrap();
        assert_eq!(found, snapshot);
        let pinned = cache_with(&root, "Dream-org/Dream-v0-Base-7B", "v1");
        assert_eq!(
            resolve_model_in("Dream-org/Dream-v0-Base-7B@v1", &root).unwrap(),
            pinned
        );
        // A folder wins; unknown ids and non-ids are errors naming `model`.
        assert_eq!(resolve_model_in(&root, &root).unwrap(), root);
        let err = resolve_model_in("nobody/nothing", &root)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`model`") && err.contains("cache"), "{err}");
        // Paths are the loader's to report on.
        for path in ["../etc", "/a/b/c", "./x"] {
            assert_eq!(resolve_model_in(path, &root).unwrap(), Path::new(path));
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_model_in_the_hub_cache_loads_through_its_links() {
        let root = std::env::temp_dir().join(format!("tessera-hub-load-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let repo = root.join("models--GSAI-ML--llada-tiny");
        let snapshot = repo.join("snapshots/feed");
        std::fs::create_dir_all(&snapshot).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::create_dir_all(repo.join("blobs")).unwrap();
        std::fs::write(repo.join("refs/main"), "feed").unwrap();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/llada-tiny");
        for (i, entry) in std::fs::read_dir(&fixture).unwrap().enumerate() {
            let entry = entry.unwrap();
            let blob = format!("blob{i}");
            std::fs::copy(entry.path(), repo.join("blobs").join(&blob)).unwrap();
            std::os::unix::fs::symlink(
                format!("../../blobs/{blob}"),
                snapshot.join(entry.file_name()),
            )
            .unwrap();
        }
        let dir = resolve_model_in("GSAI-ML/llada-tiny", &root).unwrap();
        let engine = crate::Engine::load(&dir).unwrap();
        let direct = crate::Engine::load(&fixture).unwrap();
        assert_eq!(engine.info().parameters, direct.info().parameters);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
