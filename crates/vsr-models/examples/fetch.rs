//! Installs the default model without the CLI: `cargo run -p vsr-models --example fetch [DIR]`.
use vsr_models::catalog;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(catalog::default_install_dir);
    let spec = catalog::spec(catalog::DEFAULT_MODEL)?;
    let outcome = catalog::fetch(spec, &dir, &catalog::FetchOptions::default())?;
    println!("{outcome:?}");
    Ok(())
}
