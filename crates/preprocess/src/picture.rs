//! A picture (PNG or JPEG bytes) into the values of a model's input: decoded, resized to the
//! model's size with a triangle filter, grey or three channels in the preset's order,
//! optionally inverted, then `(pixel * scale - mean) / std` per channel, laid out as the
//! model's input is.

use crate::preset::{ChannelOrder, Layout, Preset};
use serde::{Deserialize, Serialize};

/// The widest or tallest picture decoded, and the largest size resized to.
pub const MAX_PICTURE_SIDE: u32 = 8192;
/// What decoding one picture may allocate.
const MAX_DECODE_BYTES: u64 = 512 << 20;

/// The element types a picture can feed.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Element {
    #[serde(rename = "f32")]
    F32,
    /// Pixels as they are (unless a scale is given), rounded: quantised image models
    /// normalise them themselves.
    #[serde(rename = "u8")]
    U8,
}

/// The model input a picture feeds: its element type and its dimensions (`None` where the
/// model leaves a dimension free).
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq)]
pub struct InputSpec {
    pub dtype: Element,
    pub shape: Vec<Option<u64>>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    F32(Vec<f32>),
    U8(Vec<u8>),
}

/// The input tensor's shape and values, and the resized picture they came from (row-major,
/// `channels` bytes a pixel, before inversion and reordering) for a preview.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    pub shape: Vec<u64>,
    pub values: Values,
    pub width: u32,
    pub height: u32,
    pub channels: u32,
    pub pixels: Vec<u8>,
}

#[derive(thiserror::Error, Debug, PartialEq)]
pub enum PreprocessError {
    #[error(
        "the model's input is not an image ([N,C,H,W], [N,H,W,C] with 1 or 3 channels, or \
         [N, H*W]{0}): pass a .npy or JSON tensor"
    )]
    NotAnImage(String),
    #[error("the model's image size is free: give a size to resize to (WIDTHxHEIGHT)")]
    SizeNeeded,
    #[error("the model takes {0} pixels, not a square: give a size to resize to (WIDTHxHEIGHT)")]
    NotSquare(u64),
    #[error("{width}x{height} gives {given} pixels; the model takes {pixels}")]
    WrongPixelCount {
        width: u32,
        height: u32,
        given: u64,
        pixels: u64,
    },
    #[error("{width}x{height}: each side must be 1 to {MAX_PICTURE_SIDE} pixels")]
    BadSize { width: u32, height: u32 },
    #[error("{what}: give one value, or one per channel ({channels})")]
    PerChannel { what: &'static str, channels: u32 },
    #[error("{what} must be a finite number")]
    NotFinite { what: &'static str },
    #[error("every std must be positive")]
    StdNotPositive,
    #[error("decoding the image: {0}")]
    Decode(String),
}

/// Where the channels are, how many, and the model's own width and height if fixed.
struct Placement {
    layout: Layout,
    channels: u32,
    size: Option<(u32, u32)>,
}

fn layout_of(input: &InputSpec, wanted: Option<Layout>) -> Result<Placement, PreprocessError> {
    let size = |h: Option<u64>, w: Option<u64>| {
        h.zip(w)
            .and_then(|(h, w)| Some((u32::try_from(w).ok()?, u32::try_from(h).ok()?)))
    };
    let found = match (input.shape.as_slice(), wanted) {
        ([_, Some(c @ (1 | 3)), h, w], None | Some(Layout::Nchw)) => Some(Placement {
            layout: Layout::Nchw,
            channels: *c as u32,
            size: size(*h, *w),
        }),
        ([_, h, w, Some(c @ (1 | 3))], None | Some(Layout::Nhwc)) => Some(Placement {
            layout: Layout::Nhwc,
            channels: *c as u32,
            size: size(*h, *w),
        }),
        ([_, Some(_)], None | Some(Layout::Flat)) => Some(Placement {
            layout: Layout::Flat,
            channels: 1,
            size: None,
        }),
        _ => None,
    };
    found.ok_or_else(|| {
        PreprocessError::NotAnImage(match wanted {
            Some(layout) => format!("; the preset says {layout:?}"),
            None => String::new(),
        })
    })
}

/// One value for every channel, or one per channel.
fn per_channel(
    values: &[f32],
    channels: u32,
    what: &'static str,
) -> Result<Vec<f32>, PreprocessError> {
    let values = match values.len() {
        1 => vec![values[0]; channels as usize],
        n if n == channels as usize => values.to_vec(),
        _ => return Err(PreprocessError::PerChannel { what, channels }),
    };
    if values.iter().any(|v| !v.is_finite()) {
        return Err(PreprocessError::NotFinite { what });
    }
    if what == "std" && values.iter().any(|&v| v <= 0.0) {
        return Err(PreprocessError::StdNotPositive);
    }
    Ok(values)
}

/// The picture as the model's input. Unset preset fields default to: the model's size,
/// RGB, not inverted, scale 1/255 for f32 inputs and 1 for u8, mean 0, std 1.
pub fn prepare(
    picture: &[u8],
    input: &InputSpec,
    preset: &Preset,
) -> Result<Prepared, PreprocessError> {
    let Placement {
        layout,
        channels,
        size: model_size,
    } = layout_of(input, preset.layout)?;
    let flat_pixels = match (layout, input.shape.as_slice()) {
        (Layout::Flat, [_, Some(pixels)]) => Some(*pixels),
        _ => None,
    };
    let (width, height) = match (preset.resize, model_size, flat_pixels) {
        (Some([w, h]), _, _) => (w, h),
        (None, Some(size), _) => size,
        (None, None, Some(pixels)) => {
            let side = (pixels as f64).sqrt() as u32;
            if side as u64 * side as u64 != pixels {
                return Err(PreprocessError::NotSquare(pixels));
            }
            (side, side)
        }
        (None, None, None) => return Err(PreprocessError::SizeNeeded),
    };
    if !(1..=MAX_PICTURE_SIDE).contains(&width) || !(1..=MAX_PICTURE_SIDE).contains(&height) {
        return Err(PreprocessError::BadSize { width, height });
    }
    if let Some(pixels) = flat_pixels
        && width as u64 * height as u64 != pixels
    {
        return Err(PreprocessError::WrongPixelCount {
            width,
            height,
            given: width as u64 * height as u64,
            pixels,
        });
    }
    let mean = per_channel(preset.mean.as_deref().unwrap_or(&[0.0]), channels, "mean")?;
    let std = per_channel(preset.std.as_deref().unwrap_or(&[1.0]), channels, "std")?;
    let scale = preset.scale.unwrap_or(match input.dtype {
        Element::U8 => 1.0,
        Element::F32 => 1.0 / 255.0,
    });
    if !scale.is_finite() {
        return Err(PreprocessError::NotFinite { what: "scale" });
    }

    let image = decode(picture)?;
    // Triangle filtering averages the pixels a downscale drops, as PIL's bilinear does.
    let image = image.resize_exact(width, height, image::imageops::FilterType::Triangle);
    let pixels: Vec<u8> = match channels {
        1 => image.to_luma8().into_raw(),
        _ => image.to_rgb8().into_raw(),
    };
    let (plane, c_count) = (width as usize * height as usize, channels as usize);
    let bgr = channels == 3 && preset.order == Some(ChannelOrder::Bgr);
    let invert = preset.invert.unwrap_or(false);
    let mut out = vec![0f32; plane * c_count];
    for pixel in 0..plane {
        for c in 0..c_count {
            let source = if bgr { c_count - 1 - c } else { c };
            let p = pixels[pixel * c_count + source];
            let raw = if invert { 255 - p } else { p } as f32;
            let at = match layout {
                Layout::Nchw => c * plane + pixel,
                Layout::Nhwc | Layout::Flat => pixel * c_count + c,
            };
            out[at] = (raw * scale - mean[c]) / std[c];
        }
    }
    let (w, h, c) = (width as u64, height as u64, channels as u64);
    let shape = match layout {
        Layout::Nchw => vec![1, c, h, w],
        Layout::Nhwc => vec![1, h, w, c],
        Layout::Flat => vec![1, w * h],
    };
    let values = match input.dtype {
        Element::U8 => Values::U8(
            out.iter()
                .map(|&v| v.round().clamp(0.0, 255.0) as u8)
                .collect(),
        ),
        Element::F32 => Values::F32(out),
    };
    Ok(Prepared {
        shape,
        values,
        width,
        height,
        channels,
        pixels,
    })
}

fn decode(picture: &[u8]) -> Result<image::DynamicImage, PreprocessError> {
    let failed = |e: image::ImageError| PreprocessError::Decode(e.to_string());
    let mut reader = image::ImageReader::new(std::io::Cursor::new(picture))
        .with_guessed_format()
        .map_err(|e| PreprocessError::Decode(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_PICTURE_SIDE);
    limits.max_image_height = Some(MAX_PICTURE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    reader.decode().map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
        let mut png = Vec::new();
        image::RgbImage::from_raw(width, height, rgb.to_vec())
            .unwrap()
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png
    }

    fn input(dtype: Element, shape: &[Option<u64>]) -> InputSpec {
        InputSpec {
            dtype,
            shape: shape.to_vec(),
        }
    }

    #[test]
    fn images_follow_the_model_layout() {
        // A 2x2 RGB PNG: red, green / blue, white.
        let pixels = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255];
        let png = png(2, 2, &pixels);
        let none = Preset::default();
        let nchw = prepare(
            &png,
            &input(Element::F32, &[Some(1), Some(3), Some(2), Some(2)]),
            &none,
        )
        .unwrap();
        assert_eq!(nchw.shape, vec![1, 3, 2, 2]);
        // The red plane first: only the red and white pixels have red.
        assert_eq!(
            nchw.values,
            Values::F32(vec![1., 0., 0., 1., 0., 1., 0., 1., 0., 0., 1., 1.])
        );
        let nhwc = prepare(
            &png,
            &input(Element::F32, &[Some(1), Some(2), Some(2), Some(3)]),
            &none,
        )
        .unwrap();
        assert_eq!(nhwc.shape, vec![1, 2, 2, 3]);
        assert_eq!(
            nhwc.values,
            Values::F32(pixels.iter().map(|&p| p as f32 / 255.0).collect())
        );
        // Free height and width need a size.
        let free = input(Element::F32, &[Some(1), Some(3), None, None]);
        assert_eq!(
            prepare(&png, &free, &none),
            Err(PreprocessError::SizeNeeded)
        );
        let resized = Preset {
            resize: Some([4, 2]),
            ..Preset::default()
        };
        assert_eq!(
            prepare(&png, &free, &resized).unwrap().shape,
            vec![1, 3, 2, 4]
        );
        // The digits model: 64 grey pixels, inverted.
        let digits = Preset {
            invert: Some(true),
            ..Preset::default()
        };
        let flat = prepare(&png, &input(Element::F32, &[None, Some(64)]), &digits).unwrap();
        assert_eq!(flat.shape, vec![1, 64]);
        let Values::F32(v) = &flat.values else {
            panic!()
        };
        assert!(v.iter().all(|x| (0.0..=1.0).contains(x)));
        // Not an image at all.
        let err = prepare(
            &png,
            &input(Element::F32, &[Some(1), Some(4), Some(2)]),
            &none,
        );
        assert!(matches!(err, Err(PreprocessError::NotAnImage(_))));
    }

    #[test]
    fn bgr_order_and_normalisation_per_channel() {
        let png = png(1, 1, &[200, 100, 50]);
        let spec = input(Element::F32, &[Some(1), Some(3), Some(1), Some(1)]);
        let preset = Preset {
            order: Some(ChannelOrder::Bgr),
            scale: Some(1.0),
            mean: Some(vec![50.0, 100.0, 200.0]),
            std: Some(vec![1.0, 2.0, 4.0]),
            ..Preset::default()
        };
        // Blue first, then green, then red; each (p - mean) / std.
        assert_eq!(
            prepare(&png, &spec, &preset).unwrap().values,
            Values::F32(vec![0.0, 0.0, 0.0])
        );
        let two_means = Preset {
            mean: Some(vec![0.5, 0.5]),
            ..Preset::default()
        };
        assert_eq!(
            prepare(&png, &spec, &two_means),
            Err(PreprocessError::PerChannel {
                what: "mean",
                channels: 3
            })
        );
        let zero_std = Preset {
            std: Some(vec![0.0]),
            ..Preset::default()
        };
        assert_eq!(
            prepare(&png, &spec, &zero_std),
            Err(PreprocessError::StdNotPositive)
        );
    }

    #[test]
    fn u8_inputs_take_the_pixels_themselves_unless_told_otherwise() {
        let png = png(2, 1, &[200, 0, 17, 3, 255, 128]);
        // NCHW: the red plane, the green, the blue.
        let spec = input(Element::U8, &[Some(1), Some(3), Some(1), Some(2)]);
        let raw = prepare(&png, &spec, &Preset::default()).unwrap();
        assert_eq!(raw.values, Values::U8(vec![200, 3, 0, 255, 17, 128]));
        assert_eq!(raw.pixels, vec![200, 0, 17, 3, 255, 128]);
        // An explicit scale still applies: half the values, rounded half away from zero.
        let halved = Preset {
            scale: Some(0.5),
            ..Preset::default()
        };
        assert_eq!(
            prepare(&png, &spec, &halved).unwrap().values,
            Values::U8(vec![100, 2, 0, 128, 9, 64])
        );
    }

    #[test]
    fn bad_pictures_and_sizes_are_errors() {
        let spec = input(Element::F32, &[Some(1), Some(3), Some(2), Some(2)]);
        let err = prepare(b"not a picture", &spec, &Preset::default()).unwrap_err();
        assert!(matches!(err, PreprocessError::Decode(_)), "{err}");
        let png = png(1, 1, &[0, 0, 0]);
        let huge = Preset {
            resize: Some([MAX_PICTURE_SIDE + 1, 1]),
            ..Preset::default()
        };
        assert!(matches!(
            prepare(&png, &spec, &huge),
            Err(PreprocessError::BadSize { .. })
        ));
    }
}
