//! Stable memory: size, grow, read and write, in the 64-bit API and the legacy 32-bit one
//! (which traps once the memory is larger than 4 GiB).
//!
//! Costs and checks in the order of the Wasm the replica injects for these imports
//! (`system_api_replacements.rs`): the fixed part and the bytes first; a 64-bit read or write
//! of no bytes then returns without checking its offsets; a write pays
//! [`DIRTY_PAGE_OVERHEAD`] for every 4 KiB page it dirties first in this message.

use super::modes::*;
use super::{Api, R, system_api};
use crate::cost::{DIRTY_PAGE_OVERHEAD, SystemApiCost as Cost};
use crate::stable::{MAX_STABLE_PAGES_32, MAX_STABLE_PAGES_64};

/// The heap range of a copy of `size` bytes at `heap_offset`, after checking the module has a
/// memory and `offset..offset + size` lies in stable memory (in the replica's order).
fn check_access(c: &Api, heap_offset: u64, offset: u64, size: u64) -> R<std::ops::Range<usize>> {
    c.memory()?;
    if !c.data().state.stable_memory.in_bounds(offset, size) {
        return c.violation("stable memory out of bounds");
    }
    c.heap_range(heap_offset, size)
}

/// Counts the access against the execution's stable-memory access limit.
fn account(c: &mut Api, offset: u64, size: u64) -> R<()> {
    c.ctx_mut()
        .access_stable(offset, size)
        .map_err(wasmtime::Error::new)
}

fn stable_write(c: &mut Api, offset: u64, src: u64, size: u64) -> R<()> {
    let r = check_access(c, src, offset, size)?;
    account(c, offset, size)?;
    let dirtied = c
        .data()
        .state
        .stable_memory
        .newly_dirtied_pages(offset, size);
    c.charge(DIRTY_PAGE_OVERHEAD * dirtied)?;
    let (heap, d) = c.heap_and_data()?;
    d.state.stable_memory.write(offset, &heap[r]);
    Ok(())
}

fn stable_read(c: &mut Api, dst: u64, offset: u64, size: u64) -> R<()> {
    let r = check_access(c, dst, offset, size)?;
    account(c, offset, size)?;
    let (heap, d) = c.heap_and_data()?;
    d.state.stable_memory.read(offset, &mut heap[r]);
    Ok(())
}

/// The 32-bit API works only while stable memory is at most 4 GiB.
fn check_32(c: &Api) -> R<()> {
    if c.data().state.stable_memory.size_pages() > MAX_STABLE_PAGES_32 {
        return c.violation("stable memory is too big for the 32-bit API");
    }
    Ok(())
}

system_api! {
    stable64_size(c) -> u64 [cost: Cost::STABLE_SIZE, modes: not_start] {
        Ok(c.data().state.stable_memory.size_pages())
    }
    stable64_grow(c, pages: u64) -> u64 [cost: Cost::STABLE_GROW, modes: not_start] {
        let memory = &mut c.data_mut().state.stable_memory;
        Ok(memory.grow(pages, MAX_STABLE_PAGES_64).unwrap_or(u64::MAX))
    }
    stable64_write(c, offset: u64, src: u64, size: u64) -> ()
        [cost: Cost::STABLE_READ_WRITE + size, modes: not_start]
    {
        if size == 0 {
            return Ok(());
        }
        stable_write(c, offset, src, size)
    }
    stable64_read(c, dst: u64, offset: u64, size: u64) -> ()
        [cost: Cost::STABLE_READ_WRITE + size, modes: not_start]
    {
        if size == 0 {
            return Ok(());
        }
        stable_read(c, dst, offset, size)
    }
    stable_size(c) -> u32 [cost: Cost::STABLE_SIZE, modes: not_start] {
        check_32(c)?;
        Ok(c.data().state.stable_memory.size_pages() as u32)
    }
    stable_grow(c, pages: u32) -> i32 [cost: Cost::STABLE_GROW, modes: not_start] {
        check_32(c)?;
        let memory = &mut c.data_mut().state.stable_memory;
        Ok(memory.grow(pages.into(), MAX_STABLE_PAGES_32).map_or(-1, |old| old as i32))
    }
    stable_write(c, offset: u32, src: u32, size: u32) -> ()
        [cost: Cost::STABLE_READ_WRITE + u64::from(size), modes: not_start]
    {
        check_32(c)?;
        stable_write(c, offset.into(), src.into(), size.into())
    }
    stable_read(c, dst: u32, offset: u32, size: u32) -> ()
        [cost: Cost::STABLE_READ_WRITE + u64::from(size), modes: not_start]
    {
        if size == 0 {
            return Ok(());
        }
        check_32(c)?;
        stable_read(c, dst.into(), offset.into(), size.into())
    }
}
