//! Stable memory: sparse 4 KiB pages with an undo log per message.
//!
//! Canisters reach stable memory only through `ic0.stable*` calls, so the host sees every
//! write. A message opens a transaction ([`StableMemory::begin`]); the first write to a page
//! saves its previous contents in the undo log. Commit drops the log; rollback puts the saved
//! pages back. Both cost O(pages written), not O(size): a canister with gigabytes of stable
//! memory pays only for what a message touches. Unwritten pages are not stored (they read as
//! zeros).
//!
//! The pages committed since the last [`StableMemory::take_unjournaled`] are remembered, so the
//! host's journal ([`crate::journal`]) writes only what changed. A memory the journal has no
//! base for (a new or replaced one) hands over all its pages the first time.

use std::collections::{BTreeSet, HashMap};

/// Size of a stable-memory page as the System API counts it (64 KiB).
pub const WASM_PAGE_SIZE: u64 = 64 * 1024;
/// Granularity of copy-on-write tracking.
pub const PAGE_SIZE: usize = 4096;
/// The 64-bit API's maximum stable memory: 500 GiB, in Wasm pages.
pub const MAX_STABLE_PAGES_64: u64 = 500 * 1024 * 1024 * 1024 / WASM_PAGE_SIZE;
/// The 32-bit API's maximum: 4 GiB.
pub const MAX_STABLE_PAGES_32: u64 = 65_536;

type Page = Box<[u8; PAGE_SIZE]>;

/// Saved state of an open transaction.
#[derive(Debug, Default, Clone)]
struct UndoLog {
    size_pages: u64,
    saved: HashMap<u64, Option<Page>>,
}

/// A canister's stable memory.
#[derive(Debug, Default, Clone)]
pub struct StableMemory {
    size_pages: u64,
    pages: HashMap<u64, Page>,
    /// Open transactions, innermost last.
    undo: Vec<UndoLog>,
    /// Pages committed since the journal last took them.
    unjournaled: BTreeSet<u64>,
    /// Whether the journal holds this memory's earlier pages (false for a new memory).
    journaled: bool,
}

/// What changed in a stable memory since the journal last asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StableDelta {
    /// Size in Wasm pages.
    pub size_pages: u64,
    /// The memory is new: `pages` are all its written pages; every other page is zero.
    pub whole: bool,
    /// Changed 4 KiB pages (all written pages when `whole`), by index.
    pub pages: Vec<(u64, Box<[u8; PAGE_SIZE]>)>,
}

impl StableMemory {
    /// Size in 64 KiB Wasm pages.
    pub fn size_pages(&self) -> u64 {
        self.size_pages
    }

    /// Size in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.size_pages * WASM_PAGE_SIZE
    }

    /// Whether the memory is empty (no pages).
    pub fn is_empty(&self) -> bool {
        self.size_pages() == 0
    }

    /// Grows by `new_pages`; returns the previous size, or `None` beyond `max_pages`.
    pub fn grow(&mut self, new_pages: u64, max_pages: u64) -> Option<u64> {
        let old = self.size_pages;
        let new = old.checked_add(new_pages)?;
        if new > max_pages {
            return None;
        }
        self.size_pages = new;
        Some(old)
    }

    /// Whether `[offset, offset + len)` lies inside the memory.
    pub fn in_bounds(&self, offset: u64, len: u64) -> bool {
        offset
            .checked_add(len)
            .is_some_and(|end| end <= self.size_bytes())
    }

    /// 4 KiB pages of `[offset, offset + len)` not yet written in the open transaction (the
    /// message): what a write there would newly dirty. Outside a transaction, every page.
    pub fn newly_dirtied_pages(&self, offset: u64, len: u64) -> u64 {
        if len == 0 {
            return 0;
        }
        let first = offset / PAGE_SIZE as u64;
        let last = (offset + len - 1) / PAGE_SIZE as u64;
        match self.undo.last() {
            Some(undo) => (first..=last)
                .filter(|p| !undo.saved.contains_key(p))
                .count() as u64,
            None => last - first + 1,
        }
    }

    /// Reads into `dst`; the caller checks bounds.
    pub fn read(&self, offset: u64, dst: &mut [u8]) {
        let mut done = 0usize;
        while done < dst.len() {
            let pos = offset + done as u64;
            let page = pos / PAGE_SIZE as u64;
            let in_page = (pos % PAGE_SIZE as u64) as usize;
            let n = (PAGE_SIZE - in_page).min(dst.len() - done);
            match self.pages.get(&page) {
                Some(p) => dst[done..done + n].copy_from_slice(&p[in_page..in_page + n]),
                None => dst[done..done + n].fill(0),
            }
            done += n;
        }
    }

    /// Writes `src`; the caller checks bounds.
    pub fn write(&mut self, offset: u64, src: &[u8]) {
        let mut done = 0usize;
        while done < src.len() {
            let pos = offset + done as u64;
            let page = pos / PAGE_SIZE as u64;
            let in_page = (pos % PAGE_SIZE as u64) as usize;
            let n = (PAGE_SIZE - in_page).min(src.len() - done);
            match self.undo.last_mut() {
                Some(undo) => {
                    undo.saved
                        .entry(page)
                        .or_insert_with(|| self.pages.get(&page).cloned());
                }
                None => {
                    self.unjournaled.insert(page);
                }
            }
            let p = self
                .pages
                .entry(page)
                .or_insert_with(|| Box::new([0u8; PAGE_SIZE]));
            p[in_page..in_page + n].copy_from_slice(&src[done..done + n]);
            done += n;
        }
    }

    /// Starts recording changes so they can be rolled back. Transactions nest: an upgrade
    /// opens one around `pre_upgrade` and `post_upgrade`, each of which opens its own.
    pub fn begin(&mut self) {
        self.undo.push(UndoLog {
            size_pages: self.size_pages,
            saved: HashMap::new(),
        });
    }

    /// Keeps the changes since the matching [`Self::begin`] (an enclosing transaction can
    /// still roll them back).
    pub fn commit(&mut self) {
        let Some(inner) = self.undo.pop() else {
            return;
        };
        match self.undo.last_mut() {
            Some(outer) => {
                for (page, old) in inner.saved {
                    outer.saved.entry(page).or_insert(old);
                }
            }
            None => self.unjournaled.extend(inner.saved.into_keys()),
        }
    }

    /// Reverts the changes since the matching [`Self::begin`].
    pub fn rollback(&mut self) {
        if let Some(undo) = self.undo.pop() {
            for (page, old) in undo.saved {
                match old {
                    Some(p) => {
                        self.pages.insert(page, p);
                    }
                    None => {
                        self.pages.remove(&page);
                    }
                }
            }
            self.size_pages = undo.size_pages;
        }
    }

    /// 4 KiB pages written in the open transaction.
    pub fn dirty_pages(&self) -> usize {
        self.undo.last().map_or(0, |u| u.saved.len())
    }

    /// The written 4 KiB pages, by index (unwritten pages read as zeros). Only meaningful
    /// outside a transaction.
    pub fn pages(&self) -> impl Iterator<Item = (u64, &[u8; PAGE_SIZE])> {
        self.pages.iter().map(|(i, p)| (*i, p.as_ref()))
    }

    /// A memory of `size_pages` Wasm pages holding `pages` (4 KiB pages by index).
    /// Pages beyond the size are dropped.
    pub fn from_pages(
        size_pages: u64,
        pages: impl IntoIterator<Item = (u64, Box<[u8; PAGE_SIZE]>)>,
    ) -> Self {
        let limit = size_pages.saturating_mul(WASM_PAGE_SIZE) / PAGE_SIZE as u64;
        StableMemory {
            size_pages,
            pages: pages.into_iter().filter(|(i, _)| *i < limit).collect(),
            undo: Vec::new(),
            unjournaled: BTreeSet::new(),
            journaled: false,
        }
    }

    /// A memory holding `bytes`, rounded up to whole Wasm pages; all-zero 4 KiB pages are
    /// not stored. The inverse of [`Self::to_bytes`], for stable-memory images.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let size_pages = (bytes.len() as u64).div_ceil(WASM_PAGE_SIZE);
        let pages = bytes
            .chunks(PAGE_SIZE)
            .enumerate()
            .filter(|(_, page)| page.iter().any(|&b| b != 0))
            .map(|(i, page)| {
                let mut full = Box::new([0u8; PAGE_SIZE]);
                full[..page.len()].copy_from_slice(page);
                (i as u64, full)
            });
        Self::from_pages(size_pages, pages)
    }

    /// The pages committed since the last call (all written pages the first time, or after
    /// the memory was replaced), and forgets them. Call it outside a transaction.
    pub fn take_unjournaled(&mut self) -> StableDelta {
        let unjournaled = std::mem::take(&mut self.unjournaled);
        let whole = !std::mem::replace(&mut self.journaled, true);
        let pages = if whole {
            let mut all: Vec<_> = self.pages.iter().map(|(i, p)| (*i, p.clone())).collect();
            all.sort_unstable_by_key(|(i, _)| *i);
            all
        } else {
            // A page written and then dropped by a shrinking rollback reads as zeros.
            let zero = || Box::new([0u8; PAGE_SIZE]);
            unjournaled
                .into_iter()
                .map(|i| (i, self.pages.get(&i).cloned().unwrap_or_else(zero)))
                .collect()
        };
        StableDelta {
            size_pages: self.size_pages,
            whole,
            pages,
        }
    }

    /// Marks the current contents as held by the journal (after a checkpoint or a replay).
    pub fn mark_journaled(&mut self) {
        self.unjournaled.clear();
        self.journaled = true;
    }

    /// Applies a [`StableDelta`] the journal recorded: replaces the memory when it is whole.
    pub fn apply(&mut self, delta: StableDelta) {
        if delta.whole {
            self.pages.clear();
        }
        self.size_pages = delta.size_pages;
        for (i, page) in delta.pages {
            self.pages.insert(i, page);
        }
        self.mark_journaled();
    }

    /// The contents as one byte vector (for persistence and tests; allocates the full size).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.size_bytes() as usize];
        self.read(0, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_restores_contents_and_size() {
        let mut m = StableMemory::default();
        m.grow(1, MAX_STABLE_PAGES_64);
        m.write(10, b"hello");
        m.begin();
        m.grow(2, MAX_STABLE_PAGES_64);
        m.write(8, b"XXXXXXXXXX");
        m.write(70_000, b"far");
        assert_eq!(m.dirty_pages(), 2);
        m.rollback();
        assert_eq!(m.size_pages(), 1);
        let mut buf = [0u8; 9];
        m.read(8, &mut buf);
        assert_eq!(&buf, b"\0\0hello\0\0");
        assert!(!m.pages.contains_key(&(70_000 / PAGE_SIZE as u64)));
    }

    #[test]
    fn nested_transactions_roll_back_to_the_outer_start() {
        let mut m = StableMemory::default();
        m.grow(1, MAX_STABLE_PAGES_64);
        m.write(0, b"a");
        m.begin();
        m.begin();
        m.write(0, b"b");
        m.commit();
        m.begin();
        m.write(0, b"c");
        m.commit();
        let mut buf = [0u8; 1];
        m.read(0, &mut buf);
        assert_eq!(&buf, b"c");
        m.rollback();
        m.read(0, &mut buf);
        assert_eq!(&buf, b"a");
    }

    #[test]
    fn an_image_round_trips_and_stores_only_written_pages() {
        let mut image = vec![0u8; 3 * PAGE_SIZE + 10];
        image[5] = 1;
        image[3 * PAGE_SIZE + 9] = 2;
        let m = StableMemory::from_bytes(&image);
        assert_eq!(m.size_pages(), 1);
        assert_eq!(m.pages().count(), 2);
        let back = m.to_bytes();
        assert_eq!(&back[..image.len()], &image[..]);
        assert!(back[image.len()..].iter().all(|&b| b == 0));
    }

    #[test]
    fn writes_across_pages_round_trip() {
        let mut m = StableMemory::default();
        m.grow(1, MAX_STABLE_PAGES_64);
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        m.begin();
        m.write(4000, &data);
        m.commit();
        let mut back = vec![0u8; data.len()];
        m.read(4000, &mut back);
        assert_eq!(back, data);
    }
}
