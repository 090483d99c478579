//! Models by name: a local folder, or a Hugging Face Hub id (`GSAI-ML/LLaDA-8B-Instruct`,
//! optionally `@REVISION`) found in the local Hub cache, as the other Rust ML tools resolve
//! them (the `hf-hub` crate's cache layout: `models--OWNER--NAME/refs/REVISION` names a
//! snapshot folder whose files link into `blobs/`).
//!
//! Lookup is offline: [`resolve_model`] (and so `Engine::load` and `--model`) never touches
//! the network. Fetching a model into the cache is a separate, explicit step,
//! [`download_model`] or `tessera download ID`, compiled only with the `hub` feature; a build
//! without it keeps the same functions, which say so.

use std::path::{Path, PathBuf};

use hf_hub::{Cache, Repo, RepoType};

use crate::Error;

/// The Hub's address when `$HF_ENDPOINT` does not name another (a mirror, a test server).
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

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
    if path.is_dir() || path.is_file() {
        return Ok(path.to_path_buf());
    }
    let text = path.to_string_lossy();
    let Some(id) = hub_id(&text) else {
        // Not a Hub id: a path, which the loader reports on (naming the file it missed).
        return Ok(path.to_path_buf());
    };
    let repo = hub_repo(id);
    let repo_id = repo_name(id);
    Cache::new(cache.to_path_buf())
        .repo(repo)
        .get("config.json")
        .and_then(|config| config.parent().map(Path::to_path_buf))
        .ok_or_else(|| {
            Error::invalid(
                "model",
                format!(
                    "{id} is neither a folder nor in the Hugging Face cache {} (fetch it there \
                     first: `tessera download {id}`{}, or `huggingface-cli download {repo_id}`)",
                    cache.display(),
                    if cfg!(feature = "hub") {
                        ""
                    } else {
                        " from a build with `--features hub`"
                    }
                ),
            )
        })
}

/// Fetches the model `id` (`OWNER/NAME`, optionally `@REVISION`) from `$HF_ENDPOINT` (else
/// [`DEFAULT_ENDPOINT`]) into [`hub_cache`], with `$HF_TOKEN` (else the token file
/// `huggingface-cli login` writes) for gated and private repositories, and returns its
/// snapshot folder, the one [`resolve_model`] finds from then on. No progress bars; see
/// [`ModelDownload`] for those and for other caches and endpoints.
///
/// ```no_run
/// let dir = tessera::download_model("GSAI-ML/LLaDA-8B-Instruct")?;
/// let engine = tessera::Engine::load("GSAI-ML/LLaDA-8B-Instruct")?; // offline from here on
/// # Ok::<(), tessera::Error>(())
/// ```
///
/// # Errors
/// As [`ModelDownload::fetch`].
pub fn download_model(id: &str) -> Result<PathBuf, Error> {
    ModelDownload::from_env().fetch(id)
}

/// Where and how [`ModelDownload::fetch`] gets a model: the cache folder it writes, the Hub
/// endpoint and token it uses, and whether it draws progress bars.
///
/// It fetches `config.json`; `generation_config.json`, `tokenizer.json` and
/// `tokenizer_config.json` when the repository has them; the weights:
/// `model.safetensors.index.json` with every shard it lists, else `model.safetensors`; and
/// for a Tessera world model, `config.json` and `model.safetensors` of the image and audio
/// tokenizer subfolders its `config.json` names.
/// Small files are fetched each time (so a moved branch is followed); weights already in
/// the cache at the revision's commit are not fetched again.
///
/// ```no_run
/// use tessera::ModelDownload;
///
/// let dir = ModelDownload::from_env()
///     .cache("/data/hf-cache")
///     .endpoint("https://hf-mirror.example.com")
///     .progress(true)
///     .fetch("Dream-org/Dream-v0-Instruct-7B")?;
/// # Ok::<(), tessera::Error>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct ModelDownload {
    cache: PathBuf,
    endpoint: String,
    token: Option<String>,
    progress: bool,
}

impl std::fmt::Debug for ModelDownload {
    // The token is a secret: say whether there is one, never what it is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelDownload")
            .field("cache", &self.cache)
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("progress", &self.progress)
            .finish()
    }
}

impl ModelDownload {
    /// The environment's choices: the cache [`hub_cache`], the endpoint `$HF_ENDPOINT` (else
    /// [`DEFAULT_ENDPOINT`]), the token `$HF_TOKEN` (else the file `huggingface-cli login`
    /// writes, `$HF_HOME/token`), no progress bars.
    pub fn from_env() -> Self {
        let set = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self {
            cache: hub_cache(),
            endpoint: set("HF_ENDPOINT").unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
            token: set("HF_TOKEN")
                .map(|t| t.trim().to_string())
                .or_else(|| Cache::from_env().token()),
            progress: false,
        }
    }

    /// Writes into the Hub cache folder `dir` instead.
    pub fn cache(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache = dir.into();
        self
    }

    /// Fetches from `url` (e.g. `https://huggingface.co`, no trailing `/`) instead.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = url.into().trim_end_matches('/').to_string();
        self
    }

    /// Sends `token` (`None`: no token) as the bearer token instead.
    pub fn token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// Whether to draw a progress bar per file on stderr (hidden when it is no terminal).
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = show;
        self
    }

    /// Fetches the model `id` (`OWNER/NAME`, optionally `@REVISION`) into the cache and
    /// returns its snapshot folder.
    ///
    /// # Errors
    /// [`Error::InvalidRequest`] naming `model`: `id` is not a Hub id; the repository lacks
    /// `config.json`, its weights or a shard its index lists (the message names the file);
    /// the index names a shard that is not a plain file name; a request failed (network,
    /// HTTP status, cache folder); or this build lacks the `hub` feature.
    pub fn fetch(&self, id: &str) -> Result<PathBuf, Error> {
        let Some(id) = hub_id(id) else {
            return Err(Error::invalid(
                "model",
                format!("{id:?} is not a Hugging Face Hub id (OWNER/NAME or OWNER/NAME@REVISION)"),
            ));
        };
        #[cfg(feature = "hub")]
        {
            download::fetch(self, id)
        }
        #[cfg(not(feature = "hub"))]
        {
            Err(Error::invalid(
                "model",
                format!(
                    "cannot download {id}: this build of tessera lacks the `hub` feature \
                     (rebuild with `--features hub`, or fetch it with \
                     `huggingface-cli download {}`)",
                    repo_name(id)
                ),
            ))
        }
    }
}

/// The Hub repository a valid Hub id names (`main` unless `@REVISION`).
fn hub_repo(id: &str) -> Repo {
    let revision = id.split_once('@').map_or("main", |(_, rev)| rev);
    Repo::with_revision(
        repo_name(id).to_string(),
        RepoType::Model,
        revision.to_string(),
    )
}

/// `OWNER/NAME` of a Hub id, without its `@REVISION`.
fn repo_name(id: &str) -> &str {
    id.split_once('@').map_or(id, |(name, _)| name)
}

/// The download itself, through `hf-hub`'s blocking client.
#[cfg(feature = "hub")]
mod download {
    use std::path::{Path, PathBuf};

    use hf_hub::Cache;
    use hf_hub::api::sync::{ApiBuilder, ApiError};

    use super::{ModelDownload, hub_repo};
    use crate::Error;

    /// The files a model folder may have besides `config.json` and its weights; each is
    /// fetched when the repository has it.
    const OPTIONAL_FILES: [&str; 3] = [
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ];
    const CONFIG: &str = "config.json";
    const INDEX: &str = "model.safetensors.index.json";
    const SINGLE: &str = "model.safetensors";

    pub(super) fn fetch(how: &ModelDownload, id: &str) -> Result<PathBuf, Error> {
        let failed = |file: &str, e: ApiError| failed(how, id, file, e);
        // hf-hub links snapshot files to blobs by relative paths computed from absolute ones.
        let cache = std::path::absolute(&how.cache).map_err(|e| failed(CONFIG, e.into()))?;
        let api = ApiBuilder::from_cache(Cache::new(cache))
            .with_endpoint(how.endpoint.clone())
            .with_token(how.token.clone())
            .with_progress(how.progress)
            .build()
            .map_err(|e| failed(CONFIG, e))?;
        let repo = api.repo(hub_repo(id));
        let missing = |file: &str| {
            Error::invalid(
                "model",
                format!("{id} has no {file} on {} (HTTP 404)", how.endpoint),
            )
        };
        // Small files are downloaded afresh: that also moves the revision's ref to the
        // commit the Hub serves now, under which the weights are then looked up.
        let small = |file: &str| match repo.download(file) {
            Ok(path) => Ok(Some(path)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(failed(file, e)),
        };
        let weights = |file: &str| match repo.get(file) {
            Ok(path) => Ok(Some(path)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(failed(file, e)),
        };
        let config = small(CONFIG)?.ok_or_else(|| missing(CONFIG))?;
        for file in OPTIONAL_FILES {
            small(file)?;
        }
        // A Tessera world model keeps its image and audio tokenizers in subfolders.
        for sub in tokenizer_folders(id, &config)? {
            for file in [CONFIG, SINGLE] {
                let file = format!("{sub}/{file}");
                weights(&file)?.ok_or_else(|| missing(&file))?;
            }
        }
        match small(INDEX)? {
            Some(index) => {
                for shard in shard_names(id, &index)? {
                    weights(&shard)?.ok_or_else(|| missing(&shard))?;
                }
            }
            None => {
                weights(SINGLE)?.ok_or_else(|| missing(&format!("{SINGLE} or {INDEX}")))?;
            }
        }
        let snapshot = config.parent().map(Path::to_path_buf);
        snapshot.ok_or_else(|| missing(CONFIG))
    }

    /// The subfolders `tessera.image_tokenizer` and `tessera.audio_tokenizer` of `config`
    /// name, each checked to be a relative path of plain file names.
    fn tokenizer_folders(id: &str, config: &Path) -> Result<Vec<String>, Error> {
        let bad = |why: String| Error::invalid("model", format!("{id}: {CONFIG}: {why}"));
        let text = std::fs::read_to_string(config).map_err(|e| bad(e.to_string()))?;
        let config: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let mut folders = Vec::new();
        for key in ["image_tokenizer", "audio_tokenizer"] {
            let Some(sub) = config.get("tessera").and_then(|t| t.get(key)) else {
                continue;
            };
            match sub.as_str() {
                Some(sub) if sub.split('/').all(plain_file_name) => folders.push(sub.to_string()),
                _ => {
                    return Err(bad(format!(
                        "`tessera.{key}` {sub} is not a plain subfolder"
                    )));
                }
            }
        }
        Ok(folders)
    }

    /// The shard files `index` lists, each checked to be a plain file name (the index comes
    /// from the network and names paths written into the cache).
    fn shard_names(id: &str, index: &Path) -> Result<Vec<String>, Error> {
        #[derive(serde::Deserialize)]
        struct Index {
            weight_map: std::collections::BTreeMap<String, String>,
        }
        let bad = |why: String| Error::invalid("model", format!("{id}: {INDEX}: {why}"));
        let text = std::fs::read_to_string(index).map_err(|e| bad(e.to_string()))?;
        let index: Index = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let mut names: Vec<String> = index.weight_map.into_values().collect();
        names.sort();
        names.dedup();
        match names.iter().find(|n| !plain_file_name(n)) {
            Some(name) => Err(bad(format!("the shard {name:?} is not a plain file name"))),
            None if names.is_empty() => Err(bad("`weight_map` lists no shard".to_string())),
            None => Ok(names),
        }
    }

    /// A file name with no folder part: no `/` or `\`, no `..`, not empty.
    pub(super) fn plain_file_name(name: &str) -> bool {
        !name.is_empty() && !name.contains(['/', '\\', '\0']) && !name.contains("..")
    }

    /// Whether the Hub answered 404 (the file or revision does not exist).
    fn not_found(e: &ApiError) -> bool {
        matches!(e, ApiError::RequestError(e) if matches!(**e, ureq::Error::StatusCode(404)))
    }

    fn failed(how: &ModelDownload, id: &str, file: &str, e: ApiError) -> Error {
        let hint = match &e {
            ApiError::RequestError(e) if matches!(**e, ureq::Error::StatusCode(401 | 403)) => {
                if how.token.is_some() {
                    " (the token was refused: is the repository gated, and access granted?)"
                } else {
                    " (no such repository, or a gated or private one: set HF_TOKEN)"
                }
            }
            _ => "",
        };
        Error::invalid(
            "model",
            format!(
                "{id}: fetching {file} from {} failed: {e}{hint}",
                how.endpoint
            ),
        )
    }
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

    #[cfg(feature = "hub")]
    #[test]
    fn shard_names_must_be_plain_file_names() {
        use download::plain_file_name;
        assert!(plain_file_name("model-00001-of-00002.safetensors"));
        for bad in ["", "../x", "a/b", "..", "a\\b", "/etc/passwd"] {
            assert!(!plain_file_name(bad), "{bad:?}");
        }
    }

    #[cfg(not(feature = "hub"))]
    #[test]
    fn without_the_hub_feature_downloading_says_so() {
        let err = download_model("GSAI-ML/LLaDA-8B-Instruct")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`hub` feature") && err.contains("`model`"),
            "{err}"
        );
    }

    #[test]
    fn downloads_refuse_what_is_not_a_hub_id() {
        let err = ModelDownload::from_env()
            .fetch("../up")
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a Hugging Face Hub id"), "{err}");
        let shown = format!(
            "{:?}",
            ModelDownload::from_env().token(Some("hf_secret".into()))
        );
        assert!(!shown.contains("hf_secret"), "{shown}");
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
