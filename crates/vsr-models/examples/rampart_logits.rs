//! Per-token logits of our Rampart port, for `scripts/verify_rampart.py`, which compares
//! them with onnxruntime on the package's own file. Reads a JSON array of texts on stdin,
//! writes one JSON object per text: token ids, byte spans and logits.
use std::io::Read;

use vsr_models::{RAMPART_ID, Rampart, catalog};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = match std::env::args().nth(1) {
        Some(d) => d.into(),
        None => catalog::find_model(RAMPART_ID).ok_or("rampart not installed")?,
    };
    let model = Rampart::load(&dir)?;
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input)?;
    let texts: Vec<String> = serde_json::from_str(&input)?;
    let mut out = Vec::with_capacity(texts.len());
    for text in &texts {
        let (tokens, logits) = model.token_logits(text)?;
        out.push(serde_json::json!({
            "ids": tokens.iter().map(|t| t.id).collect::<Vec<_>>(),
            "spans": tokens.iter().map(|t| [t.start, t.end]).collect::<Vec<_>>(),
            "logits": logits,
        }));
    }
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}
