//! Prints the domain head's top-3 labels for prompts (a tuning aid).
use std::path::PathBuf;

use vsr_learned::ModelSet;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/usem3");
    let models = ModelSet::load_dir(&root)?;
    let (space, head) = (
        models.space.ok_or("space")?,
        models.domain_head.ok_or("head")?,
    );
    for q in std::env::args().skip(1) {
        let p = head.probabilities(&space.embed_query(&q)?);
        let mut idx: Vec<usize> = (0..p.len()).collect();
        idx.sort_by(|a, b| p[*b].total_cmp(&p[*a]));
        let top: Vec<String> = idx[..3]
            .iter()
            .map(|&i| format!("{}={:.2}", head.labels[i], p[i]))
            .collect();
        println!("{}  <- {q}", top.join(" "));
    }
    Ok(())
}
