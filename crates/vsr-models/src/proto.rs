//! A minimal protobuf wire-format reader, shared by the SentencePiece model parser and the
//! ONNX graph reader (one message at a time, no schema, no generated code).

/// A protobuf wire value.
pub(crate) enum Value<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// A minimal protobuf reader: yields (field number, value) pairs of one message.
pub(crate) struct ProtoReader<'a> {
    data: &'a [u8],
    pos: usize,
    failed: bool,
}

impl<'a> ProtoReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        ProtoReader {
            data,
            pos: 0,
            failed: false,
        }
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut result = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.data.get(self.pos).ok_or("truncated varint")?;
            self.pos += 1;
            result |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(result);
            }
        }
        Err("varint too long".into())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).ok_or("length overflow")?;
        let s = self.data.get(self.pos..end).ok_or("truncated field")?;
        self.pos = end;
        Ok(s)
    }

    fn field(&mut self) -> Result<(u64, Value<'a>), String> {
        let tag = self.varint()?;
        let value = match tag & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| "length overflow")?;
                Value::Bytes(self.take(n)?)
            }
            5 => {
                let b = self.take(4)?;
                Value::Fixed32(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            w => return Err(format!("unsupported protobuf wire type {w}")),
        };
        Ok((tag >> 3, value))
    }
}

impl<'a> Iterator for ProtoReader<'a> {
    type Item = Result<(u64, Value<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let r = self.field();
        self.failed = r.is_err();
        Some(r)
    }
}

/// The values of a packed repeated varint field.
pub(crate) fn packed_varints(data: &[u8]) -> impl Iterator<Item = Result<u64, String>> + '_ {
    let mut r = ProtoReader::new(data);
    std::iter::from_fn(move || {
        if r.failed || r.pos >= r.data.len() {
            return None;
        }
        let v = r.varint();
        r.failed = v.is_err();
        Some(v)
    })
}
