//! A ring of provided buffers (IORING_REGISTER_PBUF_RING, kernel 5.19): the kernel picks a
//! buffer when data arrives, so an idle connection holds no buffer at all.

use io_uring::IoUring;
use io_uring::types::BufRingEntry;
use std::io;
use std::sync::atomic::{AtomicU16, Ordering};

/// A registered buffer ring and the memory of its buffers.
///
/// Must be dropped after the `IoUring` it is registered with (the kernel reads the ring and
/// writes the buffers until then).
pub(crate) struct BufRing {
    entries: *mut BufRingEntry,
    map_bytes: usize,
    count: u16,
    tail: u16,
    buf_len: usize,
    mem: Box<[u8]>,
    group: u16,
}

impl BufRing {
    /// Maps a ring of `count` entries (a power of two ≤ 32,768) over `count` buffers of
    /// `buf_len` bytes, registers it with `ring` as buffer group `group`, and provides every
    /// buffer.
    pub(crate) fn new(
        ring: &IoUring,
        count: u16,
        buf_len: usize,
        group: u16,
    ) -> io::Result<BufRing> {
        if !count.is_power_of_two() || count > 32_768 || buf_len > u32::MAX as usize {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        }
        let map_bytes = usize::from(count) * std::mem::size_of::<BufRingEntry>();
        // SAFETY: an anonymous private mapping with no address hint; the result is checked.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let mut br = BufRing {
            entries: ptr.cast(),
            map_bytes,
            count,
            tail: 0,
            buf_len,
            mem: vec![0u8; usize::from(count) * buf_len].into_boxed_slice(),
            group,
        };
        // SAFETY: `entries` is a page-aligned, zeroed mapping of `count` entries that lives
        // until `br` is dropped, which the caller orders after the ring.
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(ptr as u64, count, group, 0)?
        };
        for bid in 0..count {
            br.write_entry(bid);
        }
        br.publish();
        Ok(br)
    }

    /// The buffer group id to put in recv SQEs.
    pub(crate) fn group(&self) -> u16 {
        self.group
    }

    /// Size of each buffer.
    pub(crate) fn buf_len(&self) -> usize {
        self.buf_len
    }

    /// Buffer `bid`.
    pub(crate) fn buf(&self, bid: u16) -> Option<&[u8]> {
        let start = usize::from(bid).checked_mul(self.buf_len)?;
        self.mem.get(start..start.checked_add(self.buf_len)?)
    }

    fn write_entry(&mut self, bid: u16) {
        let idx = usize::from(self.tail & (self.count - 1));
        let addr = self.mem.as_ptr() as u64 + (usize::from(bid) * self.buf_len) as u64;
        // SAFETY: `idx < count`, within the mapping. The kernel only reads entries between
        // its head and our published tail, and this one is past the published tail.
        let e = unsafe { &mut *self.entries.add(idx) };
        e.set_addr(addr);
        e.set_len(self.buf_len as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    fn publish(&self) {
        // SAFETY: the tail field overlays the first entry's reserved field (the uapi layout);
        // it is a naturally aligned u16 that the kernel reads concurrently, hence atomic.
        unsafe {
            let tail = BufRingEntry::tail(self.entries).cast::<AtomicU16>();
            (*tail).store(self.tail, Ordering::Release);
        }
    }

    /// Gives buffer `bid` back to the kernel. Ignores ids out of range.
    pub(crate) fn recycle(&mut self, bid: u16) {
        if bid < self.count {
            self.write_entry(bid);
            self.publish();
        }
    }
}

impl BufRing {
    /// Gives up the memory without freeing it: for when the kernel may still write to it.
    pub(crate) fn leak(&mut self) {
        std::mem::forget(std::mem::take(&mut self.mem));
        self.map_bytes = 0;
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        if self.map_bytes > 0 {
            // SAFETY: unmapping the mapping made in `new`, once.
            unsafe {
                libc::munmap(self.entries.cast(), self.map_bytes);
            }
        }
    }
}
