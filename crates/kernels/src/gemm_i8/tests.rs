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
            super::pack_k4(
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
