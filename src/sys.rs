//! The one module that calls C directly: libc for packet, raw ICMP and
//! non-blocking TCP sockets, a Unix socket connect with a time bound, the
//! interface list, the kernel's ARP cache
//! (SIOCGARP, SIOCDARP), poll(2), access(2) (may
//! this user write in a directory), and the umask, SIGHUP disposition
//! and syslog of the node side of key rotation; OpenSSL (the copy
//! libssh2 links) for RSA and Ed25519 keys.
//!
//! Everything here is wrapped in safe types: a socket owns its descriptor
//! and closes it in `Drop`, errors come from `io::Error::last_os_error()`;
//! an [`RsaKey`] owns its OpenSSL key and frees it, numbers cleared.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

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
/// `asm-generic/socket.h`: attach a classic BPF program to a socket.
const SO_ATTACH_FILTER: libc::c_int = 26;

/// One instruction of a classic BPF socket filter (`linux/filter.h`).
pub use libc::sock_filter as SockFilter;

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
    /// Only the frames that `filter` (a non-empty classic BPF program)
    /// keeps are queued: the kernel drops the rest before they take buffer
    /// space. Also returns why the kernel refused `filter`, if it did: the
    /// socket is then open unfiltered, queueing all of `ethertype`.
    pub fn open(
        ifindex: u32,
        ethertype: u16,
        filter: &[SockFilter],
    ) -> io::Result<(PacketSocket, io::Result<()>)> {
        // Protocol 0 hears nothing until bind, which hooks the socket to one
        // interface and EtherType with the filter already attached: no frame
        // is queued before the filter, and none from another interface.
        let fd = socket(libc::AF_PACKET, libc::SOCK_RAW, 0)?;
        let len = u16::try_from(filter.len()).map_err(io::Error::other)?;
        // The kernel copies the program (and only reads it) during the call.
        let program = libc::sock_fprog {
            len,
            filter: filter.as_ptr().cast_mut(),
        };
        let filtered = setsockopt(&fd, libc::SOL_SOCKET, SO_ATTACH_FILTER, &program);
        // SAFETY: all-zero is a valid sockaddr_ll.
        let mut sa: libc::sockaddr_ll = unsafe { mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_protocol = ethertype.to_be();
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
        Ok((PacketSocket { fd }, filtered))
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

/// Connects to the stream socket at `path`, waiting at most `timeout` when
/// its listener's queue is full (a wedged server): Linux bounds a blocking
/// `AF_UNIX` connect by the socket's send timeout, and says `EAGAIN`.
pub fn unix_connect(path: &std::path::Path, timeout: Duration) -> io::Result<UnixStream> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: all-zero is a valid sockaddr_un.
    let mut sa: libc::sockaddr_un = unsafe { mem::zeroed() };
    sa.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let name = path.as_os_str().as_bytes();
    // The name and its NUL.
    if name.len() >= sa.sun_path.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "socket path too long",
        ));
    }
    for (to, from) in sa.sun_path.iter_mut().zip(name) {
        *to = *from as libc::c_char;
    }
    // SAFETY: plain system call, no pointers.
    let fd = Fd(cvt(unsafe {
        libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0)
    })?);
    // A zero timeval would wait for ever.
    let timeout = timeout.max(Duration::from_millis(1));
    // Seconds capped at i32::MAX (68 years) and microseconds (under a
    // million) fit a 32-bit and a 64-bit time_t alike, so the types stay
    // unnamed: libc deprecates naming musl's time_t and suseconds_t.
    let tv = libc::timeval {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as _,
        tv_usec: timeout.subsec_micros() as _,
    };
    setsockopt(&fd, libc::SOL_SOCKET, libc::SO_SNDTIMEO, &tv)?;
    // SAFETY: `sa` is a sockaddr_un of the size we pass.
    let ret = unsafe {
        libc::connect(
            fd.0,
            (&sa as *const libc::sockaddr_un).cast(),
            mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
        )
    };
    if let Err(e) = cvt(ret) {
        return Err(if e.raw_os_error() == Some(libc::EAGAIN) {
            io::Error::new(io::ErrorKind::TimedOut, "it takes no connection")
        } else {
            e
        });
    }
    let raw = fd.0;
    mem::forget(fd);
    // SAFETY: `raw` is a connected socket we own, handed over whole.
    Ok(unsafe { UnixStream::from_raw_fd(raw) })
}

/// A complete entry of the kernel's IPv4 neighbour (ARP) cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neighbour {
    pub mac: [u8; 6],
    /// An administrator's static entry (`ip neigh ... permanent`,
    /// `arp -s`): it never expires and ARP answers never change it.
    pub permanent: bool,
}

/// The kernel's ARP cache, entry by entry (`arp(7)` ioctls on a UDP
/// socket): reading needs no privilege, deleting `CAP_NET_ADMIN`.
#[derive(Debug)]
pub struct ArpCache {
    fd: Fd,
}

impl ArpCache {
    pub fn open() -> io::Result<ArpCache> {
        Ok(ArpCache {
            fd: socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?,
        })
    }

    /// The complete entry for `ip` on the interface `iface`; `None` when
    /// there is none (or one still being resolved, or one that failed).
    pub fn get(&self, iface: &str, ip: Ipv4Addr) -> io::Result<Option<Neighbour>> {
        let mut req = arp_request(iface, ip)?;
        match self.ioctl(libc::SIOCGARP as _, &mut req) {
            Ok(()) => Ok(neighbour_of(&req)),
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes the entry for `ip` on `iface`, permanent or not: the kernel
    /// resolves the address again when it next sends to it. `Ok` when
    /// there was none.
    pub fn delete(&self, iface: &str, ip: Ipv4Addr) -> io::Result<()> {
        let mut req = arp_request(iface, ip)?;
        match self.ioctl(libc::SIOCDARP as _, &mut req) {
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Ok(()),
            done => done,
        }
    }

    fn ioctl(&self, request: libc::Ioctl, req: &mut libc::arpreq) -> io::Result<()> {
        // SAFETY: `req` is a live arpreq, the structure both requests read
        // (and SIOCGARP fills).
        cvt(unsafe { libc::ioctl(self.fd.0, request, req as *mut libc::arpreq) }).map(drop)
    }
}

/// The request for `ip` on `iface`: its address and the interface's name
/// (which must fit IFNAMSIZ with its NUL); no flags, no hardware address.
fn arp_request(iface: &str, ip: Ipv4Addr) -> io::Result<libc::arpreq> {
    // SAFETY: all-zero is a valid arpreq.
    let mut req: libc::arpreq = unsafe { mem::zeroed() };
    let name = iface.as_bytes();
    if name.is_empty() || name.len() >= req.arp_dev.len() || name.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an interface name",
        ));
    }
    for (to, from) in req.arp_dev.iter_mut().zip(name) {
        *to = *from as libc::c_char;
    }
    let sin = sockaddr_in(SocketAddrV4::new(ip, 0));
    // SAFETY: sockaddr_in is the AF_INET form of a sockaddr, and of its
    // size (transmute checks that when it compiles).
    req.arp_pa = unsafe { mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) };
    Ok(req)
}

/// What SIOCGARP answered: an entry with an Ethernet address only once
/// it is complete (ATF_COM).
fn neighbour_of(req: &libc::arpreq) -> Option<Neighbour> {
    if req.arp_flags & libc::ATF_COM == 0 || req.arp_ha.sa_family != libc::ARPHRD_ETHER {
        return None;
    }
    Some(Neighbour {
        mac: std::array::from_fn(|i| req.arp_ha.sa_data[i] as u8),
        permanent: req.arp_flags & libc::ATF_PERM != 0,
    })
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
    out.sort_unstable_by_key(|i| i.index);
    Ok(out)
}

/// Sets the process's file mode creation mask.
pub fn set_umask(mask: u32) {
    // SAFETY: umask(2) only sets a process attribute; it cannot fail.
    unsafe { libc::umask(mask as libc::mode_t) };
}

/// Whether this user may create and remove entries in the directory
/// `dir` (access(2) with `W_OK | X_OK`; a read-only filesystem says no).
pub fn may_write_in(dir: &std::path::Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a NUL-terminated path that outlives the call.
    match unsafe { libc::access(c_path.as_ptr(), libc::W_OK | libc::X_OK) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Ignores SIGHUP, so a process outlives the session that started it.
pub fn ignore_hangup() {
    // SAFETY: SIG_IGN is a valid disposition for SIGHUP; no handler runs.
    unsafe { libc::signal(libc::SIGHUP, libc::SIG_IGN) };
}

/// Says `message` to the system log (tag `rccr-keys`, user facility,
/// warning): a detached process (the revert timer) has no stderr to say
/// it on. Cut at a NUL byte; without a syslog daemon it goes nowhere.
pub fn log_warning(message: &str) {
    let text = message.split('\0').next().unwrap_or_default();
    let Ok(text) = std::ffi::CString::new(text) else {
        return;
    };
    // SAFETY: the tag is a static C string (openlog keeps the pointer);
    // "%s" takes the one argument, a C string that outlives the call, so
    // no byte of the message is read as a format.
    unsafe {
        libc::openlog(c"rccr-keys".as_ptr(), libc::LOG_PID, libc::LOG_USER);
        libc::syslog(libc::LOG_WARNING, c"%s".as_ptr(), text.as_ptr());
    }
}

extern "C" {
    fn OPENSSL_init_crypto(opts: u64, settings: *const libc::c_void) -> libc::c_int;
}

/// libssl's OpenSSL initialisation, which openssl-sys calls for libssh2
/// (its `init`), without libssl: rccr speaks no TLS, and the real one, the
/// only libssl symbol anything links, pulls in its TLS cipher tables
/// (x86_64: about 17 KB). What it does for libcrypto is this call, with
/// the options it adds (ciphers and digests; OpenSSL 3's ssl/ssl_init.c);
/// its own part, loading libssl, nothing here needs. Being defined here,
/// the linker takes libssl's from no archive.
///
/// # Safety
/// As OpenSSL's: `settings` is null or an `OPENSSL_INIT_SETTINGS`.
#[no_mangle]
pub unsafe extern "C" fn OPENSSL_init_ssl(opts: u64, settings: *const libc::c_void) -> libc::c_int {
    const ADD_ALL_CIPHERS: u64 = 0x4;
    const ADD_ALL_DIGESTS: u64 = 0x8;
    const LOAD_SSL_STRINGS: u64 = 0x0020_0000;
    let opts = (opts & !LOAD_SSL_STRINGS) | ADD_ALL_CIPHERS | ADD_ALL_DIGESTS;
    // SAFETY: OpenSSL's own entry point, given the caller's settings
    // pointer (null, or OpenSSL's settings object) as OpenSSL's
    // OPENSSL_init_ssl hands it on.
    unsafe { OPENSSL_init_crypto(opts, settings) }
}

/// An RSA private key held by OpenSSL: generated there (the key
/// generation ssh-keygen uses) or built from a key's numbers. OpenSSL
/// clears its numbers when it is dropped.
pub struct RsaKey(*mut openssl_sys::RSA);

/// The numbers an OpenSSH RSA key stores, big-endian without leading
/// zeros. The private ones are overwritten when dropped.
pub struct RsaNumbers {
    pub n: Vec<u8>,
    pub e: Vec<u8>,
    pub d: Vec<u8>,
    pub p: Vec<u8>,
    pub q: Vec<u8>,
    /// q⁻¹ mod p
    pub iqmp: Vec<u8>,
}

impl Drop for RsaNumbers {
    fn drop(&mut self) {
        for secret in [&mut self.d, &mut self.p, &mut self.q, &mut self.iqmp] {
            wipe(secret);
        }
    }
}

/// Moves the calling thread (alone) into a new, empty network namespace
/// (tests: a veth pair that vanishes with the thread).
#[cfg(test)]
pub fn enter_new_netns() -> io::Result<()> {
    // SAFETY: plain system call, no pointers.
    cvt(unsafe { libc::unshare(libc::CLONE_NEWNET) }).map(drop)
}

/// Sets the queue of a listening socket to `backlog` (tests: a listener
/// that takes no more connections, as a wedged server's).
#[cfg(test)]
pub fn set_backlog(listener: &impl AsRawFd, backlog: libc::c_int) -> io::Result<()> {
    // SAFETY: plain system call, no pointers.
    cvt(unsafe { libc::listen(listener.as_raw_fd(), backlog) }).map(drop)
}

/// Overwrites bytes that held key material, in a way the compiler keeps.
pub fn wipe(bytes: &mut [u8]) {
    bytes.iter_mut().for_each(|b| *b = 0);
    std::hint::black_box(bytes);
}

/// OpenSSL's answer to a call: its error queue has no text in our build
/// (no-err), so the error names the call.
fn ossl(ok: bool, call: &str) -> io::Result<()> {
    if ok {
        Ok(())
    } else {
        Err(io::Error::other(format!("OpenSSL {call} failed")))
    }
}

/// An OpenSSL big number we own until it is handed to an RSA key.
struct Bn(*mut openssl_sys::BIGNUM);

impl Bn {
    fn owned(bn: *mut openssl_sys::BIGNUM, call: &str) -> io::Result<Bn> {
        ossl(!bn.is_null(), call)?;
        Ok(Bn(bn))
    }

    fn from_bytes(bytes: &[u8]) -> io::Result<Bn> {
        let len = libc::c_int::try_from(bytes.len()).map_err(io::Error::other)?;
        // SAFETY: `bytes` is valid for reads of `len`; a null result is checked.
        Bn::owned(
            unsafe { openssl_sys::BN_bin2bn(bytes.as_ptr(), len, std::ptr::null_mut()) },
            "BN_bin2bn",
        )
    }

    /// Gives the number to a `set0` call, which owns it from then on.
    fn into_raw(self) -> *mut openssl_sys::BIGNUM {
        let bn = self.0;
        mem::forget(self);
        bn
    }
}

impl Drop for Bn {
    fn drop(&mut self) {
        // SAFETY: we own the number; BN_clear_free also zeroes it.
        unsafe { openssl_sys::BN_clear_free(self.0) };
    }
}

/// Big-endian bytes of a number an RSA key owns (null: none).
fn bn_bytes(bn: *const openssl_sys::BIGNUM) -> Vec<u8> {
    if bn.is_null() {
        return Vec::new();
    }
    // SAFETY: `bn` is a live number of the key we borrow it from, and the
    // buffer has the BN_num_bytes(bn) bytes that BN_bn2bin writes.
    unsafe {
        let len = (openssl_sys::BN_num_bits(bn) as usize).div_ceil(8);
        let mut out = vec![0u8; len];
        openssl_sys::BN_bn2bin(bn, out.as_mut_ptr());
        out
    }
}

/// `d mod (prime - 1)`: the CRT exponents PKCS#1 stores beside d.
fn crt_exponent(d: &Bn, prime: &Bn, ctx: *mut openssl_sys::BN_CTX) -> io::Result<Bn> {
    // SAFETY: all numbers are live and owned here; results are checked.
    unsafe {
        let prime_minus_one = Bn::owned(openssl_sys::BN_dup(prime.0), "BN_dup")?;
        ossl(
            openssl_sys::BN_sub_word(prime_minus_one.0, 1) == 1,
            "BN_sub_word",
        )?;
        let rem = Bn::owned(openssl_sys::BN_new(), "BN_new")?;
        ossl(
            openssl_sys::BN_div(std::ptr::null_mut(), rem.0, d.0, prime_minus_one.0, ctx) == 1,
            "BN_div",
        )?;
        Ok(rem)
    }
}

impl RsaKey {
    fn new() -> io::Result<RsaKey> {
        // SAFETY: plain constructor; a null result is checked.
        let rsa = unsafe { openssl_sys::RSA_new() };
        ossl(!rsa.is_null(), "RSA_new")?;
        Ok(RsaKey(rsa))
    }

    /// A new key of `bits` bits with e = 65537, from OpenSSL's own random
    /// generator (seeded from getrandom).
    pub fn generate(bits: usize) -> io::Result<RsaKey> {
        let bits = libc::c_int::try_from(bits).map_err(io::Error::other)?;
        let key = RsaKey::new()?;
        // SAFETY: `key` and `e` are live; RSA_generate_key_ex copies `e`
        // and takes no callback.
        unsafe {
            let e = Bn::owned(openssl_sys::BN_new(), "BN_new")?;
            ossl(openssl_sys::BN_set_word(e.0, 65537) == 1, "BN_set_word")?;
            ossl(
                openssl_sys::RSA_generate_key_ex(key.0, bits, e.0, std::ptr::null_mut()) == 1,
                "RSA_generate_key_ex",
            )?;
        }
        Ok(key)
    }

    /// The key of an OpenSSH key file's numbers, with the CRT exponents
    /// (d mod p-1, d mod q-1) computed by OpenSSL.
    pub fn from_numbers(numbers: &RsaNumbers) -> io::Result<RsaKey> {
        let key = RsaKey::new()?;
        let [n, e, d, p, q, iqmp] = [
            &numbers.n,
            &numbers.e,
            &numbers.d,
            &numbers.p,
            &numbers.q,
            &numbers.iqmp,
        ]
        .map(|bytes| Bn::from_bytes(bytes));
        let (n, e, d, p, q, iqmp) = (n?, e?, d?, p?, q?, iqmp?);
        // SAFETY: each set0 call takes ownership of the numbers it is
        // given only when it succeeds, so ours are released just before
        // (into_raw) and the call's result is checked; on failure they leak
        // rather than being freed twice, and the key is dropped anyway.
        unsafe {
            let ctx = openssl_sys::BN_CTX_new();
            ossl(!ctx.is_null(), "BN_CTX_new")?;
            let exponents = crt_exponent(&d, &p, ctx)
                .and_then(|dmp1| crt_exponent(&d, &q, ctx).map(|dmq1| (dmp1, dmq1)));
            openssl_sys::BN_CTX_free(ctx);
            let (dmp1, dmq1) = exponents?;
            ossl(
                openssl_sys::RSA_set0_key(key.0, n.into_raw(), e.into_raw(), d.into_raw()) == 1,
                "RSA_set0_key",
            )?;
            ossl(
                openssl_sys::RSA_set0_factors(key.0, p.into_raw(), q.into_raw()) == 1,
                "RSA_set0_factors",
            )?;
            ossl(
                openssl_sys::RSA_set0_crt_params(
                    key.0,
                    dmp1.into_raw(),
                    dmq1.into_raw(),
                    iqmp.into_raw(),
                ) == 1,
                "RSA_set0_crt_params",
            )?;
        }
        Ok(key)
    }

    /// The numbers an OpenSSH key file stores.
    pub fn numbers(&self) -> RsaNumbers {
        let null = std::ptr::null();
        let (mut n, mut e, mut d) = (null, null, null);
        let (mut p, mut q) = (null, null);
        let (mut dmp1, mut dmq1, mut iqmp) = (null, null, null);
        // SAFETY: the getters store pointers to numbers the key owns (or
        // null), which bn_bytes copies while `self` is borrowed.
        unsafe {
            openssl_sys::RSA_get0_key(self.0, &mut n, &mut e, &mut d);
            openssl_sys::RSA_get0_factors(self.0, &mut p, &mut q);
            openssl_sys::RSA_get0_crt_params(self.0, &mut dmp1, &mut dmq1, &mut iqmp);
        }
        RsaNumbers {
            n: bn_bytes(n),
            e: bn_bytes(e),
            d: bn_bytes(d),
            p: bn_bytes(p),
            q: bn_bytes(q),
            iqmp: bn_bytes(iqmp),
        }
    }

    /// The key as a DER PKCS#1 `RSAPrivateKey` (RFC 8017, A.1.2), all eight
    /// numbers; the caller wipes it.
    pub fn pkcs1_der(&self) -> io::Result<Vec<u8>> {
        // SAFETY: a first call with a null buffer returns the length; the
        // second writes that many bytes into `der` (advancing a copy of
        // its pointer).
        unsafe {
            let len = openssl_sys::i2d_RSAPrivateKey(self.0, std::ptr::null_mut());
            ossl(len > 0, "i2d_RSAPrivateKey")?;
            let mut der = vec![0u8; len as usize];
            let mut cursor = der.as_mut_ptr();
            let written = openssl_sys::i2d_RSAPrivateKey(self.0, &mut cursor);
            ossl(written == len, "i2d_RSAPrivateKey")?;
            Ok(der)
        }
    }
}

impl Drop for RsaKey {
    fn drop(&mut self) {
        // SAFETY: we own the key; RSA_free clears and frees its numbers.
        unsafe { openssl_sys::RSA_free(self.0) };
    }
}

/// The Ed25519 public key of a 32-byte private key (seed), by OpenSSL.
pub fn ed25519_public_key(seed: &[u8; 32]) -> io::Result<[u8; 32]> {
    let mut public = [0u8; 32];
    let mut len = public.len();
    // SAFETY: `seed` is valid for 32 bytes and `public` for `len`; the key
    // is checked for null and freed on every path after it exists.
    unsafe {
        let key = openssl_sys::EVP_PKEY_new_raw_private_key(
            openssl_sys::EVP_PKEY_ED25519,
            std::ptr::null_mut(),
            seed.as_ptr(),
            seed.len(),
        );
        ossl(!key.is_null(), "EVP_PKEY_new_raw_private_key")?;
        let got = openssl_sys::EVP_PKEY_get_raw_public_key(key, public.as_mut_ptr(), &mut len);
        openssl_sys::EVP_PKEY_free(key);
        ossl(
            got == 1 && len == public.len(),
            "EVP_PKEY_get_raw_public_key",
        )?;
    }
    Ok(public)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_public_key_of_rfc8032_test_1() {
        let hex = |s: &str| -> [u8; 32] {
            std::array::from_fn(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        };
        let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let public = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        assert_eq!(ed25519_public_key(&seed).unwrap(), public);
    }

    #[test]
    fn rsa_key_numbers_rebuild_the_same_pkcs1_key() {
        let key = RsaKey::generate(2048).unwrap();
        let numbers = key.numbers();
        assert_eq!(numbers.n.len(), 256);
        assert_eq!(numbers.e, [1, 0, 1]);
        assert_eq!(numbers.p.len() + numbers.q.len(), 256);
        // The rebuilt key's CRT exponents are computed here, the generated
        // key's by OpenSSL's key generation: the DER holds both.
        let rebuilt = RsaKey::from_numbers(&numbers).unwrap();
        assert_eq!(rebuilt.pkcs1_der().unwrap(), key.pkcs1_der().unwrap());
        let other = RsaKey::generate(2048).unwrap();
        assert_ne!(other.numbers().n, numbers.n);
    }

    /// What SIOCGARP fills in: `flags` and an Ethernet address.
    fn answered(flags: libc::c_int, family: u16, mac: [u8; 6]) -> libc::arpreq {
        let mut req = arp_request("eth0", Ipv4Addr::new(10, 0, 0, 5)).unwrap();
        req.arp_flags = flags;
        req.arp_ha.sa_family = family;
        for (to, from) in req.arp_ha.sa_data.iter_mut().zip(mac) {
            *to = from as libc::c_char;
        }
        req
    }

    #[test]
    fn arp_answers_are_read_only_when_complete_and_ethernet() {
        let mac = [0x02, 0x52, 0x43, 0x4c, 0x00, 0xfe];
        let ether = libc::ARPHRD_ETHER;
        assert_eq!(
            neighbour_of(&answered(libc::ATF_COM, ether, mac)),
            Some(Neighbour {
                mac,
                permanent: false
            })
        );
        assert_eq!(
            neighbour_of(&answered(libc::ATF_COM | libc::ATF_PERM, ether, mac)),
            Some(Neighbour {
                mac,
                permanent: true
            })
        );
        // Incomplete (still resolving, or failed): the MAC is all zeros.
        assert_eq!(neighbour_of(&answered(0, ether, [0; 6])), None);
        // Another kind of link's address is no Ethernet MAC.
        assert_eq!(neighbour_of(&answered(libc::ATF_COM, 32, mac)), None);
    }

    #[test]
    fn arp_requests_name_the_address_and_the_interface() {
        let req = arp_request("eth0", Ipv4Addr::new(10, 0, 0, 5)).unwrap();
        assert_eq!(req.arp_pa.sa_family, libc::AF_INET as libc::sa_family_t);
        // sockaddr_in: port (0), then the address, both in network order.
        let pa: Vec<u8> = req.arp_pa.sa_data[..6].iter().map(|&b| b as u8).collect();
        assert_eq!(pa, [0, 0, 10, 0, 0, 5]);
        let dev: Vec<u8> = req.arp_dev.iter().map(|&b| b as u8).collect();
        assert_eq!(&dev[..5], b"eth0\0");
        assert_eq!(req.arp_flags, 0);
        assert_eq!(req.arp_ha.sa_family, 0);
        // IFNAMSIZ is 16 with the NUL: 15 bytes fit, 16 do not.
        assert!(arp_request("abcdefghijklmno", Ipv4Addr::LOCALHOST).is_ok());
        for bad in ["", "abcdefghijklmnop", "eth\x000"] {
            assert_eq!(
                arp_request(bad, Ipv4Addr::LOCALHOST).unwrap_err().kind(),
                io::ErrorKind::InvalidInput,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn loopback_has_no_arp_entry() {
        let cache = ArpCache::open().unwrap();
        assert_eq!(cache.get("lo", Ipv4Addr::LOCALHOST).unwrap(), None);
    }

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
