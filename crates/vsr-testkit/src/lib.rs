//! Test helpers shared by the crates' test suites: locating the `../shared` fixtures that CI
//! places beside the checkout. Tests that need a fixture call [`shared_file`] and return early
//! (with a printed notice) when it is absent, because a user's clone has no `../shared`.

use std::path::{Path, PathBuf};

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

/// A file under `shared/`, or `None` with a notice on stderr saying the test skips.
pub fn shared_file(relative: &str) -> Option<PathBuf> {
    let found = shared_dir()
        .map(|d| d.join(relative))
        .filter(|p| p.exists());
    if found.is_none() {
        eprintln!("notice: ../shared/{relative} not found; skipping this test");
    }
    found
}

/// The workspace root (the checkout).
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_holds_the_manifest() {
        assert!(workspace_root().join("Cargo.toml").is_file());
    }

    #[test]
    fn missing_fixture_is_none() {
        assert!(shared_file("no/such/fixture.yaml").is_none());
    }
}
