//! The io_uring driver: one ring per thread, pinned to a core, each with its own SO_REUSEPORT
//! listeners and its own [`TcpCore`]. It turns completions into core events and core actions
//! into submissions; every decision is the core's.
//!
//! Per thread: a multishot accept per listener, plain `recv` into a per-direction buffer,
//! `send` with `MSG_NOSIGNAL`, `connect`, and waiting with a timeout on `io_uring_enter` (the
//! core's next deadline). A connection's buffers and sockets are freed only once every
//! operation that references them has completed (pending ones are cancelled first), so the
//! kernel never writes into freed memory.
//!
//! Listeners come and go at run time ([`ProxyHandle::apply`], in `control.rs`): the caller's
//! thread binds the sockets and queues them to each thread, which adopts them when its
//! eventfd wakes it.

mod control;
mod udp;

use io_uring::{IoUring, cqueue, opcode, squeue, types};
use parking_lot::Mutex;
use socket2::{Domain, SockAddr, Socket, Type};
use std::collections::HashMap;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use control::{APPLY_TIMEOUT, ApplyError, ApplyReport, Listening};
use control::{Ack, Command, CommandQueue, Control, QueueCloser};

use crate::balance::SplitMix64;
use crate::bufring::BufRing;
use crate::config::{Config, ConfigError};
use crate::metrics::Metrics;
use crate::service::{Protocol, ServiceKey};
use crate::table::{Change, TableHandle};
use crate::tcp::{Accepted, Action, ConnId, ConnectError, Event, Side, TcpCore, TcpLimits};
use crate::udp::{FlowId, UdpCore, UdpLimits, Verdict};
use crate::{Nanos, SECOND};

/// Submission queue entries per ring: enough for a burst of a few thousand operations between
/// two `io_uring_enter` calls; the completion queue is twice this (kernel default).
pub const RING_ENTRIES: u32 = 4_096;
/// Bytes per relay buffer: 32 KiB lets one recv carry a loopback burst.
pub const RELAY_BUFFER_BYTES: usize = 32 * 1024;
/// Provided buffers per thread (a power of two): 32 MiB of address space, touched only as
/// used. A direction holds one only between its recv and the end of the matching send, so
/// this many directions can move data at once; beyond that a direction falls back to a
/// private buffer (see `DirBuf`).
pub const PROVIDED_BUFFERS: u16 = 1_024;
const BUFFER_GROUP: u16 = 0;
/// Received chunks a direction may queue ahead of its send: caps the provided buffers one
/// fast sender can take while its peer is slow (the multishot recv is cancelled at the cap
/// and re-armed when the queue has drained).
const MAX_QUEUED_CHUNKS: usize = 4;
/// Provided buffers per thread for UDP replies from backends, each [`udp::MAX_DATAGRAM`]
/// bytes (16 MiB of address space, registered when a thread gets its first UDP service); a
/// buffer is returned as soon as its datagram is sent on.
const UDP_PROVIDED_BUFFERS: u16 = 256;
const UDP_BUFFER_GROUP: u16 = 1;
/// Listen backlog per socket (the kernel caps it at net.core.somaxconn).
pub const LISTEN_BACKLOG: i32 = 1_024;
/// Longest wait in the kernel: bounds how late periodic housekeeping runs.
const MAX_WAIT: Duration = Duration::from_millis(500);
/// Affinity/housekeeping sweep period.
const SWEEP_PERIOD: Nanos = SECOND;
/// Longest a stopping thread waits for its cancelled operations to complete.
const STOP_DRAIN: Duration = Duration::from_secs(2);
/// Longest [`start_with`] waits for the threads to set up their rings.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A driver error.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Cause.
        source: io::Error,
    },
    /// A service of the configuration could not be served (at start).
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// A worker thread panicked.
    #[error("proxy worker thread panicked")]
    Panicked,
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> DriverError {
    let what = what.into();
    move |source| DriverError::Io { what, source }
}

/// A running proxy.
#[derive(Debug)]
pub struct ProxyHandle {
    threads: Vec<JoinHandle<Result<(), DriverError>>>,
    stop: Arc<AtomicBool>,
    wakers: Vec<Arc<OwnedFd>>,
    /// One command queue per thread, same order as `threads`.
    queues: Vec<Arc<CommandQueue>>,
    table: Arc<TableHandle>,
    /// Served listeners; serialises [`ProxyHandle::apply`].
    control: Mutex<Control>,
    /// Builds Maglev tables whose candidates changed.
    maglev: control::MaglevBuilder,
}

impl ProxyHandle {
    /// The live service table. Applying changes to it directly swaps services' endpoints of
    /// served addresses but opens or closes no listener: use [`ProxyHandle::apply`] for that.
    pub fn table(&self) -> &Arc<TableHandle> {
        &self.table
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Arc<Metrics> {
        self.table.metrics()
    }

    /// Number of proxy threads.
    pub fn threads(&self) -> usize {
        self.queues.len()
    }

    fn wake_all(&self) {
        for w in &self.wakers {
            let one: u64 = 1;
            // SAFETY: writing 8 bytes from a live u64 to an eventfd we own.
            unsafe {
                libc::write(w.as_raw_fd(), (&raw const one).cast(), 8);
            }
        }
    }

    /// Whether a proxy thread has ended; before [`Self::shutdown`] only an error ends one.
    pub fn is_finished(&self) -> bool {
        self.threads.iter().any(|t| t.is_finished())
    }

    /// Stops every thread and waits for them.
    pub fn shutdown(self) -> Result<(), DriverError> {
        self.stop.store(true, Ordering::SeqCst);
        self.wake_all();
        self.join()
    }

    /// Waits for the threads (they run until [`Self::shutdown`] or an error).
    pub fn join(mut self) -> Result<(), DriverError> {
        let mut result = Ok(());
        for t in std::mem::take(&mut self.threads) {
            let r = t.join().unwrap_or(Err(DriverError::Panicked));
            if result.is_ok() {
                result = r;
            }
        }
        result
    }
}

impl Drop for ProxyHandle {
    /// Dropping the handle without [`ProxyHandle::join`] stops the threads (without waiting).
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop.store(true, Ordering::SeqCst);
            self.wake_all();
        }
    }
}

/// Runs the proxy for `config` on `threads` threads until it fails.
pub fn run(config: &Config, threads: usize) -> Result<(), DriverError> {
    start(config, threads)?.join()
}

/// Driver tuning that is not part of the configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverOptions {
    /// Provided buffers per thread (rounded up to a power of two, at most 32,768).
    pub provided_buffers: u16,
    /// Receive with multishot recv (kernel 6.0): one recv per direction stays armed and
    /// fills provided buffers as data arrives. Off: one single-shot recv per chunk.
    pub multishot_recv: bool,
    /// Pin thread i to core i (mod cores). On a dedicated host this is the point of
    /// thread-per-core; on a small shared machine (load generator and backends on the same
    /// two cores) the scheduler may do better unpinned.
    pub pin_threads: bool,
}

impl Default for DriverOptions {
    fn default() -> Self {
        DriverOptions {
            provided_buffers: PROVIDED_BUFFERS,
            multishot_recv: true,
            pin_threads: true,
        }
    }
}

/// [`start_with`] with default [`DriverOptions`].
pub fn start(config: &Config, threads: usize) -> Result<ProxyHandle, DriverError> {
    start_with(config, threads, DriverOptions::default())
}

/// Starts `threads` threads (each with its ring set up before this returns) with an empty
/// table and the configuration's limits, then serves the configuration's services through
/// [`ProxyHandle::apply`]: one SO_REUSEPORT listener (TCP) or socket (UDP) per thread and
/// service, a port 0 resolved once and shared by all threads. A configuration without
/// services starts a proxy that serves nothing until `apply` adds services.
///
/// Fails (and stops the threads) if a thread cannot set up its ring or a configured
/// service cannot be served: a static file names what must be served.
pub fn start_with(
    config: &Config,
    threads: usize,
    options: DriverOptions,
) -> Result<ProxyHandle, DriverError> {
    config.validate()?;
    let handle = spawn(threads, options, config.tcp_limits(), config.udp_limits())?;
    let report = handle.apply(config.specs().into_iter().map(Change::Upsert));
    if let Some(e) = report.errors.into_iter().next() {
        let _ = handle.shutdown();
        return Err(DriverError::Apply(e));
    }
    Ok(handle)
}

/// Starts the threads, each with its ring, eventfd and command queue, serving nothing yet.
fn spawn(
    threads: usize,
    options: DriverOptions,
    limits: TcpLimits,
    udp_limits: UdpLimits,
) -> Result<ProxyHandle, DriverError> {
    let multishot = options.multishot_recv;
    let provided_buffers = options
        .provided_buffers
        .clamp(1, 32_768)
        .checked_next_power_of_two()
        .unwrap_or(32_768);
    let threads = threads.max(1);
    let table = Arc::new(TableHandle::new(Arc::new(Metrics::default())));
    let stop = Arc::new(AtomicBool::new(false));
    let cores = if options.pin_threads {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut handle = ProxyHandle {
        threads: Vec::new(),
        stop: stop.clone(),
        wakers: Vec::new(),
        queues: Vec::new(),
        table: table.clone(),
        control: Mutex::new(Control::default()),
        maglev: control::MaglevBuilder::default(),
    };
    // Each thread reports once whether its ring is set up.
    let (ready_tx, ready_rx) = mpsc::channel::<bool>();
    for i in 0..threads {
        // SAFETY: eventfd has no memory-safety preconditions; the result is checked.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(DriverError::Io {
                what: "eventfd".into(),
                source: io::Error::last_os_error(),
            });
        }
        // SAFETY: `efd` is a fresh descriptor that nothing else owns.
        let waker = Arc::new(unsafe { OwnedFd::from_raw_fd(efd) });
        let queue = Arc::new(CommandQueue::default());
        handle.wakers.push(waker.clone());
        handle.queues.push(queue.clone());
        let (table, stop, ready) = (table.clone(), stop.clone(), ready_tx.clone());
        let core_id = (!cores.is_empty()).then(|| cores[i % cores.len()]);
        let h = std::thread::Builder::new()
            .name(format!("clipper-proxy-{i}"))
            .spawn(move || {
                // However this thread ends, commands sent to it from then on fail at once.
                let _closer = QueueCloser(queue.clone());
                if let Some(c) = core_id {
                    core_affinity::set_for_current(c);
                }
                let seed = 0x5eed_0000 + i as u64;
                let io = WorkerIo {
                    waker,
                    queue,
                    stop,
                    provided_buffers,
                    multishot,
                };
                let worker = Worker::new(table, limits, udp_limits, io, seed);
                let _ = ready.send(worker.is_ok());
                worker?.run()
            })
            .map_err(io_err("spawning proxy thread"))?;
        handle.threads.push(h);
    }
    drop(ready_tx);
    let deadline = Instant::now() + START_TIMEOUT;
    for _ in 0..threads {
        let left = deadline.saturating_duration_since(Instant::now());
        match ready_rx.recv_timeout(left) {
            Ok(true) => {}
            Ok(false) | Err(_) => {
                // A thread failed to set up (its error is what join returns) or did not
                // report in time.
                let err = handle.shutdown().err();
                return Err(err.unwrap_or_else(|| DriverError::Io {
                    what: "starting proxy threads".into(),
                    source: io::Error::from(io::ErrorKind::TimedOut),
                }));
            }
        }
    }
    Ok(handle)
}

// user_data layout: kind (8 bits) | attempt (8 bits) | slot (32 bits).
const K_ACCEPT: u64 = 1;
const K_WAKE: u64 = 2;
const K_CONNECT: u64 = 3;
const K_RECV_CLIENT: u64 = 4;
const K_RECV_BACKEND: u64 = 5;
const K_SEND_CLIENT: u64 = 6;
const K_SEND_BACKEND: u64 = 7;
const K_CANCEL: u64 = 8;
const K_UDP_LISTEN: u64 = 9;
const K_RECVM_CLIENT: u64 = 11;
const K_RECVM_BACKEND: u64 = 12;
/// Flow receives put the flow id in the 56 bits above the kind.
const K_UDP_FLOW: u64 = 10;

fn ud(kind: u64, attempt: u8, slot: usize) -> u64 {
    kind | (u64::from(attempt) << 8) | ((slot as u64 & 0xffff_ffff) << 16)
}

fn ud_parts(v: u64) -> (u64, u8, usize) {
    (v & 0xff, (v >> 8) as u8, ((v >> 16) & 0xffff_ffff) as usize)
}

/// The buffer of one relay direction: the provided buffer the last recv filled (held until
/// its bytes are sent), or a private buffer after the provided ones ran out once.
#[derive(Default)]
struct DirBuf {
    held: Option<u16>,
    own: Option<Box<[u8]>>,
    /// Bytes of the current buffer already sent.
    off: usize,
    /// Multishot: chunks received but not yet handed to the core, in order.
    queue: VecDeque<Chunk>,
    /// Multishot: the core asked for a recv and has not been handed a chunk yet.
    wants: bool,
    /// Multishot: a multishot recv is armed (its final completion has not arrived).
    armed: bool,
    /// Multishot: a cancel was submitted because the queue reached its cap.
    cancelling: bool,
}

/// What a multishot recv produced.
#[derive(Debug, Clone, Copy)]
enum Chunk {
    Data(u16, usize),
    Eof,
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closing {
    Graceful,
    Abort,
}

struct DConn {
    id: ConnId,
    client: Socket,
    backend: Option<Socket>,
    /// Connect attempt number of `backend`; stale connect completions carry older numbers.
    attempt: u8,
    connect_pending: bool,
    /// Address of the pending connect; the kernel reads it until the connect completes.
    backend_addr: Box<SockAddr>,
    /// Earlier backend sockets whose cancelled connect has not completed yet.
    graveyard: Vec<(u8, Socket, Box<SockAddr>)>,
    /// Client → backend bytes.
    up: DirBuf,
    /// Backend → client bytes.
    down: DirBuf,
    /// Operations submitted and not completed (connect, recv, send).
    inflight: u32,
    closing: Option<Closing>,
}

/// What a worker thread is handed.
struct WorkerIo {
    waker: Arc<OwnedFd>,
    queue: Arc<CommandQueue>,
    stop: Arc<AtomicBool>,
    provided_buffers: u16,
    multishot: bool,
}

/// Slots whose indices go into `user_data`. A slot's generation changes when it is freed,
/// so that a stale index (a paused accept, a flow's listener) is recognised. Slots are freed
/// only once no operation references them.
struct Slab<T> {
    slots: Vec<(u8, Option<T>)>,
    free: Vec<usize>,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Slab<T> {
    /// Stores `v` and returns its index and generation.
    fn insert(&mut self, v: T) -> (usize, u8) {
        let i = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push((0, None));
                self.slots.len() - 1
            }
        };
        self.slots[i].1 = Some(v);
        (i, self.slots[i].0)
    }

    /// The value at `i` if its generation is `generation`.
    fn get(&self, i: usize, generation: u8) -> Option<&T> {
        match self.slots.get(i) {
            Some((g, Some(v))) if *g == generation => Some(v),
            _ => None,
        }
    }

    fn get_mut(&mut self, i: usize, generation: u8) -> Option<&mut T> {
        match self.slots.get_mut(i) {
            Some((g, Some(v))) if *g == generation => Some(v),
            _ => None,
        }
    }

    fn remove(&mut self, i: usize, generation: u8) -> Option<T> {
        let (g, slot) = self.slots.get_mut(i)?;
        if *g != generation {
            return None;
        }
        let v = slot.take()?;
        *g = g.wrapping_add(1);
        self.free.push(i);
        Some(v)
    }
}

/// A TCP listener of one thread.
struct TcpListenerSlot {
    sock: Socket,
    addr: SocketAddr,
    /// A multishot accept is in flight (its final completion has not arrived).
    armed: bool,
    /// Being closed: freed (socket closed, `ack` answered) at the accept's final completion.
    closing: bool,
    ack: Option<Ack>,
}

/// A UDP service socket of one thread, with its posted `recvmsg`.
struct UdpListener {
    sock: Socket,
    addr: SocketAddr,
    msg: Box<udp::MsgBuf>,
    /// A `recvmsg` is in flight (the kernel may write into `msg`).
    armed: bool,
    /// Being closed: freed at the `recvmsg`'s completion.
    closing: bool,
    ack: Option<Ack>,
}

struct Worker {
    // Field order matters: the ring is dropped (and its operations torn down) before the
    // buffer rings and the connections and listeners whose memory those operations use.
    ring: IoUring,
    bufs: BufRing,
    /// Registered when the first UDP service arrives.
    udp_bufs: Option<BufRing>,
    udp: UdpCore<SplitMix64>,
    udp_listeners: Slab<UdpListener>,
    /// Listen address → slot, for the UDP sockets not being closed.
    udp_by_addr: HashMap<SocketAddr, (usize, u8)>,
    /// Flow id → (connected backend socket, slot and generation of the listener replies go
    /// out of).
    flows: HashMap<u64, (Socket, usize, u8)>,
    /// Flows whose recv found no provided buffer; re-posted at the end of the loop.
    starved_flows: Vec<u64>,
    /// Submitted operations whose final completion has not been reaped.
    outstanding: usize,
    /// Listeners whose accept stopped for lack of resources; re-armed at the next sweep.
    paused_accepts: Vec<(usize, u8)>,
    /// Use multishot recv for TCP relays.
    multishot: bool,
    core: TcpCore<SplitMix64>,
    listeners: Slab<TcpListenerSlot>,
    /// Listen address → slot, for the TCP listeners not being closed.
    tcp_by_addr: HashMap<SocketAddr, (usize, u8)>,
    conns: Vec<Option<DConn>>,
    waker: Arc<OwnedFd>,
    wake_buf: Box<[u8; 8]>,
    /// The eventfd fired: look at the command queue.
    woken: bool,
    queue: Arc<CommandQueue>,
    stop: Arc<AtomicBool>,
    origin: Instant,
    /// Entries that did not fit in the submission queue.
    backlog: VecDeque<squeue::Entry>,
}

fn build_ring() -> io::Result<IoUring> {
    // SINGLE_ISSUER + DEFER_TASKRUN (6.1): completions are processed only when this thread
    // enters the kernel to wait, which it does once per loop. Fall back on older kernels.
    IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(RING_ENTRIES)
        .or_else(|_| IoUring::builder().setup_coop_taskrun().build(RING_ENTRIES))
        .or_else(|_| IoUring::new(RING_ENTRIES))
}

impl Worker {
    fn new(
        table: Arc<TableHandle>,
        limits: TcpLimits,
        udp_limits: UdpLimits,
        io: WorkerIo,
        seed: u64,
    ) -> Result<Worker, DriverError> {
        let WorkerIo {
            waker,
            queue,
            stop,
            provided_buffers,
            multishot,
        } = io;
        let ring = build_ring().map_err(io_err("io_uring_setup"))?;
        let bufs = BufRing::new(&ring, provided_buffers, RELAY_BUFFER_BYTES, BUFFER_GROUP)
            .map_err(io_err("registering the provided-buffer ring"))?;
        Ok(Worker {
            ring,
            bufs,
            udp_bufs: None,
            udp: UdpCore::new(table.clone(), udp_limits, SplitMix64(seed ^ 0x0da7_a9a3)),
            udp_listeners: Slab::default(),
            udp_by_addr: HashMap::new(),
            flows: HashMap::new(),
            starved_flows: Vec::new(),
            outstanding: 0,
            paused_accepts: Vec::new(),
            multishot,
            core: TcpCore::new(table, limits, SplitMix64(seed)),
            listeners: Slab::default(),
            tcp_by_addr: HashMap::new(),
            conns: Vec::new(),
            waker,
            wake_buf: Box::new([0; 8]),
            woken: false,
            queue,
            stop,
            origin: Instant::now(),
            backlog: VecDeque::new(),
        })
    }

    fn now(&self) -> Nanos {
        self.origin.elapsed().as_nanos() as Nanos
    }

    fn push(&mut self, e: squeue::Entry) {
        self.outstanding += 1;
        if !self.backlog.is_empty() {
            self.backlog.push_back(e);
            return;
        }
        // SAFETY: every pointer in `e` refers to memory that stays valid until its
        // completion is reaped: buffers and addresses are boxed in a `DConn` that is freed
        // only when its `inflight` count is zero, a UDP listener's `msg` is freed only after
        // its `recvmsg` completed, and `wake_buf` lives as long as the ring.
        if unsafe { self.ring.submission().push(&e) }.is_err() {
            self.backlog.push_back(e);
        }
    }

    fn flush_backlog(&mut self) {
        while let Some(e) = self.backlog.front() {
            // SAFETY: as in `push`.
            if unsafe { self.ring.submission().push(e) }.is_err() {
                break;
            }
            self.backlog.pop_front();
        }
    }

    fn arm_accept(&mut self, i: usize, generation: u8) {
        let Some(l) = self.listeners.get_mut(i, generation) else {
            return;
        };
        if l.armed || l.closing {
            return;
        }
        l.armed = true;
        let e = opcode::AcceptMulti::new(types::Fd(l.sock.as_raw_fd()))
            .build()
            .user_data(ud(K_ACCEPT, generation, i));
        self.push(e);
    }

    fn arm_wake(&mut self) {
        let e = opcode::Read::new(
            types::Fd(self.waker.as_raw_fd()),
            self.wake_buf.as_mut_ptr(),
            8,
        )
        .build()
        .user_data(ud(K_WAKE, 0, 0));
        self.push(e);
    }

    /// Carries out the queued commands. First catches up with the table, so that a `Sync`
    /// (and any other acknowledgement) means this thread has seen it.
    fn run_commands(&mut self) {
        let commands = self.queue.take();
        if commands.is_empty() {
            return;
        }
        self.udp.sync_table();
        self.close_flows();
        for c in commands {
            match c {
                Command::Listen { key, sock, ack } => self.listen(key, sock, ack),
                Command::Close { key, ack } => match key.protocol {
                    Protocol::Tcp => self.close_tcp_listener(key.addr, ack),
                    Protocol::Udp => self.close_udp_listener(key.addr, ack),
                },
                Command::Sync { ack } => ack.send(Ok(())),
            }
        }
    }

    /// Starts serving `key` on `sock`: a multishot accept (TCP) or a posted `recvmsg` (UDP).
    fn listen(&mut self, key: ServiceKey, sock: Socket, ack: Ack) {
        let addr = key.addr;
        match key.protocol {
            Protocol::Tcp => {
                let (i, g) = self.listeners.insert(TcpListenerSlot {
                    sock,
                    addr,
                    armed: false,
                    closing: false,
                    ack: None,
                });
                // Should a listener for this address still be closing (an earlier apply
                // timed out), the new one takes over the name.
                self.tcp_by_addr.insert(addr, (i, g));
                self.arm_accept(i, g);
            }
            Protocol::Udp => {
                if self.udp_bufs.is_none() {
                    match BufRing::new(
                        &self.ring,
                        UDP_PROVIDED_BUFFERS,
                        udp::MAX_DATAGRAM,
                        UDP_BUFFER_GROUP,
                    ) {
                        Ok(b) => self.udp_bufs = Some(b),
                        Err(e) => {
                            // Dropping `sock` closes it; the other threads serve the service.
                            return ack.send(Err(format!("registering the UDP buffer ring: {e}")));
                        }
                    }
                }
                let (i, g) = self.udp_listeners.insert(UdpListener {
                    sock,
                    addr,
                    msg: udp::MsgBuf::new(),
                    armed: false,
                    closing: false,
                    ack: None,
                });
                self.udp_by_addr.insert(addr, (i, g));
                self.arm_udp_listen(i, g);
            }
        }
        ack.send(Ok(()));
    }

    /// Stops accepting on `addr`: the listening socket is shut down (it leaves the
    /// SO_REUSEPORT group and stops listening at once), its accept cancelled, and the socket
    /// closed when the accept's final completion arrives. Connections already accepted are
    /// untouched.
    fn close_tcp_listener(&mut self, addr: SocketAddr, ack: Ack) {
        let Some((i, g)) = self.tcp_by_addr.remove(&addr) else {
            return ack.send(Ok(()));
        };
        let Some(l) = self.listeners.get_mut(i, g) else {
            return ack.send(Ok(()));
        };
        l.closing = true;
        l.ack = Some(ack);
        let _ = l.sock.shutdown(std::net::Shutdown::Read);
        if l.armed {
            let e = opcode::AsyncCancel::new(ud(K_ACCEPT, g, i))
                .build()
                .user_data(ud(K_CANCEL, 0, 0));
            self.push(e);
        } else {
            self.free_tcp_listener(i, g);
        }
    }

    fn free_tcp_listener(&mut self, i: usize, generation: u8) {
        self.paused_accepts.retain(|p| *p != (i, generation));
        if let Some(l) = self.listeners.remove(i, generation) {
            drop(l.sock);
            if let Some(ack) = l.ack {
                ack.send(Ok(()));
            }
        }
    }

    /// Stops receiving on UDP `addr`: the posted `recvmsg` is cancelled and the socket
    /// closed at its completion. The service's flows go when the table drops the service.
    fn close_udp_listener(&mut self, addr: SocketAddr, ack: Ack) {
        let Some((i, g)) = self.udp_by_addr.remove(&addr) else {
            return ack.send(Ok(()));
        };
        let Some(l) = self.udp_listeners.get_mut(i, g) else {
            return ack.send(Ok(()));
        };
        l.closing = true;
        l.ack = Some(ack);
        if l.armed {
            let e = opcode::AsyncCancel::new(ud(K_UDP_LISTEN, g, i))
                .build()
                .user_data(ud(K_CANCEL, 0, 0));
            self.push(e);
        } else {
            self.free_udp_listener(i, g);
        }
    }

    fn free_udp_listener(&mut self, i: usize, generation: u8) {
        if let Some(l) = self.udp_listeners.remove(i, generation) {
            drop(l.sock);
            if let Some(ack) = l.ack {
                ack.send(Ok(()));
            }
        }
    }

    fn run(mut self) -> Result<(), DriverError> {
        // Commands queued before this thread started (the eventfd also still holds their
        // wake-up, which is harmless).
        self.run_commands();
        self.arm_wake();
        let mut next_sweep = self.now() + SWEEP_PERIOD;
        let mut cqes: Vec<(u64, i32, u32)> = Vec::with_capacity(RING_ENTRIES as usize * 2);
        while !self.stop.load(Ordering::Relaxed) {
            let now = self.now();
            let deadline = self
                .core
                .poll_timeout()
                .unwrap_or(u64::MAX)
                .min(self.udp.poll_timeout().unwrap_or(u64::MAX))
                .min(next_sweep);
            let wait = Duration::from_nanos(deadline.saturating_sub(now)).min(MAX_WAIT);
            let ts = types::Timespec::from(wait.max(Duration::from_micros(1)));
            let args = types::SubmitArgs::new().timespec(&ts);
            match self.ring.submitter().submit_with_args(1, &args) {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EBUSY)
                    ) => {}
                Err(e) => {
                    return Err(DriverError::Io {
                        what: "io_uring_enter".into(),
                        source: e,
                    });
                }
            }
            cqes.clear();
            cqes.extend(
                self.ring
                    .completion()
                    .map(|c| (c.user_data(), c.result(), c.flags())),
            );
            for (u, res, flags) in cqes.drain(..) {
                if !cqueue::more(flags) {
                    self.outstanding = self.outstanding.saturating_sub(1);
                }
                self.complete(u, res, flags);
                self.execute();
            }
            if std::mem::take(&mut self.woken) {
                self.run_commands();
            }
            let now = self.now();
            self.core.handle_timeout(now);
            self.udp.sync_table();
            self.udp.handle_timeout(now);
            self.close_flows();
            for flow in std::mem::take(&mut self.starved_flows) {
                self.post_flow_recv(flow);
            }
            if now >= next_sweep {
                self.core.sweep(now);
                next_sweep = now + SWEEP_PERIOD;
                for (i, g) in std::mem::take(&mut self.paused_accepts) {
                    self.arm_accept(i, g);
                }
            }
            self.execute();
            self.flush_backlog();
        }
        self.drain_on_stop();
        Ok(())
    }

    /// Cancels everything and waits (bounded) for the completions, so that no operation
    /// still references a buffer when the worker is dropped.
    fn drain_on_stop(&mut self) {
        self.outstanding = self.outstanding.saturating_sub(self.backlog.len());
        self.backlog.clear();
        let e = opcode::AsyncCancel2::new(types::CancelBuilder::any().all())
            .build()
            .user_data(ud(K_CANCEL, 0, 0));
        self.push(e);
        let until = Instant::now() + STOP_DRAIN;
        while self.outstanding > 0 && Instant::now() < until {
            let ts = types::Timespec::from(Duration::from_millis(50));
            let args = types::SubmitArgs::new().timespec(&ts);
            let _ = self.ring.submitter().submit_with_args(1, &args);
            let done: Vec<u32> = self.ring.completion().map(|c| c.flags()).collect();
            for flags in done {
                if !cqueue::more(flags) {
                    self.outstanding = self.outstanding.saturating_sub(1);
                }
            }
        }
        if self.outstanding > 0 {
            // Operations may still hold our buffers: leak them rather than risk the kernel
            // writing into freed memory.
            std::mem::forget(std::mem::take(&mut self.conns));
            std::mem::forget(std::mem::take(&mut self.udp_listeners));
            self.bufs.leak();
            if let Some(b) = &mut self.udp_bufs {
                b.leak();
            }
        }
    }

    fn arm_udp_listen(&mut self, i: usize, generation: u8) {
        let Some(l) = self.udp_listeners.get_mut(i, generation) else {
            return;
        };
        if l.armed || l.closing {
            return;
        }
        l.armed = true;
        l.msg.reset();
        let e = opcode::RecvMsg::new(types::Fd(l.sock.as_raw_fd()), &raw mut l.msg.hdr)
            .build()
            .user_data(ud(K_UDP_LISTEN, generation, i));
        self.push(e);
    }

    fn on_udp_datagram(&mut self, i: usize, generation: u8, len: usize, now: Nanos) {
        let Some(l) = self.udp_listeners.get(i, generation) else {
            return;
        };
        let (Some(client), listen) = (l.msg.source(), l.addr) else {
            return;
        };
        let len = len.min(l.msg.data.len());
        let verdict = self.udp.on_datagram(listen, client, len, now);
        self.close_flows();
        let Verdict::Forward {
            flow,
            backend,
            created,
        } = verdict
        else {
            return;
        };
        if created && let Ok(sock) = udp::flow_socket(backend) {
            self.flows.insert(flow.0, (sock, i, generation));
            self.post_flow_recv(flow.0);
        }
        if let (Some((sock, _, _)), Some(l)) = (
            self.flows.get(&flow.0),
            self.udp_listeners.get(i, generation),
        ) {
            // A datagram that does not fit the socket buffer right now is dropped, as the
            // network would.
            let _ = sock.send_with_flags(&l.msg.data[..len], libc::MSG_DONTWAIT);
        }
    }

    fn post_flow_recv(&mut self, flow: u64) {
        let (Some((sock, _, _)), Some(bufs)) = (self.flows.get(&flow), &self.udp_bufs) else {
            return;
        };
        let e = opcode::Recv::new(
            types::Fd(sock.as_raw_fd()),
            std::ptr::null_mut(),
            bufs.buf_len() as u32,
        )
        .buf_group(bufs.group())
        .build()
        .flags(squeue::Flags::BUFFER_SELECT)
        .user_data(K_UDP_FLOW | (flow << 8));
        self.push(e);
    }

    fn on_flow_reply(&mut self, flow: u64, res: i32, flags: u32, now: Nanos) {
        let picked = cqueue::buffer_select(flags);
        if res > 0
            && let Some(bid) = picked
            && let Some(client) = self.udp.on_reply(FlowId(flow), res as usize, now)
            && let Some((_, li, lg)) = self.flows.get(&flow)
            && let Some(l) = self.udp_listeners.get(*li, *lg)
            && let Some(data) = self.udp_bufs.as_ref().and_then(|b| b.buf(bid))
        {
            let data = &data[..(res as usize).min(data.len())];
            let _ = l
                .sock
                .send_to_with_flags(data, &client.into(), libc::MSG_DONTWAIT);
        }
        if let (Some(bid), Some(bufs)) = (picked, &mut self.udp_bufs) {
            bufs.recycle(bid);
        }
        if res == -libc::ENOBUFS {
            self.starved_flows.push(flow);
        } else if res != -libc::ECANCELED && !self.stop.load(Ordering::Relaxed) {
            self.post_flow_recv(flow);
        }
    }

    /// Closes the backend sockets of flows the UDP core removed (timed out, or their backend
    /// or service was deleted), cancelling their pending receive.
    fn close_flows(&mut self) {
        while let Some(FlowId(flow)) = self.udp.poll_closed() {
            if self.flows.remove(&flow).is_some() {
                let e = opcode::AsyncCancel::new(K_UDP_FLOW | (flow << 8))
                    .build()
                    .user_data(ud(K_CANCEL, 0, 0));
                self.push(e);
            }
        }
    }

    fn complete(&mut self, u: u64, res: i32, flags: u32) {
        let (kind, attempt, slot) = ud_parts(u);
        let now = self.now();
        match kind {
            K_UDP_LISTEN => {
                let Some(l) = self.udp_listeners.get_mut(slot, attempt) else {
                    return;
                };
                l.armed = false;
                if l.closing {
                    return self.free_udp_listener(slot, attempt);
                }
                if res >= 0 {
                    self.on_udp_datagram(slot, attempt, res as usize, now);
                }
                if !self.stop.load(Ordering::Relaxed) {
                    self.arm_udp_listen(slot, attempt);
                }
            }
            K_UDP_FLOW => self.on_flow_reply(u >> 8, res, flags, now),
            K_RECVM_CLIENT | K_RECVM_BACKEND => self.on_recv_multi(kind, slot, res, flags, now),
            K_ACCEPT => {
                if res >= 0 {
                    // SAFETY: a successful accept completion carries a new descriptor that we
                    // now own.
                    let fd = unsafe { OwnedFd::from_raw_fd(res) };
                    // A connection accepted while its listener closes is still served (its
                    // service is still in the table then).
                    self.on_accept(slot, attempt, fd, now);
                }
                if cqueue::more(flags) {
                    return;
                }
                let Some(l) = self.listeners.get_mut(slot, attempt) else {
                    return;
                };
                l.armed = false;
                if l.closing {
                    self.free_tcp_listener(slot, attempt);
                } else if self.stop.load(Ordering::Relaxed) {
                    // Stopping: nothing to re-arm.
                } else if matches!(
                    -res,
                    libc::EMFILE
                        | libc::ENFILE
                        | libc::ENOBUFS
                        | libc::ENOMEM
                        | libc::EINVAL
                        | libc::EBADF
                ) {
                    // Out of descriptors or memory (or a socket that stopped listening):
                    // re-arming now would spin; the listen backlog holds clients until the
                    // next sweep re-arms.
                    self.paused_accepts.push((slot, attempt));
                } else {
                    self.arm_accept(slot, attempt);
                }
            }
            K_WAKE => {
                self.woken = true;
                if !self.stop.load(Ordering::Relaxed) {
                    self.arm_wake();
                }
            }
            K_CANCEL => {}
            _ => self.on_conn_completion(kind, attempt, slot, res, flags, now),
        }
    }

    fn on_accept(&mut self, listener: usize, generation: u8, fd: OwnedFd, now: Nanos) {
        let client = Socket::from(fd);
        let Some(listen) = self.listeners.get(listener, generation).map(|l| l.addr) else {
            return;
        };
        let Some(peer) = client.peer_addr().ok().and_then(|a| a.as_socket()) else {
            return; // the client already went away; dropping closes the socket
        };
        let _ = client.set_tcp_nodelay(true);
        match self.core.accept(listen, peer, now) {
            Accepted::Refused(_) => {} // dropping `client` closes it
            Accepted::Conn(id) => {
                let i = id.index();
                if self.conns.len() <= i {
                    self.conns.resize_with(i + 1, || None);
                }
                self.conns[i] = Some(DConn {
                    id,
                    client,
                    backend: None,
                    attempt: 0,
                    connect_pending: false,
                    backend_addr: Box::new(SockAddr::from(listen)),
                    graveyard: Vec::new(),
                    up: DirBuf::default(),
                    down: DirBuf::default(),
                    inflight: 0,
                    closing: None,
                });
            }
        }
    }

    fn on_conn_completion(
        &mut self,
        kind: u64,
        attempt: u8,
        slot: usize,
        res: i32,
        flags: u32,
        now: Nanos,
    ) {
        let Some(Some(c)) = self.conns.get_mut(slot) else {
            return;
        };
        c.inflight = c.inflight.saturating_sub(1);
        let id = c.id;
        if kind == K_CONNECT && attempt != c.attempt {
            // The cancelled connect of an earlier backend socket: close that socket now.
            c.graveyard.retain(|(a, _, _)| *a != attempt);
        } else if c.closing.is_some() {
            // Cancelled by Close/Reset; nothing to report, but a buffer the kernel picked
            // goes back.
            if let Some(bid) = cqueue::buffer_select(flags) {
                self.bufs.recycle(bid);
            }
        } else {
            let event = match kind {
                K_CONNECT => {
                    c.connect_pending = false;
                    if res >= 0 {
                        Event::Connected
                    } else {
                        Event::ConnectFailed(match -res {
                            libc::ECONNREFUSED => ConnectError::Refused,
                            libc::ETIMEDOUT => ConnectError::TimedOut,
                            _ => ConnectError::Other,
                        })
                    }
                }
                K_RECV_CLIENT | K_RECV_BACKEND => {
                    let from = if kind == K_RECV_CLIENT {
                        Side::Client
                    } else {
                        Side::Backend
                    };
                    let dir = if from == Side::Client {
                        &mut c.up
                    } else {
                        &mut c.down
                    };
                    let picked = cqueue::buffer_select(flags);
                    if res == -libc::ENOBUFS && dir.own.is_none() {
                        // The provided buffers are all in use: continue this direction on a
                        // private buffer so that it cannot starve.
                        dir.own = Some(vec![0; RELAY_BUFFER_BYTES].into_boxed_slice());
                        self.post_recv(slot, from);
                        return self.maybe_free(slot);
                    }
                    dir.off = 0;
                    if res > 0 {
                        dir.held = picked;
                    } else if let Some(bid) = picked {
                        self.bufs.recycle(bid);
                    }
                    if res >= 0 {
                        Event::Received {
                            from,
                            len: res as usize,
                        }
                    } else {
                        Event::Error { side: from }
                    }
                }
                K_SEND_CLIENT | K_SEND_BACKEND => {
                    let to = if kind == K_SEND_CLIENT {
                        Side::Client
                    } else {
                        Side::Backend
                    };
                    if res > 0 {
                        let dir = if to == Side::Backend {
                            &mut c.up
                        } else {
                            &mut c.down
                        };
                        dir.off += res as usize;
                        Event::Sent {
                            to,
                            len: res as usize,
                        }
                    } else {
                        Event::Error { side: to }
                    }
                }
                _ => return,
            };
            self.core.handle(id, event, now);
        }
        self.maybe_free(slot);
    }

    fn maybe_free(&mut self, slot: usize) {
        let Some(Some(c)) = self.conns.get(slot) else {
            return;
        };
        if c.closing.is_some()
            && c.inflight == 0
            && let Some(c) = self.conns[slot].take()
        {
            let queued = c.up.queue.iter().chain(c.down.queue.iter());
            let queued = queued.filter_map(|ch| match ch {
                Chunk::Data(bid, _) => Some(*bid),
                _ => None,
            });
            for bid in [c.up.held, c.down.held].into_iter().flatten().chain(queued) {
                self.bufs.recycle(bid);
            }
            self.core.release(c.id);
            // Dropping `c` closes both sockets (RST where SO_LINGER 0 was set).
        }
    }

    fn execute(&mut self) {
        while let Some((id, action)) = self.core.poll_action() {
            let slot = id.index();
            let Some(Some(c)) = self.conns.get(slot) else {
                continue;
            };
            if c.id != id {
                continue;
            }
            match action {
                Action::Connect { addr, source } => self.do_connect(slot, addr, source),
                Action::Recv { from } => self.post_recv(slot, from),
                Action::Send { to, len } => {
                    let Some(Some(c)) = self.conns.get_mut(slot) else {
                        continue;
                    };
                    let (sock, dir, kind) = match to {
                        Side::Backend => (c.backend.as_ref(), &c.up, K_SEND_BACKEND),
                        Side::Client => (Some(&c.client), &c.down, K_SEND_CLIENT),
                    };
                    let buf = match (dir.held, &dir.own) {
                        (Some(bid), _) => self.bufs.buf(bid),
                        (None, Some(own)) => Some(&own[..]),
                        (None, None) => None,
                    };
                    let bytes = buf.and_then(|b| b.get(dir.off..dir.off.saturating_add(len)));
                    let (Some(sock), Some(bytes)) = (sock, bytes) else {
                        self.core.handle(id, Event::Error { side: to }, self.now());
                        continue;
                    };
                    let e = opcode::Send::new(
                        types::Fd(sock.as_raw_fd()),
                        bytes.as_ptr(),
                        bytes.len() as u32,
                    )
                    .flags(libc::MSG_NOSIGNAL)
                    .build()
                    .user_data(ud(kind, c.attempt, slot));
                    c.inflight += 1;
                    self.push(e);
                }
                Action::Shutdown { side } => {
                    if let Some(Some(c)) = self.conns.get(slot) {
                        let sock = match side {
                            Side::Client => Some(&c.client),
                            Side::Backend => c.backend.as_ref(),
                        };
                        if let Some(s) = sock {
                            let _ = s.shutdown(std::net::Shutdown::Write);
                        }
                    }
                }
                Action::Close | Action::Reset => {
                    let abort = action == Action::Reset;
                    self.do_close(slot, abort);
                }
            }
        }
    }

    /// Posts a recv reading `from`: into a provided buffer, or into the direction's private
    /// buffer once it has fallen back to one. The buffer the direction held (its data fully
    /// sent, since the core only asks for a recv then) goes back to the ring first.
    fn post_recv(&mut self, slot: usize, from: Side) {
        let Some(Some(c)) = self.conns.get_mut(slot) else {
            return;
        };
        let id = c.id;
        let (fd, dir, kind) = match from {
            Side::Client => (Some(c.client.as_raw_fd()), &mut c.up, K_RECV_CLIENT),
            Side::Backend => (
                c.backend.as_ref().map(|b| b.as_raw_fd()),
                &mut c.down,
                K_RECV_BACKEND,
            ),
        };
        if let Some(bid) = dir.held.take() {
            self.bufs.recycle(bid);
        }
        let Some(fd) = fd else {
            let now = self.now();
            return self.core.handle(id, Event::Error { side: from }, now);
        };
        if dir.own.is_none() && self.multishot {
            if let Some(chunk) = dir.queue.pop_front() {
                return self.deliver(slot, from, chunk, self.now());
            }
            dir.wants = true;
            if !dir.armed {
                dir.armed = true;
                let kind = if from == Side::Client {
                    K_RECVM_CLIENT
                } else {
                    K_RECVM_BACKEND
                };
                let e = opcode::RecvMulti::new(types::Fd(fd), self.bufs.group())
                    .build()
                    .user_data(ud(kind, c.attempt, slot));
                c.inflight += 1;
                self.push(e);
            }
            return;
        }
        let e = match &mut dir.own {
            Some(own) => {
                opcode::Recv::new(types::Fd(fd), own.as_mut_ptr(), own.len() as u32).build()
            }
            None => opcode::Recv::new(
                types::Fd(fd),
                std::ptr::null_mut(),
                self.bufs.buf_len() as u32,
            )
            .buf_group(self.bufs.group())
            .build()
            .flags(squeue::Flags::BUFFER_SELECT),
        };
        c.inflight += 1;
        let e = e.user_data(ud(kind, c.attempt, slot));
        self.push(e);
    }

    /// Hands one queued chunk of direction `from` to the core.
    fn deliver(&mut self, slot: usize, from: Side, chunk: Chunk, now: Nanos) {
        let Some(Some(c)) = self.conns.get_mut(slot) else {
            return;
        };
        let dir = if from == Side::Client {
            &mut c.up
        } else {
            &mut c.down
        };
        dir.wants = false;
        let event = match chunk {
            Chunk::Data(bid, len) => {
                dir.held = Some(bid);
                dir.off = 0;
                Event::Received { from, len }
            }
            Chunk::Eof => Event::Received { from, len: 0 },
            Chunk::Error => Event::Error { side: from },
        };
        let id = c.id;
        self.core.handle(id, event, now);
    }

    /// A completion of a multishot recv: queue what it brought, hand the next chunk to the
    /// core if it is waiting for one, and keep the recv armed (or fall back) as needed.
    fn on_recv_multi(&mut self, kind: u64, slot: usize, res: i32, flags: u32, now: Nanos) {
        let from = if kind == K_RECVM_CLIENT {
            Side::Client
        } else {
            Side::Backend
        };
        let Some(Some(c)) = self.conns.get_mut(slot) else {
            return;
        };
        let more = cqueue::more(flags);
        if !more {
            c.inflight = c.inflight.saturating_sub(1);
        }
        let picked = cqueue::buffer_select(flags);
        let closing = c.closing.is_some();
        let attempt = c.attempt;
        let dir = if from == Side::Client {
            &mut c.up
        } else {
            &mut c.down
        };
        if !more {
            dir.armed = false;
            dir.cancelling = false;
        }
        if closing {
            if let Some(bid) = picked {
                self.bufs.recycle(bid);
            }
            return self.maybe_free(slot);
        }
        match (res, picked) {
            (r, Some(bid)) if r > 0 => dir.queue.push_back(Chunk::Data(bid, r as usize)),
            (r, p) => {
                if let Some(bid) = p {
                    self.bufs.recycle(bid);
                }
                if r == 0 {
                    dir.queue.push_back(Chunk::Eof);
                } else if r != -libc::ENOBUFS && r != -libc::ECANCELED {
                    // An error, or data without a buffer (cannot happen): reset.
                    dir.queue.push_back(Chunk::Error);
                }
            }
        }
        let mut cancel = None;
        if dir.armed && !dir.cancelling && dir.queue.len() >= MAX_QUEUED_CHUNKS {
            dir.cancelling = true;
            cancel = Some(
                opcode::AsyncCancel::new(ud(kind, attempt, slot))
                    .build()
                    .user_data(ud(K_CANCEL, 0, slot)),
            );
        }
        let next = if dir.wants {
            dir.queue.pop_front()
        } else {
            None
        };
        let rearm = dir.wants && next.is_none() && !dir.armed;
        if rearm && res == -libc::ENOBUFS {
            // The provided buffers ran out: continue on a private buffer.
            dir.own = Some(vec![0; RELAY_BUFFER_BYTES].into_boxed_slice());
            dir.wants = false;
        }
        if let Some(e) = cancel {
            self.push(e);
        }
        if let Some(chunk) = next {
            self.deliver(slot, from, chunk, now);
        } else if rearm {
            self.post_recv(slot, from);
        }
        self.maybe_free(slot);
    }

    fn do_connect(&mut self, slot: usize, addr: SocketAddr, source: Option<std::net::IpAddr>) {
        let Some(Some(c)) = self.conns.get_mut(slot) else {
            return;
        };
        let id = c.id;
        let old = c.backend.take();
        let old_addr = std::mem::replace(&mut c.backend_addr, Box::new(SockAddr::from(addr)));
        if let Some(old) = old
            && c.connect_pending
        {
            // Its connect is still in flight: cancel it, and keep the socket and the address
            // the kernel may read alive until the cancelled completion arrives.
            let cancel = opcode::AsyncCancel::new(ud(K_CONNECT, c.attempt, slot))
                .build()
                .user_data(ud(K_CANCEL, 0, slot));
            c.graveyard.push((c.attempt, old, old_addr));
            self.push(cancel);
        }
        let Some(Some(c)) = self.conns.get_mut(slot) else {
            return;
        };
        c.connect_pending = false;
        c.attempt = c.attempt.wrapping_add(1);
        let sock = match Socket::new(Domain::for_address(addr), Type::STREAM, None) {
            Ok(s) => s,
            Err(_) => {
                let now = self.now();
                self.core
                    .handle(id, Event::ConnectFailed(ConnectError::Other), now);
                return;
            }
        };
        let _ = sock.set_tcp_nodelay(true);
        if let Some(ip) = source {
            // Keep the client's address towards the backend. Needs CAP_NET_ADMIN and a
            // return path (the control loop sets it up); without them, the node's address.
            let transparent = match ip {
                std::net::IpAddr::V4(_) => sock.set_ip_transparent_v4(true),
                std::net::IpAddr::V6(_) => sock.set_ip_transparent_v6(true),
            };
            let bound =
                transparent.and_then(|()| sock.bind(&SockAddr::from(SocketAddr::new(ip, 0))));
            if bound.is_err() {
                self.core.table().metrics().record_transparent_failure();
            }
        }
        let e = opcode::Connect::new(
            types::Fd(sock.as_raw_fd()),
            c.backend_addr.as_ptr().cast(),
            c.backend_addr.len(),
        )
        .build()
        .user_data(ud(K_CONNECT, c.attempt, slot));
        c.backend = Some(sock);
        c.connect_pending = true;
        c.inflight += 1;
        self.push(e);
    }

    fn do_close(&mut self, slot: usize, abort: bool) {
        let Some(Some(c)) = self.conns.get_mut(slot) else {
            return;
        };
        c.closing = Some(if abort {
            Closing::Abort
        } else {
            Closing::Graceful
        });
        if abort {
            let _ = c.client.set_linger(Some(Duration::ZERO));
            if let Some(b) = &c.backend {
                let _ = b.set_linger(Some(Duration::ZERO));
            }
        }
        if c.inflight > 0 {
            let mut fds: Vec<RawFd> = vec![c.client.as_raw_fd()];
            fds.extend(c.backend.as_ref().map(|b| b.as_raw_fd()));
            for fd in fds {
                let e = opcode::AsyncCancel2::new(types::CancelBuilder::fd(types::Fd(fd)).all())
                    .build()
                    .user_data(ud(K_CANCEL, 0, slot));
                self.push(e);
            }
        }
        self.maybe_free(slot);
    }
}

/// Whether io_uring can be set up here (it may be disabled by `kernel.io_uring_disabled` or a
/// seccomp filter).
///
/// The probe ring is created and dropped on a thread of its own: tearing a ring down queues
/// task work on the thread that created it, which interrupts that thread's blocking socket
/// calls that have a timeout (they fail with EINTR).
pub fn io_uring_available() -> bool {
    std::thread::scope(|s| s.spawn(|| build_ring().is_ok()).join().unwrap_or(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_round_trips() {
        for (kind, attempt, slot) in [(K_ACCEPT, 0, 0), (K_SEND_BACKEND, 255, 0xffff_ffff)] {
            assert_eq!(ud_parts(ud(kind, attempt, slot)), (kind, attempt, slot));
        }
        let flow = (1u64 << 56) - 1;
        let u = K_UDP_FLOW | (flow << 8);
        assert_eq!((u & 0xff, u >> 8), (K_UDP_FLOW, flow));
    }
}
