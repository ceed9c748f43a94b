//! The SentencePiece model reader (`SpmTokenizer::from_bytes`, the USE-m3 tokenizer's protobuf
//! and its precompiled normaliser) on arbitrary bytes: an error or a tokenizer, never a panic;
//! a tokenizer it accepts encodes text to ids inside its vocabulary.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = vsr_models::spm::SpmTokenizer::from_bytes(data) {
        let n = t.vocab_size();
        for text in ["", "hello world", "  Grüße, 世界 \u{3000}x\u{fe0f}"] {
            for id in t.encode_with_markers(text) {
                assert!((id as usize) < n, "id {id} outside a vocabulary of {n}");
            }
        }
    }
});
