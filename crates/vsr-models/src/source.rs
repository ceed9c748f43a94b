//! Where an encoder comes from: a local directory, a catalog id, or a Hugging Face Hub repo.
//!
//! [`resolve_model_source`] turns the configured spec into a directory the loaders read:
//! 1. an existing local directory always wins;
//! 2. a catalog id (`usem3`, `minilm`) names the installed catalog model;
//! 3. `owner/name[@revision]` is a Hugging Face repo: its `config.json`, `tokenizer.json`
//!    and `model.safetensors` come from the local HF cache when they are all there (no
//!    network), else they are downloaded into that cache (needs the `hub` feature);
//! 4. anything else is an error that says which of these the spec failed to be.
use std::path::{Path, PathBuf};

use crate::catalog;
use crate::error::ModelError;

/// Files a Hub repo must provide for the BERT-family loader.
pub const HUB_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

/// `HF_HUB_CACHE`: the hub cache directory itself (as in `huggingface_hub`).
pub const HF_HUB_CACHE_ENV: &str = "HF_HUB_CACHE";
/// `HF_HOME`: the Hugging Face home; the cache is `$HF_HOME/hub`.
pub const HF_HOME_ENV: &str = "HF_HOME";
/// `HF_ENDPOINT`: the Hub's base URL (default `https://huggingface.co`).
pub const HF_ENDPOINT_ENV: &str = "HF_ENDPOINT";
/// `HF_HUB_OFFLINE=1`: never download; only the cache is consulted.
pub const HF_HUB_OFFLINE_ENV: &str = "HF_HUB_OFFLINE";
/// `HF_TOKEN`: access token for gated or private repos (else `$HF_HOME/token`).
pub const HF_TOKEN_ENV: &str = "HF_TOKEN";
/// Seconds a Hub download may receive nothing before it fails (default 60).
pub const HUB_STALL_ENV: &str = "VSR_HUB_STALL_SECS";

/// A resolved encoder source: the directory holding the model's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A directory named directly by the spec.
    Local(PathBuf),
    /// A model `vllm-sr models fetch` installed (catalog id).
    Catalog { id: String, dir: PathBuf },
    /// A Hugging Face Hub repo, as a snapshot directory of the HF cache.
    Hub {
        repo: HubRepo,
        dir: PathBuf,
        /// Whether files were downloaded now (false: everything came from the cache).
        downloaded: bool,
    },
}

impl ModelSource {
    /// The directory holding the model files.
    pub fn dir(&self) -> &Path {
        match self {
            ModelSource::Local(dir) | ModelSource::Catalog { dir, .. } => dir,
            ModelSource::Hub { dir, .. } => dir,
        }
    }

    /// The model's name: the directory name, catalog id, or `owner/name` of a Hub repo.
    pub fn id(&self) -> String {
        match self {
            ModelSource::Local(dir) => dir
                .file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
                .unwrap_or_else(|| dir.display().to_string()),
            ModelSource::Catalog { id, .. } => id.clone(),
            ModelSource::Hub { repo, .. } => repo.id.clone(),
        }
    }
}

/// A Hugging Face model repo id with its revision (`main` unless `@revision` was given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubRepo {
    /// `owner/name`.
    pub id: String,
    pub revision: String,
}

impl std::fmt::Display for HubRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.revision == "main" {
            write!(f, "{}", self.id)
        } else {
            write!(f, "{}@{}", self.id, self.revision)
        }
    }
}

impl HubRepo {
    /// Parses `owner/name[@revision]`; the error says what is wrong with the spec.
    pub fn parse(spec: &str) -> Result<HubRepo, String> {
        let (id, revision) = match spec.split_once('@') {
            Some((id, rev)) => (id, Some(rev)),
            None => (spec, None),
        };
        let mut parts = id.split('/');
        let (Some(owner), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "a Hugging Face repo id has the form owner/name[@revision], `{id}` has {} path \
                 segments",
                id.split('/').count()
            ));
        };
        check_segment("owner", owner)?;
        check_segment("name", name)?;
        let revision = match revision {
            None => "main".to_string(),
            Some("") => return Err("empty revision after `@`".into()),
            Some(r)
                if r.contains("..")
                    || r.starts_with('/')
                    || r.ends_with('/')
                    || r.chars()
                        .any(|c| c.is_whitespace() || c.is_control() || c == '@') =>
            {
                return Err(format!("invalid revision `{r}`"));
            }
            Some(r) => r.to_string(),
        };
        Ok(HubRepo {
            id: id.to_string(),
            revision,
        })
    }

    /// The repo's folder in the HF cache: `models--owner--name`.
    pub fn cache_folder(&self) -> String {
        format!("models--{}", self.id.replace('/', "--"))
    }

    #[cfg(feature = "hub")]
    fn is_commit_hash(&self) -> bool {
        self.revision.len() == 40 && self.revision.chars().all(|c| c.is_ascii_hexdigit())
    }
}

/// Hub naming rules: letters, digits, `-`, `_`, `.`; no leading/trailing `-`/`.`; no `--`
/// or `..`; at most 96 characters.
fn check_segment(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("empty repo {what}"));
    }
    if s.len() > 96 {
        return Err(format!("repo {what} `{s}` is longer than 96 characters"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!("repo {what} `{s}` contains `{c}`"));
    }
    if s.starts_with(['-', '.']) || s.ends_with(['-', '.']) || s.contains("--") || s.contains("..")
    {
        return Err(format!(
            "repo {what} `{s}` starts or ends with `-`/`.`, or contains `--`/`..`"
        ));
    }
    Ok(())
}

/// The HF hub cache directory: `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
/// `~/.cache/huggingface/hub`. `None` when no home directory is known.
pub fn hf_cache_dir() -> Option<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(d) = env(HF_HUB_CACHE_ENV) {
        return Some(PathBuf::from(d));
    }
    if let Some(h) = env(HF_HOME_ENV) {
        return Some(PathBuf::from(h).join("hub"));
    }
    env("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface/hub"))
}

/// How Hub specs are resolved: cache location, endpoint, whether downloads are allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubOptions {
    /// The HF cache directory; `None`: [`hf_cache_dir`].
    pub cache_dir: Option<PathBuf>,
    /// The Hub's base URL; `None`: `https://huggingface.co`.
    pub endpoint: Option<String>,
    /// Only the cache is consulted; a repo not cached is an error.
    pub offline: bool,
    /// A download that receives nothing for this long fails; `None`: `VSR_HUB_STALL_SECS`,
    /// else 60 s (the HTTP client has no timeouts of its own).
    pub stall: Option<std::time::Duration>,
}

impl HubOptions {
    /// From `HF_ENDPOINT` and `HF_HUB_OFFLINE` (the cache directory from [`hf_cache_dir`]).
    pub fn from_env() -> HubOptions {
        HubOptions {
            cache_dir: None,
            endpoint: std::env::var(HF_ENDPOINT_ENV)
                .ok()
                .map(|e| e.trim().trim_end_matches('/').to_string())
                .filter(|e| !e.is_empty()),
            offline: std::env::var(HF_HUB_OFFLINE_ENV).is_ok_and(|v| {
                matches!(
                    v.trim().to_ascii_lowercase().as_str(),
                    "1" | "true" | "yes" | "on"
                )
            }),
            stall: None,
        }
    }
}

/// Resolves an encoder spec (see the module docs) to the directory holding its files.
/// `cache_dir` overrides the HF cache location ([`hf_cache_dir`]); the endpoint and offline
/// mode come from the environment ([`HubOptions::from_env`]).
pub fn resolve_model_source(
    spec: &str,
    cache_dir: Option<&Path>,
) -> Result<ModelSource, ModelError> {
    let opts = HubOptions {
        cache_dir: cache_dir.map(Path::to_path_buf),
        ..HubOptions::from_env()
    };
    resolve_model_source_with(spec, &opts)
}

/// [`resolve_model_source`] with explicit Hub options.
pub fn resolve_model_source_with(spec: &str, opts: &HubOptions) -> Result<ModelSource, ModelError> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err(ModelError::InvalidSource {
            spec: spec.to_string(),
            reason: "empty model spec".into(),
        });
    }
    let path = Path::new(spec);
    if path.is_dir() {
        return Ok(ModelSource::Local(path.to_path_buf()));
    }
    if let Some(entry) = catalog::CATALOG.iter().find(|m| m.id == spec) {
        let dir = catalog::find_model(entry.id).ok_or_else(|| ModelError::Missing {
            path: catalog::default_install_dir().join(entry.id),
            hint: format!("run `vllm-sr models fetch {}`", entry.id),
        })?;
        return Ok(ModelSource::Catalog {
            id: entry.id.to_string(),
            dir,
        });
    }
    if looks_like_path(spec) {
        return Err(ModelError::Missing {
            path: path.to_path_buf(),
            hint: "the model spec names a local path, and no such directory exists".into(),
        });
    }
    let repo = HubRepo::parse(spec).map_err(|why| ModelError::InvalidSource {
        spec: spec.to_string(),
        reason: format!(
            "not an existing directory, a catalog id ({}), or a Hugging Face repo id: {why}",
            catalog::CATALOG
                .iter()
                .map(|m| m.id)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })?;
    resolve_hub(repo, opts)
}

/// Specs that can only mean a filesystem path (an HF id never starts like this).
fn looks_like_path(spec: &str) -> bool {
    spec.starts_with(['/', '.', '~', '\\'])
        || spec.contains('\\')
        || spec.contains("//")
        || (spec.split('@').next().unwrap_or(spec).matches('/').count() > 1)
}

#[cfg(not(feature = "hub"))]
fn resolve_hub(repo: HubRepo, _opts: &HubOptions) -> Result<ModelSource, ModelError> {
    Err(ModelError::HubUnsupported {
        repo: repo.to_string(),
    })
}

#[cfg(feature = "hub")]
fn resolve_hub(repo: HubRepo, opts: &HubOptions) -> Result<ModelSource, ModelError> {
    hub::resolve(repo, opts)
}

#[cfg(feature = "hub")]
mod hub {
    use std::path::{Path, PathBuf};

    use hf_hub::api::sync::ApiBuilder;
    use hf_hub::{Cache, Repo, RepoType};

    use super::*;

    pub(super) fn resolve(repo: HubRepo, opts: &HubOptions) -> Result<ModelSource, ModelError> {
        let cache_dir = opts
            .cache_dir
            .clone()
            .or_else(hf_cache_dir)
            .ok_or_else(|| ModelError::Hub {
                repo: repo.to_string(),
                file: HUB_FILES[0].to_string(),
                msg: "no Hugging Face cache directory: set HF_HUB_CACHE or HF_HOME".into(),
            })?;
        if let Some(dir) = cached_snapshot(&repo, &cache_dir) {
            tracing::info!(repo = %repo, dir = %dir.display(), "model found in the HF cache");
            return Ok(ModelSource::Hub {
                repo,
                dir,
                downloaded: false,
            });
        }
        if opts.offline {
            return Err(ModelError::Hub {
                repo: repo.to_string(),
                file: first_missing(&repo, &cache_dir).to_string(),
                msg: format!(
                    "not in the HF cache {} and offline mode ({HF_HUB_OFFLINE_ENV}) forbids \
                     downloading",
                    cache_dir.display()
                ),
            });
        }
        let dir = download(&repo, &cache_dir, opts)?;
        Ok(ModelSource::Hub {
            repo,
            dir,
            downloaded: true,
        })
    }

    fn hf_repo(repo: &HubRepo) -> Repo {
        Repo::with_revision(repo.id.clone(), RepoType::Model, repo.revision.clone())
    }

    /// The snapshot directory holding every [`HUB_FILES`] entry, if the cache has them all.
    fn cached_snapshot(repo: &HubRepo, cache_dir: &Path) -> Option<PathBuf> {
        let cached = Cache::new(cache_dir.to_path_buf()).repo(hf_repo(repo));
        let from_ref = HUB_FILES
            .iter()
            .map(|f| cached.get(f))
            .collect::<Option<Vec<PathBuf>>>()
            .and_then(|paths| same_dir(&paths));
        // A commit hash needs no ref file: its snapshot directory is named after it.
        from_ref.or_else(|| {
            repo.is_commit_hash().then(|| {
                let dir = cached.pointer_path(&repo.revision);
                HUB_FILES
                    .iter()
                    .all(|f| dir.join(f).is_file())
                    .then_some(dir)
            })?
        })
    }

    /// The common parent of `paths` (all in one snapshot), else `None`.
    fn same_dir(paths: &[PathBuf]) -> Option<PathBuf> {
        let dir = paths.first()?.parent()?.to_path_buf();
        paths
            .iter()
            .all(|p| p.parent() == Some(dir.as_path()) && p.is_file())
            .then_some(dir)
    }

    fn first_missing(repo: &HubRepo, cache_dir: &Path) -> &'static str {
        let cached = Cache::new(cache_dir.to_path_buf()).repo(hf_repo(repo));
        HUB_FILES
            .iter()
            .find(|f| cached.get(f).is_none())
            .copied()
            .unwrap_or(HUB_FILES[0])
    }

    fn download(
        repo: &HubRepo,
        cache_dir: &Path,
        opts: &HubOptions,
    ) -> Result<PathBuf, ModelError> {
        let err = |file: &str, msg: String| ModelError::Hub {
            repo: repo.to_string(),
            file: file.to_string(),
            msg,
        };
        let mut builder = ApiBuilder::from_cache(Cache::new(cache_dir.to_path_buf()))
            .with_progress(false)
            .with_retries(1);
        if let Some(endpoint) = &opts.endpoint {
            builder = builder.with_endpoint(endpoint.to_string());
        }
        if let Some(token) = std::env::var(HF_TOKEN_ENV)
            .ok()
            .filter(|t| !t.trim().is_empty())
        {
            builder = builder.with_token(Some(token.trim().to_string()));
        }
        let api = builder
            .build()
            .map_err(|e| err(HUB_FILES[0], format!("cannot start the HTTP client: {e}")))?;
        let api_repo = api.repo(hf_repo(repo));
        let cached = Cache::new(cache_dir.to_path_buf()).repo(hf_repo(repo));
        let stall = opts.stall.unwrap_or_else(stall_limit);
        let mut paths = Vec::with_capacity(HUB_FILES.len());
        for file in HUB_FILES {
            if let Some(path) = cached.get(file) {
                paths.push(path);
                continue;
            }
            tracing::info!(repo = %repo, file, "downloading from the Hugging Face Hub");
            let url = api_repo.url(file);
            let path = download_watched(api.clone(), hf_repo(repo), file, stall)
                .map_err(|e| err(file, format!("{e} (from {url})")))?;
            paths.push(path);
        }
        same_dir(&paths).ok_or_else(|| {
            err(
                HUB_FILES[0],
                "the downloaded files landed in different snapshots (the revision moved \
                 during the download); retry"
                    .into(),
            )
        })
    }

    /// How long a download may go without receiving a byte before it is abandoned
    /// (`VSR_HUB_STALL_SECS`, default 60): the HTTP client has no timeouts of its own, and a
    /// network that silently drops packets must give an error, not a hang.
    fn stall_limit() -> std::time::Duration {
        let secs = std::env::var(HUB_STALL_ENV)
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|s| *s > 0)
            .unwrap_or(60);
        std::time::Duration::from_secs(secs)
    }

    /// What the download thread reports: bytes arrived, or the end.
    enum Event {
        Bytes,
        Done(Result<PathBuf, String>),
    }

    /// Reports progress to the watchdog (and, on a terminal, to the user).
    struct Watch {
        tx: std::sync::mpsc::Sender<Event>,
        file: String,
        total: usize,
        seen: usize,
        show: bool,
    }

    impl hf_hub::api::Progress for Watch {
        fn init(&mut self, size: usize, filename: &str) {
            self.total = size;
            self.file = filename.to_string();
            let _ = self.tx.send(Event::Bytes);
        }
        fn update(&mut self, size: usize) {
            self.seen += size;
            if self.show {
                eprint!(
                    "\r{}: {:.1} / {:.1} MB",
                    self.file,
                    self.seen as f64 / 1e6,
                    self.total as f64 / 1e6
                );
            }
            let _ = self.tx.send(Event::Bytes);
        }
        fn finish(&mut self) {
            if self.show {
                eprintln!();
            }
        }
    }

    /// Downloads one file on its own thread; gives up when no byte arrives for `stall`.
    /// An abandoned thread is left to the OS's own TCP timeouts.
    fn download_watched(
        api: hf_hub::api::sync::Api,
        repo: Repo,
        file: &'static str,
        stall: std::time::Duration,
    ) -> Result<PathBuf, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        let watch = Watch {
            tx: tx.clone(),
            file: file.to_string(),
            total: 0,
            seen: 0,
            show: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        };
        std::thread::Builder::new()
            .name(format!("hf-download-{file}"))
            .spawn(move || {
                let r = api
                    .repo(repo)
                    .download_with_progress(file, watch)
                    .map_err(|e| e.to_string());
                let _ = tx.send(Event::Done(r));
            })
            .map_err(|e| format!("cannot start the download thread: {e}"))?;
        loop {
            match rx.recv_timeout(stall) {
                Ok(Event::Bytes) => {}
                Ok(Event::Done(r)) => return r,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "no data for {:.1} s; is the network blocked? (set {HF_HUB_OFFLINE_ENV}=1 \
                         to use only the local cache, {HUB_STALL_ENV} to wait longer)",
                        stall.as_secs_f32()
                    ));
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    return Err("the download thread ended without a result".into());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_parse_with_optional_revision() {
        let r = HubRepo::parse("sentence-transformers/all-MiniLM-L6-v2").unwrap();
        assert_eq!(r.id, "sentence-transformers/all-MiniLM-L6-v2");
        assert_eq!(r.revision, "main");
        assert_eq!(
            r.cache_folder(),
            "models--sentence-transformers--all-MiniLM-L6-v2"
        );
        let r = HubRepo::parse("intfloat/multilingual-e5-small@v1.0").unwrap();
        assert_eq!(r.revision, "v1.0");
        assert_eq!(r.to_string(), "intfloat/multilingual-e5-small@v1.0");
    }

    #[test]
    fn malformed_repo_ids_say_why() {
        for (spec, why) in [
            ("just-a-name", "path segments"),
            ("a/b/c", "path segments"),
            ("owner/", "empty repo name"),
            ("/name", "empty repo owner"),
            ("own er/name", "contains ` `"),
            ("owner/na--me", "`--`"),
            ("-owner/name", "starts or ends"),
            ("owner/name@", "empty revision"),
            ("owner/name@a b", "invalid revision"),
            ("owner/name@x@y", "invalid revision"),
        ] {
            let err = HubRepo::parse(spec).unwrap_err();
            assert!(err.contains(why), "{spec}: {err}");
        }
    }

    #[test]
    fn path_shaped_specs_are_missing_dirs_not_repo_ids() {
        for spec in ["./models/x", "/no/such/dir", "../x/y", "a/b/c"] {
            let err = resolve_model_source(spec, None).unwrap_err();
            assert!(matches!(err, ModelError::Missing { .. }), "{spec}: {err}");
        }
        let err = resolve_model_source("  ", None).unwrap_err();
        assert!(matches!(err, ModelError::InvalidSource { .. }), "{err}");
        let err = resolve_model_source("not a model", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a model"), "{err}");
        assert!(err.contains("usem3"), "lists the catalog ids: {err}");
    }

    #[test]
    fn an_existing_directory_wins() {
        let dir = std::env::temp_dir().join(format!("vsr-src-local-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let got = resolve_model_source(dir.to_str().unwrap(), None).unwrap();
        assert_eq!(got, ModelSource::Local(dir.clone()));
        assert_eq!(got.dir(), dir.as_path());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(not(feature = "hub"))]
    #[test]
    fn without_hub_a_repo_id_says_the_build_lacks_it() {
        let err = resolve_model_source("owner/name", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("owner/name"), "{err}");
        assert!(err.contains("`hub` feature"), "{err}");
    }
}
