//! Writes the matrix kernels (`$OUT_DIR/gemm_f32.rs`, `$OUT_DIR/gemm_i8.rs`), one module per tile, as straight-line code
//! over named accumulators. Written with arrays and loops, LLVM leaves the 32-vector tile in linear
//! memory (measured: every multiply-accumulate became a v128.load and a v128.store) because
//! it does not fully unroll every loop over it; named variables stay Wasm locals.

use std::fmt::Write;

/// The kernels' tiles: rows (the packed A panel's width, one splat each per k step) and f32x4
/// vectors per row. A larger tile spreads each k step's splats and B loads over more
/// multiply-accumulates, and tract pads a product's last tiles to the full size, so the tile
/// that fits m and n best wins (crate::preferred): n = 6 fills 6 columns of 8 in 8-wide tiles,
/// not of 16; n = 49 fills 56 columns of 28-wide tiles, not 64; 196 fills 28-wide tiles
/// exactly, 128 and 384 32-wide ones.
const TILES: [(usize, usize); 5] = [(8, 2), (8, 4), (8, 7), (8, 8), (16, 8)];
/// Steps of k per accumulator read and write in the main pass, then in the pass that takes
/// what is left of k before single steps (k = 24, 40, 96… end in 8 steps of remainder).
const K_UNROLL: usize = 16;
const K_UNROLL_REST: usize = 4;
/// The int8 kernels' tiles: rows, and groups of four columns (one 16-byte load of B each).
const I8_TILES: [(usize, usize); 2] = [(8, 2), (8, 4)];
/// Blocks of four k per accumulator read and write in the int8 kernels' main pass.
const I8_BLOCK_UNROLL: usize = 4;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let mut out = String::new();
    writeln!(out, "pub const K_UNROLL: usize = {K_UNROLL};").unwrap();
    writeln!(out, "pub const K_UNROLL_REST: usize = {K_UNROLL_REST};").unwrap();
    for (rows, vectors) in TILES {
        write_kernel(&mut out, rows, vectors);
    }
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(out_dir.join("gemm_f32.rs"), out).unwrap();
    let mut out = String::new();
    for (rows, groups) in I8_TILES {
        write_i8_kernel(&mut out, rows, groups);
    }
    std::fs::write(out_dir.join("gemm_i8.rs"), out).unwrap();
}

/// One int8 kernel, `pub mod i8_{rows}x{4·groups}`: a tile of `rows` rows of `groups` i32x4
/// held in named locals, like the f32 kernels, and every fused operation tract sends it.
///
/// The product (`AddMatMul`, panels packed four k to a lane, tract-linalg's `PackedI8K4`): per
/// block of four k, row i's four bytes of A are loaded once, widened to i16 and repeated ([a0 a1
/// a2 a3 a0 a1 a2 a3]); each group's sixteen bytes of B (four columns of four k) are widened into
/// two i16x8 of two columns each. `i32x4.dot_i16x8_s` of the two sums products in pairs: lanes
/// [c0 k0+k1, c0 k2+k3, c1 k0+k1, c1 k2+k3], eight multiply-accumulates for one instruction of
/// weight 1. Two accumulators per row and group (columns 0–1 and 2–3) are chained through
/// I8_BLOCK_UNROLL blocks, and their lane pairs summed once, at the end.
fn write_i8_kernel(w: &mut String, rows: usize, groups: usize) {
    let nr = 4 * groups;
    let accs = || (0..rows).flat_map(|i| (0..groups).map(move |g| (i, g)));
    let each = |w: &mut String, f: &dyn Fn(usize, usize) -> String| {
        for (i, g) in accs() {
            writeln!(w, "                t{i}_{g} = {};", f(i, g)).unwrap();
        }
    };
    write_kernel_head(
        w,
        &format!("i8_{rows}x{nr}"),
        (rows, groups),
        ("t", "i32"),
        ("simd::i32_zero()", "simd::load_i32"),
        "crate::gemm_i8",
    );
    // ScalarSub and PerRowSub/PerColSub are x − t, as in tract; the others take t first.
    write_broadcast_ops(
        w,
        (rows, groups),
        "t",
        &[
            ("Min", "min_i32", true),
            ("Max", "max_i32", true),
            ("Add", "add_i32", true),
            ("Mul", "mul_i32", true),
            ("Sub", "sub_i32", false),
            ("SubF", "sub_i32", true),
        ],
        "i32_splat",
        &|i| format!("simd::i32_splat(*r.add({i}))"),
        &|g| format!("simd::load_i32(c.add({}))", 4 * g),
    );
    writeln!(w, "            FusedKerSpec::LeakyRelu(alpha) => {{\n                let s = simd::i32_splat(alpha);").unwrap();
    each(w, &|i, g| format!("simd::leaky_relu_i32(t{i}_{g}, s)"));
    writeln!(w, "            }}").unwrap();
    for (variant, rescale) in [
        (
            "QScale(shift, policy, mult)",
            "Requantise::scale(Scaler::from_fuse_params(shift, policy, mult))",
        ),
        (
            "RoundingShiftRight(shift, policy)",
            "Requantise::shift_right(shift, policy)",
        ),
    ] {
        writeln!(
            w,
            "            FusedKerSpec::{variant} => {{\n                let r = {rescale};"
        )
        .unwrap();
        // One range check for the whole tile (the lanes' magnitudes or-ed together), not one
        // per vector.
        let all: Vec<String> = accs().map(|(i, g)| format!("t{i}_{g}")).collect();
        writeln!(w, "                match r.exact_factor() {{\n                Some(factor) if simd::below_2_22(simd::or_magnitudes([{}])) => {{", all.join(", ")).unwrap();
        writeln!(
            w,
            "                let scaled = simd::ScaledRounded::new(factor);"
        )
        .unwrap();
        each(w, &|i, g| format!("scaled.apply(t{i}_{g})"));
        writeln!(w, "                }}\n                _ => {{").unwrap();
        each(w, &|i, g| format!("r.apply(t{i}_{g})"));
        writeln!(w, "                }}\n                }}\n            }}").unwrap();
    }
    writeln!(w, "            FusedKerSpec::ShiftLeft(shift) => {{").unwrap();
    each(w, &|i, g| format!("simd::shl_i32(t{i}_{g}, shift as u32)"));
    writeln!(w, "            }}").unwrap();
    writeln!(
        w,
        "            FusedKerSpec::AddRowColProducts(rows, cols) => {{"
    )
    .unwrap();
    for g in 0..groups {
        writeln!(
            w,
            "                let c{g} = simd::load_i32(cols.add({}));",
            4 * g
        )
        .unwrap();
    }
    for i in 0..rows {
        writeln!(
            w,
            "                let s{i} = simd::i32_splat(*rows.add({i}));"
        )
        .unwrap();
    }
    each(w, &|i, g| {
        format!("simd::add_i32(t{i}_{g}, simd::mul_i32(s{i}, c{g}))")
    });
    writeln!(w, "            }}").unwrap();

    // Tiles in memory: a vector at a time where a row's columns are contiguous, else lane by
    // lane (tract's scratch tiles, and outputs whose rows are the contiguous axis).
    writeln!(w, "            FusedKerSpec::AddUnicast(tile) => match (tile.item_size, tile.col_byte_stride) {{").unwrap();
    writeln!(w, "                (4, 4) => {{").unwrap();
    each(w, &|i, g| {
        format!(
            "simd::add_i32(t{i}_{g}, simd::load_i32(at(&tile, {i}, {}) as *const i32))",
            4 * g
        )
    });
    writeln!(w, "                }}\n                (1, 1) => {{").unwrap();
    each(w, &|i, g| {
        format!(
            "simd::add_i32(t{i}_{g}, simd::load_i8x4_as_i32(at(&tile, {i}, {})))",
            4 * g
        )
    });
    writeln!(w, "                }}\n                (1 | 4, _) => {{").unwrap();
    each(w, &|i, g| {
        let lanes: Vec<String> = (0..4)
            .map(|l| format!("read(&tile, {i}, {})", 4 * g + l))
            .collect();
        format!(
            "simd::add_i32(t{i}_{g}, simd::i32_from_lanes([{}]))",
            lanes.join(", ")
        )
    });
    writeln!(
        w,
        "                }}\n                _ => return 1,\n            }},"
    )
    .unwrap();
    writeln!(
        w,
        "            FusedKerSpec::Store(tile) => match (tile.item_size, tile.col_byte_stride) {{"
    )
    .unwrap();
    writeln!(w, "                (4, 4) => {{").unwrap();
    for (i, g) in accs() {
        writeln!(
            w,
            "                    simd::store_i32(at(&tile, {i}, {}) as *mut i32, t{i}_{g});",
            4 * g
        )
        .unwrap();
    }
    writeln!(w, "                }}\n                (1, 1) => {{").unwrap();
    for (i, g) in accs() {
        writeln!(
            w,
            "                    simd::store_low_bytes(at(&tile, {i}, {}), t{i}_{g});",
            4 * g
        )
        .unwrap();
    }
    // i8 tiles whose rows are the contiguous axis (tract puts the spatial axis on m): four
    // rows of a column at a time, transposed by shuffles.
    writeln!(
        w,
        "                }}\n                (1, stride) if tile.row_byte_stride == 1 => {{"
    )
    .unwrap();
    for g in 0..groups {
        for block in 0..rows / 4 {
            let r = 4 * block;
            writeln!(
                w,
                "                    simd::store_columns_low_bytes([t{r}_{g}, t{}_{g}, t{}_{g}, t{}_{g}], at(&tile, {r}, {}), stride);",
                r + 1,
                r + 2,
                r + 3,
                4 * g
            )
            .unwrap();
        }
    }
    writeln!(w, "                }}\n                (1 | 4, _) => {{").unwrap();
    for (i, g) in accs() {
        writeln!(
            w,
            "                    let lanes = simd::i32_lanes(t{i}_{g});"
        )
        .unwrap();
        for l in 0..4 {
            writeln!(
                w,
                "                    write(&tile, {i}, {}, lanes[{l}]);",
                4 * g + l
            )
            .unwrap();
        }
    }
    writeln!(
        w,
        "                }}\n                _ => return 1,\n            }},"
    )
    .unwrap();

    // The product.
    writeln!(
        w,
        "            FusedKerSpec::AddMatMul {{ k, pa, pb, packing: 1 }} => {{"
    )
    .unwrap();
    for (i, g) in accs() {
        writeln!(
            w,
            "                let (mut l{i}_{g}, mut h{i}_{g}) = (zero, zero);"
        )
        .unwrap();
    }
    writeln!(w, "                let (mut pa, mut pb) = (pa as *const i8, pb as *const i8);\n                let blocks = k.div_ceil(4);").unwrap();
    for (steps, count) in [
        (I8_BLOCK_UNROLL, format!("blocks / {I8_BLOCK_UNROLL}")),
        (1, format!("blocks % {I8_BLOCK_UNROLL}")),
    ] {
        // black_box keeps the panel pointers opaque to loop strength reduction, so constant
        // offsets stay folded into the loads (see the f32 kernels).
        writeln!(w, "                for _ in 0..{count} {{").unwrap();
        writeln!(
            w,
            "                    let (a, b) = std::hint::black_box((pa, pb));"
        )
        .unwrap();
        for u in 0..steps {
            for i in 0..rows {
                writeln!(
                    w,
                    "                    let a{u}_{i} = simd::load_i8x4_twice(a.add({}));",
                    (u * rows + i) * 4
                )
                .unwrap();
            }
            for g in 0..groups {
                writeln!(w, "                    let (bl{u}_{g}, bh{u}_{g}) = simd::load_i8x16_widened(b.add({}));", u * nr * 4 + 16 * g).unwrap();
            }
        }
        for (i, g) in accs() {
            for half in ["l", "h"] {
                let mut sum = format!("{half}{i}_{g}");
                for u in 0..steps {
                    sum = format!("simd::add_i32({sum}, simd::dot(a{u}_{i}, b{half}{u}_{g}))");
                }
                writeln!(w, "                    {half}{i}_{g} = {sum};").unwrap();
            }
        }
        writeln!(
            w,
            "                    (pa, pb) = (a.add({}), b.add({}));\n                }}",
            steps * rows * 4,
            steps * nr * 4
        )
        .unwrap();
    }
    each(w, &|i, g| {
        format!("simd::add_i32(t{i}_{g}, simd::pair_sums(l{i}_{g}, h{i}_{g}))")
    });
    writeln!(w, "            }}").unwrap();
    // i32 × i32 panels, k-major: no quantised model we know sends these.
    writeln!(
        w,
        "            FusedKerSpec::AddMatMul {{ k, pa, pb, packing: 0 }} => {{"
    )
    .unwrap();
    writeln!(w, "                let (a, b) = (pa as *const i32, pb as *const i32);\n                for step in 0..k {{").unwrap();
    writeln!(
        w,
        "                let (a, b) = (a.add(step * MR), b.add(step * NR));"
    )
    .unwrap();
    for i in 0..rows {
        writeln!(
            w,
            "                let s{i} = simd::i32_splat(*a.add({i}));"
        )
        .unwrap();
    }
    for g in 0..groups {
        writeln!(
            w,
            "                let c{g} = simd::load_i32(b.add({}));",
            4 * g
        )
        .unwrap();
    }
    each(w, &|i, g| {
        format!("simd::add_i32(t{i}_{g}, simd::mul_i32(s{i}, c{g}))")
    });
    writeln!(w, "                }}\n            }}").unwrap();
    writeln!(
        w,
        "            FusedKerSpec::AddMatMul {{ .. }} => return 1,"
    )
    .unwrap();
    writeln!(w, "        }}\n        }}\n    }}\n    0\n}}\n}}").unwrap();
}

/// One kernel, `pub mod f32_{rows}x{4·vectors}`: a tile of `rows` rows of `vectors` f32x4.
fn write_kernel(w: &mut String, rows: usize, vectors: usize) {
    let nr = 4 * vectors;
    let accs = || (0..rows).flat_map(|i| (0..vectors).map(move |v| (i, v)));
    let each = |w: &mut String, f: &dyn Fn(usize, usize) -> String| {
        for (i, v) in accs() {
            writeln!(w, "                a{i}_{v} = {};", f(i, v)).unwrap();
        }
    };
    write_kernel_head(
        w,
        &format!("f32_{rows}x{nr}"),
        (rows, vectors),
        ("a", "f32"),
        ("simd::splat(0.0)", "simd::load"),
        "crate::gemm_f32",
    );

    // The splat or per-row/per-column operand first, the accumulator second, except for
    // SubF (acc − x), as tract's kernels do (the order decides which NaN a min or max keeps).
    write_broadcast_ops(
        w,
        (rows, vectors),
        "a",
        &[
            ("Min", "min", false),
            ("Max", "max", false),
            ("Add", "add", false),
            ("Mul", "mul", false),
            ("Sub", "sub", false),
            ("SubF", "sub", true),
        ],
        "splat",
        &|i| format!("simd::load_splat(r.add({i}))"),
        &|v| format!("simd::load(c.add({}))", 4 * v),
    );
    writeln!(w, "            FusedKerSpec::LeakyRelu(alpha) => {{\n                let s = simd::splat(alpha);").unwrap();
    each(w, &|i, v| format!("simd::leaky_relu(a{i}_{v}, s)"));
    writeln!(w, "            }}").unwrap();
    for (variant, scale) in [
        (
            "QScale(shift, policy, mult)",
            "Scaler::from_fuse_params(shift, policy, mult).scale",
        ),
        (
            "RoundingShiftRight(shift, _policy)",
            "2f32.powi(-(shift as i32))",
        ),
        ("ShiftLeft(shift)", "2f32.powi(shift as i32)"),
    ] {
        writeln!(w, "            FusedKerSpec::{variant} => {{\n                let s = simd::splat({scale});").unwrap();
        each(w, &|i, v| format!("simd::mul(s, a{i}_{v})"));
        writeln!(w, "            }}").unwrap();
    }

    // Output tiles: a vector at a time when columns are contiguous, else lane by lane.
    writeln!(w, "            FusedKerSpec::AddUnicast(tile) => {{\n                if tile.col_byte_stride == 4 {{").unwrap();
    each(w, &|i, v| {
        format!("simd::add(a{i}_{v}, simd::load(at(&tile, {i}, {})))", 4 * v)
    });
    writeln!(w, "                }} else {{").unwrap();
    each(w, &|i, v| {
        let lanes: Vec<String> = (0..4)
            .map(|l| format!("*at(&tile, {i}, {})", 4 * v + l))
            .collect();
        format!(
            "simd::add(a{i}_{v}, simd::from_lanes([{}]))",
            lanes.join(", ")
        )
    });
    writeln!(w, "                }}\n            }}").unwrap();
    writeln!(w, "            FusedKerSpec::Store(tile) => {{\n                if tile.col_byte_stride == 4 {{").unwrap();
    for (i, v) in accs() {
        writeln!(
            w,
            "                    simd::store(at(&tile, {i}, {}), a{i}_{v});",
            4 * v
        )
        .unwrap();
    }
    writeln!(w, "                }} else {{").unwrap();
    for (i, v) in accs() {
        for l in 0..4 {
            writeln!(
                w,
                "                    *at(&tile, {i}, {}) = simd::lane(a{i}_{v}, {l});",
                4 * v + l
            )
            .unwrap();
        }
    }
    writeln!(w, "                }}\n            }}").unwrap();

    writeln!(
        w,
        "            FusedKerSpec::AddRowColProducts(rows, cols) => {{"
    )
    .unwrap();
    for v in 0..vectors {
        writeln!(
            w,
            "                let c{v} = simd::load(cols.add({}));",
            4 * v
        )
        .unwrap();
    }
    for i in 0..rows {
        writeln!(
            w,
            "                let s{i} = simd::load_splat(rows.add({i}));"
        )
        .unwrap();
    }
    each(w, &|i, v| {
        format!("simd::add(a{i}_{v}, simd::mul(s{i}, c{v}))")
    });
    writeln!(w, "            }}").unwrap();

    // A·B: K_UNROLL steps per pass, each accumulator chained through them in k order; then
    // K_UNROLL_REST steps per pass, then single steps.
    writeln!(
        w,
        "            FusedKerSpec::AddMatMul {{ k, pa, pb, packing: _ }} => {{"
    )
    .unwrap();
    writeln!(
        w,
        "                let (mut pa, mut pb) = (pa as *const f32, pb as *const f32);"
    )
    .unwrap();
    for (steps, count) in [
        (K_UNROLL, "k / K_UNROLL"),
        (K_UNROLL_REST, "k % K_UNROLL / K_UNROLL_REST"),
        (1, "k % K_UNROLL_REST"),
    ] {
        // Through black_box the panel pointers are no induction variables to LLVM's loop
        // strength reduction, which would otherwise rewrite every load address as its own
        // `i32.add` (3 instructions a load); opaque, they keep constant offsets folded into
        // the loads (`v128.load offset=N`, 2). The laundering costs ~18 instructions a pass.
        writeln!(w, "                for _ in 0..{count} {{").unwrap();
        writeln!(
            w,
            "                    let (a, b) = std::hint::black_box((pa, pb));"
        )
        .unwrap();
        for u in 0..steps {
            for i in 0..rows {
                writeln!(
                    w,
                    "                    let s{u}_{i} = simd::load_splat(a.add({}));",
                    u * rows + i
                )
                .unwrap();
            }
            for v in 0..vectors {
                writeln!(
                    w,
                    "                    let c{u}_{v} = simd::load(b.add({}));",
                    u * nr + 4 * v
                )
                .unwrap();
            }
        }
        for (i, v) in accs() {
            let mut sum = format!("a{i}_{v}");
            for u in 0..steps {
                sum = format!("simd::add({sum}, simd::mul(s{u}_{i}, c{u}_{v}))");
            }
            writeln!(w, "                    a{i}_{v} = {sum};").unwrap();
        }
        writeln!(
            w,
            "                    (pa, pb) = (a.add({}), b.add({}));",
            steps * rows,
            steps * nr
        )
        .unwrap();
        writeln!(w, "                }}").unwrap();
    }
    writeln!(w, "            }}").unwrap();
    writeln!(w, "        }}\n        }}\n    }}\n    0\n}}\n}}").unwrap();
}

/// The dispatch arms of tract's scalar, per-row and per-column operations on a tile of `rows`
/// × `vectors` accumulators named `{acc}{i}_{v}`. `ops` gives, for each of tract's Min, Max,
/// Add, Mul, Sub and SubF, the simd function and whether the accumulator is its first
/// operand; `splat` is the simd function that broadcasts a scalar, `row(i)` and `column(v)`
/// the expressions for row i's value and column vector v.
fn write_broadcast_ops(
    w: &mut String,
    (rows, vectors): (usize, usize),
    acc: &str,
    ops: &[(&str, &str, bool)],
    splat: &str,
    row: &dyn Fn(usize) -> String,
    column: &dyn Fn(usize) -> String,
) {
    let each = |w: &mut String, shared: &dyn Fn(usize, usize) -> String, op: &str, acc_first| {
        for i in 0..rows {
            for v in 0..vectors {
                let (a, x) = (format!("{acc}{i}_{v}"), shared(i, v));
                let call = if acc_first {
                    format!("simd::{op}({a}, {x})")
                } else {
                    format!("simd::{op}({x}, {a})")
                };
                writeln!(w, "                {a} = {call};").unwrap();
            }
        }
    };
    for &(variant, op, acc_first) in ops {
        writeln!(w, "            FusedKerSpec::Scalar{variant}(x) => {{\n                let s = simd::{splat}(x);").unwrap();
        each(w, &|_, _| "s".into(), op, acc_first);
        writeln!(
            w,
            "            }}\n            FusedKerSpec::PerRow{variant}(r) => {{"
        )
        .unwrap();
        for i in 0..rows {
            writeln!(w, "                let s{i} = {};", row(i)).unwrap();
        }
        each(w, &|i, _| format!("s{i}"), op, acc_first);
        writeln!(
            w,
            "            }}\n            FusedKerSpec::PerCol{variant}(c) => {{"
        )
        .unwrap();
        for v in 0..vectors {
            writeln!(w, "                let c{v} = {};", column(v)).unwrap();
        }
        each(w, &|_, v| format!("c{v}"), op, acc_first);
        writeln!(w, "            }}").unwrap();
    }
}

/// A kernel module's head, up to the arms every kernel has alike: `pub mod {module}` with MR
/// and NR, `kernel`'s signature over `FusedKerSpec<{element}>`, the `rows` × `vectors`
/// accumulators `{acc}{i}_{v}` at `zero`, the dispatch loop, and its Done, Clear and LoadTile
/// arms (`load` reads four elements).
fn write_kernel_head(
    w: &mut String,
    module: &str,
    (rows, vectors): (usize, usize),
    (acc, element): (&str, &str),
    (zero, load): (&str, &str),
    safety: &str,
) {
    let nr = 4 * vectors;
    writeln!(w, "pub mod {module} {{\n    use super::*;").unwrap();
    writeln!(
        w,
        "pub const MR: usize = {rows};\npub const NR: usize = {nr};"
    )
    .unwrap();
    writeln!(
        w,
        "/// Runs `specs` (up to `Done`) on one {rows}×{nr} tile."
    )
    .unwrap();
    writeln!(w, "///\n/// # Safety\n/// See [`{safety}`].").unwrap();
    writeln!(
        w,
        "pub unsafe fn kernel(specs: &[FusedKerSpec<{element}>]) -> isize {{"
    )
    .unwrap();
    writeln!(w, "    let zero = {zero};").unwrap();
    for i in 0..rows {
        for v in 0..vectors {
            writeln!(w, "    let mut {acc}{i}_{v} = zero;").unwrap();
        }
    }
    // tract starts every tile with Clear; the accumulators already are zero.
    writeln!(
        w,
        "    let specs = match specs {{ [FusedKerSpec::Clear, rest @ ..] => rest, all => all }};"
    )
    .unwrap();
    writeln!(w, "    for (index, spec) in specs.iter().enumerate() {{\n        unsafe {{\n        match *spec {{").unwrap();
    writeln!(w, "            FusedKerSpec::Done => break,").unwrap();
    // Clearing forgets everything accumulated so far, so a Clear after the start begins the
    // kernel again on the rest. Assigning zeros here instead made LLVM copy all 32
    // accumulators twice at the top of every dispatch (128 instructions per fused op).
    writeln!(
        w,
        "            FusedKerSpec::Clear => return kernel(&specs[index..]),"
    )
    .unwrap();
    writeln!(w, "            FusedKerSpec::LoadTile(_col_major, p) => {{").unwrap();
    for i in 0..rows {
        for v in 0..vectors {
            writeln!(
                w,
                "                {acc}{i}_{v} = {load}(p.add({}));",
                i * nr + 4 * v
            )
            .unwrap();
        }
    }
    writeln!(w, "            }}").unwrap();
}
