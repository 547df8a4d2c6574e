//! The canonical encoding of a provenance log entry: what the canister stores, and the bytes
//! of the entry's Merkle leaf (docs/hashing.md, "Log entry encoding"). Version 1:
//!
//! ```text
//! 0    1        9              17        18                       +1         +n
//! +----+--------+--------------+---------+--------- ... ----------+----------+--- ...
//! | 01 | seq    | timestamp_ns | len(c)  | caller principal bytes | len(id)  | model id
//! +----+--------+--------------+---------+--------- ... ----------+----------+--- ...
//!   ... | model_sha256 (32) | input_hash (32) | output_hash (32) | flags | instructions
//!                                                                  bit 0: input salted
//! ```
//! Integers are little-endian u64. Decoding accepts exactly the bytes encoding produces:
//! every entry has one encoding, so the leaf hash identifies the entry. testdata/hashing.json
//! pins the encodings and the bytes that must not decode: a new version adds its cases to
//! the generator (crates/verify/tests/corpus/hashing.rs, `entry_cases`, `entry_probes`).

use candid::Principal;
use icinfer_api::LogEntry;
use serde_bytes::ByteBuf;

pub const ENTRY_VERSION: u8 = 1;

/// Why an entry has no canonical encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// A digest field is not 32 bytes.
    DigestLength { field: &'static str, len: usize },
    /// The model id is longer than its one-byte length prefix allows.
    ModelIdTooLong { len: usize },
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncodeError::DigestLength { field, len } => {
                write!(f, "{field} must be a 32-byte SHA-256, got {len} bytes")
            }
            EncodeError::ModelIdTooLong { len } => {
                write!(f, "model id of {len} bytes does not fit its length byte")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// Encodes an entry canonically.
pub fn encode_entry(entry: &LogEntry) -> Result<Vec<u8>, EncodeError> {
    // A principal is at most 29 bytes, so its length always fits one byte.
    let caller = entry.caller.as_slice();
    let model_id_len =
        u8::try_from(entry.model_id.len()).map_err(|_| EncodeError::ModelIdTooLong {
            len: entry.model_id.len(),
        })?;
    let mut out = Vec::with_capacity(1 + 16 + 1 + caller.len() + 1 + entry.model_id.len() + 105);
    out.push(ENTRY_VERSION);
    out.extend_from_slice(&entry.seq.to_le_bytes());
    out.extend_from_slice(&entry.timestamp_ns.to_le_bytes());
    out.push(caller.len() as u8);
    out.extend_from_slice(caller);
    out.push(model_id_len);
    out.extend_from_slice(entry.model_id.as_bytes());
    for (field, digest) in [
        ("model_sha256", &entry.model_sha256),
        ("input_hash", &entry.input_hash),
        ("output_hash", &entry.output_hash),
    ] {
        if digest.len() != 32 {
            return Err(EncodeError::DigestLength {
                field,
                len: digest.len(),
            });
        }
        out.extend_from_slice(digest);
    }
    out.push(u8::from(entry.input_salted));
    out.extend_from_slice(&entry.instructions.to_le_bytes());
    Ok(out)
}

/// Decodes an entry written by [`encode_entry`]. Returns None on anything malformed,
/// including trailing bytes and unknown flags.
pub fn decode_entry(bytes: &[u8]) -> Option<LogEntry> {
    let mut reader = Reader(bytes);
    if reader.take(1)?[0] != ENTRY_VERSION {
        return None;
    }
    let seq = reader.u64()?;
    let timestamp_ns = reader.u64()?;
    let caller_len = reader.take(1)?[0] as usize;
    let caller = Principal::try_from_slice(reader.take(caller_len)?).ok()?;
    let id_len = reader.take(1)?[0] as usize;
    let model_id = String::from_utf8(reader.take(id_len)?.to_vec()).ok()?;
    let mut digest = || Some(ByteBuf::from(reader.take(32)?.to_vec()));
    let (model_sha256, input_hash, output_hash) = (digest()?, digest()?, digest()?);
    let flags = reader.take(1)?[0];
    if flags > 1 {
        return None;
    }
    let instructions = reader.u64()?;
    if !reader.0.is_empty() {
        return None;
    }
    Some(LogEntry {
        seq,
        timestamp_ns,
        caller,
        model_id,
        model_sha256,
        input_hash,
        output_hash,
        input_salted: flags == 1,
        instructions,
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64) -> LogEntry {
        LogEntry {
            seq,
            timestamp_ns: 1_700_000_000_000_000_000 + seq,
            caller: Principal::anonymous(),
            model_id: "digits".into(),
            model_sha256: ByteBuf::from(vec![0xaa; 32]),
            input_hash: ByteBuf::from(vec![0xbb; 32]),
            output_hash: ByteBuf::from(vec![0xcc; 32]),
            input_salted: seq % 2 == 1,
            instructions: 123_456 + seq,
        }
    }

    #[test]
    fn entries_without_a_canonical_form_do_not_encode() {
        let mut short_digest = entry(0);
        short_digest.output_hash = ByteBuf::from(vec![0; 31]);
        assert_eq!(
            encode_entry(&short_digest),
            Err(EncodeError::DigestLength {
                field: "output_hash",
                len: 31
            })
        );
        let mut long_id = entry(0);
        long_id.model_id = "m".repeat(256);
        assert_eq!(
            encode_entry(&long_id),
            Err(EncodeError::ModelIdTooLong { len: 256 })
        );
    }
}
