//! Instruction accounting with the replica's weights.
//!
//! The host counts what the replica counts (dfinity/ic master as of 2026-12; see the crate
//! docs for the files and commits it mirrors):
//! - Wasm operators, weighed by wasmtime's fuel with [`ic_operator_cost`], a transcription of
//!   `instruction_to_cost` in `rs/embedders/src/wasm_utils/instrumentation.rs` (wasm32).
//! - 1 on entry to every Wasm function, the entry point included: the replica's metering
//!   starts every function's first block at 1, and wasmtime charges exactly that 1 fuel on
//!   entry, so calls keep their full weight (`call` 5, `call_indirect` 10). System API
//!   functions are imports, not Wasm functions, and pay no entry.
//! - System API calls: the replica's fixed overheads (`system_api_complexity::overhead`,
//!   [`SystemApiCost`]) plus their per-byte parts. `stable*_size`, `stable*_read`,
//!   `stable*_write` and `stable*_grow` are Wasm the replica injects in place of the imports
//!   (`system_api_replacements.rs`, not metered itself): their cost is the `call` plus what
//!   they charge explicitly, [`SystemApiCost::STABLE_SIZE`] being nothing.
//! - [`DIRTY_PAGE_OVERHEAD`] for every 4 KiB page of stable memory or of the heap that a
//!   message dirties (application subnets too).
//! - The compilation charge of an installation ([`crate::instrumentation`]).
//!
//! wasmtime keeps each weight in a `u8`: `memory.grow`, `data.drop` and `elem.drop` (300 on the
//! IC) weigh 255 in the table, and the module rewrite ([`crate::engine`]) puts 45 `nop`s (1
//! each) after every one of them, so each executes at exactly 300 whatever its operand.
//!
//! Remaining differences:
//! - The replica checks the limit only at reentrant blocks (function entries, loop headers), so
//!   it may overshoot the limit by a basic block before trapping; wasmtime checks at the same
//!   places, so the instruction at which a message traps can differ slightly; completed messages
//!   count the same.
//! - A heap page counts as dirty here when its bytes differ from what they were before the
//!   message; the replica counts every page written, so a page written with the bytes it held
//!   already is charged there and not here.
//! - The replica's base cost of creating an execution state and its charges for memory faults
//!   are not modelled.
//! - wasm64 modules (loads/stores cost 2 on the IC) are not supported.

use wasmtime::OperatorCost;

/// The replica's per-operator weights as a wasmtime fuel table.
pub fn ic_operator_cost() -> OperatorCost {
    let mut c = OperatorCost::new();
    // The IC's default weight is 1, including nop/drop/return/unreachable, which wasmtime
    // defaults to 0. Block, loop, else and end stay 0.
    c.Nop = 1;
    c.Drop = 1;
    c.Return = 1;
    c.Unreachable = 1;

    macro_rules! set {
        ($w:expr => $($op:ident)*) => { $( c.$op = $w; )* };
    }
    set!(10 => I32DivS I32DivU I32RemS I32RemU I64DivS I64DivU I64RemS I64RemU);
    set!(2 => F32Add F32Sub F32Mul F32Ceil F32Floor F32Trunc F32Nearest
              F64Add F64Sub F64Mul F64Ceil F64Floor F64Trunc F64Nearest);
    set!(3 => F32Div);
    set!(5 => F64Div);
    set!(18 => F32Min F32Max F64Min F64Max);
    set!(2 => F32Copysign);
    set!(3 => F64Copysign);
    set!(5 => F32Sqrt);
    set!(8 => F64Sqrt);
    set!(3 => F32Eq F32Ne F32Lt F32Gt F32Le F32Ge F64Eq F64Ne F64Lt F64Gt F64Le F64Ge);
    set!(3 => F32ConvertI32S F64ConvertI64S F32ConvertI64S F64ConvertI32S);
    set!(16 => F64ConvertI32U F32ConvertI64U F32ConvertI32U F64ConvertI64U);
    set!(20 => I64TruncSatF32S I64TruncSatF32U I64TruncSatF64S I64TruncSatF64U
               I32TruncSatF32S I32TruncSatF32U I32TruncSatF64S I32TruncSatF64U
               I32TruncF32S I32TruncF32U I32TruncF64S I32TruncF64U
               I64TruncF32S I64TruncF32U I64TruncF64S I64TruncF64U);
    set!(2 => GlobalGet GlobalSet);
    set!(5 => TableGet TableSet);
    // 300 on the IC: 255 here and the rest in the `nop`s the rewrite adds after each
    // (`ELIDED_WEIGHT`). `table.grow` is refused by validation, as by the replica.
    set!(255 => TableGrow MemoryGrow);
    set!(20 => MemorySize);
    set!(100 => TableSize);
    set!(100 => MemoryFill MemoryCopy TableFill TableCopy MemoryInit TableInit);
    // 300 on the IC, like `memory.grow`.
    set!(255 => DataDrop ElemDrop);
    // wasmtime charges 1 fuel on entry to every Wasm function (`fuel_consumed: 1` in its
    // Cranelift translator), as the replica's metering charges 1 at the top of every function.
    set!(5 => Call);
    set!(10 => CallIndirect);
    set!(3 => ReturnCall);
    set!(60 => ReturnCallIndirect);
    set!(2 => If Br BrIf BrTable);
    set!(5 => RefIsNull);
    set!(130 => RefFunc);

    // SIMD: only the weights that differ from 1.
    set!(3 => I8x16Shuffle I8x16Popcnt I8x16Shl I8x16ShrS I32x4ExtAddPairwiseI16x8U I64x2ShrS
              I32x4TruncSatF64x2UZero);
    set!(2 => I8x16LtU I8x16GtU I16x8LtU I16x8GtU I32x4LtU I32x4GtU I8x16ShrU
              I16x8ExtAddPairwiseI8x16U I16x8Shl I16x8ShrS I16x8ShrU
              I16x8ExtMulHighI8x16S I16x8ExtMulHighI8x16U
              I32x4Shl I32x4ShrS I32x4ShrU I32x4Mul
              I32x4ExtMulLowI16x8S I32x4ExtMulHighI16x8S I32x4ExtMulLowI16x8U I32x4ExtMulHighI16x8U
              I64x2Shl I64x2ShrU
              F32x4Ceil F32x4Floor F32x4Trunc F32x4Nearest F32x4Abs F32x4Neg
              F32x4Add F32x4Sub F32x4Mul
              F64x2Ceil F64x2Floor F64x2Trunc F64x2Nearest F64x2Abs F64x2Neg
              F64x2Add F64x2Sub F64x2Mul
              I32x4TruncSatF32x4S I32x4TruncSatF64x2SZero);
    set!(4 => I64x2Mul F32x4Min F32x4Max F64x2Min I32x4TruncSatF32x4U F32x4ConvertI32x4U);
    set!(5 => F32x4Sqrt F64x2Max);
    set!(10 => F32x4Div);
    set!(12 => F64x2Div);
    set!(14 => F64x2Sqrt);

    // Bulk memory: 1 per byte on top of the flat weight, as the replica's dynamic charge.
    c.variable.memory_copy_per_byte = 1;
    c.variable.memory_fill_per_byte = 1;
    c.variable.memory_init_per_byte = 1;
    c.variable.memory_grow_per_page = 0;
    c.variable.table_copy_per_element = 1;
    c.variable.table_fill_per_element = 1;
    c.variable.table_init_per_element = 1;
    c.variable.table_grow_per_element = 0;
    c
}

/// The replica's weight of `memory.grow`, `data.drop` and `elem.drop`.
pub const HEAVY_OPERATOR_WEIGHT: u64 = 300;

/// What wasmtime's `u8` table cannot hold of [`HEAVY_OPERATOR_WEIGHT`]: the rewrite adds this
/// many `nop`s after each such operator.
pub const ELIDED_WEIGHT: u64 = HEAVY_OPERATOR_WEIGHT - 255;

/// Instructions per 4 KiB page of stable memory or heap newly dirtied in a message (the
/// replica's `DEFAULT_DIRTY_PAGE_OVERHEAD`, application subnets included).
pub const DIRTY_PAGE_OVERHEAD: u64 = 1_000;

/// Instructions per byte for payloads leaving the sandbox (reply, reject, call arguments).
pub const BYTE_TRANSMISSION_COST_FACTOR: u64 = 50;

/// Fixed overheads of System API calls (the replica's `system_api_complexity::overhead`).
pub struct SystemApiCost;

impl SystemApiCost {
    /// Most System API calls.
    pub const DEFAULT: u64 = 500;
    /// `ic0.debug_print`.
    pub const DEBUG_PRINT: u64 = 100;
    /// `ic0.is_controller`.
    pub const IS_CONTROLLER: u64 = 1_000;
    /// `ic0.call_new`.
    pub const CALL_NEW: u64 = 1_500;
    /// `ic0.call_perform`.
    pub const CALL_PERFORM: u64 = 5_000;
    /// `ic0.performance_counter`.
    pub const PERFORMANCE_COUNTER: u64 = 200;
    /// `ic0.stable*_read` and `ic0.stable*_write` (`overhead_native`), plus 1 a byte and, for
    /// writes, [`DIRTY_PAGE_OVERHEAD`] a newly dirtied page.
    pub const STABLE_READ_WRITE: u64 = 20;
    /// `ic0.stable*_size`: the replica's injected `memory.size` is not metered, so the call's
    /// weight is the whole cost.
    pub const STABLE_SIZE: u64 = 0;
    /// `ic0.stable*_grow` (`overhead_native`, charged by the replica's `try_grow_stable_memory`).
    pub const STABLE_GROW: u64 = 100;
}

/// Bytes the replica charges for a log record of `len` bytes (debug_print, trap): the record is
/// stored (x2: insert and evict) and transmitted.
pub fn logging_charge_bytes(len: u64, capacity: u64) -> u64 {
    let allocated = len.min(capacity);
    2 * allocated + BYTE_TRANSMISSION_COST_FACTOR * allocated
}
