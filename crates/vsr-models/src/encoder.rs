//! The sentence-encoder abstraction the router's learned signals are built on.
use crate::error::ModelError;

/// A sentence encoder: text in, one L2-normalised vector per text out.
///
/// Implementations are synchronous and may be slow; the server reaches them through
/// [`crate::EncoderHandle`], which runs them on a dedicated thread with a bounded queue.
pub trait Encoder: Send + Sync {
    /// Embeds each text independently. Every returned vector has [`Encoder::dim`] entries
    /// and unit L2 norm.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError>;
    /// Embeds one text.
    fn embed_one(&self, text: &str) -> Result<Vec<f32>, ModelError> {
        self.embed(&[text])?
            .pop()
            .ok_or_else(|| ModelError::format(self.model_id(), "encoder returned no vector"))
    }
    /// Embedding width.
    fn dim(&self) -> usize;
    /// Stable model name, e.g. `usem3`.
    fn model_id(&self) -> &str;
    /// Content hash of the weights (hex sha256); keys the embedding cache.
    fn checksum(&self) -> &str;
}

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    dot / (na.sqrt() * nb.sqrt())
}

/// Dot product: the cosine of two unit vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_basics() {
        assert!((cosine(&[1.0, 0.0], &[2.0, 0.0]) - 1.0).abs() < 1e-6);
        assert!(cosine(&[1.0, 0.0], &[0.0, 3.0]).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert!((dot(&[0.6, 0.8], &[0.6, 0.8]) - 1.0).abs() < 1e-6);
    }
}
