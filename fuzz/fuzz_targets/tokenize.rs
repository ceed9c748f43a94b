//! The shipped encoders' tokenizers on arbitrary text: USE-m3's SentencePiece tokenizer
//! (`models/usem3/sp.model`) and multilingual-e5-small's Unigram tokenizer (when its model is
//! installed). Oracle: every id lies inside the vocabulary, the same text always gives the same
//! ids, and e5's sequence is `<s>` … `</s>`. The models are read once from `$VSR_MODELS_DIR`
//! (default `models/`); `scripts/fuzz.sh` skips this target when USE-m3 is not installed.
#![no_main]
use std::path::PathBuf;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use vsr_models::spm::SpmTokenizer;

fn models_dir() -> PathBuf {
    std::env::var_os("VSR_MODELS_DIR").map_or_else(|| PathBuf::from("models"), PathBuf::from)
}

static SPM: LazyLock<SpmTokenizer> = LazyLock::new(|| {
    let path = models_dir().join("usem3").join("sp.model");
    SpmTokenizer::from_file(&path).unwrap_or_else(|e| panic!("USE-m3 tokenizer: {e}"))
});

static E5: LazyLock<Option<vsr_models::E5Small>> =
    LazyLock::new(|| vsr_models::E5Small::load(&models_dir().join("e5-small")).ok());

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let n = SPM.vocab_size();
    let ids = SPM.encode_with_markers(&text);
    assert!(ids.len() >= 3, "markers and at least one token");
    for &id in &ids {
        assert!((id as usize) < n, "USE-m3 id {id} outside a vocabulary of {n}");
    }
    assert_eq!(ids, SPM.encode_with_markers(&text), "USE-m3 tokenization is not deterministic");
    if let Some(e5) = E5.as_ref() {
        let ids = e5.tokenize(&text);
        assert!(ids.len() >= 2, "e5: markers missing");
        assert_eq!(ids, e5.tokenize(&text), "e5 tokenization is not deterministic");
    }
});
