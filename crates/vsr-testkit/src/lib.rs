//! Test helpers shared by the crates' test suites: locating the `../shared` fixtures that CI
//! places beside the checkout and the installed models, temporary directories, the tests' HTTP
//! client ([`http`]), and the one rule
//! for what a missing fixture means. A user's clone has no `../shared` and maybe no models, so
//! a test that needs one skips with a notice — unless `VSR_REQUIRE_FIXTURES=1` (CI sets it),
//! which turns every such skip into a failure ([`missing`]).

pub mod http;

use std::fmt::Display;
use std::path::{Path, PathBuf};

/// Set to `1` (or `true`) to make every "fixture or model missing: skip" fail instead.
pub const REQUIRE_FIXTURES_ENV: &str = "VSR_REQUIRE_FIXTURES";

/// Whether missing fixtures and models fail tests ([`REQUIRE_FIXTURES_ENV`]).
pub fn fixtures_required() -> bool {
    std::env::var(REQUIRE_FIXTURES_ENV).is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"))
}

/// Reports that `what` is missing: a notice (the test then returns early), or a panic when
/// fixtures are required.
#[track_caller]
pub fn missing(what: impl Display) {
    if fixtures_required() {
        panic!("{what} (missing, and {REQUIRE_FIXTURES_ENV}=1 turns this skip into a failure)");
    }
    eprintln!("notice: {what}; skipping this test");
}

/// The directory of an installed model (`vllm-sr models fetch ID`): `$VSR_MODELS_DIR/ID`, else
/// the checkout's `models/ID`; `None` after [`missing`] when neither holds it. A model counts
/// as installed when its fetch manifest is there.
#[track_caller]
pub fn require_model(id: &str) -> Option<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("VSR_MODELS_DIR").filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(d).join(id));
    }
    dirs.push(workspace_root().join("models").join(id));
    let found = dirs.into_iter().find(|d| d.join("manifest.json").is_file());
    if found.is_none() {
        missing(format!(
            "model `{id}` is not installed (vllm-sr models fetch {id})"
        ));
    }
    found.map(|d| d.canonicalize().unwrap_or(d))
}

/// A fresh directory under the system temp dir, removed (with its contents) on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "vsr-test-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `shared/` directory beside the checkout, when present. `VSR_SHARED_DIR` overrides it.
pub fn shared_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("VSR_SHARED_DIR") {
        let dir = PathBuf::from(dir);
        return dir.is_dir().then_some(dir);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = workspace.join("../shared");
    dir.is_dir().then(|| dir.canonicalize().unwrap_or(dir))
}

/// A file under `shared/`, or `None` after [`missing`].
#[track_caller]
pub fn shared_file(relative: &str) -> Option<PathBuf> {
    let found = shared_dir()
        .map(|d| d.join(relative))
        .filter(|p| p.exists());
    if found.is_none() {
        missing(format_args!("../shared/{relative} not found"));
    }
    found
}

/// The workspace root (the checkout).
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The rows of a `label<TAB>text` file (our held-out and example sets); `#` comments and blank
/// lines are skipped, both fields trimmed. Panics with the file and line on a malformed row:
/// a broken fixture must fail the test that reads it.
pub fn labelled_rows(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.starts_with('#') && !l.trim().is_empty())
        .map(|(i, l)| {
            let (label, row) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("{}:{}: expected label<TAB>text", path.display(), i + 1));
            (label.trim().to_string(), row.trim().to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_holds_the_manifest() {
        assert!(workspace_root().join("Cargo.toml").is_file());
    }

    #[test]
    fn temp_dirs_are_distinct_and_removed() {
        let a = TempDir::new("t");
        let b = TempDir::new("t");
        assert_ne!(a.path(), b.path());
        std::fs::write(a.join("f"), "x").expect("write");
        let p = a.path().to_path_buf();
        drop(a);
        assert!(!p.exists());
    }

    #[test]
    fn an_unknown_model_is_missing() {
        if fixtures_required() {
            let r = std::panic::catch_unwind(|| require_model("no-such-model"));
            assert!(r.is_err(), "a required model that is absent must fail");
        } else {
            assert_eq!(require_model("no-such-model"), None);
        }
    }

    #[test]
    fn labelled_rows_skip_comments_and_trim() {
        let path = std::env::temp_dir().join(format!("vsr-testkit-{}.tsv", std::process::id()));
        std::fs::write(&path, "# comment\n\nmath\t 2+2? \nlaw\tsue\n").expect("writes");
        let rows = labelled_rows(&path);
        let _ = std::fs::remove_file(&path);
        assert_eq!(
            rows,
            [
                ("math".to_string(), "2+2?".to_string()),
                ("law".to_string(), "sue".to_string())
            ]
        );
    }

    #[test]
    fn missing_fixture_is_none_or_fails_when_required() {
        if fixtures_required() {
            let r = std::panic::catch_unwind(|| shared_file("no/such/fixture.yaml"));
            assert!(r.is_err(), "a required fixture that is absent must fail");
        } else {
            assert!(shared_file("no/such/fixture.yaml").is_none());
        }
    }
}
