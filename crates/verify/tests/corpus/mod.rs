//! The generator of testdata/: the corpus every verifier implementation is tested against,
//! written from this crate. `tests/testdata.rs` checks the committed files are what this
//! writes, and runs this crate's verifier over them.

pub mod bundle;
pub mod hashing;
pub mod json;
pub mod merkle;
pub mod signing;
pub mod verifier;

use serde_json::Value;

/// The files of testdata/ this generator writes, and their contents.
pub fn files() -> [(&'static str, Value); 4] {
    [
        ("bundle.json", bundle::corpus()),
        ("hashing.json", hashing::corpus()),
        ("merkle.json", merkle::corpus()),
        ("verifier.json", verifier::corpus()),
    ]
}

/// The files' text: JSON with two-space indentation, and lists of numbers or strings on one
/// line (proofs and tensors stay readable, and the files a third of the size).
pub fn to_text(value: &Value) -> String {
    fn write(value: &Value, indent: usize, out: &mut String) {
        let pad = |n: usize| "  ".repeat(n);
        match value {
            Value::Object(map) if !map.is_empty() => {
                out.push_str("{\n");
                for (i, (key, value)) in map.iter().enumerate() {
                    out.push_str(&format!(
                        "{}{}: ",
                        pad(indent + 1),
                        Value::from(key.as_str())
                    ));
                    write(value, indent + 1, out);
                    out.push_str(if i + 1 < map.len() { ",\n" } else { "\n" });
                }
                out.push_str(&format!("{}}}", pad(indent)));
            }
            Value::Array(items) if items.iter().any(|v| v.is_object() || v.is_array()) => {
                out.push_str("[\n");
                for (i, item) in items.iter().enumerate() {
                    out.push_str(&pad(indent + 1));
                    write(item, indent + 1, out);
                    out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
                }
                out.push_str(&format!("{}]", pad(indent)));
            }
            Value::Array(items) => {
                let items: Vec<String> = items.iter().map(Value::to_string).collect();
                out.push_str(&format!("[{}]", items.join(", ")));
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut out = String::new();
    write(value, 0, &mut out);
    out.push('\n');
    out
}
