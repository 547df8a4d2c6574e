use super::*;
use crate::tests::values;

#[test]
fn replace_nan_replaces_nans_and_only_nans_in_vectors_and_the_tail() {
    let mut values = vec![1.0, f32::NAN, -0.0, f32::INFINITY, -f32::NAN, 2.0, f32::NAN];
    replace_nan(&mut values, -1.5);
    let bits: Vec<u32> = values.iter().map(|x| x.to_bits()).collect();
    let expected: Vec<u32> = [1.0, -1.5, -0.0, f32::INFINITY, -1.5, 2.0, -1.5]
        .iter()
        .map(|x: &f32| x.to_bits())
        .collect();
    assert_eq!(bits, expected);
}

#[test]
fn broadcast_rows_and_blocks_match_the_element_by_element_operation() {
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
    super::scaled(&mut scaled, &x, 0.707_106_77);
    let mut gelu = x.clone();
    gelu_from_erf(&mut gelu, &e);
    for i in 0..11 {
        assert_eq!(scaled[i].to_bits(), (x[i] * 0.707_106_77).to_bits());
        assert_eq!(gelu[i].to_bits(), ((x[i] * 0.5) * (e[i] + 1.0)).to_bits());
    }
}
