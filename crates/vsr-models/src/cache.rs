//! On-disk cache of embeddings of configured texts (candidates, exemplars, descriptions),
//! so a warm start does not re-encode them.
//!
//! One file per model checksum: `<dir>/<model id>-<checksum prefix>.emb`. Entries are keyed
//! by the first 16 bytes of sha256(text). Format (little-endian):
//! `b"VSREMB1\0"`, u32 dim, u32 checksum length, checksum bytes, u64 count,
//! then `count` × (16-byte key, dim × f32). A file that does not parse, or belongs to
//! another model, is ignored (and rewritten on the next save).
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::ModelError;

const MAGIC: &[u8; 8] = b"VSREMB1\0";
type Key = [u8; 16];

/// Embeddings of texts for one model, persisted in one file.
pub struct EmbeddingCache {
    path: PathBuf,
    checksum: String,
    dim: usize,
    entries: HashMap<Key, Vec<f32>>,
    dirty: bool,
}

fn key(text: &str) -> Key {
    let d = Sha256::digest(text.as_bytes());
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

impl EmbeddingCache {
    /// Opens (or starts) the cache of model `model_id` with `checksum` and width `dim` in `dir`.
    pub fn open(dir: &Path, model_id: &str, checksum: &str, dim: usize) -> Self {
        let prefix: String = checksum.chars().take(16).collect();
        let path = dir.join(format!("{model_id}-{prefix}.emb"));
        let entries = match std::fs::read(&path) {
            Ok(bytes) => match parse(&bytes, checksum, dim) {
                Ok(e) => e,
                Err(msg) => {
                    tracing::warn!(path = %path.display(), %msg, "ignoring embedding cache");
                    HashMap::new()
                }
            },
            Err(_) => HashMap::new(),
        };
        EmbeddingCache {
            path,
            checksum: checksum.to_string(),
            dim,
            entries,
            dirty: false,
        }
    }

    /// The cache file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cached embedding of `text`.
    pub fn get(&self, text: &str) -> Option<&[f32]> {
        self.entries.get(&key(text)).map(Vec::as_slice)
    }

    /// Embeddings of all `texts`, computing only the missing ones with one call to
    /// `embed` (batched). Call [`EmbeddingCache::save`] to persist new entries.
    pub fn get_or_embed<F>(&mut self, texts: &[&str], embed: F) -> Result<Vec<Vec<f32>>, ModelError>
    where
        F: FnOnce(&[&str]) -> Result<Vec<Vec<f32>>, ModelError>,
    {
        let mut missing: Vec<&str> = Vec::new();
        for t in texts {
            if !self.entries.contains_key(&key(t)) && !missing.contains(t) {
                missing.push(t);
            }
        }
        if !missing.is_empty() {
            let vecs = embed(&missing)?;
            if vecs.len() != missing.len() || vecs.iter().any(|v| v.len() != self.dim) {
                return Err(ModelError::format(
                    &self.path,
                    "encoder returned vectors of the wrong count or width",
                ));
            }
            for (t, v) in missing.iter().zip(vecs) {
                self.entries.insert(key(t), v);
            }
            self.dirty = true;
        }
        Ok(texts
            .iter()
            .map(|t| self.entries.get(&key(t)).cloned().unwrap_or_default())
            .collect())
    }

    /// Writes the cache if it changed (atomically: temporary file, then rename).
    pub fn save(&mut self) -> Result<(), ModelError> {
        if !self.dirty {
            return Ok(());
        }
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
        }
        let mut out = Vec::with_capacity(32 + self.entries.len() * (16 + 4 * self.dim));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.dim as u32).to_le_bytes());
        out.extend_from_slice(&(self.checksum.len() as u32).to_le_bytes());
        out.extend_from_slice(self.checksum.as_bytes());
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for (k, v) in &self.entries {
            out.extend_from_slice(k);
            for x in v {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        let tmp = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &out).map_err(|e| ModelError::io(&tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| ModelError::io(&self.path, e))?;
        self.dirty = false;
        Ok(())
    }
}

fn parse(bytes: &[u8], checksum: &str, dim: usize) -> Result<HashMap<Key, Vec<f32>>, String> {
    let mut r = bytes;
    let mut take = |n: usize| -> Result<&[u8], String> {
        if r.len() < n {
            return Err("truncated".into());
        }
        let (a, b) = r.split_at(n);
        r = b;
        Ok(a)
    };
    if take(8)? != MAGIC {
        return Err("not an embedding cache".into());
    }
    let u32_at = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    if u32_at(take(4)?) != dim {
        return Err("written for another width".into());
    }
    let clen = u32_at(take(4)?);
    if take(clen)? != checksum.as_bytes() {
        return Err("written for another model checksum".into());
    }
    let c = take(8)?;
    let count = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
    let entry = 16 + 4 * dim;
    let count = usize::try_from(count).map_err(|_| "bad count")?;
    if count.checked_mul(entry) != Some(r.len()) {
        return Err("size does not match the entry count".into());
    }
    let mut out = HashMap::with_capacity(count);
    for chunk in r.chunks_exact(entry) {
        let mut k = [0u8; 16];
        k.copy_from_slice(&chunk[..16]);
        let v = chunk[16..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        out.insert(k, v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_embed(texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        Ok(texts.iter().map(|t| vec![t.len() as f32, 0.5]).collect())
    }

    fn tempdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("vsr-cache-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn warm_start_needs_no_encoder_calls() {
        let dir = tempdir("warm");
        let mut c = EmbeddingCache::open(&dir, "toy", "abc123", 2);
        let first = c.get_or_embed(&["a", "bb", "a"], fake_embed).unwrap();
        assert_eq!(first[1], vec![2.0, 0.5]);
        assert_eq!(c.len(), 2, "duplicates embedded once");
        c.save().unwrap();

        let mut warm = EmbeddingCache::open(&dir, "toy", "abc123", 2);
        assert_eq!(warm.len(), 2);
        let again = warm
            .get_or_embed(&["bb", "a"], |_| panic!("must not encode"))
            .unwrap();
        assert_eq!(again, vec![vec![2.0, 0.5], vec![1.0, 0.5]]);
    }

    #[test]
    fn other_model_or_corrupt_file_starts_empty() {
        let dir = tempdir("other");
        let mut c = EmbeddingCache::open(&dir, "toy", "abc123", 2);
        c.get_or_embed(&["a"], fake_embed).unwrap();
        c.save().unwrap();
        let path = c.path().to_path_buf();
        // Same file name prefix, different full checksum.
        assert!(EmbeddingCache::open(&dir, "toy", "abc123-other", 2).is_empty());
        assert!(EmbeddingCache::open(&dir, "toy", "abc123", 3).is_empty());
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        assert!(EmbeddingCache::open(&dir, "toy", "abc123", 2).is_empty());
    }

    #[test]
    fn wrong_vector_count_is_an_error() {
        let dir = tempdir("wrong");
        let mut c = EmbeddingCache::open(&dir, "toy", "x", 2);
        let err = c.get_or_embed(&["a", "b"], |_| Ok(vec![vec![1.0, 2.0]]));
        assert!(err.is_err());
    }
}
