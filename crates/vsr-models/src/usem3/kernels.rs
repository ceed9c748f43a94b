//! Dense kernels of the USE-m3 forward pass on plain row-major `f32` buffers.
//!
//! The matrix products go through the `gemm` crate (the kernel library candle itself calls,
//! with AVX2/FMA chosen at run time) but single-threaded and without candle's tensor layer:
//! at batch 1 the encoder's matrices are a few dozen rows tall, and candle's per-op
//! allocations, broadcast passes and two-thread split cost more than the arithmetic.

/// A weight matrix, row-major `k × n` (inputs × outputs).
pub(crate) struct Matrix {
    pub data: Vec<f32>,
    pub k: usize,
    pub n: usize,
}

/// A row-major view: `rows` rows of `cols` values, each `ld` apart, starting at `data[0]`.
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub ld: usize,
}

impl<'a> Rows<'a> {
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Rows {
            data,
            rows,
            cols,
            ld: cols,
        }
    }
}

/// `out[r, 0..w.n] += a[r] · w` for each row `r` of `a`; `out` rows are `ldo` apart.
pub(crate) fn matmul_acc(out: &mut [f32], ldo: usize, a: Rows<'_>, w: &Matrix) {
    assert_eq!(a.cols, w.k, "inner dimensions");
    if a.rows == 0 {
        return;
    }
    // Bounds the raw-pointer reads and writes below.
    assert!(a.data.len() >= (a.rows - 1) * a.ld + a.cols, "lhs extent");
    assert!(out.len() >= (a.rows - 1) * ldo + w.n, "dst extent");
    assert_eq!(w.data.len(), w.k * w.n, "weight extent");
    // SAFETY: the extents were checked above; strides are positive and in elements.
    unsafe {
        gemm::gemm(
            a.rows,
            w.n,
            w.k,
            out.as_mut_ptr(),
            1,
            ldo as isize,
            true,
            a.data.as_ptr(),
            1,
            a.ld as isize,
            w.data.as_ptr(),
            1,
            w.n as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Fills each of `rows` rows (`ld` apart, `bias.len()` wide) with `bias`.
pub(crate) fn fill_rows(out: &mut [f32], rows: usize, ld: usize, bias: &[f32]) {
    for r in 0..rows {
        out[r * ld..r * ld + bias.len()].copy_from_slice(bias);
    }
}

/// Layer norm of each row in place (`width` values, rows `ld` apart), as
/// `(x - mean) / sqrt(var + eps) * g + b`.
pub(crate) fn layer_norm_rows(
    x: &mut [f32],
    rows: usize,
    ld: usize,
    g: &[f32],
    b: &[f32],
    eps: f32,
) {
    let width = g.len();
    for r in 0..rows {
        let row = &mut x[r * ld..r * ld + width];
        let mean = row.iter().sum::<f32>() / width as f32;
        let mut var = 0.0f32;
        for v in row.iter_mut() {
            *v -= mean;
            var += *v * *v;
        }
        let inv = 1.0 / (var / width as f32 + eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(g).zip(b) {
            *v = *v * inv * g + b;
        }
    }
}

pub(crate) fn relu(x: &mut [f32]) {
    for v in x {
        *v = v.max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_accumulates_into_strided_rows() {
        // a = [[1,2],[3,4]] read from a buffer with ld 3; w = [[1,0,2],[0,1,3]].
        let a = [1.0, 2.0, 9.0, 3.0, 4.0];
        let w = Matrix {
            data: vec![1.0, 0.0, 2.0, 0.0, 1.0, 3.0],
            k: 2,
            n: 3,
        };
        let mut out = vec![1.0f32; 8];
        let rows = Rows {
            data: &a,
            rows: 2,
            cols: 2,
            ld: 3,
        };
        matmul_acc(&mut out, 4, rows, &w);
        assert_eq!(out, vec![2.0, 3.0, 9.0, 1.0, 4.0, 5.0, 19.0, 1.0]);
    }

    #[test]
    fn layer_norm_centres_and_scales() {
        let mut x = vec![1.0, 3.0, 0.0, 5.0, 5.0, 0.0];
        layer_norm_rows(&mut x, 2, 3, &[1.0, 2.0], &[0.0, 1.0], 1e-6);
        assert!(
            (x[0] + 1.0).abs() < 1e-5 && (x[1] - 3.0).abs() < 1e-5,
            "{x:?}"
        );
        assert_eq!(x[2], 0.0, "past the width: untouched");
        assert_eq!(&x[3..5], &[0.0, 1.0], "a constant row becomes b");
    }
}
