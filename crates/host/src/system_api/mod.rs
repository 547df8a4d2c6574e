//! The `ic0` System API as wasmtime host functions.
//!
//! Every function is one entry of a table that states, once, its name, its cost and the
//! executions it may run in; the files of this module hold the table's parts, one per part of
//! the interface specification:
//!
//! ```text
//! msg_arg_data_copy(c, dst: u32, offset: u32, size: u32) -> ()
//!     [cost: Cost::DEFAULT + u64::from(size), modes: with_arg]
//! { c.copy_out(dst, offset, size, |d| &d.ctx.arg) }
//! ```
//!
//! [`system_api!`] turns a part into its `register` function, and [`add_to_linker`] calls every
//! part's. Each call, before its body runs: charges the cost ([`Api::enter`] takes it from the
//! store's fuel, so a call the message cannot pay for ends it with the instruction limit),
//! then checks the mode ([`modes`]), trapping with the replica's message naming the function.
//! The body acts on the execution context or the canister state in the store through [`Api`];
//! a refusal is a contract violation whose message starts with `ic0.<name>:`, as on the IC.
//!
//! The parts may touch: the execution context (arguments, reply, outgoing calls, cycles
//! moved) and the canister state in the store (stable memory, certified data, timer, cycles),
//! and the Wasm heap through [`Api`]'s bounds-checked copies. Nothing here sees the host, its
//! queue or other canisters.

mod calls;
mod canister;
mod certification;
mod cost_queries;
mod cycles;
mod debug;
mod env;
mod message;
mod modes;
mod reply;
mod stable;
mod time;

use crate::runtime::{ApiKind, ExecContext, HostTrap, OutgoingCall, StoreData};
use wasmtime::{Caller, IntoFunc, Linker, Memory};

type R<T> = wasmtime::Result<T>;

/// Defines one part of the table: `name(c, arg: type, ...) -> result [cost: expr, modes: fn]
/// { body }` per function, where `cost` may use the arguments and the body gets `c: &mut Api`.
/// Generates the part's `register` and the list of its names.
macro_rules! system_api {
    ($(
        $name:ident($c:ident $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty
            [cost: $cost:expr, modes: $modes:expr]
            $body:block
    )*) => {
        /// Defines this part's functions on the linker.
        pub(super) fn register(linker: &mut wasmtime::Linker<crate::runtime::StoreData>) {
            $(
                super::define(
                    linker,
                    stringify!($name),
                    move |mut caller: wasmtime::Caller<'_, crate::runtime::StoreData>
                          $(, $arg: $ty)*|
                     -> wasmtime::Result<$ret> {
                        let mut api =
                            super::Api::enter(&mut caller, stringify!($name), $cost, $modes)?;
                        let $c = &mut api;
                        $body
                    },
                );
            )*
        }

        /// The names of this part's functions.
        #[cfg(test)]
        pub(super) const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}
use system_api;

/// Every part of the table, in the order of the interface specification.
const PARTS: &[fn(&mut Linker<StoreData>)] = &[
    message::register,
    reply::register,
    cycles::register,
    canister::register,
    calls::register,
    stable::register,
    certification::register,
    time::register,
    cost_queries::register,
    env::register,
    debug::register,
];

/// Defines every provided `ic0` function on the linker.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreData>) {
    for register in PARTS {
        register(linker);
    }
}

/// The one registration of an `ic0` function (used by [`system_api!`]).
fn define<Params, Results>(
    linker: &mut Linker<StoreData>,
    name: &'static str,
    f: impl IntoFunc<StoreData, Params, Results>,
) {
    linker
        .func_wrap("ic0", name, f)
        .unwrap_or_else(|e| panic!("defining ic0.{name}: {e}"));
}

/// A System API call in progress: the caller (store and instance) and the function's name,
/// which every refusal names.
pub(super) struct Api<'a, 'b> {
    caller: &'a mut Caller<'b, StoreData>,
    name: &'static str,
}

impl<'a, 'b> Api<'a, 'b> {
    /// Charges `cost` and checks that the running execution may call `name`.
    fn enter(
        caller: &'a mut Caller<'b, StoreData>,
        name: &'static str,
        cost: u64,
        modes: fn(&ExecContext) -> bool,
    ) -> R<Self> {
        let mut api = Api { caller, name };
        api.charge(cost)?;
        if !modes(&api.data().ctx) {
            let kind = api.kind().name();
            return Err(wasmtime::Error::new(HostTrap::ContractViolation(format!(
                "\"ic0_{name}\" cannot be executed in {kind} mode"
            ))));
        }
        Ok(api)
    }

    /// Takes `cost` instructions from the message, or ends it at its limit.
    fn charge(&mut self, cost: u64) -> R<()> {
        let fuel = self.caller.get_fuel()?;
        if cost > fuel {
            self.caller.set_fuel(0)?;
            return Err(wasmtime::Error::new(HostTrap::OutOfInstructions));
        }
        self.caller.set_fuel(fuel - cost)
    }

    pub fn data(&self) -> &StoreData {
        self.caller.data()
    }

    pub fn data_mut(&mut self) -> &mut StoreData {
        self.caller.data_mut()
    }

    pub fn ctx(&self) -> &ExecContext {
        &self.caller.data().ctx
    }

    pub fn ctx_mut(&mut self) -> &mut ExecContext {
        &mut self.caller.data_mut().ctx
    }

    /// The kind of entry point running.
    pub fn kind(&self) -> ApiKind {
        self.ctx().kind
    }

    /// A contract violation: `ic0.<name>: <what>`.
    pub fn violation<T>(&self, what: impl std::fmt::Display) -> R<T> {
        violation(self.name, what)
    }

    fn memory(&self) -> R<Memory> {
        match self.data().memory {
            Some(m) => Ok(m),
            None => self.violation("the module has no memory"),
        }
    }

    /// The heap and the store data at once, for copies between the heap and the state.
    pub fn heap_and_data(&mut self) -> R<(&mut [u8], &mut StoreData)> {
        let m = self.memory()?;
        Ok(m.data_and_store_mut(&mut *self.caller))
    }

    /// `heap[start..start + size]`, bounds-checked.
    pub fn heap_range(&self, start: u64, size: u64) -> R<std::ops::Range<usize>> {
        let len = self.memory()?.data_size(&*self.caller);
        range(self.name, len, start, size, "heap")
    }

    pub fn read_heap(&mut self, src: u32, size: u32) -> R<Vec<u8>> {
        let r = self.heap_range(src.into(), size.into())?;
        Ok(self.memory()?.data(&*self.caller)[r].to_vec())
    }

    pub fn write_heap(&mut self, dst: u32, bytes: &[u8]) -> R<()> {
        let r = self.heap_range(dst.into(), bytes.len() as u64)?;
        self.memory()?.data_mut(&mut *self.caller)[r].copy_from_slice(bytes);
        Ok(())
    }

    pub fn write_u128(&mut self, dst: u32, v: u128) -> R<()> {
        self.write_heap(dst, &v.to_le_bytes())
    }

    /// `*_copy(dst, offset, size)`: copies `src(store)[offset..offset + size]` to the heap.
    pub fn copy_out(
        &mut self,
        dst: u32,
        offset: u32,
        size: u32,
        src: fn(&StoreData) -> &[u8],
    ) -> R<()> {
        let m = self.memory()?;
        let (heap, data) = m.data_and_store_mut(&mut *self.caller);
        let src = src(data);
        let s = range(self.name, src.len(), offset.into(), size.into(), "source")?;
        let d = range(self.name, heap.len(), dst.into(), size.into(), "heap")?;
        heap[d].copy_from_slice(&src[s]);
        Ok(())
    }

    /// The call being built since `ic0.call_new`.
    pub fn pending_call(&mut self) -> R<&mut OutgoingCall> {
        if self.ctx().pending_call.is_none() {
            return self.violation("no call is being constructed (call ic0.call_new first)");
        }
        Ok(self.ctx_mut().pending_call.as_mut().expect("checked above"))
    }

    /// Instructions this execution has used so far, as `performance_counter(0)` reports them.
    pub fn instructions_so_far(&self) -> R<u64> {
        // Fuel starts at the limit.
        Ok(self
            .data()
            .ctx
            .limit
            .saturating_sub(self.caller.get_fuel()?))
    }
}

/// A contract violation of `ic0.<name>`.
fn violation<T>(name: &str, what: impl std::fmt::Display) -> R<T> {
    Err(wasmtime::Error::new(HostTrap::ContractViolation(format!(
        "ic0.{name}: {what}"
    ))))
}

/// `start..start + size` if it lies within `len` bytes.
fn range(name: &str, len: usize, start: u64, size: u64, what: &str) -> R<std::ops::Range<usize>> {
    match start.checked_add(size) {
        Some(end) if end <= len as u64 => Ok(start as usize..end as usize),
        _ => violation(
            name,
            format!("{what} out of bounds (offset {start}, size {size}, length {len})"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every `ic0` function the host says it provides is registered, once, and nothing else.
    #[test]
    fn the_table_registers_exactly_the_provided_functions() {
        let parts: &[&[&str]] = &[
            message::NAMES,
            reply::NAMES,
            cycles::NAMES,
            canister::NAMES,
            calls::NAMES,
            stable::NAMES,
            certification::NAMES,
            time::NAMES,
            cost_queries::NAMES,
            env::NAMES,
            debug::NAMES,
        ];
        let names: Vec<&str> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(
            unique.len(),
            names.len(),
            "a function is in the table twice"
        );
        let provided: BTreeSet<&str> = crate::ic0::IC0_FUNCTIONS
            .iter()
            .filter(|f| f.provided)
            .map(|f| f.name)
            .collect();
        assert_eq!(unique, provided);
    }
}
