//! The one module that calls libc directly: packet, raw ICMP and
//! non-blocking TCP sockets, the interface list, poll(2), and the umask and
//! SIGHUP disposition of the node side of key rotation.
//!
//! Everything here is wrapped in safe types: a socket owns its descriptor
//! and closes it in `Drop`, errors come from `io::Error::last_os_error()`.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};

/// An owned file descriptor, closed on drop.
#[derive(Debug)]
pub struct Fd(RawFd);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor and nobody uses it after this.
        unsafe { libc::close(self.0) };
    }
}

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_len(ret: isize) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

fn socket(domain: libc::c_int, kind: libc::c_int, protocol: libc::c_int) -> io::Result<Fd> {
    let kind = kind | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: plain system call, no pointers.
    let fd = cvt(unsafe { libc::socket(domain, kind, protocol) })?;
    Ok(Fd(fd))
}

fn setsockopt<T>(fd: &Fd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live T of the size we pass.
    cvt(unsafe {
        libc::setsockopt(
            fd.0,
            level,
            name,
            (value as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

fn send(fd: &Fd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of its length.
    cvt_len(unsafe { libc::send(fd.0, buf.as_ptr().cast(), buf.len(), 0) })
}

fn sockaddr_in(addr: SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: all-zero is a valid sockaddr_in.
    let mut sa: libc::sockaddr_in = unsafe { mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = addr.port().to_be();
    sa.sin_addr.s_addr = u32::from_ne_bytes(addr.ip().octets());
    sa
}

/// `linux/if_packet.h`: a frame this host sent, looped back to us.
const PACKET_OUTGOING: u8 = 4;
/// `linux/icmp.h`: the raw ICMP socket option that drops message types.
const ICMP_FILTER: libc::c_int = 1;
/// Socket buffers we ask for on sweep sockets: replies to a large sweep
/// arrive in bursts, and requests to addresses the kernel is still
/// resolving hold send buffer space until it gives up on them.
const SWEEP_BUF: libc::c_int = 1 << 20;
/// `asm-generic/socket.h` (every target we build for): set a buffer size
/// past the sysctl limit, which root may do.
const SO_SNDBUFFORCE: libc::c_int = 32;
const SO_RCVBUFFORCE: libc::c_int = 33;

/// Asks for large buffers: forced past the sysctl limit where allowed,
/// else as large as the limit lets us.
fn grow_buffers(fd: &Fd) {
    for (force, plain) in [
        (SO_SNDBUFFORCE, libc::SO_SNDBUF),
        (SO_RCVBUFFORCE, libc::SO_RCVBUF),
    ] {
        if setsockopt(fd, libc::SOL_SOCKET, force, &SWEEP_BUF).is_err() {
            let _ = setsockopt(fd, libc::SOL_SOCKET, plain, &SWEEP_BUF);
        }
    }
}

/// An `AF_PACKET` socket on one interface that sees one EtherType and sends
/// whole Ethernet frames.
#[derive(Debug)]
pub struct PacketSocket {
    fd: Fd,
}

impl PacketSocket {
    pub fn open(ifindex: u32, ethertype: u16) -> io::Result<PacketSocket> {
        let protocol = ethertype.to_be();
        let fd = socket(libc::AF_PACKET, libc::SOCK_RAW, libc::c_int::from(protocol))?;
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut sa: libc::sockaddr_ll = unsafe { mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_protocol = protocol;
        sa.sll_ifindex = ifindex as libc::c_int;
        // SAFETY: `sa` is a sockaddr_ll of the size we pass.
        cvt(unsafe {
            libc::bind(
                fd.0,
                (&sa as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })?;
        grow_buffers(&fd);
        Ok(PacketSocket { fd })
    }

    /// Sends one whole frame out of the bound interface.
    pub fn send(&self, frame: &[u8]) -> io::Result<usize> {
        send(&self.fd, frame)
    }

    /// Receives one frame; `Ok(None)` for a frame this host sent itself.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut sa: libc::sockaddr_ll = unsafe { mem::zeroed() };
        let mut len = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
        // SAFETY: `buf` is valid for writes of its length, `sa` for `len`.
        let n = cvt_len(unsafe {
            libc::recvfrom(
                self.fd.0,
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_TRUNC,
                (&mut sa as *mut libc::sockaddr_ll).cast(),
                &mut len,
            )
        })?;
        if sa.sll_pkttype == PACKET_OUTGOING {
            return Ok(None);
        }
        // MSG_TRUNC reports the real length: a longer frame was cut short.
        Ok(Some(n.min(buf.len())))
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.0
    }
}

/// A raw ICMP socket that receives echo replies only (and sends requests).
#[derive(Debug)]
pub struct IcmpSocket {
    fd: Fd,
}

impl IcmpSocket {
    pub fn open() -> io::Result<IcmpSocket> {
        let fd = socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_ICMP)?;
        // A set bit drops that type: keep only type 0, echo reply.
        let filter: u32 = !1;
        setsockopt(&fd, libc::SOL_RAW, ICMP_FILTER, &filter)?;
        grow_buffers(&fd);
        Ok(IcmpSocket { fd })
    }

    /// Sends one ICMP message (the kernel adds the IPv4 header).
    pub fn send_to(&self, message: &[u8], to: Ipv4Addr) -> io::Result<usize> {
        let sa = sockaddr_in(SocketAddrV4::new(to, 0));
        // SAFETY: `message` and `sa` are valid for the lengths we pass.
        cvt_len(unsafe {
            libc::sendto(
                self.fd.0,
                message.as_ptr().cast(),
                message.len(),
                0,
                (&sa as *const libc::sockaddr_in).cast(),
                mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        })
    }

    /// Receives one datagram, IPv4 header included.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of its length.
        cvt_len(unsafe { libc::recv(self.fd.0, buf.as_mut_ptr().cast(), buf.len(), 0) })
    }
}

impl AsRawFd for IcmpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.0
    }
}

/// A TCP connection attempt that does not block: poll for writable, then
/// ask [`TcpConnect::result`].
#[derive(Debug)]
pub struct TcpConnect {
    fd: Fd,
}

impl TcpConnect {
    pub fn start(to: SocketAddrV4) -> io::Result<TcpConnect> {
        let fd = socket(libc::AF_INET, libc::SOCK_STREAM, 0)?;
        let sa = sockaddr_in(to);
        // SAFETY: `sa` is a sockaddr_in of the size we pass.
        let ret = unsafe {
            libc::connect(
                fd.0,
                (&sa as *const libc::sockaddr_in).cast(),
                mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if ret < 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINPROGRESS) {
                return Err(err);
            }
        }
        Ok(TcpConnect { fd })
    }

    /// Once the socket polls writable: `Ok` if the connection was accepted.
    pub fn result(&self) -> io::Result<()> {
        let mut err: libc::c_int = 0;
        let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `err` is a c_int of the size we pass.
        cvt(unsafe {
            libc::getsockopt(
                self.fd.0,
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&mut err as *mut libc::c_int).cast(),
                &mut len,
            )
        })?;
        if err == 0 {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(err))
        }
    }
}

impl AsRawFd for TcpConnect {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.0
    }
}

/// One entry for [`poll`].
pub use libc::pollfd as PollFd;
pub const POLLIN: libc::c_short = libc::POLLIN;
pub const POLLOUT: libc::c_short = libc::POLLOUT;

/// A poll entry for `fd` waiting for `events`.
pub fn poll_fd(fd: RawFd, events: libc::c_short) -> PollFd {
    PollFd {
        fd,
        events,
        revents: 0,
    }
}

/// Waits up to `timeout_ms` for an event on `fds`; returns how many fired.
/// An interrupted wait counts as no events.
pub fn poll(fds: &mut [PollFd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a valid array of `fds.len()` pollfd structs.
    let ret = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    match cvt(ret) {
        Ok(n) => Ok(n as usize),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
        Err(e) => Err(e),
    }
}

/// A network interface and its IPv4 addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub index: u32,
    pub mac: Option<[u8; 6]>,
    pub up: bool,
    pub loopback: bool,
    /// Each address with its prefix length.
    pub addrs: Vec<(Ipv4Addr, u8)>,
}

fn ipv4_of(sa: *const libc::sockaddr) -> Option<Ipv4Addr> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: getifaddrs gives valid sockaddrs; we read the family first.
    unsafe {
        if i32::from((*sa).sa_family) != libc::AF_INET {
            return None;
        }
        let sin = &*(sa.cast::<libc::sockaddr_in>());
        Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
    }
}

/// Every interface the kernel reports, in index order.
pub fn interfaces() -> io::Result<Vec<Interface>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below.
    cvt(unsafe { libc::getifaddrs(&mut head) })?;
    let mut out: Vec<Interface> = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        let at = match out.iter().position(|i| i.name == name) {
            Some(at) => at,
            None => {
                out.push(Interface {
                    name,
                    index: 0,
                    mac: None,
                    up: false,
                    loopback: false,
                    addrs: Vec::new(),
                });
                out.len() - 1
            }
        };
        let iface = &mut out[at];
        iface.up = ifa.ifa_flags & libc::IFF_UP as u32 != 0;
        iface.loopback = ifa.ifa_flags & libc::IFF_LOOPBACK as u32 != 0;
        if ifa.ifa_addr.is_null() {
            continue;
        }
        // SAFETY: a non-null ifa_addr points to a sockaddr of its family.
        let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
        if family == libc::AF_PACKET {
            // SAFETY: an AF_PACKET address is a sockaddr_ll.
            let ll = unsafe { &*(ifa.ifa_addr.cast::<libc::sockaddr_ll>()) };
            iface.index = ll.sll_ifindex as u32;
            if ll.sll_halen == 6 {
                let mut mac = [0; 6];
                mac.copy_from_slice(&ll.sll_addr[..6]);
                iface.mac = Some(mac);
            }
        } else if let (Some(addr), Some(mask)) = (ipv4_of(ifa.ifa_addr), ipv4_of(ifa.ifa_netmask)) {
            let prefix = u32::from(mask).leading_ones() as u8;
            iface.addrs.push((addr, prefix));
        }
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    for iface in &mut out {
        if iface.index == 0 {
            if let Ok(cname) = std::ffi::CString::new(iface.name.as_str()) {
                // SAFETY: `cname` is a valid NUL-terminated string.
                iface.index = unsafe { libc::if_nametoindex(cname.as_ptr()) };
            }
        }
    }
    out.sort_by_key(|i| i.index);
    Ok(out)
}

/// Sets the process's file mode creation mask.
pub fn set_umask(mask: u32) {
    // SAFETY: umask(2) only sets a process attribute; it cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) };
}

/// Ignores SIGHUP, so a process outlives the session that started it.
pub fn ignore_hangup() {
    // SAFETY: SIG_IGN is a valid disposition for SIGHUP; no handler runs.
    unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_listed_with_its_address() {
        let ifaces = interfaces().unwrap();
        let lo = ifaces
            .iter()
            .find(|i| i.loopback)
            .expect("a loopback interface");
        assert!(lo.up);
        assert!(lo.index > 0);
        assert!(lo.addrs.contains(&(Ipv4Addr::LOCALHOST, 8)), "{lo:?}");
    }

    #[test]
    fn tcp_connect_to_a_closed_local_port_is_refused() {
        // Bind then drop a listener to find a port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conn = TcpConnect::start(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).unwrap();
        let mut fds = [poll_fd(conn.as_raw_fd(), POLLOUT)];
        assert_eq!(poll(&mut fds, 2000).unwrap(), 1);
        assert_eq!(
            conn.result().unwrap_err().kind(),
            io::ErrorKind::ConnectionRefused
        );
    }

    #[test]
    fn tcp_connect_to_a_local_listener_succeeds() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let conn = TcpConnect::start(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)).unwrap();
        let mut fds = [poll_fd(conn.as_raw_fd(), POLLOUT)];
        assert_eq!(poll(&mut fds, 2000).unwrap(), 1);
        conn.result().unwrap();
    }
}
