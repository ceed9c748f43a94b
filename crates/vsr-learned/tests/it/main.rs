//! Integration tests of the learned families on the real encoder (USE-m3). Tests that need
//! the model or `../shared` print a notice and return when it is absent.
mod build;
mod classifier;
mod eval_sets;
mod head_families;
mod heldout;
mod probes;
mod second_encoder;

use std::sync::OnceLock;

use vsr_learned::ModelSet;

/// The installed default model (`vllm-sr models fetch`), looked up in the usual places and in
/// the checkout's `models/`. `None` with a notice when it is not installed.
pub fn models() -> Option<ModelSet> {
    static MODELS: OnceLock<Option<ModelSet>> = OnceLock::new();
    let m = MODELS.get_or_init(|| {
        let local = vsr_testkit::workspace_root().join("models/usem3");
        if vsr_models::catalog::is_installed(&local) {
            ModelSet::load_dir(&local).ok()
        } else {
            ModelSet::discover().ok().flatten()
        }
    });
    if m.is_none() {
        vsr_testkit::missing("model usem3 not installed (vllm-sr models fetch)");
    }
    m.clone()
}

/// The second encoder, multilingual-e5-small (`vllm-sr models fetch e5-small`), with its
/// shipped calibration and heads. `None` with a notice when it is not installed.
pub fn e5_models() -> Option<ModelSet> {
    static MODELS: OnceLock<Option<ModelSet>> = OnceLock::new();
    let m = MODELS.get_or_init(|| {
        let local = vsr_testkit::workspace_root().join("models/e5-small");
        let dir = if vsr_models::catalog::is_installed(&local) {
            Some(local)
        } else {
            vsr_models::catalog::find_model(vsr_models::E5_SMALL_ID)
        }?;
        Some(ModelSet::load_dir(&dir).expect("installed e5-small loads"))
    });
    if m.is_none() {
        vsr_testkit::missing("model e5-small not installed (vllm-sr models fetch e5-small)");
    }
    m.clone()
}
