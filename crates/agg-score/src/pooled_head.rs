//! A pooling head appended to the ONNX graph, for GPU execution providers.
//!
//! The model's output is one vector per *token* (`[batch, tokens, 384]`);
//! agg wants one per *text*. Pooling on the host means copying every token
//! vector off the device: 50 MB per batch of 1,024 titles at 32 tokens, which
//! on an H200 took longer than the transformer itself (agg reached 0.84× of
//! PyTorch, which pools on the device and copies 1.5 MB). Appending three
//! nodes to the graph lets ONNX Runtime pool where the states are:
//!
//! ```text
//! mask [b, l] int64 --Cast(float)--> [b, l] --Reshape(0, 1, -1)--> [b, 1, l]
//! MatMul([b, 1, l], last_hidden_state [b, l, h]) = masked sum [b, 1, h]
//! ```
//!
//! A masked *sum* is enough: the host L2-normalises, and the mean differs from
//! the sum only by a positive factor per row. The ops exist with these
//! signatures in every opset since 6 (MatMul broadcasts the batch; Reshape's 0
//! copies a dimension), so the head does not depend on the model's opset.
//!
//! The head is written as protobuf bytes appended to the model file: a
//! serialized message met twice merges, so a second `graph` field adds its
//! nodes, initializer and output to the model's graph. This avoids a protobuf
//! code generator and a copy of `onnx.proto` for three nodes; the oracle is
//! ONNX Runtime itself (the test in `embed.rs` compares the head's vectors
//! with host pooling on the real model).

/// Name of the output the head adds.
pub(crate) const POOLED_OUTPUT: &str = "agg_masked_sum";

/// `model` (a serialized ONNX `ModelProto`) with the pooling head appended,
/// reading the graph tensors `mask` (int64 `[b, l]`) and `hidden` (float
/// `[b, l, h]`).
pub(crate) fn with_pooled_output(model: &[u8], mask: &str, hidden: &str) -> Vec<u8> {
    const MASK_F: &str = "agg_mask_f";
    const MASK_ROW: &str = "agg_mask_row";
    const SHAPE: &str = "agg_mask_row_shape";
    let mut graph = Vec::new();
    // GraphProto.node = 1
    field_bytes(
        &mut graph,
        1,
        &node(
            "agg_pool_cast",
            "Cast",
            &[mask],
            MASK_F,
            &[int_attr("to", 1)],
        ),
    );
    field_bytes(
        &mut graph,
        1,
        &node(
            "agg_pool_reshape",
            "Reshape",
            &[MASK_F, SHAPE],
            MASK_ROW,
            &[],
        ),
    );
    field_bytes(
        &mut graph,
        1,
        &node(
            "agg_pool_matmul",
            "MatMul",
            &[MASK_ROW, hidden],
            POOLED_OUTPUT,
            &[],
        ),
    );
    // GraphProto.initializer = 5: the Reshape target [0, 1, -1] as int64.
    let mut shape = Vec::new();
    field_varint(&mut shape, 1, 3); // dims = [3]
    field_varint(&mut shape, 2, 7); // data_type = INT64
    field_bytes(&mut shape, 8, SHAPE.as_bytes()); // name
    let raw: Vec<u8> = [0i64, 1, -1].iter().flat_map(|v| v.to_le_bytes()).collect();
    field_bytes(&mut shape, 9, &raw); // raw_data
    field_bytes(&mut graph, 5, &shape);
    // GraphProto.output = 12: ValueInfoProto { name, type: tensor(float) }.
    let mut tensor_type = Vec::new();
    field_varint(&mut tensor_type, 1, 1); // elem_type = FLOAT
    let mut type_proto = Vec::new();
    field_bytes(&mut type_proto, 1, &tensor_type); // TypeProto.tensor_type
    let mut output = Vec::new();
    field_bytes(&mut output, 1, POOLED_OUTPUT.as_bytes());
    field_bytes(&mut output, 2, &type_proto);
    field_bytes(&mut graph, 12, &output);

    let mut out = Vec::with_capacity(model.len() + graph.len() + 8);
    out.extend_from_slice(model);
    field_bytes(&mut out, 7, &graph); // ModelProto.graph = 7
    out
}

/// A NodeProto: input = 1, output = 2, name = 3, op_type = 4, attribute = 5.
fn node(name: &str, op: &str, inputs: &[&str], output: &str, attrs: &[Vec<u8>]) -> Vec<u8> {
    let mut n = Vec::new();
    for i in inputs {
        field_bytes(&mut n, 1, i.as_bytes());
    }
    field_bytes(&mut n, 2, output.as_bytes());
    field_bytes(&mut n, 3, name.as_bytes());
    field_bytes(&mut n, 4, op.as_bytes());
    for a in attrs {
        field_bytes(&mut n, 5, a);
    }
    n
}

/// An AttributeProto of type INT: name = 1, i = 3, type = 20 (INT = 2).
fn int_attr(name: &str, value: i64) -> Vec<u8> {
    let mut a = Vec::new();
    field_bytes(&mut a, 1, name.as_bytes());
    field_varint(&mut a, 3, value as u64);
    field_varint(&mut a, 20, 2);
    a
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_varint(out: &mut Vec<u8>, field: u64, v: u64) {
    varint(out, field << 3);
    varint(out, v);
}

fn field_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, (field << 3) | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_match_the_protobuf_encoding() {
        let enc = |v: u64| {
            let mut b = Vec::new();
            varint(&mut b, v);
            b
        };
        // Examples from the protobuf encoding guide's rules: 1 byte below
        // 128, little-endian groups of 7 bits with a continuation bit above.
        assert_eq!(enc(1), [0x01]);
        assert_eq!(enc(150), [0x96, 0x01]);
        assert_eq!(enc(300), [0xAC, 0x02]);
        // Field 20 (AttributeProto.type), wire type 0: key 160.
        let mut key = Vec::new();
        field_varint(&mut key, 20, 2);
        assert_eq!(key, [0xA0, 0x01, 0x02]);
    }

    #[test]
    fn the_head_is_appended_as_one_graph_field() {
        let model = b"\x08\x07".to_vec(); // ir_version = 7
        let out = with_pooled_output(&model, "attention_mask", "last_hidden_state");
        assert!(out.starts_with(&model));
        // ModelProto.graph: field 7, wire type 2.
        assert_eq!(out[model.len()], (7 << 3) | 2);
        let body = String::from_utf8_lossy(&out);
        for name in [
            "attention_mask",
            "last_hidden_state",
            POOLED_OUTPUT,
            "MatMul",
        ] {
            assert!(body.contains(name), "{name} missing");
        }
    }
}
