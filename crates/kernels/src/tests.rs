use super::*;

/// Deterministic values in [-1, 1) with varied exponents, so summation order shows in the bits.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * (1 + (x & 7)) as f32
        })
        .collect()
}

/// The same tests for every tile width: `$kernel` is a module of crate::gemm_f32.
macro_rules! gemm_tests {
    ($kernel:ident) => {
        mod $kernel {
            use super::values;
            use crate::gemm_f32::$kernel::{MR, NR, kernel};
            use crate::{K_UNROLL, K_UNROLL_REST};
            use tract_linalg::mmm::{FusedKerSpec, OutputStoreKer};

            /// A tile of f32 laid out with the given strides (in elements), zero-filled.
            struct Tile {
                data: Vec<f32>,
                row_stride: usize,
                col_stride: usize,
            }

            impl Tile {
                fn row_major() -> Tile {
                    Tile {
                        data: vec![0.0; MR * NR],
                        row_stride: NR,
                        col_stride: 1,
                    }
                }
                fn column_major() -> Tile {
                    Tile {
                        data: vec![0.0; MR * NR],
                        row_stride: 1,
                        col_stride: MR,
                    }
                }
                fn store(&mut self) -> OutputStoreKer {
                    OutputStoreKer {
                        ptr: self.data.as_mut_ptr() as *mut u8,
                        row_byte_stride: 4 * self.row_stride as isize,
                        col_byte_stride: 4 * self.col_stride as isize,
                        item_size: 4,
                    }
                }
                fn get(&self, i: usize, j: usize) -> f32 {
                    self.data[i * self.row_stride + j * self.col_stride]
                }
            }

            fn run(specs: &mut Vec<FusedKerSpec<f32>>) {
                specs.push(FusedKerSpec::Done);
                // SAFETY: every pointer in the specs points at a live buffer of a whole tile or panel.
                assert_eq!(unsafe { kernel(specs) }, 0);
            }

            /// C = A·B summed in k order, one step at a time: what tract's own kernels compute.
            fn reference(a: &[f32], b: &[f32], k: usize) -> Vec<f32> {
                let mut c = vec![0f32; MR * NR];
                for step in 0..k {
                    for i in 0..MR {
                        for j in 0..NR {
                            c[i * NR + j] += a[step * MR + i] * b[step * NR + j];
                        }
                    }
                }
                c
            }

            fn mat_mul(k: usize, a: &[f32], b: &[f32]) -> FusedKerSpec<f32> {
                FusedKerSpec::AddMatMul {
                    k,
                    pa: a.as_ptr() as *const u8,
                    pb: b.as_ptr() as *const u8,
                    packing: 0,
                }
            }

            #[test]
            fn product_is_bit_identical_to_the_sequential_sum_for_every_k_remainder() {
                for k in 0..=2 * K_UNROLL + K_UNROLL_REST + 1 {
                    let (a, b) = (values(k * MR, 1 + k as u64), values(k * NR, 100 + k as u64));
                    let mut out = Tile::row_major();
                    run(&mut vec![
                        FusedKerSpec::Clear,
                        mat_mul(k, &a, &b),
                        FusedKerSpec::Store(out.store()),
                    ]);
                    let expected = reference(&a, &b, k);
                    for i in 0..MR {
                        for j in 0..NR {
                            assert_eq!(
                                out.get(i, j).to_bits(),
                                expected[i * NR + j].to_bits(),
                                "k={k} row {i} column {j}"
                            );
                        }
                    }
                }
            }

            #[test]
            fn strided_store_writes_the_same_tile_as_the_contiguous_one() {
                let k = 7;
                let (a, b) = (values(k * MR, 3), values(k * NR, 4));
                let (mut rows, mut cols) = (Tile::row_major(), Tile::column_major());
                run(&mut vec![
                    FusedKerSpec::Clear,
                    mat_mul(k, &a, &b),
                    FusedKerSpec::Store(rows.store()),
                    FusedKerSpec::Store(cols.store()),
                ]);
                for i in 0..MR {
                    for j in 0..NR {
                        assert_eq!(rows.get(i, j).to_bits(), cols.get(i, j).to_bits());
                    }
                }
            }

            #[test]
            fn fused_operations_apply_per_row_per_column_and_per_element() {
                let k = 5;
                let (a, b) = (values(k * MR, 5), values(k * NR, 6));
                let per_row = values(MR, 7);
                let per_col = values(NR, 8);
                let mut addend = Tile::column_major();
                addend.data = values(MR * NR, 9);
                let mut out = Tile::row_major();
                run(&mut vec![
                    FusedKerSpec::Clear,
                    mat_mul(k, &a, &b),
                    FusedKerSpec::PerRowAdd(per_row.as_ptr()),
                    FusedKerSpec::PerColMul(per_col.as_ptr()),
                    FusedKerSpec::PerRowSubF(per_row.as_ptr()),
                    FusedKerSpec::PerColSub(per_col.as_ptr()),
                    FusedKerSpec::AddUnicast(addend.store()),
                    FusedKerSpec::ScalarSubF(0.25),
                    FusedKerSpec::LeakyRelu(0.5),
                    FusedKerSpec::ScalarMin(3.0),
                    FusedKerSpec::ScalarMul(2.0),
                    FusedKerSpec::Store(out.store()),
                ]);
                let product = reference(&a, &b, k);
                for i in 0..MR {
                    for j in 0..NR {
                        let mut x = product[i * NR + j];
                        x += per_row[i];
                        x *= per_col[j];
                        x -= per_row[i];
                        x = per_col[j] - x;
                        x += addend.get(i, j);
                        x -= 0.25;
                        x = if x > 0.0 { x } else { 0.5 * x };
                        x = x.min(3.0);
                        x *= 2.0;
                        assert_eq!(out.get(i, j).to_bits(), x.to_bits(), "row {i} column {j}");
                    }
                }
            }

            #[test]
            fn load_tile_and_row_column_products_accumulate_onto_a_given_tile() {
                let start = values(MR * NR, 10);
                let rows = values(MR, 11);
                let cols = values(NR, 12);
                let mut out = Tile::column_major();
                run(&mut vec![
                    FusedKerSpec::LoadTile(std::ptr::null(), start.as_ptr()),
                    FusedKerSpec::AddRowColProducts(rows.as_ptr(), cols.as_ptr()),
                    FusedKerSpec::ScalarMax(-0.5),
                    FusedKerSpec::Store(out.store()),
                ]);
                for i in 0..MR {
                    for j in 0..NR {
                        let x = (start[i * NR + j] + rows[i] * cols[j]).max(-0.5);
                        assert_eq!(out.get(i, j).to_bits(), x.to_bits(), "row {i} column {j}");
                    }
                }
            }

            #[test]
            fn a_clear_after_the_start_forgets_the_product_so_far() {
                let first = values(MR * NR, 13);
                let (k, a, b) = (5, values(5 * MR, 14), values(5 * NR, 15));
                let (mut before, mut after) = (Tile::row_major(), Tile::row_major());
                run(&mut vec![
                    FusedKerSpec::LoadTile(std::ptr::null(), first.as_ptr()),
                    FusedKerSpec::Store(before.store()),
                    FusedKerSpec::Clear,
                    mat_mul(k, &a, &b),
                    FusedKerSpec::Store(after.store()),
                ]);
                let product = reference(&a, &b, k);
                for i in 0..MR {
                    for j in 0..NR {
                        assert_eq!(before.get(i, j).to_bits(), first[i * NR + j].to_bits());
                        assert_eq!(after.get(i, j).to_bits(), product[i * NR + j].to_bits());
                    }
                }
            }
        }
    };
}

gemm_tests!(f32_8x8);
gemm_tests!(f32_8x16);
gemm_tests!(f32_8x28);
gemm_tests!(f32_8x32);
gemm_tests!(f32_16x32);

#[test]
fn the_tier_claims_f32_products_with_the_tile_that_wastes_least_and_leaves_the_rest_to_tract() {
    let isa = IsaSet::of_arch(Arch::Wasm32Simd128);
    let pick = |acc, m, n| preferred(&isa, acc, &Query::plain(acc, Some(m), Some(64), n), &[]);
    // 49 columns take 56 in 28-wide tiles, 64 in 16- or 32-wide ones; 144 = 9·16 = 4.5·32.
    assert_eq!(pick(DatumType::F32, 64, Some(49)), Some(GEMM_8X28));
    assert_eq!(pick(DatumType::F32, 64, Some(196)), Some(GEMM_8X28));
    assert_eq!(pick(DatumType::F32, 64, Some(144)), Some(GEMM_8X16));
    assert_eq!(pick(DatumType::F32, 64, Some(16)), Some(GEMM_8X16));
    assert_eq!(pick(DatumType::F32, 64, Some(6)), Some(GEMM_8X8));
    assert_eq!(pick(DatumType::F32, 64, None), Some(GEMM_8X16));
    // 128 columns fill 32-wide tiles; 16 rows of them where m allows.
    assert_eq!(pick(DatumType::F32, 64, Some(128)), Some(GEMM_16X32));
    assert_eq!(pick(DatumType::F32, 8, Some(128)), Some(GEMM_8X32));
    assert_eq!(pick(DatumType::F32, 64, Some(1)), None);
    // int8 products (i32 accumulators) likewise; matrix-vector ones stay tract's. The int8
    // MobileNetV2's rows of 7 fill 8-wide tiles, of 28 two 16-wide ones.
    assert_eq!(pick(DatumType::I32, 64, Some(7)), Some(GEMM_I8_8X8));
    assert_eq!(pick(DatumType::I32, 64, Some(28)), Some(GEMM_I8_8X16));
    assert_eq!(pick(DatumType::I32, 64, Some(128)), Some(GEMM_I8_8X16));
    assert_eq!(pick(DatumType::I32, 64, None), Some(GEMM_I8_8X16));
    assert_eq!(pick(DatumType::I32, 64, Some(1)), None);
    assert_eq!(pick(DatumType::F16, 64, Some(49)), None);
    assert_eq!(kernel_i8_8x8().mmm().name(), GEMM_I8_8X8);
    assert_eq!(kernel_i8_8x16().mmm().name(), GEMM_I8_8X16);
    for (k, name) in [
        (kernel_8x8().mmm(), GEMM_8X8),
        (kernel_8x16().mmm(), GEMM_8X16),
        (kernel_8x28().mmm(), GEMM_8X28),
        (kernel_8x32().mmm(), GEMM_8X32),
        (kernel_16x32().mmm(), GEMM_16X32),
    ] {
        assert_eq!(k.name(), name);
    }
}

/// The same tests for every int8 tile.
macro_rules! gemm_i8_tests {
    ($tile:ident, $kernel:ident) => {
        mod $tile {
            use crate::gemm_i8::$kernel as kernel;
            use crate::gemm_i8::$tile::{MR, NR};
            use tract_data::prelude::Tensor;
            use tract_linalg::mmm::{FusedKerSpec, MMMInputFormat, MMMInputValue, OutputStoreKer};
            use tract_linalg::pack::PackedI8K4;
            use tract_linalg::{ScaleShiftAndRound, Scaler};

            /// Deterministic i8 over the whole range, the extremes included.
            fn bytes(n: usize, seed: u64) -> Vec<i8> {
                let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                (0..n)
                    .map(|index| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        match index % 11 {
                            0 => i8::MIN,
                            1 => i8::MAX,
                            _ => (x >> 56) as u8 as i8,
                        }
                    })
                    .collect()
            }

            /// `rows` × k values, k along the second axis, packed by tract-linalg itself as the plan
            /// would: four k to a lane, k padded to a multiple of four.
            fn packed(values: &[i8], rows: usize, k: usize) -> Box<dyn MMMInputValue> {
                let tensor = Tensor::from_shape(&[rows, k], values).unwrap();
                PackedI8K4::new(rows).prepare_one(&tensor, 1, 0).unwrap()
            }

            fn mat_mul(
                k: usize,
                a: &dyn MMMInputValue,
                b: &dyn MMMInputValue,
            ) -> FusedKerSpec<i32> {
                FusedKerSpec::AddMatMul {
                    k,
                    pa: a.panel_bytes(0, None).unwrap(),
                    pb: b.panel_bytes(0, None).unwrap(),
                    packing: 1,
                }
            }

            /// a is MR×k, b is NR×k (both k-last): c[i][j] = Σ a[i][k]·b[j][k].
            fn reference(a: &[i8], b: &[i8], k: usize) -> Vec<i32> {
                let mut c = vec![0i32; MR * NR];
                for i in 0..MR {
                    for j in 0..NR {
                        for step in 0..k {
                            c[i * NR + j] +=
                                i32::from(a[i * k + step]) * i32::from(b[j * k + step]);
                        }
                    }
                }
                c
            }

            fn run(mut specs: Vec<FusedKerSpec<i32>>) {
                specs.push(FusedKerSpec::Done);
                // SAFETY: every pointer in the specs points at a live tile, vector or packed panel.
                assert_eq!(unsafe { kernel(&specs) }, 0);
            }

            fn store<T>(tile: &mut [T], row_stride: usize, col_stride: usize) -> OutputStoreKer {
                let size = size_of::<T>();
                OutputStoreKer {
                    ptr: tile.as_mut_ptr() as *mut u8,
                    row_byte_stride: (size * row_stride) as isize,
                    col_byte_stride: (size * col_stride) as isize,
                    item_size: size,
                }
            }

            #[test]
            fn product_equals_the_integer_sum_for_every_k_remainder_from_tracts_own_packing() {
                // Up to three passes of the unrolled loop plus every remainder of blocks and of k.
                for k in 0..=3 * 16 + 7 {
                    let (a, b) = (bytes(MR * k, 1 + k as u64), bytes(NR * k, 100 + k as u64));
                    let (pa, pb) = (packed(&a, MR, k), packed(&b, NR, k));
                    let mut out = vec![0i32; MR * NR];
                    run(vec![
                        FusedKerSpec::Clear,
                        mat_mul(k, &*pa, &*pb),
                        FusedKerSpec::Store(store(&mut out, NR, 1)),
                    ]);
                    assert_eq!(out, reference(&a, &b, k), "k={k}");
                }
            }

            #[test]
            fn fused_operations_and_stores_apply_per_row_per_column_and_per_element() {
                let k = 37;
                let (a, b) = (bytes(MR * k, 5), bytes(NR * k, 6));
                let (pa, pb) = (packed(&a, MR, k), packed(&b, NR, k));
                let per_row: Vec<i32> = (0..MR as i32).map(|i| 1000 * i - 3500).collect();
                let per_col: Vec<i32> = (0..NR as i32).map(|j| 3 - j % 5).collect();
                let addend: Vec<i8> = bytes(MR * NR, 7);
                let wide_addend: Vec<i32> = (0..(MR * NR) as i32).map(|x| x * 31 - 1000).collect();
                let scaler = Scaler::new(0.0123, tract_linalg::mmm::RoundingPolicy::Even);
                let (shift, policy, mult) = (scaler.shift, scaler.policy, scaler.mult.unwrap());
                let (mut wide, mut narrow) = (vec![0i32; MR * NR], vec![0i8; MR * NR]);
                let mut narrow_columns = vec![0i8; MR * NR];
                run(vec![
                    FusedKerSpec::Clear,
                    mat_mul(k, &*pa, &*pb),
                    FusedKerSpec::PerRowSubF(per_row.as_ptr()),
                    FusedKerSpec::PerColMul(per_col.as_ptr()),
                    FusedKerSpec::AddRowColProducts(per_row.as_ptr(), per_col.as_ptr()),
                    // Column-major, as tract's scratch tiles are; then row-major, i8 and i32.
                    FusedKerSpec::AddUnicast(store(&mut addend.clone(), 1, MR)),
                    FusedKerSpec::AddUnicast(store(&mut addend.clone(), NR, 1)),
                    FusedKerSpec::AddUnicast(store(&mut wide_addend.clone(), NR, 1)),
                    FusedKerSpec::QScale(shift, policy, mult),
                    FusedKerSpec::ScalarAdd(3),
                    FusedKerSpec::Store(store(&mut wide, 1, MR)),
                    FusedKerSpec::ScalarMax(-128),
                    FusedKerSpec::ScalarMin(127),
                    FusedKerSpec::Store(store(&mut narrow, NR, 1)),
                    // Rows contiguous, as where tract puts the spatial axis on m.
                    FusedKerSpec::Store(store(&mut narrow_columns, 1, MR)),
                ]);
                let product = reference(&a, &b, k);
                for i in 0..MR {
                    for j in 0..NR {
                        let mut x = product[i * NR + j];
                        x -= per_row[i];
                        x *= per_col[j];
                        x += per_row[i] * per_col[j];
                        x += i32::from(addend[j * MR + i]);
                        x += i32::from(addend[i * NR + j]);
                        x += wide_addend[i * NR + j];
                        x = x.q_scale(scaler) + 3;
                        assert_eq!(wide[j * MR + i], x, "row {i} column {j}");
                        assert_eq!(
                            narrow[i * NR + j],
                            x.clamp(-128, 127) as i8,
                            "row {i} column {j}"
                        );
                        assert_eq!(narrow_columns[j * MR + i], narrow[i * NR + j]);
                    }
                }
                assert!(narrow.iter().any(|&x| x != 0 && x != -128 && x != 127));
            }

            #[test]
            fn i32_panels_multiply_in_k_order() {
                let k = 5;
                let a: Vec<i32> = (0..(k * MR) as i32)
                    .map(|x| x * 7919 % 1001 - 500)
                    .collect();
                let b: Vec<i32> = (0..(k * NR) as i32)
                    .map(|x| x * 104_729 % 2001 - 1000)
                    .collect();
                let mut out = vec![0i32; MR * NR];
                run(vec![
                    FusedKerSpec::AddMatMul {
                        k,
                        pa: a.as_ptr() as *const u8,
                        pb: b.as_ptr() as *const u8,
                        packing: 0,
                    },
                    FusedKerSpec::Store(store(&mut out, NR, 1)),
                ]);
                for i in 0..MR {
                    for j in 0..NR {
                        let sum: i32 = (0..k).map(|s| a[s * MR + i] * b[s * NR + j]).sum();
                        assert_eq!(out[i * NR + j], sum, "row {i} column {j}");
                    }
                }
            }

            #[test]
            fn a_loaded_tile_accumulates_the_product_and_shifts_round() {
                let start: Vec<i32> = (0..(MR * NR) as i32).map(|x| x * 977 - 60_000).collect();
                let k = 9;
                let (a, b) = (bytes(MR * k, 8), bytes(NR * k, 9));
                let (pa, pb) = (packed(&a, MR, k), packed(&b, NR, k));
                let mut out = vec![0i32; MR * NR];
                let policy = tract_linalg::mmm::RoundingPolicy::Away;
                run(vec![
                    FusedKerSpec::LoadTile(std::ptr::null(), start.as_ptr()),
                    mat_mul(k, &*pa, &*pb),
                    FusedKerSpec::RoundingShiftRight(3, policy),
                    FusedKerSpec::ShiftLeft(1),
                    FusedKerSpec::Store(store(&mut out, NR, 1)),
                ]);
                let product = reference(&a, &b, k);
                for (index, (&got, (&s, &p))) in
                    out.iter().zip(start.iter().zip(&product)).enumerate()
                {
                    assert_eq!(got, (s + p).q_shr(3, policy).q_shl(1), "element {index}");
                }
            }
        }
    };
}

gemm_i8_tests!(i8_8x8, kernel_8x8);
gemm_i8_tests!(i8_8x16, kernel_8x16);

#[test]
fn gather_row_takes_every_stride_th_byte_whole_eights_and_tail_alike() {
    let row: Vec<u8> = (0..80).map(|i| (i * 37 + 3) as u8).collect();
    for stride in [1, 2] {
        for (len, room) in [(1, 1), (7, 13), (8, 16), (8, 15), (13, 40), (27, 80)] {
            let mut out = vec![0; len];
            crate::planes::gather_row(&row[..room.max((len - 1) * stride + 1)], stride, &mut out);
            let want: Vec<u8> = (0..len).map(|j| row[j * stride]).collect();
            assert_eq!(out, want, "stride {stride}, {len} of {room}");
        }
    }
}

#[test]
fn pack_k4_writes_the_bytes_of_tracts_own_i8k4_packer() {
    use tract_data::internal::TensorView;
    use tract_data::prelude::Tensor;
    use tract_linalg::mmm::EagerPackedInput;
    use tract_linalg::pack::PackedI8K4;
    // Whole and partial panels, k with every remainder mod 4, rows wider than mn.
    for r in [8, 16] {
        for (k, mn, k_stride) in [
            (4, 8, 8),
            (1, 3, 3),
            (5, 17, 20),
            (16, 32, 32),
            (27, 40, 45),
        ] {
            let bytes: Vec<u8> = (0..k * k_stride).map(|i| (i * 89 + 7) as u8).collect();
            let tensor = Tensor::from_shape(&[k, k_stride], &bytes).unwrap();
            let (shape, strides) = ([k, mn], [k_stride as isize, 1]);
            // SAFETY: the first mn bytes of each of k rows of `tensor`.
            let view = unsafe { TensorView::from_bytes(&tensor, 0, &shape, &strides) };
            let theirs = PackedI8K4::new(r).pack_view(&view, 0, 1).unwrap();
            let theirs = theirs.downcast_ref::<EagerPackedInput>().unwrap();
            let mut ours = vec![0xAA; theirs.packed.len()];
            crate::gemm_i8::pack_k4(
                &bytes[..(k - 1) * k_stride + mn],
                k_stride,
                k,
                mn,
                r,
                &mut ours,
            );
            assert_eq!(ours, theirs.packed.as_bytes(), "r={r} k={k} mn={mn}");
        }
    }
}

/// Channel-last depthwise, as tract-linalg specifies `DepthwiseCF32`: the bias, then every tap
/// in order.
fn depthwise_reference(
    input: &[f32],
    kernel: &[f32],
    taps: &[(usize, isize)],
    bias: &[f32],
    k_stride: usize,
    (len, in_stride, out_stride): (usize, isize, isize),
) -> Vec<(usize, f32)> {
    let mut out = Vec::new();
    for i in 0..len {
        for (c, &b) in bias.iter().enumerate() {
            let mut sum = b;
            for &(tap, offset) in taps {
                let x = input[(i as isize * in_stride + offset) as usize + c];
                sum += x * kernel[tap * k_stride + c];
            }
            out.push(((i as isize * out_stride) as usize + c, sum));
        }
    }
    out
}

#[test]
fn depthwise_c_is_bit_identical_to_the_tap_ordered_sum_for_every_tap_count_and_width() {
    // 23 channels: a block of 16, a vector of 4, 3 single channels.
    let channels = 23;
    let k_stride = 24;
    let (len, in_stride, out_stride) = (5, 2 * channels as isize, channels as isize + 1);
    let input = values(64 * channels, 20);
    let kernel = values(9 * k_stride, 21);
    let bias = values(channels, 22);
    // A 3×3 window over rows of 8 positions, and the subsets a border zone keeps.
    let row = 8 * channels as isize;
    let window: Vec<(usize, isize)> = (0..9)
        .map(|t| {
            (
                t,
                (t / 3) as isize * row + (t % 3) as isize * channels as isize,
            )
        })
        .collect();
    for taps in [
        window.clone(),
        window[3..].to_vec(),
        vec![window[4], window[5], window[7], window[8]],
        window[..5].to_vec(),
    ] {
        let (tap_indices, offsets): (Vec<usize>, Vec<isize>) = taps.iter().copied().unzip();
        let mut output = vec![f32::NAN; (len - 1) * out_stride as usize + channels];
        // SAFETY: every read stays inside `input`, `kernel` and `bias`, every write in `output`.
        unsafe {
            depthwise_f32::depthwise_c(
                input.as_ptr(),
                output.as_mut_ptr(),
                kernel.as_ptr(),
                &tap_indices,
                &offsets,
                bias.as_ptr(),
                channels,
                k_stride,
                len,
                in_stride,
                out_stride,
            )
        };
        let expected = depthwise_reference(
            &input,
            &kernel,
            &taps,
            &bias,
            k_stride,
            (len, in_stride, out_stride),
        );
        for (at, value) in expected {
            assert_eq!(
                output[at].to_bits(),
                value.to_bits(),
                "{} taps, element {at}",
                taps.len()
            );
        }
    }
}

#[test]
fn depthwise_w_is_bit_identical_to_the_tap_ordered_sum_for_every_tap_count_and_stride() {
    // 32 + 2·4 + 3 points: a block, two vectors, then single points.
    let len = 43;
    let input = values(4 * 64, 23);
    let weights = values(9, 24);
    let bias = 0.375;
    let window: Vec<(f32, isize)> = (0..9)
        .map(|t| (weights[t], (t / 3) as isize * 64 + (t % 3) as isize))
        .collect();
    for in_stride in [1, 2] {
        let len = if in_stride == 1 { len } else { 20 };
        for taps in [
            window.clone(),
            window[3..].to_vec(),
            vec![window[4], window[5], window[7], window[8]],
            window[..5].to_vec(),
        ] {
            let (tap_weights, offsets): (Vec<f32>, Vec<isize>) = taps.iter().copied().unzip();
            let mut output = vec![f32::NAN; len];
            // SAFETY: the last point reads input[2·64 + 2 + (len - 1)·in_stride] at most.
            unsafe {
                depthwise_f32::depthwise_w(
                    input.as_ptr(),
                    output.as_mut_ptr(),
                    &tap_weights,
                    &offsets,
                    bias,
                    len,
                    in_stride,
                )
            };
            for (i, &got) in output.iter().enumerate() {
                let mut sum = bias;
                for &(w, offset) in &taps {
                    sum += input[(offset + i as isize * in_stride) as usize] * w;
                }
                assert_eq!(
                    got.to_bits(),
                    sum.to_bits(),
                    "{} taps, stride {in_stride}, point {i}",
                    taps.len()
                );
            }
        }
    }
}

#[test]
fn replace_nan_replaces_nans_and_only_nans_in_vectors_and_the_tail() {
    let mut values = vec![1.0, f32::NAN, -0.0, f32::INFINITY, -f32::NAN, 2.0, f32::NAN];
    elementwise::replace_nan(&mut values, -1.5);
    let bits: Vec<u32> = values.iter().map(|x| x.to_bits()).collect();
    let expected: Vec<u32> = [1.0, -1.5, -0.0, f32::INFINITY, -1.5, 2.0, -1.5]
        .iter()
        .map(|x: &f32| x.to_bits())
        .collect();
    assert_eq!(bits, expected);
}

#[test]
fn broadcast_rows_and_blocks_match_the_element_by_element_operation() {
    use elementwise::{Arith, with_blocks, with_rows};
    let full = values(6 * 7, 30);
    // Rows of 7 (a vector and 3 single lanes), then 6 blocks of 7.
    let operand = values(7, 31);
    for op in [Arith::Add, Arith::Mul] {
        let apply = |a: f32, b: f32| if op == Arith::Add { a + b } else { a * b };
        let mut rows = full.clone();
        with_rows(op, &mut rows, &operand);
        let mut blocks = full.clone();
        with_blocks(op, &mut blocks, &operand[..6]);
        for (i, &x) in full.iter().enumerate() {
            assert_eq!(
                rows[i].to_bits(),
                apply(x, operand[i % 7]).to_bits(),
                "{op:?} row {i}"
            );
            assert_eq!(
                blocks[i].to_bits(),
                apply(x, operand[i / 7]).to_bits(),
                "{op:?} block {i}"
            );
        }
    }
}

#[test]
fn scaling_and_gelu_from_erf_match_the_scalar_formulas_bit_for_bit() {
    let x = values(11, 40);
    let e = values(11, 41);
    let mut scaled = vec![0f32; 11];
    elementwise::scaled(&mut scaled, &x, 0.707_106_77);
    let mut gelu = x.clone();
    elementwise::gelu_from_erf(&mut gelu, &e);
    for i in 0..11 {
        assert_eq!(scaled[i].to_bits(), (x[i] * 0.707_106_77).to_bits());
        assert_eq!(gelu[i].to_bits(), ((x[i] * 0.5) * (e[i] + 1.0)).to_bits());
    }
}
