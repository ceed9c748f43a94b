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
    fn missing_fixture_is_none() {
        assert!(shared_file("no/such/fixture.yaml").is_none());
    }
}
