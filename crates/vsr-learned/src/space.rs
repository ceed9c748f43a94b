//! The shared embedding space: one encoder, its calibration, and exemplar banks.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use vsr_models::exemplars::shipped_examples;
use vsr_models::{Calibration, EmbeddingCache, Encoder, Exemplars, Head, ModelError, dot};

/// An encoder with its similarity calibration and an optional on-disk cache for the
/// configured texts (candidates, exemplars, descriptions).
pub struct Space {
    encoder: Arc<dyn Encoder>,
    calibration: Calibration,
    cache: Option<Mutex<EmbeddingCache>>,
    /// Embedded head examples by head name, built once per space (every router of a process
    /// shares them).
    exemplars: Mutex<HashMap<String, Arc<Exemplars>>>,
}

impl Space {
    /// A space over `encoder`. `calibration` maps its raw cosine to the reference scale;
    /// `cache_dir` (if any) persists exemplar embeddings across starts.
    pub fn new(
        encoder: Arc<dyn Encoder>,
        calibration: Calibration,
        cache_dir: Option<PathBuf>,
    ) -> Self {
        let cache = cache_dir.map(|dir| {
            Mutex::new(EmbeddingCache::open(
                &dir,
                encoder.model_id(),
                encoder.checksum(),
                encoder.dim(),
            ))
        });
        Self {
            encoder,
            calibration,
            cache,
            exemplars: Mutex::default(),
        }
    }

    pub fn encoder(&self) -> &Arc<dyn Encoder> {
        &self.encoder
    }

    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    pub fn dim(&self) -> usize {
        self.encoder.dim()
    }

    /// Calibrated similarity of two unit vectors.
    pub fn similarity(&self, a: &[f32], b: &[f32]) -> f32 {
        self.calibration.apply(dot(a, b))
    }

    /// Embeds texts for a bank: through the disk cache when there is one (one batched call
    /// for the missing texts), else directly.
    pub fn embed_configured(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        match &self.cache {
            Some(cache) => {
                let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
                cache.get_or_embed(texts, |missing| self.encoder.embed(missing))
            }
            None => self.encoder.embed(texts),
        }
    }

    /// Writes new cache entries to disk (a failure is logged: the cache is an optimisation).
    pub fn save_cache(&self) {
        if let Some(cache) = &self.cache {
            let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = cache.save() {
                tracing::warn!(error = %e, "could not save the embedding cache");
            }
        }
    }

    /// Embeds one request text (not cached).
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>, ModelError> {
        let mut v = self.encoder.embed(&[text])?;
        v.pop().ok_or_else(|| ModelError::Format {
            path: "<query>".into(),
            msg: "encoder returned no vector".into(),
        })
    }

    /// The embedded examples `head` votes with: `None` when it has no vote or no examples
    /// ship for it. Embedded once per space, through the disk cache.
    pub fn exemplars(&self, head: &Head) -> Result<Option<Arc<Exemplars>>, ModelError> {
        let Some(text) = head.vote.and(shipped_examples(&head.name)) else {
            return Ok(None);
        };
        let mut memo = self.exemplars.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ex) = memo.get(&head.name) {
            return Ok(Some(ex.clone()));
        }
        let rows = Exemplars::texts_for(head, text);
        let texts: Vec<&str> = rows.iter().map(|r| r.0).collect();
        let vectors = self.embed_configured(&texts)?;
        let ex = Arc::new(Exemplars::new(
            self.dim(),
            vectors.into_iter().zip(rows.iter().map(|r| r.1)),
        ));
        memo.insert(head.name.clone(), ex.clone());
        Ok(Some(ex))
    }

    /// A bank of the given texts.
    pub fn bank(&self, texts: &[&str]) -> Result<Bank, ModelError> {
        let vectors = self.embed_configured(texts)?;
        Ok(Bank::new(self.dim(), vectors))
    }
}

/// Unit vectors stored row-major, scored against a query in one pass.
#[derive(Debug, Clone, Default)]
pub struct Bank {
    dim: usize,
    data: Vec<f32>,
}

impl Bank {
    pub fn new(dim: usize, vectors: Vec<Vec<f32>>) -> Self {
        let mut data = Vec::with_capacity(dim * vectors.len());
        for v in vectors {
            data.extend_from_slice(&v);
        }
        Self { dim, data }
    }

    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.dim).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Raw cosines of `query` with every row.
    pub fn cosines(&self, query: &[f32]) -> Vec<f32> {
        if self.dim == 0 {
            return Vec::new();
        }
        self.data
            .chunks_exact(self.dim)
            .map(|r| dot(r, query))
            .collect()
    }

    /// Calibrated similarities of `query` with every row.
    pub fn similarities(&self, space_cal: &Calibration, query: &[f32]) -> Vec<f32> {
        self.cosines(query)
            .into_iter()
            .map(|c| space_cal.apply(c))
            .collect()
    }
}
