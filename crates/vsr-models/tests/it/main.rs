//! Integration tests of vsr-models against the real USE-m3 model. Tests that need the
//! model look it up like the router does ($VSR_MODELS_DIR, ./models, the workspace's
//! models/) and print a skip notice when it is absent (`vllm-sr models fetch` installs it).
#[cfg(feature = "bert")]
mod bert;
mod e5q;
mod heads;
#[cfg(feature = "hub")]
mod hub;
mod pypi_fetch;
mod rampart;
mod runtime;
mod usem3_real;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use vsr_models::{UseM3, catalog};

/// The installed USE-m3 directory, if any.
pub fn usem3_dir() -> Option<PathBuf> {
    catalog::find_model("usem3").or_else(|| {
        let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/usem3");
        catalog::is_installed(&d).then_some(d)
    })
}

/// The real model, loaded once per test binary; `None` (with a notice) when absent.
pub fn usem3() -> Option<Arc<UseM3>> {
    static MODEL: OnceLock<Option<Arc<UseM3>>> = OnceLock::new();
    let m = MODEL.get_or_init(|| {
        let dir = usem3_dir()?;
        Some(Arc::new(UseM3::load(&dir).expect("installed model loads")))
    });
    if m.is_none() {
        vsr_testkit::missing("USE-m3 not installed (run `vllm-sr models fetch`)");
    }
    m.clone()
}
