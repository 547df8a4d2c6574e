//! The preparation pass against crafted models: each bound of issue #20 with the model
//! that used to cost billions of instructions or trap, and the `If` folding of issue #22.

use crate::runtime;
use icinfer_api::{DType, Dim, Error, Tensor, TensorData, TensorFact};
use prost::Message;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::{Dimension, dimension};
use tract_onnx::pb::type_proto::{self, Value as TypeValue};
use tract_onnx::pb::*;

fn value(name: &str, elem: DataType, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| Dimension {
            value: Some(if d < 0 {
                dimension::Value::DimParam(format!("s{}", -d))
            } else {
                dimension::Value::DimValue(d)
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(type_proto::Tensor {
                elem_type: elem as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        name: outputs[0].to_string(),
        op_type: op.into(),
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![values.len() as i64],
        data_type: DataType::Int64 as i32,
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

fn graph_attribute(name: &str, graph: GraphProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Graph as i32,
        g: Some(graph),
        ..Default::default()
    }
}

fn model(graph: GraphProto) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

fn limit(error: Error) -> (String, u64, u64) {
    match error {
        Error::LimitExceeded { limit, max, got } => (limit, max, got),
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
}

fn reason(error: Error) -> String {
    match error {
        Error::ModelRejected { reason } => reason,
        other => panic!("expected ModelRejected, got {other:?}"),
    }
}

fn load_error(bytes: &[u8]) -> Error {
    match runtime::load(bytes.to_vec(), &[]) {
        Ok(_) => panic!("the model must be refused"),
        Err(e) => e,
    }
}

/// Issue #20's 176-byte model: ConstantOfShape of 2^28 into a ReduceSum.
#[test]
fn constant_of_shape_bomb_is_refused_before_tract() {
    let bytes = model(GraphProto {
        node: vec![
            node("ConstantOfShape", &["shape"], &["big"]),
            node("ReduceSum", &["big"], &["sum"]),
        ],
        initializer: vec![ints("shape", &[1 << 28])],
        output: vec![value("sum", DataType::Float, &[])],
        ..Default::default()
    });
    assert!(bytes.len() < 200);
    let (limit, max, got) = limit(load_error(&bytes));
    assert_eq!(
        limit,
        "MAX_TENSOR_BYTES: the bytes of the output of ConstantOfShape node 'big'"
    );
    assert_eq!((max, got), (crate::limits::MAX_TENSOR_BYTES, 8 << 28));
}

/// A constant Range whose length would be 2^40.
#[test]
fn range_bomb_is_refused() {
    let bytes = model(GraphProto {
        node: vec![node("Range", &["start", "limit", "delta"], &["r"])],
        initializer: vec![
            TensorProto {
                dims: vec![],
                ..ints("start", &[0])
            },
            TensorProto {
                dims: vec![],
                ..ints("limit", &[1 << 40])
            },
            TensorProto {
                dims: vec![],
                ..ints("delta", &[1])
            },
        ],
        output: vec![value("r", DataType::Int64, &[-1])],
        ..Default::default()
    });
    let (limit, _, got) = limit(load_error(&bytes));
    assert_eq!(
        limit,
        "MAX_DIMENSION: a dimension of the output of Range node 'r'"
    );
    assert_eq!(got, 1 << 40);
}

/// An initializer declared [2^32 + 4] holding 16 bytes: tract on wasm32 read it as [4];
/// the ONNX checker refuses it, and so do we.
#[test]
fn initializer_larger_than_its_data_is_refused() {
    let weights = |dims: Vec<i64>| TensorProto {
        name: "w".into(),
        dims,
        data_type: DataType::Float as i32,
        raw_data: vec![0; 16],
        ..Default::default()
    };
    let graph = |w| GraphProto {
        node: vec![node("Add", &["x", "w"], &["y"])],
        initializer: vec![w],
        input: vec![value("x", DataType::Float, &[4])],
        output: vec![value("y", DataType::Float, &[4])],
        ..Default::default()
    };
    let (limit, max, got) = limit(load_error(&model(graph(weights(vec![(1 << 32) + 4])))));
    assert_eq!(limit, "MAX_DIMENSION: a dimension of initializer 'w'");
    assert_eq!((max, got), ((1 << 31) - 1, (1 << 32) + 4));
    let short = reason(load_error(&model(graph(weights(vec![8])))));
    assert!(
        short.contains("declared [8] (32 bytes) but holds 16 bytes"),
        "{short}"
    );
    // The same tensor declared as what it holds loads.
    assert!(runtime::load(model(graph(weights(vec![4]))), &[]).is_ok());
}

/// A dimension of 2^31 panicked inside tract on wasm32.
#[test]
fn dimension_of_two_to_the_31_is_refused() {
    let bytes = model(GraphProto {
        node: vec![node("Relu", &["x"], &["y"])],
        input: vec![value("x", DataType::Float, &[1 << 31])],
        output: vec![value("y", DataType::Float, &[1 << 31])],
        ..Default::default()
    });
    let (limit, _, got) = limit(load_error(&bytes));
    assert_eq!(
        (limit.as_str(), got),
        ("MAX_DIMENSION: a dimension of input 'x'", 1 << 31)
    );
}

#[test]
fn node_count_is_bounded() {
    let count = crate::limits::MAX_MODEL_NODES as usize + 1;
    let names: Vec<String> = (0..=count).map(|i| format!("t{i}")).collect();
    let bytes = model(GraphProto {
        node: (0..count)
            .map(|i| node("Neg", &[&names[i]], &[&names[i + 1]]))
            .collect(),
        input: vec![value("t0", DataType::Float, &[1])],
        output: vec![value(&names[count], DataType::Float, &[1])],
        ..Default::default()
    });
    let (limit, max, got) = limit(load_error(&bytes));
    assert!(limit.starts_with("MAX_MODEL_NODES"), "{limit}");
    assert_eq!((max, got), (count as u64 - 1, count as u64));
}

/// Outputs of known shape larger than a reply can carry are refused at load, not after
/// the inference was paid for.
#[test]
fn outputs_larger_than_a_reply_are_refused_at_load() {
    let bytes = model(GraphProto {
        node: vec![node("Expand", &["x", "shape"], &["y"])],
        initializer: vec![ints("shape", &[1024, 1024])],
        input: vec![value("x", DataType::Float, &[1])],
        output: vec![value("y", DataType::Float, &[1024, 1024])],
        ..Default::default()
    });
    let (limit, max, got) = limit(load_error(&bytes));
    assert_eq!(
        limit,
        "MAX_OUTPUT_BYTES: the bytes of the model's outputs, known at load"
    );
    assert_eq!((max, got), (crate::limits::MAX_OUTPUT_BYTES, 4 << 20));
}

#[test]
fn contrib_operators_are_named_with_domain_and_node() {
    let mut attention = node("QAttention", &["x"], &["y"]);
    attention.domain = "com.microsoft".into();
    attention.name = "attention_0".into();
    let bytes = model(GraphProto {
        node: vec![attention],
        input: vec![value("x", DataType::Float, &[1, 1, 4])],
        output: vec![value("y", DataType::Float, &[-1])],
        ..Default::default()
    });
    let reason = reason(load_error(&bytes));
    assert!(
        reason.starts_with("unsupported operator QAttention (domain com.microsoft) at node 'attention_0': an onnxruntime contrib operator that icinfer does not implement"),
        "{reason}"
    );
    let unknown = model(GraphProto {
        node: vec![node("NoSuchOp", &["x"], &["y"])],
        input: vec![value("x", DataType::Float, &[1])],
        output: vec![value("y", DataType::Float, &[1])],
        ..Default::default()
    });
    assert!(
        reason_of(&unknown)
            .starts_with("unsupported operator NoSuchOp (domain ai.onnx) at node 'y'")
    );
}

fn reason_of(bytes: &[u8]) -> String {
    reason(load_error(bytes))
}

#[test]
fn external_data_is_refused() {
    let bytes = model(GraphProto {
        node: vec![node("Add", &["x", "w"], &["y"])],
        initializer: vec![TensorProto {
            name: "w".into(),
            dims: vec![1],
            data_type: DataType::Float as i32,
            data_location: Some(tensor_proto::DataLocation::External as i32),
            ..Default::default()
        }],
        input: vec![value("x", DataType::Float, &[1])],
        output: vec![value("y", DataType::Float, &[1])],
        ..Default::default()
    });
    assert!(reason_of(&bytes).contains("external file"));
}

/// torch's `if x.shape[-1] == 1: x = x.squeeze(-1)`: the branch not taken squeezes an axis
/// that is not 1, and the branches differ in rank. With the shape fixed, the condition is
/// known and only the branch taken is built.
fn squeeze_if_model() -> Vec<u8> {
    let squeeze = GraphProto {
        node: vec![node("Squeeze", &["x", "last"], &["squeezed"])],
        output: vec![value("squeezed", DataType::Float, &[])],
        ..Default::default()
    };
    let keep = GraphProto {
        node: vec![node("Identity", &["x"], &["kept"])],
        output: vec![value("kept", DataType::Float, &[])],
        ..Default::default()
    };
    let mut branch = node("If", &["is_one"], &["y"]);
    branch.attribute = vec![
        graph_attribute("then_branch", squeeze),
        graph_attribute("else_branch", keep),
    ];
    model(GraphProto {
        node: vec![
            node("Shape", &["x"], &["shape"]),
            node("Gather", &["shape", "minus_one"], &["width"]),
            node("Equal", &["width", "one"], &["is_one"]),
            branch,
        ],
        initializer: vec![
            TensorProto {
                dims: vec![],
                ..ints("minus_one", &[-1])
            },
            TensorProto {
                dims: vec![],
                ..ints("one", &[1])
            },
            ints("last", &[-1]),
        ],
        input: vec![value("x", DataType::Float, &[2, -1])],
        output: vec![value("y", DataType::Float, &[])],
        ..Default::default()
    })
}

fn declared_x(width: u64) -> Vec<TensorFact> {
    vec![TensorFact {
        name: "x".into(),
        dtype: DType::F32,
        shape: vec![Dim::Fixed(2), Dim::Fixed(width)],
    }]
}

fn run_squeeze_if(width: u64) -> Tensor {
    let loaded = runtime::load(squeeze_if_model(), &declared_x(width))
        .unwrap_or_else(|e| panic!("width {width}: {e}"));
    let x = Tensor {
        name: "x".into(),
        shape: vec![2, width],
        data: TensorData::F32((0..2 * width).map(|v| v as f32).collect()),
    };
    let inputs = runtime::match_inputs(&loaded.inputs, std::slice::from_ref(&x)).unwrap();
    let mut outputs = runtime::run(&loaded.plan, &loaded.outputs, &inputs).unwrap();
    outputs.remove(0)
}

#[test]
fn shape_only_if_takes_its_branch() {
    let framework = tract_onnx::onnx();
    let ops = |declared: &[TensorFact]| -> Vec<String> {
        let proto = super::prepare(&framework, squeeze_if_model(), declared).unwrap();
        proto
            .graph
            .unwrap()
            .node
            .into_iter()
            .map(|n| n.op_type)
            .collect()
    };
    // Without facts the width is a symbol: the If stays, and tract runs it as it is.
    assert!(ops(&[]).contains(&"If".to_string()), "{:?}", ops(&[]));
    // With the width declared, only the branch taken is left.
    assert_eq!(ops(&declared_x(1)), ["Shape", "Gather", "Equal", "Squeeze"]);
    assert_eq!(
        ops(&declared_x(3)),
        ["Shape", "Gather", "Equal", "Identity"]
    );
    let squeezed = run_squeeze_if(1);
    assert_eq!(squeezed.shape, vec![2]);
    assert_eq!(squeezed.data, TensorData::F32(vec![0.0, 1.0]));
    let kept = run_squeeze_if(3);
    assert_eq!(kept.shape, vec![2, 3]);
}

/// OpenVINO's export repeats node names; tract refused them as duplicates.
#[test]
fn repeated_node_names_load() {
    let mut first = node("Relu", &["x"], &["a"]);
    let mut second = node("Neg", &["a"], &["y"]);
    first.name = "F0::anon".into();
    second.name = "F0::anon".into();
    let bytes = model(GraphProto {
        node: vec![first, second],
        input: vec![value("x", DataType::Float, &[2])],
        output: vec![value("y", DataType::Float, &[2])],
        ..Default::default()
    });
    let loaded = runtime::load(bytes, &[]).unwrap_or_else(|e| panic!("{e}"));
    let x = Tensor {
        name: "x".into(),
        shape: vec![2],
        data: TensorData::F32(vec![-1.0, 2.0]),
    };
    let inputs = runtime::match_inputs(&loaded.inputs, std::slice::from_ref(&x)).unwrap();
    let outputs = runtime::run(&loaded.plan, &loaded.outputs, &inputs).unwrap();
    assert_eq!(outputs[0].data, TensorData::F32(vec![0.0, -2.0]));
}

/// An output whose size the inputs' symbols decide ([2·s1, 65536] f32, from a Concat of the
/// input with itself) is bounded before the inference, once the input's shape is known.
#[test]
fn symbolic_outputs_are_bounded_before_inference() {
    let mut concat = node("Concat", &["x", "x"], &["y"]);
    concat.attribute.push(AttributeProto {
        name: "axis".into(),
        r#type: AttributeType::Int as i32,
        i: 0,
        ..Default::default()
    });
    let bytes = model(GraphProto {
        node: vec![concat],
        input: vec![value("x", DataType::Float, &[-1, 65536])],
        output: vec![value("y", DataType::Float, &[-2, 65536])],
        ..Default::default()
    });
    let loaded = runtime::load(bytes, &[]).unwrap();
    assert!(
        matches!(loaded.outputs[0].shape[0], Dim::Symbol(_)),
        "{:?}",
        loaded.outputs
    );
    let x = |rows: u64| Tensor {
        name: "x".into(),
        shape: vec![rows, 65536],
        data: TensorData::F32(vec![0.5; rows as usize * 65536]),
    };
    let check = |input: &Tensor| {
        let ordered = runtime::match_inputs(&loaded.inputs, std::slice::from_ref(input)).unwrap();
        super::bounds::check_outputs_for(&loaded.inputs, &loaded.outputs, &ordered)
    };
    // One row: 2 × 256 KiB out, within the bound.
    check(&x(1)).unwrap();
    // Four rows: 2 MiB out, over MAX_OUTPUT_BYTES, refused before running.
    let (name, max, got) = limit(check(&x(4)).unwrap_err());
    assert_eq!(
        name,
        "MAX_OUTPUT_BYTES: the bytes of the model's outputs for these input shapes"
    );
    assert_eq!((max, got), (crate::limits::MAX_OUTPUT_BYTES, 8 * 65536 * 4));
}

/// A DynamicQuantizeLSTM missing its scale inputs is refused by name, not by a panic.
#[test]
fn a_malformed_contrib_node_is_refused() {
    let mut lstm = node("DynamicQuantizeLSTM", &["x", "w", "r"], &["y"]);
    lstm.domain = "com.microsoft".into();
    let bytes = model(GraphProto {
        node: vec![lstm],
        input: vec![
            value("x", DataType::Float, &[1, 1, 4]),
            value("w", DataType::Int8, &[1, 4, 8]),
            value("r", DataType::Int8, &[1, 2, 8]),
        ],
        output: vec![value("y", DataType::Float, &[-1])],
        ..Default::default()
    });
    let reason = reason(load_error(&bytes));
    assert!(
        reason.contains("DynamicQuantizeLSTM needs its W_scale input"),
        "{reason}"
    );
}

/// The `onnx_load` fuzz target's finding: digits with a graph output that nothing produces
/// made tract panic ("no entry found for key"), a trap in finalize.
#[test]
fn a_graph_output_nothing_produces_is_refused_by_name() {
    let found =
        include_bytes!("../../../../fuzz/findings/onnx_load/graph-output-without-producer.onnx");
    let found = reason(load_error(found));
    assert!(
        found.contains("names a tensor that nothing in the graph produces"),
        "{found}"
    );

    let bytes = model(GraphProto {
        node: vec![node("Relu", &["x"], &["y"])],
        input: vec![value("x", DataType::Float, &[1])],
        output: vec![value("z", DataType::Float, &[1])],
        ..Default::default()
    });
    assert_eq!(
        reason(load_error(&bytes)),
        "the graph output 'z' names a tensor that nothing in the graph produces"
    );
}

/// A node input must name something of its scope or an enclosing one: a branch may read
/// the outer graph's tensors, but not a name nothing produces.
#[test]
fn a_node_input_nothing_produces_is_refused_and_outer_scopes_are_seen() {
    let branch = |reads: &str| GraphProto {
        node: vec![node("Identity", &[reads], &["out"])],
        output: vec![value("out", DataType::Float, &[1])],
        ..Default::default()
    };
    let with_branch = |reads: &str| {
        let mut when = node("If", &["c"], &["y"]);
        when.attribute = vec![
            graph_attribute("then_branch", branch(reads)),
            graph_attribute("else_branch", branch("x")),
        ];
        model(GraphProto {
            node: vec![when],
            input: vec![
                value("x", DataType::Float, &[1]),
                value("c", DataType::Bool, &[]),
            ],
            output: vec![value("y", DataType::Float, &[1])],
            ..Default::default()
        })
    };
    let refused = reason(load_error(&with_branch("nowhere")));
    assert!(
        refused.contains("reads the tensor 'nowhere', which nothing in the graph produces"),
        "{refused}"
    );
    // The outer graph's input, read inside the branch, is no such error.
    let graph = tract_onnx::pb::ModelProto::decode(with_branch("x").as_slice())
        .unwrap()
        .graph
        .unwrap();
    super::names::check_references(&graph).unwrap();
}
