//! Tensors in and out of files: .npy (any of our dtypes), JSON, and pictures, which
//! icinfer-preprocess turns into model inputs as the web page does.

use anyhow::{Context, Result, anyhow, bail, ensure};
use icinfer_api::{DType, Dim, Tensor, TensorData, TensorFact};
use icinfer_preprocess::{Element, InputSpec, Preset, Values};
use std::path::Path;

/// Reads one input: `source` is inline JSON, or a .npy, .json, .png or .jpg file. The tensor
/// takes the model's dtype (numbers are converted) and, for pictures, its layout and the
/// preprocessing `preset` says.
pub fn read_input(name: &str, source: &str, fact: &TensorFact, preset: &Preset) -> Result<Tensor> {
    let trimmed = source.trim_start();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        return from_json(name, trimmed, fact.dtype).with_context(|| format!("input '{name}'"));
    }
    let path = Path::new(source);
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let read = || std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    let tensor = match extension.as_str() {
        "npy" => cast(read_npy_bytes(name, &read()?)?, fact.dtype),
        "json" => from_json(name, &String::from_utf8(read()?)?, fact.dtype),
        "png" | "jpg" | "jpeg" => from_picture(name, &read()?, fact, preset),
        _ => Err(anyhow!(
            "use a .npy, .json, .png or .jpg file, or inline JSON such as '[[1, 2]]'"
        )),
    };
    tensor.with_context(|| format!("input '{name}' from {}", path.display()))
}

pub fn read_npy(name: &str, path: &Path) -> Result<Tensor> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    read_npy_bytes(name, &bytes).with_context(|| format!("reading {}", path.display()))
}

fn read_npy_bytes(name: &str, bytes: &[u8]) -> Result<Tensor> {
    let npy = npyz::NpyFile::new(bytes)?;
    ensure!(
        npy.order() == npyz::Order::C,
        "Fortran-ordered arrays are not supported: save with np.ascontiguousarray"
    );
    let shape = npy.shape().to_vec();
    let type_str = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        other => bail!("unsupported .npy dtype {other:?}"),
    };
    // Byte order does not matter to npyz; the kind and size pick our dtype.
    let data = match type_str.trim_start_matches(['<', '>', '|', '=']) {
        "f4" => TensorData::F32(npy.into_vec()?),
        "f8" => TensorData::F64(npy.into_vec()?),
        "i8" => TensorData::I64(npy.into_vec()?),
        "i4" => TensorData::I32(npy.into_vec()?),
        "i1" => TensorData::I8(npy.into_vec()?),
        "u1" => TensorData::U8(serde_bytes::ByteBuf::from(npy.into_vec::<u8>()?)),
        "b1" => TensorData::Bool(npy.into_vec()?),
        other => bail!(
            "unsupported .npy dtype {other}: use float32, float64, int64, int32, int8, uint8 or bool"
        ),
    };
    Ok(Tensor {
        name: name.to_string(),
        shape,
        data,
    })
}

pub fn write_npy(path: &Path, tensor: &Tensor) -> Result<()> {
    fn write<T: npyz::AutoSerialize>(path: &Path, shape: &[u64], data: &[T]) -> Result<()> {
        use npyz::WriterBuilder;
        let file = std::fs::File::create(path)?;
        let mut writer = npyz::WriteOptions::new()
            .dtype(T::default_dtype())
            .shape(shape)
            .writer(std::io::BufWriter::new(file))
            .begin_nd()?;
        writer.extend(data.iter())?;
        writer.finish()?;
        Ok(())
    }
    let shape = &tensor.shape;
    match &tensor.data {
        TensorData::F32(v) => write(path, shape, v),
        TensorData::F64(v) => write(path, shape, v),
        TensorData::I64(v) => write(path, shape, v),
        TensorData::I32(v) => write(path, shape, v),
        TensorData::I8(v) => write(path, shape, v),
        TensorData::U8(v) => write(path, shape, v.as_slice()),
        TensorData::Bool(v) => write(path, shape, v),
    }
    .with_context(|| format!("writing {}", path.display()))
}

/// Nested arrays (`[[1, 2], [3, 4]]`), or `{"shape": [2, 2], "data": [1, 2, 3, 4]}`.
fn from_json(name: &str, text: &str, dtype: DType) -> Result<Tensor> {
    let value: serde_json::Value = serde_json::from_str(text).context("parsing JSON")?;
    let (shape, flat) = match &value {
        serde_json::Value::Object(object) => {
            let shape: Vec<u64> =
                serde_json::from_value(object.get("shape").cloned().context("no \"shape\" field")?)
                    .context("\"shape\" must be an array of sizes")?;
            let data = object.get("data").context("no \"data\" field")?;
            let mut flat = Vec::new();
            flatten(data, &mut Vec::new(), 0, &mut flat)?;
            (shape, flat)
        }
        _ => {
            let mut shape = Vec::new();
            let mut flat = Vec::new();
            flatten(&value, &mut shape, 0, &mut flat)?;
            (shape, flat)
        }
    };
    let elements: u64 = shape.iter().product();
    ensure!(
        elements == flat.len() as u64,
        "shape {shape:?} holds {elements} elements but {} were given",
        flat.len()
    );
    let number = |v: &serde_json::Value| -> Result<f64> {
        match v {
            serde_json::Value::Bool(b) => Ok(*b as u8 as f64),
            other => other
                .as_f64()
                .with_context(|| format!("{other} is not a number")),
        }
    };
    let integer = |v: &serde_json::Value| -> Result<i64> {
        match v {
            serde_json::Value::Bool(b) => Ok(*b as i64),
            other => other
                .as_i64()
                .with_context(|| format!("{other} is not an integer (the model takes {dtype})")),
        }
    };
    let ints = |range: std::ops::RangeInclusive<i64>| -> Result<Vec<i64>> {
        flat.iter()
            .map(|v| {
                let i = integer(v)?;
                ensure!(range.contains(&i), "{i} is out of range for {dtype}");
                Ok(i)
            })
            .collect()
    };
    let data = match dtype {
        DType::F32 => TensorData::F32(
            flat.iter()
                .map(|v| number(v).map(|x| x as f32))
                .collect::<Result<_>>()?,
        ),
        DType::F64 => TensorData::F64(flat.iter().map(|v| number(v)).collect::<Result<_>>()?),
        DType::I64 => TensorData::I64(ints(i64::MIN..=i64::MAX)?),
        DType::I32 => TensorData::I32(
            ints(i32::MIN as i64..=i32::MAX as i64)?
                .into_iter()
                .map(|i| i as i32)
                .collect(),
        ),
        DType::I8 => TensorData::I8(ints(-128..=127)?.into_iter().map(|i| i as i8).collect()),
        DType::U8 => TensorData::U8(serde_bytes::ByteBuf::from(
            ints(0..=255)?
                .into_iter()
                .map(|i| i as u8)
                .collect::<Vec<_>>(),
        )),
        DType::Bool => TensorData::Bool(ints(0..=1)?.into_iter().map(|i| i == 1).collect()),
    };
    Ok(Tensor {
        name: name.to_string(),
        shape,
        data,
    })
}

fn flatten<'a>(
    value: &'a serde_json::Value,
    shape: &mut Vec<u64>,
    depth: usize,
    out: &mut Vec<&'a serde_json::Value>,
) -> Result<()> {
    match value {
        serde_json::Value::Array(items) => {
            if shape.len() == depth {
                // A new axis only before the first number: [1, [2]] is ragged.
                ensure!(
                    out.is_empty(),
                    "ragged array: an array where a number was expected"
                );
                shape.push(items.len() as u64);
            } else {
                ensure!(
                    shape[depth] == items.len() as u64,
                    "ragged array: {} elements where {} were expected",
                    items.len(),
                    shape[depth]
                );
            }
            items
                .iter()
                .try_for_each(|item| flatten(item, shape, depth + 1, out))
        }
        scalar => {
            ensure!(
                depth == shape.len() || shape.is_empty() && depth == 0,
                "ragged array: a number where an array was expected"
            );
            out.push(scalar);
            Ok(())
        }
    }
}

/// Every element as f64 (exact for all but i64 beyond 2^53), for conversions and display.
fn as_f64(data: &TensorData) -> Vec<f64> {
    match data {
        TensorData::F32(v) => v.iter().map(|&x| x as f64).collect(),
        TensorData::F64(v) => v.clone(),
        TensorData::I64(v) => v.iter().map(|&x| x as f64).collect(),
        TensorData::I32(v) => v.iter().map(|&x| x as f64).collect(),
        TensorData::I8(v) => v.iter().map(|&x| x as f64).collect(),
        TensorData::U8(v) => v.iter().map(|&x| x as f64).collect(),
        TensorData::Bool(v) => v.iter().map(|&x| x as u8 as f64).collect(),
    }
}

/// Converts between numeric dtypes, so that a float64 array (numpy's default) feeds a float32
/// input. Says so, because the hash commits to what is sent.
fn cast(tensor: Tensor, dtype: DType) -> Result<Tensor> {
    let from = tensor.data.dtype();
    if from == dtype {
        return Ok(tensor);
    }
    let values = as_f64(&tensor.data);
    let lossless_int = |range: std::ops::RangeInclusive<f64>| -> Result<Vec<f64>> {
        values
            .iter()
            .map(|&x| {
                ensure!(
                    x.fract() == 0.0 && range.contains(&x),
                    "{x} does not fit {dtype}"
                );
                Ok(x)
            })
            .collect()
    };
    let data = match dtype {
        DType::F32 => TensorData::F32(values.iter().map(|&x| x as f32).collect()),
        DType::F64 => TensorData::F64(values),
        DType::I64 => TensorData::I64(
            lossless_int(-9.007e15..=9.007e15)?
                .iter()
                .map(|&x| x as i64)
                .collect(),
        ),
        DType::I32 => TensorData::I32(
            lossless_int(i32::MIN as f64..=i32::MAX as f64)?
                .iter()
                .map(|&x| x as i32)
                .collect(),
        ),
        DType::I8 => TensorData::I8(
            lossless_int(-128.0..=127.0)?
                .iter()
                .map(|&x| x as i8)
                .collect(),
        ),
        DType::U8 => TensorData::U8(serde_bytes::ByteBuf::from(
            lossless_int(0.0..=255.0)?
                .iter()
                .map(|&x| x as u8)
                .collect::<Vec<_>>(),
        )),
        DType::Bool => {
            TensorData::Bool(lossless_int(0.0..=1.0)?.iter().map(|&x| x == 1.0).collect())
        }
    };
    eprintln!(
        "icinfer: input '{}' converted from {from} to {dtype}, the model's type",
        tensor.name
    );
    Ok(Tensor {
        name: tensor.name,
        shape: tensor.shape,
        data,
    })
}

fn from_picture(name: &str, bytes: &[u8], fact: &TensorFact, preset: &Preset) -> Result<Tensor> {
    let dtype = match fact.dtype {
        DType::F32 => Element::F32,
        DType::U8 => Element::U8,
        other => bail!("pictures feed float32 or uint8 inputs; the model's input is {other}"),
    };
    let input = InputSpec {
        dtype,
        shape: fact
            .shape
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => Some(*n),
                Dim::Symbol(_) => None,
            })
            .collect(),
    };
    let prepared = icinfer_preprocess::prepare(bytes, &input, preset)
        .with_context(|| format!("the model's input is {}", icinfer_api::describe_fact(fact)))?;
    let data = match prepared.values {
        Values::F32(v) => TensorData::F32(v),
        Values::U8(v) => TensorData::U8(serde_bytes::ByteBuf::from(v)),
    };
    Ok(Tensor {
        name: name.to_string(),
        shape: prepared.shape,
        data,
    })
}

/// One line per output: type and shape, the values when few, else the top `k` (with labels
/// when given) of the last axis of a single-row tensor.
pub fn describe_output(t: &Tensor, top_k: usize, labels: &[String]) -> String {
    let header = icinfer_api::describe_tensor(t);
    let values = as_f64(&t.data);
    let row = t.shape.last().copied().unwrap_or(1) as usize;
    let single_row = values.len() == row;
    // Labels name the classes of an output with one score per label, and no other output.
    let labels = if labels.len() == row { labels } else { &[] };
    let label = |i: usize| labels.get(i).cloned().unwrap_or_else(|| i.to_string());
    let mut text = header;
    if single_row && top_k > 0 && (values.len() > 16 || !labels.is_empty()) {
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
        let top: Vec<String> = order
            .iter()
            .take(top_k)
            .map(|&i| format!("{}: {:.4}", label(i), values[i]))
            .collect();
        text += &format!("  top {}: {}", top.len(), top.join(", "));
    } else if values.len() <= 16 {
        let integral = !matches!(t.data, TensorData::F32(_) | TensorData::F64(_));
        let shown: Vec<String> = values
            .iter()
            .map(|&v| match v.abs() {
                _ if integral => format!("{}", v as i64),
                a if a != 0.0 && !(1e-3..1e6).contains(&a) => format!("{v:.3e}"),
                _ => format!("{v:.6}"),
            })
            .collect();
        text += &format!("  [{}]", shown.join(", "));
    } else {
        let (min, max) = values
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                (lo.min(x), hi.max(x))
            });
        text += &format!("  {} values in [{min:.4}, {max:.4}]", values.len());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(dtype: DType, shape: &[Option<u64>]) -> TensorFact {
        TensorFact {
            name: "x".into(),
            dtype,
            shape: shape
                .iter()
                .map(|d| d.map(Dim::Fixed).unwrap_or(Dim::Symbol("n".into())))
                .collect(),
        }
    }

    #[test]
    fn json_nested_and_explicit_shapes_agree() {
        let nested = from_json("x", "[[1, 2, 3], [4, 5, 6]]", DType::F32).unwrap();
        let flat = from_json(
            "x",
            r#"{"shape": [2, 3], "data": [1, 2, 3, 4, 5, 6]}"#,
            DType::F32,
        )
        .unwrap();
        assert_eq!(nested, flat);
        assert_eq!(nested.shape, vec![2, 3]);
        let ints = from_json("x", "[1, -2]", DType::I64).unwrap();
        assert_eq!(ints.data, TensorData::I64(vec![1, -2]));
        assert!(
            from_json("x", "[[1, 2], [3]]", DType::F32).is_err(),
            "ragged"
        );
        assert!(from_json("x", "[1, [2]]", DType::F32).is_err(), "ragged");
        assert!(
            from_json("x", "[1.5]", DType::I64).is_err(),
            "not an integer"
        );
        assert!(from_json("x", "[300]", DType::U8).is_err(), "out of range");
        assert!(from_json("x", r#"{"shape": [3], "data": [1]}"#, DType::F32).is_err());
    }

    #[test]
    fn npy_round_trips_every_dtype() {
        let dir = tempfile::tempdir().unwrap();
        let tensors = [
            TensorData::F32(vec![1.5, -0.0, f32::MAX]),
            TensorData::F64(vec![1e-300, 2.0, 3.0]),
            TensorData::I64(vec![i64::MIN, 0, i64::MAX]),
            TensorData::I32(vec![-1, 0, 1]),
            TensorData::I8(vec![-128, 0, 127]),
            TensorData::U8(serde_bytes::ByteBuf::from(vec![0, 1, 255])),
            TensorData::Bool(vec![true, false, true]),
        ];
        for data in tensors {
            let tensor = Tensor {
                name: "t".into(),
                shape: vec![1, 3],
                data,
            };
            let path = dir.path().join("t.npy");
            write_npy(&path, &tensor).unwrap();
            assert_eq!(read_npy("t", &path).unwrap(), tensor);
        }
    }

    #[test]
    fn float64_npy_feeds_a_float32_input_and_bad_casts_fail() {
        let t = Tensor {
            name: "x".into(),
            shape: vec![2],
            data: TensorData::F64(vec![0.5, 2.0]),
        };
        assert_eq!(
            cast(t.clone(), DType::F32).unwrap().data,
            TensorData::F32(vec![0.5, 2.0])
        );
        assert!(cast(t, DType::I64).is_err(), "0.5 is not an integer");
    }

    #[test]
    fn pictures_become_the_model_input_through_the_preset() {
        // A 2x1 RGB PNG.
        let mut png = Vec::new();
        image::RgbImage::from_raw(2, 1, vec![200, 0, 17, 3, 255, 128])
            .unwrap()
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let u8_nchw = fact(DType::U8, &[Some(1), Some(3), Some(1), Some(2)]);
        let raw = from_picture("x", &png, &u8_nchw, &Preset::default()).unwrap();
        assert_eq!(raw.shape, vec![1, 3, 1, 2]);
        assert_eq!(
            raw.data,
            TensorData::U8(vec![200, 3, 0, 255, 17, 128].into())
        );
        let f32_nhwc = fact(DType::F32, &[None, Some(1), Some(2), Some(3)]);
        // [N, 1, 2, 3] would read as NCHW with one channel; the preset says NHWC.
        let halved = Preset {
            scale: Some(0.5),
            layout: Some(icinfer_preprocess::Layout::Nhwc),
            ..Preset::default()
        };
        let half = from_picture("x", &png, &f32_nhwc, &halved).unwrap();
        assert_eq!(half.shape, vec![1, 1, 2, 3]);
        assert_eq!(
            half.data,
            TensorData::F32(vec![100.0, 0.0, 8.5, 1.5, 127.5, 64.0])
        );
        let err = from_picture("x", &png, &fact(DType::I64, &[Some(1), Some(2)]), &halved);
        assert!(err.unwrap_err().to_string().contains("float32 or uint8"));
    }

    #[test]
    fn top_k_with_labels() {
        let t = Tensor {
            name: "p".into(),
            shape: vec![1, 3],
            data: TensorData::F32(vec![0.1, 0.7, 0.2]),
        };
        let labels = vec!["cat".to_string(), "dog".to_string(), "fox".to_string()];
        let text = describe_output(&t, 2, &labels);
        assert!(text.contains("top 2: dog: 0.7000, fox: 0.2000"), "{text}");
    }
}
