//! Reader for NumPy `.npz` archives (a zip of `.npy` files), limited to the dtypes the
//! shipped models use: `u1`, `<f4`, `<f8`, `i1`.
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use crate::error::ModelError;

/// One array of an `.npz` archive: its shape and little-endian raw bytes.
pub struct NpyArray {
    pub dtype: NpyDtype,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NpyDtype {
    U8,
    I8,
    F32,
    F64,
}

impl NpyDtype {
    fn size(self) -> usize {
        match self {
            NpyDtype::U8 | NpyDtype::I8 => 1,
            NpyDtype::F32 => 4,
            NpyDtype::F64 => 8,
        }
    }
}

impl NpyArray {
    /// Element count (1 for a scalar).
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as f32 (f64 and integers are converted).
    pub fn to_f32(&self) -> Vec<f32> {
        match self.dtype {
            NpyDtype::F32 => self
                .data
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            NpyDtype::F64 => self
                .data
                .chunks_exact(8)
                .map(|b| {
                    f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
                })
                .collect(),
            NpyDtype::U8 => self.data.iter().map(|&b| f32::from(b)).collect(),
            NpyDtype::I8 => self.data.iter().map(|&b| f32::from(b as i8)).collect(),
        }
    }
}

/// Reads every array of an `.npz` file, keyed by name without the `.npy` suffix.
pub fn read_npz(path: &Path) -> Result<HashMap<String, NpyArray>, ModelError> {
    let file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| ModelError::format(path, format!("not a zip archive: {e}")))?;
    let mut out = HashMap::new();
    for i in 0..zip.len() {
        let mut entry = zip
            .by_index(i)
            .map_err(|e| ModelError::format(path, format!("zip entry {i}: {e}")))?;
        let name = String::from_utf8_lossy(entry.name_raw())
            .trim_end_matches(".npy")
            .to_string();
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| ModelError::format(path, format!("{name}: {e}")))?;
        let array =
            parse_npy(&bytes).map_err(|m| ModelError::format(path, format!("{name}: {m}")))?;
        out.insert(name, array);
    }
    Ok(out)
}

/// Parses one `.npy` file (format versions 1-3, C order).
pub fn parse_npy(bytes: &[u8]) -> Result<NpyArray, String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not an .npy file".into());
    }
    let (header_len, header_start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = bytes
        .get(header_start..header_start + header_len)
        .ok_or("truncated .npy header")?;
    let header = std::str::from_utf8(header).map_err(|_| "header is not UTF-8")?;
    let descr = dict_value(header, "descr").ok_or("no descr in header")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|d| d.split('\'').next())
        .ok_or("malformed descr")?;
    let dtype = match descr {
        "|u1" | "<u1" => NpyDtype::U8,
        "|i1" | "<i1" => NpyDtype::I8,
        "<f4" => NpyDtype::F32,
        "<f8" => NpyDtype::F64,
        other => return Err(format!("unsupported dtype {other}")),
    };
    if dict_value(header, "fortran_order").is_some_and(|v| v.starts_with("True")) {
        return Err("Fortran-order arrays are not supported".into());
    }
    let shape_text = dict_value(header, "shape").ok_or("no shape in header")?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or("malformed shape")?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| format!("bad dimension {s}")))
        .collect::<Result<Vec<_>, _>>()?;
    let data = &bytes[header_start + header_len..];
    let want = shape.iter().product::<usize>() * dtype.size();
    if data.len() != want {
        return Err(format!(
            "data is {} bytes, shape {shape:?} needs {want}",
            data.len()
        ));
    }
    Ok(NpyArray {
        dtype,
        shape,
        data: data.to_vec(),
    })
}

/// The raw text after `'key':` in a Python dict literal.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))?;
    let rest = &header[at + key.len() + 2..];
    Some(rest.trim_start().strip_prefix(':')?.trim_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let header =
            format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn parses_shapes_and_dtypes() {
        let a = parse_npy(&npy("<f4", "(2, 1)", &[0, 0, 128, 63, 0, 0, 0, 64])).unwrap();
        assert_eq!(a.shape, vec![2, 1]);
        assert_eq!(a.to_f32(), vec![1.0, 2.0]);
        let s = parse_npy(&npy("<f8", "()", &1e-3f64.to_le_bytes())).unwrap();
        assert!(s.shape.is_empty());
        assert_eq!(s.len(), 1);
        assert!((s.to_f32()[0] - 1e-3).abs() < 1e-9);
    }

    #[test]
    fn rejects_size_mismatch_and_unknown_dtype() {
        assert!(parse_npy(&npy("<f4", "(3,)", &[0; 8])).is_err());
        assert!(parse_npy(&npy("<c16", "(1,)", &[0; 16])).is_err());
        assert!(parse_npy(b"garbage").is_err());
    }
}
