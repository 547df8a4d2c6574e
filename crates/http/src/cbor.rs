//! CBOR as the interface specification uses it, and the representation-independent hash.
//!
//! Requests are decoded into generic [`Value`]s, not typed structs, so the request id is the
//! hash of the content map *as sent*: every field counts, including ones this server does not
//! use (`nonce`, `sender_info`, fields added by later versions of the specification).

use ciborium::Value;
use sha2::{Digest, Sha256};

/// The self-describing CBOR tag every request and response starts with.
pub const SELF_DESCRIBE_TAG: u64 = 55799;

/// Why a CBOR value cannot be hashed or read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CborError(pub String);

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Unsigned LEB128, shortest form.
pub fn uleb128(mut v: u128) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// Signed LEB128, shortest form.
pub fn sleb128(mut v: i128) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        let done = (v == 0 && byte & 0x40 == 0) || (v == -1 && byte & 0x40 != 0);
        if done {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// The hash of one value: blobs and strings as-is, nats as unsigned LEB128, negative integers
/// as signed LEB128, arrays as the concatenation of their elements' hashes, maps by
/// [`hash_of_map`]. Floats, booleans, null and other tags are not part of the interface.
pub fn hash_of_value(v: &Value) -> Result<[u8; 32], CborError> {
    Ok(match v {
        Value::Bytes(b) => sha256(b),
        Value::Text(t) => sha256(t.as_bytes()),
        Value::Integer(i) => {
            let i = i128::from(*i);
            if i >= 0 {
                sha256(&uleb128(i as u128))
            } else {
                sha256(&sleb128(i))
            }
        }
        Value::Array(items) => {
            let mut h = Sha256::new();
            for item in items {
                h.update(hash_of_value(item)?);
            }
            h.finalize().into()
        }
        Value::Map(_) => hash_of_map(v)?,
        Value::Tag(SELF_DESCRIBE_TAG, inner) => hash_of_value(inner)?,
        other => {
            return Err(CborError(format!(
                "a value of this kind cannot be hashed: {other:?}"
            )));
        }
    })
}

/// The representation-independent hash of a map with text keys (a request id, when the map is
/// a request's `content`).
pub fn hash_of_map(v: &Value) -> Result<[u8; 32], CborError> {
    let entries = match v {
        Value::Map(entries) => entries,
        Value::Tag(SELF_DESCRIBE_TAG, inner) => return hash_of_map(inner),
        _ => return Err(CborError("expected a map".into())),
    };
    let mut pairs = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let Value::Text(k) = k else {
            return Err(CborError("map keys must be text".into()));
        };
        let mut pair = [0u8; 64];
        pair[..32].copy_from_slice(&sha256(k.as_bytes()));
        pair[32..].copy_from_slice(&hash_of_value(v)?);
        pairs.push(pair);
    }
    pairs.sort_unstable();
    let mut h = Sha256::new();
    for p in &pairs {
        h.update(p);
    }
    Ok(h.finalize().into())
}

/// Most data items a request body may hold. An envelope has a few dozen (content, signature,
/// a delegation chain, read_state paths); without the bound, 4 MiB of one-byte items decode
/// into ~70 MiB of [`Value`]s and cost seconds.
pub const MAX_ITEMS: usize = 10_000;
/// Deepest nesting of arrays, maps and tags a request body may have.
pub const MAX_DEPTH: usize = 32;

/// Checks, without allocating, that `bytes` hold well-formed CBOR items within [`MAX_ITEMS`]
/// and [`MAX_DEPTH`]: O(length of the heads), so a hostile body is refused before it is
/// decoded. Indefinite lengths are refused (the specification's requests do not use them).
pub fn check_bounds(bytes: &[u8]) -> Result<(), CborError> {
    let too_many = || CborError(format!("more than {MAX_ITEMS} CBOR items"));
    let short = || CborError("truncated CBOR".into());
    let mut at = 0usize;
    let mut items = 0usize;
    // Items still to read at each open level.
    let mut pending: Vec<u64> = vec![1];
    while let Some(left) = pending.last_mut() {
        if *left == 0 {
            pending.pop();
            continue;
        }
        *left -= 1;
        items += 1;
        if items > MAX_ITEMS {
            return Err(too_many());
        }
        let head = *bytes.get(at).ok_or_else(short)?;
        at += 1;
        let (major, info) = (head >> 5, head & 0x1f);
        let arg = match info {
            0..=23 => u64::from(info),
            24..=27 => {
                let n = 1usize << (info - 24);
                let raw = bytes.get(at..at + n).ok_or_else(short)?;
                at += n;
                raw.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b))
            }
            _ => return Err(CborError("indefinite or reserved CBOR lengths".into())),
        };
        let children = match major {
            0 | 1 | 7 => 0,
            2 | 3 => {
                let len = usize::try_from(arg).map_err(|_| short())?;
                at = at
                    .checked_add(len)
                    .filter(|e| *e <= bytes.len())
                    .ok_or_else(short)?;
                0
            }
            4 => arg,
            5 => arg.checked_mul(2).ok_or_else(too_many)?,
            _ => 1, // 6: a tag and its item
        };
        if children > 0 {
            if children > (MAX_ITEMS - items) as u64 {
                return Err(too_many());
            }
            if pending.len() > MAX_DEPTH {
                return Err(CborError(format!("CBOR nested deeper than {MAX_DEPTH}")));
            }
            pending.push(children);
        }
    }
    if at != bytes.len() {
        return Err(CborError("bytes after the CBOR item".into()));
    }
    Ok(())
}

/// Decodes a body, removing the self-describing tag if present. Bodies beyond
/// [`check_bounds`] are refused before decoding.
pub fn decode(bytes: &[u8]) -> Result<Value, CborError> {
    check_bounds(bytes)?;
    let v: Value =
        ciborium::from_reader(bytes).map_err(|e| CborError(format!("invalid CBOR: {e}")))?;
    Ok(match v {
        Value::Tag(SELF_DESCRIBE_TAG, inner) => *inner,
        v => v,
    })
}

/// Encodes a value with the self-describing tag.
pub fn encode(v: Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(&Value::Tag(SELF_DESCRIBE_TAG, Box::new(v)), &mut out)
        .expect("serialising into a Vec cannot fail");
    out
}

/// A map with text keys, from pairs.
pub fn map<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Map(
        fields
            .into_iter()
            .map(|(k, v)| (Value::Text(k.into()), v))
            .collect(),
    )
}

/// Typed access to a map's fields.
pub struct Fields<'a>(pub &'a [(Value, Value)]);

impl<'a> Fields<'a> {
    /// The fields of `v`, which must be a map.
    pub fn of(v: &'a Value, what: &str) -> Result<Self, CborError> {
        match v {
            Value::Map(m) => Ok(Fields(m)),
            _ => Err(CborError(format!("{what} must be a map"))),
        }
    }

    /// A field, if present.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.0
            .iter()
            .find(|(k, _)| matches!(k, Value::Text(t) if t == key))
            .map(|(_, v)| v)
    }

    /// A required field.
    pub fn req(&self, key: &str) -> Result<&'a Value, CborError> {
        self.get(key)
            .ok_or_else(|| CborError(format!("missing field `{key}`")))
    }

    /// A required blob.
    pub fn bytes(&self, key: &str) -> Result<&'a [u8], CborError> {
        as_bytes(self.req(key)?, key)
    }

    /// An optional blob.
    pub fn opt_bytes(&self, key: &str) -> Result<Option<&'a [u8]>, CborError> {
        self.get(key).map(|v| as_bytes(v, key)).transpose()
    }

    /// A required text.
    pub fn text(&self, key: &str) -> Result<&'a str, CborError> {
        match self.req(key)? {
            Value::Text(t) => Ok(t),
            _ => Err(CborError(format!("`{key}` must be text"))),
        }
    }

    /// A required natural number that fits 64 bits.
    pub fn nat(&self, key: &str) -> Result<u64, CborError> {
        as_nat(self.req(key)?, key)
    }

    /// Whether the map has duplicate keys (the specification prohibits them).
    pub fn has_duplicates(&self) -> bool {
        self.0
            .iter()
            .enumerate()
            .any(|(i, (k, _))| self.0[..i].iter().any(|(earlier, _)| earlier == k))
    }
}

/// A blob.
pub fn as_bytes<'a>(v: &'a Value, what: &str) -> Result<&'a [u8], CborError> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(CborError(format!("`{what}` must be a blob"))),
    }
}

/// A natural number that fits 64 bits.
pub fn as_nat(v: &Value, what: &str) -> Result<u64, CborError> {
    match v {
        Value::Integer(i) => u64::try_from(*i)
            .map_err(|_| CborError(format!("`{what}` must be a natural number below 2^64"))),
        _ => Err(CborError(format!("`{what}` must be a natural number"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 4 MiB of one-byte items (the unauthenticated body that cost seconds and 17x its size),
    /// deep nesting, lengths past the end: refused by the scan, in microseconds.
    #[test]
    fn bodies_beyond_the_bounds_are_refused_before_decoding() {
        let mut flat = vec![0x9a, 0x00, 0x40, 0x00, 0x00]; // array of 4 Mi items
        flat.resize(flat.len() + (4 << 20), 0x00);
        let mut nested_small = vec![0x99, 0x03, 0xe8]; // 1000 arrays of 1000 zeros
        for _ in 0..1000 {
            nested_small.extend_from_slice(&[0x99, 0x03, 0xe8]);
            nested_small.resize(nested_small.len() + 1000, 0x00);
        }
        let deep = [vec![0x81; 100], vec![0x00]].concat();
        let past_the_end = vec![0x5a, 0xff, 0xff, 0xff, 0xff, 0x00];
        let indefinite = vec![0x9f, 0x00, 0xff];
        let trailing = vec![0x00, 0x00];
        for bad in [
            &flat,
            &nested_small,
            &deep,
            &past_the_end,
            &indefinite,
            &trailing,
        ] {
            let start = std::time::Instant::now();
            assert!(decode(bad).is_err());
            assert!(
                start.elapsed() < std::time::Duration::from_millis(50),
                "{:?} for {} bytes",
                start.elapsed(),
                bad.len()
            );
        }
        // Within the bounds, a request decodes as before.
        let ok = encode(map([
            (
                "content",
                map([(
                    "paths",
                    Value::Array(vec![Value::Array(vec![Value::Bytes(b"time".to_vec())])]),
                )]),
            ),
            ("sender_sig", Value::Bytes(vec![1; 64])),
        ]));
        assert!(check_bounds(&ok).is_ok());
        assert!(matches!(decode(&ok), Ok(Value::Map(_))));
    }

    #[test]
    fn leb128_known_answers() {
        assert_eq!(uleb128(0), [0]);
        assert_eq!(uleb128(624_485), [0xe5, 0x8e, 0x26]);
        assert_eq!(sleb128(0), [0]);
        assert_eq!(sleb128(-123_456), [0xc0, 0xbb, 0x78]);
        assert_eq!(sleb128(-1), [0x7f]);
        assert_eq!(sleb128(63), [0x3f]);
        assert_eq!(sleb128(64), [0xc0, 0x00]);
    }

    /// The example of the interface specification ("Request ids").
    #[test]
    fn request_id_of_the_specification_example() {
        let content = map([
            ("request_type", Value::Text("call".into())),
            ("sender", Value::Bytes(vec![0x04])),
            (
                "ingress_expiry",
                Value::Integer(1_685_570_400_000_000_000u64.into()),
            ),
            (
                "canister_id",
                Value::Bytes(vec![0, 0, 0, 0, 0, 0, 0x04, 0xd2]),
            ),
            ("method_name", Value::Text("hello".into())),
            ("arg", Value::Bytes(b"DIDL\x00\xfd*".to_vec())),
        ]);
        assert_eq!(
            hex::encode(hash_of_map(&content).unwrap()),
            "1d1091364d6bb8a6c16b203ee75467d59ead468f523eb058880ae8ec80e2b101"
        );
    }

    #[test]
    fn nested_maps_hash_recursively() {
        // hash_of_map({ "reply": { "arg": "DIDL\x00\x00" } }) from the specification.
        let inner = map([("arg", Value::Bytes(b"DIDL\x00\x00".to_vec()))]);
        let outer = map([("reply", inner.clone())]);
        let mut pair = sha256(b"reply").to_vec();
        pair.extend_from_slice(&hash_of_map(&inner).unwrap());
        assert_eq!(hash_of_map(&outer).unwrap(), sha256(&pair));
    }
}
