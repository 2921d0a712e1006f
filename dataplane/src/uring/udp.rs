//! UDP pieces of the driver: per-listener `recvmsg` state and sockaddr parsing.

use socket2::{Domain, Socket, Type};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Largest UDP payload (IPv4: 65,535 − 8 UDP − 20 IP header bytes).
pub(super) const MAX_DATAGRAM: usize = 65_507;

/// A UDP listener's posted `recvmsg`: header, iovec, source address and payload buffer, all
/// boxed together so their addresses stay fixed while the kernel holds them.
pub(super) struct MsgBuf {
    pub(super) hdr: libc::msghdr,
    iov: libc::iovec,
    name: libc::sockaddr_storage,
    pub(super) data: Box<[u8]>,
}

impl MsgBuf {
    pub(super) fn new() -> Box<MsgBuf> {
        // SAFETY: msghdr, iovec and sockaddr_storage are plain C structs for which all-zero
        // bytes is a valid value.
        let mut m = Box::new(unsafe {
            MsgBuf {
                hdr: std::mem::zeroed(),
                iov: std::mem::zeroed(),
                name: std::mem::zeroed(),
                data: vec![0u8; MAX_DATAGRAM].into_boxed_slice(),
            }
        });
        m.reset();
        m
    }

    /// Points the header at this box's own fields; call before each post.
    pub(super) fn reset(&mut self) {
        self.iov.iov_base = self.data.as_mut_ptr().cast();
        self.iov.iov_len = self.data.len();
        self.hdr.msg_name = (&raw mut self.name).cast();
        self.hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        self.hdr.msg_iov = &raw mut self.iov;
        self.hdr.msg_iovlen = 1;
        self.hdr.msg_control = std::ptr::null_mut();
        self.hdr.msg_controllen = 0;
        self.hdr.msg_flags = 0;
    }

    /// The source address of the datagram just received.
    pub(super) fn source(&self) -> Option<SocketAddr> {
        parse_sockaddr(&self.name, self.hdr.msg_namelen as usize)
    }
}

/// Parses a kernel-filled socket address; `None` for other families or short lengths.
pub(super) fn parse_sockaddr(s: &libc::sockaddr_storage, len: usize) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, which fits in it.
            let a = unsafe { &*(&raw const *s).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: the family says the storage holds a sockaddr_in6, which fits in it.
            let a = unsafe { &*(&raw const *s).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// A UDP socket connected to `backend`, for one flow.
pub(super) fn flow_socket(backend: SocketAddr) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(backend), Type::DGRAM, None)?;
    s.connect(&backend.into())?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v4_v6_and_rejects_garbage() {
        for addr in ["127.0.0.1:53", "[::1]:5353"] {
            let a: SocketAddr = addr.parse().unwrap();
            let sa = socket2::SockAddr::from(a);
            let len = sa.len() as usize;
            // SAFETY: all-zero is a valid sockaddr_storage; `sa` holds `len` valid bytes of a
            // socket address, which fit in a sockaddr_storage.
            let st = unsafe {
                let mut st: libc::sockaddr_storage = std::mem::zeroed();
                std::ptr::copy_nonoverlapping(
                    sa.as_ptr().cast::<u8>(),
                    (&raw mut st).cast::<u8>(),
                    len,
                );
                st
            };
            assert_eq!(parse_sockaddr(&st, len), Some(a));
            assert_eq!(parse_sockaddr(&st, 2), None);
        }
        // SAFETY: all-zero is a valid sockaddr_storage (family AF_UNSPEC).
        let zero: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        assert_eq!(parse_sockaddr(&zero, 128), None);
    }
}
