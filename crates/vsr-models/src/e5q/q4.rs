//! Linear maps with 4-bit Q4_0 weights (ggml block layout: an f16 scale, then 16 bytes
//! whose low nibbles are weights 0..16 and high nibbles weights 16..32, each stored plus 8).
//!
//! Two ways to multiply, both quantising the activations to 8 bits per 32-block:
//! - on x86-64 with AVX2 + FMA, a kernel that widens the nibbles of four weight rows once
//!   and reuses them for every token (candle's generic Q4_0 path unpacks them again for each
//!   token and column, about twice as slow on a one-sentence forward);
//! - elsewhere, candle's [`QMatMul`].
//!
//! Either way the weights stay 4-bit in memory.
use candle_core::quantized::{GgmlDType, QMatMul, ggml_file::qtensor_from_ggml};
use candle_core::{Device, Module, Tensor};

pub(super) const QK: usize = 32;
pub(super) const BLOCK_BYTES: usize = 18;

/// y = x·Wᵀ + b for a [rows, cols] Q4_0 weight.
pub(super) struct Linear {
    rows: usize,
    bias: Vec<f32>,
    weights: Weights,
}

enum Weights {
    Candle(QMatMul),
    #[cfg(target_arch = "x86_64")]
    Avx2(Nibbles),
}

/// Q4_0 weights split into nibble bytes (16 per block) and f32 block scales.
#[cfg(target_arch = "x86_64")]
struct Nibbles {
    cols: usize,
    qs: Vec<u8>,
    scales: Vec<f32>,
}

/// Output rows computed together: each activation block is loaded once for all of them.
#[cfg(target_arch = "x86_64")]
const GROUP: usize = 4;

impl Linear {
    /// A linear map over the Q4_0 `bytes` of a [rows, cols] weight; the caller checked
    /// the byte count.
    pub(super) fn new(
        bytes: &[u8],
        bias: Vec<f32>,
        rows: usize,
        cols: usize,
    ) -> candle_core::Result<Self> {
        #[cfg(target_arch = "x86_64")]
        if avx2_available() && rows.is_multiple_of(GROUP) {
            return Ok(Linear {
                rows,
                bias,
                weights: Weights::Avx2(Nibbles::new(bytes, cols)),
            });
        }
        Ok(Linear {
            rows,
            bias,
            weights: Weights::Candle(candle_matmul(bytes, rows, cols)?),
        })
    }

    /// Forces candle's matmul (to compare the two paths).
    #[cfg(test)]
    fn new_candle(bytes: &[u8], bias: Vec<f32>, rows: usize, cols: usize) -> Self {
        Linear {
            rows,
            bias,
            weights: Weights::Candle(candle_matmul(bytes, rows, cols).unwrap()),
        }
    }

    /// x: [tokens, cols] → [tokens, rows].
    pub(super) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_with(x, false)
    }

    /// gelu(x·Wᵀ + b), the activation fused into the output pass where possible.
    pub(super) fn forward_gelu(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_with(x, true)
    }

    fn forward_with(&self, x: &Tensor, gelu: bool) -> candle_core::Result<Tensor> {
        match &self.weights {
            Weights::Candle(w) => {
                let b = Tensor::from_slice(&self.bias, self.rows, x.device())?;
                let y = w.forward(x)?.broadcast_add(&b)?;
                if gelu { y.gelu_erf() } else { Ok(y) }
            }
            #[cfg(target_arch = "x86_64")]
            Weights::Avx2(w) => {
                let (tokens, cols) = x.dims2()?;
                if cols != w.cols {
                    candle_core::bail!("linear: input width {cols}, weight width {}", w.cols)
                }
                let y = w.matmul(
                    &x.contiguous()?.flatten_all()?.to_vec1::<f32>()?,
                    tokens,
                    &self.bias,
                    gelu,
                );
                Tensor::from_vec(y, (tokens, self.rows), x.device())
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn avx2_available() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// candle's quantised matmul over a [rows, cols] Q4_0 weight.
fn candle_matmul(bytes: &[u8], rows: usize, cols: usize) -> candle_core::Result<QMatMul> {
    // candle reinterprets the bytes as blocks holding an f16: give it a 2-aligned start.
    let mut buf = vec![0u8; bytes.len() + 1];
    let start = buf.as_ptr().align_offset(2).min(1);
    buf[start..start + bytes.len()].copy_from_slice(bytes);
    let t = qtensor_from_ggml(
        GgmlDType::Q4_0,
        &buf[start..start + bytes.len()],
        vec![rows, cols],
        &Device::Cpu,
    )?;
    QMatMul::from_qtensor(t)
}

/// Activations of a forward pass quantised to 8 bits per 32-block.
#[cfg(target_arch = "x86_64")]
struct Q8Rows {
    q: Vec<i8>,
    /// Scale of each block.
    d: Vec<f32>,
    /// Scale × sum of the block's quantised values (folds in the nibbles' +8 offset).
    ds: Vec<f32>,
}

/// Tokens per work item of the element-wise passes.
#[cfg(target_arch = "x86_64")]
const TOKEN_CHUNK: usize = 16;

/// Runs `f` on every item, spread over candle's thread pool.
#[cfg(target_arch = "x86_64")]
fn par_each<T: Send>(items: Vec<T>, f: impl Fn(T) + Sync) {
    let slots: Vec<std::sync::Mutex<Option<T>>> = items
        .into_iter()
        .map(|i| std::sync::Mutex::new(Some(i)))
        .collect();
    candle_core::utils::barrier_pool().execute_chunked(slots.len(), |range| {
        for i in range {
            if let Some(item) = slots[i].lock().ok().and_then(|mut s| s.take()) {
                f(item);
            }
        }
    });
}

#[cfg(target_arch = "x86_64")]
fn quantize_rows(x: &[f32], cols: usize) -> Q8Rows {
    let blocks = x.len() / QK;
    let mut out = Q8Rows {
        q: vec![0; x.len()],
        d: vec![0.0; blocks],
        ds: vec![0.0; blocks],
    };
    let nb = cols / QK;
    let items: Vec<_> = x
        .chunks(TOKEN_CHUNK * cols)
        .zip(out.q.chunks_mut(TOKEN_CHUNK * cols))
        .zip(out.d.chunks_mut(TOKEN_CHUNK * nb))
        .zip(out.ds.chunks_mut(TOKEN_CHUNK * nb))
        .collect();
    par_each(items, |(((x, q), d), ds)| {
        for (((xb, qb), d), ds) in x
            .chunks_exact(QK)
            .zip(q.chunks_exact_mut(QK))
            .zip(d.iter_mut())
            .zip(ds.iter_mut())
        {
            let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
            *d = amax / 127.0;
            let inv = if *d > 0.0 { 1.0 / *d } else { 0.0 };
            let mut sum = 0i32;
            for (q, v) in qb.iter_mut().zip(xb) {
                let r = (v * inv).round().clamp(-128.0, 127.0) as i8;
                *q = r;
                sum += i32::from(r);
            }
            *ds = *d * sum as f32;
        }
    });
    out
}

#[cfg(target_arch = "x86_64")]
impl Nibbles {
    fn new(bytes: &[u8], cols: usize) -> Self {
        let blocks = bytes.len() / BLOCK_BYTES;
        let mut qs = Vec::with_capacity(blocks * 16);
        let mut scales = Vec::with_capacity(blocks);
        for b in bytes.chunks_exact(BLOCK_BYTES) {
            scales.push(f16_to_f32(u16::from_le_bytes([b[0], b[1]])));
            qs.extend_from_slice(&b[2..]);
        }
        Nibbles { cols, qs, scales }
    }

    /// y[t, r] = Σ x[t, :]·W[r, :] + bias[r], row groups spread over candle's thread pool.
    fn matmul(&self, x: &[f32], tokens: usize, bias: &[f32], gelu: bool) -> Vec<f32> {
        let cols = self.cols;
        let nb = cols / QK;
        let rows = bias.len();
        let a = quantize_rows(x, cols);
        // Each group's results, [GROUP][tokens].
        let mut by_row = vec![0f32; rows * tokens];
        let groups: Vec<_> = by_row.chunks_mut(GROUP * tokens).enumerate().collect();
        par_each(groups, |(g, out)| {
            let r0 = g * GROUP;
            let qs = &self.qs[r0 * nb * 16..(r0 + GROUP) * nb * 16];
            let scales = &self.scales[r0 * nb..(r0 + GROUP) * nb];
            let mut wide = vec![0u8; GROUP * cols];
            // SAFETY: only built when AVX2 and FMA were detected (avx2_available).
            unsafe { avx2::group(qs, scales, &a, tokens, cols, &mut wide, out) };
        });
        // Back to [tokens, rows], with the bias (and activation).
        let mut y = vec![0f32; tokens * rows];
        let chunks: Vec<_> = y.chunks_mut(TOKEN_CHUNK * rows).enumerate().collect();
        par_each(chunks, |(c, y)| {
            for (i, yt) in y.chunks_exact_mut(rows).enumerate() {
                let t = c * TOKEN_CHUNK + i;
                for (r, v) in yt.iter_mut().enumerate() {
                    let z = by_row[r * tokens + t] + bias[r];
                    *v = if gelu { gelu_erf(z) } else { z };
                }
            }
        });
        y
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{GROUP, Q8Rows, QK};

    /// One group of output rows for every token: `out[r * tokens + t]`.
    /// `qs`/`scales`: the group's nibbles and block scales; `wide`: GROUP × cols scratch.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn group(
        qs: &[u8],
        scales: &[f32],
        a: &Q8Rows,
        tokens: usize,
        cols: usize,
        wide: &mut [u8],
        out: &mut [f32],
    ) {
        let nb = cols / QK;
        assert!(
            qs.len() == GROUP * nb * 16
                && scales.len() == GROUP * nb
                && wide.len() == GROUP * cols
                && a.q.len() >= tokens * cols
                && a.d.len() >= tokens * nb
                && out.len() == GROUP * tokens
        );
        // Widen the nibbles once: block b of row r → wide[r * cols + b * 32 ..][..32].
        let mask = _mm_set1_epi8(0x0f);
        for (src, dst) in qs.chunks_exact(16).zip(wide.chunks_exact_mut(QK)) {
            // SAFETY: src has 16 bytes, dst 32 (chunks_exact).
            unsafe {
                let v = _mm_loadu_si128(src.as_ptr().cast());
                let lo = _mm_and_si128(v, mask);
                let hi = _mm_and_si128(_mm_srli_epi16(v, 4), mask);
                _mm_storeu_si128(dst.as_mut_ptr().cast(), lo);
                _mm_storeu_si128(dst.as_mut_ptr().add(16).cast(), hi);
            }
        }
        // Two tokens at a time: each widened weight block is loaded once for both.
        let mut t = 0;
        while t + 2 <= tokens {
            tokens_x::<2>(t, wide, scales, a, tokens, cols, out);
            t += 2;
        }
        if t < tokens {
            tokens_x::<1>(t, wide, scales, a, tokens, cols, out);
        }
    }

    /// Tokens t0..t0 + N against the group's widened rows.
    #[target_feature(enable = "avx2,fma")]
    fn tokens_x<const N: usize>(
        t0: usize,
        wide: &[u8],
        scales: &[f32],
        a: &Q8Rows,
        tokens: usize,
        cols: usize,
        out: &mut [f32],
    ) {
        let nb = cols / QK;
        let ones = _mm256_set1_epi16(1);
        let mut acc = [[_mm256_setzero_ps(); GROUP]; N];
        let mut corr = [[0f32; GROUP]; N];
        let aq: [&[i8]; N] = std::array::from_fn(|n| &a.q[(t0 + n) * cols..(t0 + n + 1) * cols]);
        let ad: [&[f32]; N] = std::array::from_fn(|n| &a.d[(t0 + n) * nb..(t0 + n + 1) * nb]);
        let ads: [&[f32]; N] = std::array::from_fn(|n| &a.ds[(t0 + n) * nb..(t0 + n + 1) * nb]);
        for b in 0..nb {
            // SAFETY: b * 32 + 32 <= cols = aq[n].len().
            let av: [__m256i; N] = std::array::from_fn(|n| unsafe {
                _mm256_loadu_si256(aq[n].as_ptr().add(b * QK).cast())
            });
            for r in 0..GROUP {
                // SAFETY: r * cols + b * 32 + 32 <= GROUP * cols = wide.len() (checked by group).
                let wv = unsafe { _mm256_loadu_si256(wide.as_ptr().add(r * cols + b * QK).cast()) };
                let w = scales[r * nb + b];
                for n in 0..N {
                    // Unsigned nibble × signed activation, pairwise to i16, then to i32.
                    let dot = _mm256_madd_epi16(_mm256_maddubs_epi16(wv, av[n]), ones);
                    acc[n][r] = _mm256_fmadd_ps(
                        _mm256_cvtepi32_ps(dot),
                        _mm256_set1_ps(w * ad[n][b]),
                        acc[n][r],
                    );
                    corr[n][r] += w * ads[n][b];
                }
            }
        }
        for n in 0..N {
            for r in 0..GROUP {
                out[r * tokens + t0 + n] = hsum(acc[n][r]) - 8.0 * corr[n][r];
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }
}

/// x·Φ(x), Φ the normal CDF, with erf from Abramowitz & Stegun 7.1.26 (absolute error
/// below 1.5e-7, under f32 rounding of the activations that follow).
fn gelu_erf(x: f32) -> f32 {
    let z = (x * std::f32::consts::FRAC_1_SQRT_2).abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * z);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let erf = 1.0 - poly * (-z * z).exp();
    0.5 * x * (1.0 + erf.copysign(x))
}

/// Dequantises consecutive Q4_0 blocks into `out`.
pub(super) fn decode_q4_0(blocks: &[u8], out: &mut [f32]) {
    for (b, o) in blocks
        .chunks_exact(BLOCK_BYTES)
        .zip(out.chunks_exact_mut(QK))
    {
        let d = f16_to_f32(u16::from_le_bytes([b[0], b[1]]));
        for (j, &q) in b[2..].iter().enumerate() {
            o[j] = (f32::from(q & 0x0f) - 8.0) * d;
            o[j + QK / 2] = (f32::from(q >> 4) - 8.0) * d;
        }
    }
}

/// IEEE half → single precision (subnormals, infinities and NaN included).
pub(super) fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exp = u32::from((h >> 10) & 0x1f);
    let man = u32::from(h & 0x3ff);
    let bits = match (exp, man) {
        (0, 0) => sign,
        // Subnormal: man · 2⁻²⁴, exact in f32.
        (0, m) => {
            let v = m as f32 * f32::powi(2.0, -24);
            return if sign != 0 { -v } else { v };
        }
        (31, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_floats_decode() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), f32::powi(2.0, -24));
        assert_eq!(f16_to_f32(0x8001), -f32::powi(2.0, -24));
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
    }

    /// Q4_0 rows with varied scales (f16 1, 0.5, -0.25, ~0.1) and nibble patterns.
    fn toy_q4(rows: usize, cols: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        for b in 0..rows * cols / QK {
            let scale: u16 = [0x3c00, 0x3800, 0xb400, 0x2e66][b % 4];
            bytes.extend_from_slice(&scale.to_le_bytes());
            for j in 0..16u8 {
                let lo = j.wrapping_mul(7).wrapping_add(b as u8) & 0x0f;
                let hi = ((15 - j) ^ b as u8) & 0x0f;
                bytes.push(lo | (hi << 4));
            }
        }
        bytes
    }

    #[test]
    fn q4_0_blocks_decode_like_candle() {
        let (rows, cols) = (2, 64);
        let bytes = toy_q4(rows, cols);
        let mut ours = vec![0f32; rows * cols];
        decode_q4_0(&bytes, &mut ours);
        // Byte j of a block holds weight j (low nibble) and j + 16 (high nibble).
        assert_eq!(ours[0], f32::from(bytes[2] & 0x0f) - 8.0);
        assert_eq!(ours[16], f32::from(bytes[2] >> 4) - 8.0);
        assert_eq!(
            ours[32 + 5],
            (f32::from(bytes[18 + 2 + 5] & 0x0f) - 8.0) * 0.5
        );
        let t = qtensor_from_ggml(GgmlDType::Q4_0, &bytes, vec![rows, cols], &Device::Cpu).unwrap();
        let theirs = t.dequantize(&Device::Cpu).unwrap();
        assert_eq!(
            ours,
            theirs.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }

    #[test]
    fn gelu_matches_candle() {
        let xs: Vec<f32> = (-80..=80).map(|i| i as f32 / 10.0).collect();
        let t = Tensor::from_vec(xs.clone(), xs.len(), &Device::Cpu).unwrap();
        let want = t.gelu_erf().unwrap().to_vec1::<f32>().unwrap();
        for (x, w) in xs.iter().zip(want) {
            assert!(
                (gelu_erf(*x) - w).abs() < 1e-6,
                "gelu({x}) = {} vs {w}",
                gelu_erf(*x)
            );
        }
    }

    #[test]
    fn both_matmul_paths_compute_x_times_w_transposed() {
        let (rows, cols, tokens) = (8, 96, 5);
        let bytes = toy_q4(rows, cols);
        let mut w = vec![0f32; rows * cols];
        decode_q4_0(&bytes, &mut w);
        let bias: Vec<f32> = (0..rows).map(|r| r as f32 - 3.5).collect();
        let x: Vec<f32> = (0..tokens * cols)
            .map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0)
            .collect();
        let xt = Tensor::from_vec(x.clone(), (tokens, cols), &Device::Cpu).unwrap();
        let fast = Linear::new(&bytes, bias.clone(), rows, cols).unwrap();
        let candle = Linear::new_candle(&bytes, bias.clone(), rows, cols);
        let yf = fast.forward(&xt).unwrap().to_vec2::<f32>().unwrap();
        let yc = candle.forward(&xt).unwrap().to_vec2::<f32>().unwrap();
        let gf = fast.forward_gelu(&xt).unwrap().to_vec2::<f32>().unwrap();
        let gc = candle.forward_gelu(&xt).unwrap().to_vec2::<f32>().unwrap();
        for t in 0..tokens {
            for r in 0..rows {
                assert!((gf[t][r] - gelu_erf(yf[t][r])).abs() < 1e-5);
                assert!((gc[t][r] - gelu_erf(yc[t][r])).abs() < 1e-4 * yc[t][r].abs().max(1.0));
            }
        }
        for t in 0..tokens {
            for r in 0..rows {
                let exact: f32 = (0..cols)
                    .map(|i| x[t * cols + i] * w[r * cols + i])
                    .sum::<f32>()
                    + bias[r];
                // 8-bit activations: within ~1% of the row's magnitude of the exact product.
                let tol = 0.01
                    * (0..cols)
                        .map(|i| (x[t * cols + i] * w[r * cols + i]).abs())
                        .sum::<f32>();
                assert!(
                    (yf[t][r] - exact).abs() <= tol,
                    "fast {} vs {exact}",
                    yf[t][r]
                );
                assert!(
                    (yc[t][r] - exact).abs() <= tol,
                    "candle {} vs {exact}",
                    yc[t][r]
                );
            }
        }
    }
}
