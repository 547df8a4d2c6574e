//! Tensor lists built from fuzz input: short names from a small alphabet (so that names
//! repeat and sort in interesting ways), small shapes that mostly match their data, every
//! dtype, and floats from raw bits (NaNs, -0.0).

use arbitrary::{Result, Unstructured};
use icinfer_api::{Tensor, TensorData};
use serde_bytes::ByteBuf;

fn data(u: &mut Unstructured, len: usize) -> Result<TensorData> {
    fn many<T>(
        u: &mut Unstructured,
        len: usize,
        f: impl Fn(&mut Unstructured) -> Result<T>,
    ) -> Result<Vec<T>> {
        (0..len).map(|_| f(u)).collect()
    }
    Ok(match u.int_in_range(0..=6)? {
        0 => TensorData::F32(many(u, len, |u| Ok(f32::from_bits(u.arbitrary()?)))?),
        1 => TensorData::F64(many(u, len, |u| Ok(f64::from_bits(u.arbitrary()?)))?),
        2 => TensorData::I64(many(u, len, |u| u.arbitrary())?),
        3 => TensorData::I32(many(u, len, |u| u.arbitrary())?),
        4 => TensorData::I8(many(u, len, |u| u.arbitrary())?),
        5 => TensorData::U8(ByteBuf::from(many(u, len, |u| u.arbitrary())?)),
        _ => TensorData::Bool(many(u, len, |u| u.arbitrary())?),
    })
}

pub fn arbitrary_tensor(u: &mut Unstructured) -> Result<Tensor> {
    let name_len = u.int_in_range(0..=3)?;
    let name: String = (0..name_len)
        .map(|_| Ok(*u.choose(&['a', 'b', 'é', '\0'])?))
        .collect::<Result<_>>()?;
    let rank = u.int_in_range(0..=4)?;
    let mut shape: Vec<u64> = (0..rank)
        .map(|_| u.int_in_range(0..=4))
        .collect::<Result<_>>()?;
    // One in sixteen has a dimension of any size (overflowing products included).
    if rank > 0 && u.ratio(1, 16)? {
        shape[0] = u.arbitrary()?;
    }
    let elements = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    let len = match elements {
        Some(n) if n <= 64 && u.ratio(3, 4)? => n as usize,
        _ => u.int_in_range(0..=8)?,
    };
    Ok(Tensor {
        name,
        shape,
        data: data(u, len)?,
    })
}

pub fn arbitrary_tensors(u: &mut Unstructured) -> Result<Vec<Tensor>> {
    let count = u.int_in_range(0..=5)?;
    (0..count).map(|_| arbitrary_tensor(u)).collect()
}

/// A tensor's elements in the canonical encoding (little-endian, bool as 0 or 1), element
/// by element: the definition in docs/hashing.md, not the hasher's memory view.
pub fn canonical_data(data: &TensorData) -> Vec<u8> {
    match data {
        TensorData::F32(v) => v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect(),
        TensorData::F64(v) => v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect(),
        TensorData::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        TensorData::I8(v) => v.iter().map(|&x| x as u8).collect(),
        TensorData::U8(v) => v.to_vec(),
        TensorData::Bool(v) => v.iter().map(|&x| u8::from(x)).collect(),
    }
}
