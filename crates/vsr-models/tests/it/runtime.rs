//! The runtime pieces on the real model: queue handle from tokio and threads, the
//! embedding cache's warm start, and the shipped calibration.
use std::sync::Arc;

use vsr_models::{Calibration, EmbeddingCache, Encoder, EncoderHandle, HandleOptions, dot};

use crate::usem3;

#[test]
fn handle_serves_tokio_and_plain_threads_with_the_same_vectors() {
    let Some(m) = usem3() else { return };
    let direct = m.embed(&["数学题怎么做？"]).unwrap();
    let h = EncoderHandle::spawn(m.clone() as Arc<dyn Encoder>, HandleOptions::default()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let via_async = rt.block_on(async {
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let h = h.clone();
                tokio::spawn(async move { h.embed(vec!["数学题怎么做？".into()]).await })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap().unwrap());
        }
        out
    });
    // Jobs waiting together are micro-batched into one encoder call: the same vectors up to
    // float rounding (the matrix kernels block differently for more rows).
    let close = |a: &[Vec<f32>], b: &[Vec<f32>]| {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                x.len() == y.len() && x.iter().zip(y).all(|(p, q)| (p - q).abs() < 1e-5)
            })
    };
    for v in via_async {
        assert!(close(&v, &direct), "{v:?} vs {direct:?}");
    }
    assert!(close(
        &h.embed_blocking(&["数学题怎么做？"]).unwrap(),
        &direct
    ));
}

#[test]
fn cache_warm_start_reuses_vectors_of_the_same_model() {
    let Some(m) = usem3() else { return };
    let dir = std::env::temp_dir().join(format!("vsr-it-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let texts = ["Solve this equation", "写一首诗", "Explain TCP"];
    let mut cold = EmbeddingCache::open(&dir, m.model_id(), m.checksum(), m.dim());
    let a = cold.get_or_embed(&texts, |t| m.embed(t)).unwrap();
    cold.save().unwrap();
    let mut warm = EmbeddingCache::open(&dir, m.model_id(), m.checksum(), m.dim());
    let b = warm
        .get_or_embed(&texts, |_| panic!("warm start must not encode"))
        .unwrap();
    assert_eq!(a, b);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn calibration_puts_paraphrases_above_and_unrelated_below_the_reference_thresholds() {
    let Some(m) = usem3() else { return };
    let cal = Calibration::shipped(m.model_id()).unwrap();
    // Pairs not in calibration/pairs.tsv.
    let paraphrases = [
        (
            "How do I reset my password?",
            "I forgot my password, how can I change it?",
        ),
        ("Explain recursion to a beginner.", "给初学者解释一下递归。"),
        (
            "What is machine learning?",
            "Can you tell me what machine learning is?",
        ),
    ];
    let unrelated = [
        (
            "How do I reset my password?",
            "What is the tallest mountain in Africa?",
        ),
        ("Explain recursion to a beginner.", "推荐一部好看的电影。"),
        (
            "What is machine learning?",
            "How many eggs do I need for pancakes?",
        ),
    ];
    let sim = |a: &str, b: &str| {
        let v = m.embed(&[a, b]).unwrap();
        cal.apply(dot(&v[0], &v[1]))
    };
    for (a, b) in paraphrases {
        let s = sim(a, b);
        assert!(s >= 0.70, "{a} / {b}: calibrated {s}");
    }
    for (a, b) in unrelated {
        let s = sim(a, b);
        assert!(s < 0.60, "{a} / {b}: calibrated {s}");
    }
}
