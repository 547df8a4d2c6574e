//! The replica's compilation charge: what its instrumentation makes of a module, counted.
//!
//! Installing or upgrading a module costs the replica [`COST_TO_COMPILE_WASM_INSTRUCTION`]
//! instructions per instruction of the module *after* its instrumentation
//! (`rs/embedders/src/wasm_utils/instrumentation.rs`, `instrument`: `compilation_cost =
//! cost_to_compile_wasm_instruction * wasm_instruction_count`), taken from the install
//! message's budget; a module the subnet compiled before costs a hundredth of it
//! (`CompilationCostHandling::CountReducedAmount`, [`DESERIALIZATION_SPEED_UP_FACTOR`]).
//!
//! The count, as the replica makes it:
//! - every function body's operators, the final `end` included, plus what the metering adds:
//!   at every basic block the replica splits the code into ([`instrumented_body_len`]), 4
//!   operators that take the block's cost from the counter, 6 more (the limit check) where the
//!   block is a function's or a loop's start, nothing for a block that costs nothing; 3 before
//!   every bulk memory operation (its dynamic cost) and 3 after every `memory.grow` (the memory
//!   check);
//! - the functions it injects (the counter decrement, 20 operators, and the dirty-page count,
//!   46) and the Wasm that replaces each imported `stable*` function ([`replacement_len`]);
//! - 2 per global (initializer and `end`), the module's and the 3 counters it adds.

use wasmparser::{BinaryReaderError, FunctionBody, Operator};

/// Instructions the replica charges per instruction of an instrumented module
/// (`DEFAULT_COST_TO_COMPILE_WASM_INSTRUCTION`).
pub const COST_TO_COMPILE_WASM_INSTRUCTION: u64 = 6_000;

/// A module compiled before on the subnet costs this much less to install
/// (`DESERIALIZATION_SPEED_UP_FACTOR`).
pub const DESERIALIZATION_SPEED_UP_FACTOR: u64 = 100;

/// Operators of the functions the instrumentation adds: the counter decrement (19 and `end`)
/// and the count of clean pages in the stable-memory bytemap (45 and `end`).
const INJECTED_FUNCTIONS_LEN: u64 = 20 + 46;

/// Globals the instrumentation adds: the instruction, dirty-page and accessed-page counters.
const INJECTED_GLOBALS: u64 = 3;

/// Operators of the Wasm that replaces an imported `ic0` stable-memory function (wasm32
/// module, `end` included), as `system_api_replacements.rs` at dfinity/ic 6abf850 writes it.
pub fn replacement_len(import: &str) -> Option<u64> {
    Some(match import {
        "stable_size" => 10,
        "stable64_size" => 2,
        "stable_grow" => 24,
        "stable64_grow" => 21,
        "stable_read" => 106,
        "stable64_read" => 119,
        "stable_write" => 91,
        "stable64_write" => 107,
        _ => return None,
    })
}

/// The replica's instruction count of a module whose function bodies count `bodies` (each from
/// [`instrumented_body_len`]), with `imports` from `ic0` and `globals` globals.
pub fn module_instruction_count<'a>(
    bodies: u64,
    imports: impl IntoIterator<Item = &'a str>,
    globals: u64,
) -> u64 {
    let replacements: u64 = imports.into_iter().filter_map(replacement_len).sum();
    bodies + INJECTED_FUNCTIONS_LEN + replacements + 2 * (globals + INJECTED_GLOBALS)
}

/// The compilation charge of installing a module of `instruction_count` instructions
/// ([`module_instruction_count`]); `compiled_before` when the host compiled it earlier.
pub fn compilation_cost(instruction_count: u64, compiled_before: bool) -> u64 {
    let full = COST_TO_COMPILE_WASM_INSTRUCTION * instruction_count;
    if compiled_before {
        full / DESERIALIZATION_SPEED_UP_FACTOR
    } else {
        full
    }
}

/// Where the metering's current basic block starts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    /// A function's or a loop's start: always metered, with the limit check.
    Reentrant,
    /// Any other block: metered only if it costs something.
    Other,
}

/// Operators of one function body after the replica's instrumentation (`injections`,
/// `inject_metering` and `inject_try_grow_wasm_memory` in `instrumentation.rs`).
pub fn instrumented_body_len(body: &FunctionBody) -> Result<u64, BinaryReaderError> {
    let mut len = 0u64;
    // The open block and whether it costs anything (a function's first block starts at 1).
    let (mut block, mut costs) = (Block::Reentrant, true);
    // What metering a block that ends adds: the counter decrement (4) and, at a reentrant
    // block, the limit check (6); a block of no cost elsewhere is left alone.
    let close = |block: Block, costs: bool| match block {
        Block::Reentrant => 10,
        Block::Other if costs => 4,
        Block::Other => 0,
    };
    let mut ops = body.get_operators_reader()?;
    while !ops.eof() {
        let op = ops.read()?;
        len += 1;
        // Everything but block structure weighs at least 1 in `instruction_to_cost`.
        costs |= !matches!(
            op,
            Operator::Block { .. } | Operator::Loop { .. } | Operator::Else | Operator::End
        );
        let next = match op {
            Operator::Loop { .. } => Some(Block::Reentrant),
            Operator::If { .. }
            | Operator::Else
            | Operator::Br { .. }
            | Operator::BrIf { .. }
            | Operator::BrTable { .. }
            | Operator::End
            | Operator::Return
            | Operator::Unreachable
            | Operator::ReturnCall { .. }
            | Operator::ReturnCallIndirect { .. } => Some(Block::Other),
            Operator::MemoryFill { .. }
            | Operator::MemoryCopy { .. }
            | Operator::MemoryInit { .. }
            | Operator::TableFill { .. }
            | Operator::TableCopy { .. }
            | Operator::TableInit { .. } => {
                // The size operand is taken from the counter at run time: extend, call, wrap.
                len += 3;
                None
            }
            Operator::MemoryGrow { .. } => {
                // local.tee, local.get, call try_grow_wasm_memory around the grow.
                len += 3;
                None
            }
            _ => None,
        };
        if let Some(next) = next {
            len += close(block, costs);
            (block, costs) = (next, false);
        }
    }
    Ok(len)
}
