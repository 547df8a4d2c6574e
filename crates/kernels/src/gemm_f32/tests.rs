/// The same tests for every tile width: `$kernel` is a module of crate::gemm_f32.
macro_rules! gemm_tests {
    ($kernel:ident) => {
        mod $kernel {
            use crate::gemm_f32::$kernel::{MR, NR, kernel};
            use crate::tests::values;
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
