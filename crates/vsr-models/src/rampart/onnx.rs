//! Just enough of the ONNX protobuf format to read a model's weights and the edges between
//! its nodes: `ModelProto.graph` → `GraphProto.node` / `.initializer` → `TensorProto`.
//! Read with the crate's own wire-format reader ([`crate::proto`]) rather than a protobuf
//! toolchain, which would need `protoc` or a generated-code crate for one file.

use std::collections::HashMap;

use crate::proto::{ProtoReader, Value, packed_varints};

/// One initializer: its dims, ONNX data type and bytes (raw little-endian data, or the
/// typed repeated fields re-encoded as little-endian bytes).
#[derive(Debug, Clone)]
pub struct Initializer {
    pub dims: Vec<i64>,
    pub data_type: i32,
    pub data: Vec<u8>,
}

/// ONNX data type codes used here.
pub const FLOAT: i32 = 1;
pub const UINT8: i32 = 2;

#[derive(Debug, Clone, Default)]
pub struct Node {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub op_type: String,
}

#[derive(Debug, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub initializers: HashMap<String, Initializer>,
}

impl Initializer {
    pub fn f32s(&self) -> Vec<f32> {
        self.data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    pub fn elements(&self) -> usize {
        self.dims.iter().map(|&d| d.max(0) as usize).product()
    }
}

/// Reads the graph of an ONNX model file's bytes.
pub fn read_graph(bytes: &[u8]) -> Result<Graph, String> {
    let mut graph = None;
    for f in ProtoReader::new(bytes) {
        let (num, wire) = f?;
        if let (7, Value::Bytes(b)) = (num, wire) {
            graph = Some(b);
        }
    }
    let graph = graph.ok_or("no graph in the model")?;
    let mut out = Graph::default();
    for f in ProtoReader::new(graph) {
        match f? {
            (1, Value::Bytes(b)) => out.nodes.push(read_node(b)?),
            (5, Value::Bytes(b)) => {
                let (name, t) = read_tensor(b)?;
                out.initializers.insert(name, t);
            }
            _ => {}
        }
    }
    Ok(out)
}

fn utf8(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "a name is not UTF-8".to_string())
}

fn read_node(bytes: &[u8]) -> Result<Node, String> {
    let mut n = Node::default();
    for f in ProtoReader::new(bytes) {
        match f? {
            (1, Value::Bytes(b)) => n.inputs.push(utf8(b)?),
            (2, Value::Bytes(b)) => n.outputs.push(utf8(b)?),
            (4, Value::Bytes(b)) => n.op_type = utf8(b)?,
            _ => {}
        }
    }
    Ok(n)
}

fn read_tensor(bytes: &[u8]) -> Result<(String, Initializer), String> {
    let mut name = String::new();
    let mut t = Initializer {
        dims: Vec::new(),
        data_type: 0,
        data: Vec::new(),
    };
    let mut raw: Option<Vec<u8>> = None;
    for f in ProtoReader::new(bytes) {
        match f? {
            (1, Value::Varint(v)) => t.dims.push(v as i64),
            (1, Value::Bytes(b)) => {
                for v in packed_varints(b) {
                    t.dims.push(v? as i64);
                }
            }
            (2, Value::Varint(v)) => t.data_type = v as i32,
            // float_data: packed or one fixed32 at a time
            (4, Value::Bytes(b)) => t.data.extend_from_slice(b),
            (4, Value::Fixed32(v)) => t.data.extend_from_slice(&v.to_le_bytes()),
            // int32_data holds (u)int8 and (u)int16 values one per varint
            (5, Value::Bytes(b)) => {
                for v in packed_varints(b) {
                    t.data.push(v? as u8);
                }
            }
            (5, Value::Varint(v)) => t.data.push(v as u8),
            (8, Value::Bytes(b)) => name = utf8(b)?,
            (9, Value::Bytes(b)) => raw = Some(b.to_vec()),
            (14, Value::Varint(1)) => {
                return Err(format!("{name}: external data is not supported"));
            }
            _ => {}
        }
    }
    if let Some(r) = raw {
        t.data = r;
    }
    let width = match t.data_type {
        FLOAT => 4,
        UINT8 => 1,
        _ => 0,
    };
    if width > 0 && t.data.len() != t.elements() * width {
        return Err(format!(
            "{name}: {} bytes for dims {:?}",
            t.data.len(),
            t.dims
        ));
    }
    Ok((name, t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(num: u32, wire: u8) -> u8 {
        ((num << 3) as u8) | wire
    }

    #[test]
    fn reads_a_tiny_model() {
        // TensorProto { dims: [2], data_type: FLOAT, name: "w", raw_data: 1.0, 2.0 }
        let mut tensor = vec![key(1, 0), 2, key(2, 0), 1, key(8, 2), 1, b'w', key(9, 2), 8];
        tensor.extend_from_slice(&1f32.to_le_bytes());
        tensor.extend_from_slice(&2f32.to_le_bytes());
        // NodeProto { input: "a", output: "b", op_type: "Add" }
        let node = [
            key(1, 2),
            1,
            b'a',
            key(2, 2),
            1,
            b'b',
            key(4, 2),
            3,
            b'A',
            b'd',
            b'd',
        ];
        let mut graph = vec![key(1, 2), node.len() as u8];
        graph.extend_from_slice(&node);
        graph.extend_from_slice(&[key(5, 2), tensor.len() as u8]);
        graph.extend_from_slice(&tensor);
        let mut model = vec![key(1, 0), 8, key(7, 2), graph.len() as u8];
        model.extend_from_slice(&graph);
        let g = read_graph(&model).unwrap();
        assert_eq!(g.nodes[0].op_type, "Add");
        assert_eq!(g.nodes[0].inputs, ["a"]);
        assert_eq!(g.initializers["w"].f32s(), [1.0, 2.0]);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(read_graph(&[]).is_err());
        assert!(read_graph(&[0x3a, 0xff, 0xff]).is_err());
        assert!(read_graph(&[0xff; 32]).is_err());
        let mut model = vec![key(7, 2), 5, key(5, 2), 3, key(9, 2), 9, 0];
        model.truncate(7);
        assert!(read_graph(&model).is_err());
    }
}
