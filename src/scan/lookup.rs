//! Naming and probing live hosts: a reverse DNS (PTR) query and a TCP
//! connect to port 22 for every host, all in flight at once, in one loop.
//!
//! Both are asked again, up to `retries` times spread over the timeout,
//! while unanswered: a query goes to the next nameserver, a connect opens a
//! second socket beside the first (a slow answer to the first still counts).
use super::{Host, NameSource};
use crate::error::Error;
use crate::sys::{self, TcpConnect};
use crate::wire::dns::{self, Name, Rcode, Record, RecordData};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// At most this many nameservers are used, as the C library does.
pub const MAX_NAMESERVERS: usize = 3;
/// DNS gets at least this long, whatever the sweep timeout: a resolver may
/// have to ask further.
pub const DNS_MIN_TIMEOUT: Duration = Duration::from_secs(1);
/// At most this many TCP connects in flight (file descriptors are finite).
pub const MAX_CONNECTS: usize = 256;
/// At most this many answer records are read from one reply.
pub const MAX_ANSWERS: usize = 16;
/// The longest a loop driving a lookup sleeps between looks at its schedule.
pub const MAX_WAIT_MS: i32 = 5;

/// The IPv4 nameservers of a resolv.conf; 127.0.0.1 if it names none (as
/// resolv.conf(5) says).
pub fn nameservers(resolv_conf: &str) -> heapless::Vec<Ipv4Addr, MAX_NAMESERVERS> {
    let mut servers = heapless::Vec::new();
    for line in resolv_conf.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        if let Some(Ok(addr)) = words.next().map(str::parse::<Ipv4Addr>) {
            if !servers.contains(&addr) && servers.push(addr).is_err() {
                break;
            }
        }
    }
    if servers.is_empty() {
        let _ = servers.push(Ipv4Addr::LOCALHOST);
    }
    servers
}

/// What a reply says about the name of the address asked for.
// Short-lived, on the stack: boxing the name would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Name(Name),
    /// The server answered: there is no name (NXDOMAIN, no PTR record, or
    /// an error it will repeat).
    NoName,
}

/// Reads a reply to our PTR query `id` for `qname`. `None` means it is not
/// one: malformed, truncated, oversized, or a reply to something else.
pub fn parse_reply(buf: &[u8], id: u16, qname: &Name) -> Option<Reply> {
    if buf.len() > dns::MAX_UDP_LEN {
        return None;
    }
    let packet = dns::Packet::new_checked(buf).ok()?;
    let flags = packet.flags();
    if packet.transaction_id() != id
        || flags & dns::flags::RESPONSE == 0
        || flags & (dns::flags::OPCODE_MASK | dns::flags::TRUNCATED) != 0
    {
        return None;
    }
    let (repr, mut at) = dns::Repr::parse(&packet).ok()?;
    if repr.question.type_ != dns::Type::Ptr || !repr.question.name.eq_ignore_ascii_case(qname) {
        return None;
    }
    if packet.rcode() != Rcode::NoError {
        return Some(Reply::NoName);
    }
    // The PTR may sit behind CNAMEs (RFC 2317 delegation): follow the chain
    // as it appears, in order.
    let mut owner = repr.question.name;
    for _ in 0..usize::from(packet.answer_count()).min(MAX_ANSWERS) {
        let (record, next) = Record::parse(&packet, at).ok()?;
        at = next;
        if !record.name.eq_ignore_ascii_case(&owner) {
            continue;
        }
        match record.data {
            RecordData::Ptr(name) if !name.to_text().is_empty() => return Some(Reply::Name(name)),
            RecordData::Cname(target) => owner = target,
            _ => {}
        }
    }
    Some(Reply::NoName)
}

/// The PTR query for `ip` with transaction `id`, ready to send.
pub fn query(id: u16, ip: Ipv4Addr) -> heapless::Vec<u8, { dns::HEADER_LEN + 34 }> {
    let repr = dns::Repr::query(id, Name::reverse_ipv4(ip), dns::Type::Ptr);
    let mut buf = heapless::Vec::new();
    // "255.255.255.255.in-addr.arpa" is 30 bytes on the wire, the type and
    // class 4 more: the longest query fits.
    let _ = buf.resize(repr.buffer_len(), 0);
    repr.emit(&mut dns::Packet::new_unchecked(&mut buf[..]));
    buf
}

struct Probe {
    started: Option<Instant>,
    attempts: u8,
    /// Some attempt went out (a DNS query with no route never does).
    sent: bool,
    done: bool,
}

impl Probe {
    fn new(started: Option<Instant>, done: bool) -> Probe {
        Probe {
            started,
            attempts: 0,
            sent: false,
            done,
        }
    }

    /// Whether attempt number `attempts` is due: attempts are spread
    /// `interval` apart from the start.
    fn due(&self, now: Instant, tries: u32, interval: Duration) -> bool {
        match self.started {
            None => true,
            Some(s) => {
                u32::from(self.attempts) < tries && now >= s + interval * u32::from(self.attempts)
            }
        }
    }

    /// Marks the probe done once `timeout` has passed since its start;
    /// true when that happened just now.
    fn time_out(&mut self, now: Instant, timeout: Duration) -> bool {
        let expired = !self.done && self.started.is_some_and(|s| now >= s + timeout);
        self.done |= expired;
        expired
    }
}

/// What the lookup learned about one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub ip: Ipv4Addr,
    /// The PTR name, as received.
    pub name: Option<String>,
    /// Port 22 accepted a connection.
    pub ssh: bool,
}

struct Entry {
    answer: Answer,
    dns: Probe,
    tcp: Probe,
}

/// PTR queries and port-22 connects for a growing set of hosts: the sweep
/// adds each host as it answers and drives the lookup from its own loop
/// ([`Lookup::step`], [`Lookup::fds`], [`Lookup::handle`]), so names and
/// probes are done by the time the sweep is.
pub struct Lookup {
    servers: heapless::Vec<Ipv4Addr, MAX_NAMESERVERS>,
    timeout: Duration,
    dns_timeout: Duration,
    tries: u32,
    udp: UdpSocket,
    /// Transaction ids are `base` + host index.
    base: u16,
    entries: Vec<Entry>,
    /// Connects in flight: (entry, socket).
    conns: heapless::Vec<(usize, TcpConnect), MAX_CONNECTS>,
    /// Where the connect file descriptors start in [`Lookup::fds`]' output.
    conns_at: usize,
}

/// Hosts one lookup can take: one transaction id each.
pub const MAX_HOSTS: usize = u16::MAX as usize;

impl Lookup {
    pub fn new(servers: &[Ipv4Addr], timeout: Duration, retries: u8) -> Result<Lookup, Error> {
        let udp = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map_err(|e| Error::io("cannot open a UDP socket for DNS", e))?;
        let mut id_bytes = [0u8; 2];
        let _ = getrandom::getrandom(&mut id_bytes);
        Ok(Lookup {
            servers: servers.iter().copied().take(MAX_NAMESERVERS).collect(),
            timeout,
            dns_timeout: timeout.max(DNS_MIN_TIMEOUT),
            tries: u32::from(retries) + 1,
            udp,
            base: u16::from_ne_bytes(id_bytes),
            entries: Vec::new(),
            conns: heapless::Vec::new(),
            conns_at: 0,
        })
    }

    /// Starts looking `ip` up; false when the lookup is full.
    pub fn add(&mut self, ip: Ipv4Addr) -> bool {
        if self.entries.len() >= MAX_HOSTS {
            return false;
        }
        self.entries.push(Entry {
            answer: Answer {
                ip,
                name: None,
                ssh: false,
            },
            dns: Probe::new(Some(Instant::now()), self.servers.is_empty()),
            tcp: Probe::new(None, false),
        });
        true
    }

    pub fn is_done(&self) -> bool {
        self.entries.iter().all(|e| e.dns.done && e.tcp.done)
    }

    /// Sends the queries and starts the connects that are due, and gives
    /// up on those past the timeout.
    pub fn step(&mut self, now: Instant) {
        let tries = self.tries;
        let dns_interval = self.dns_timeout / tries;
        let tcp_interval = self.timeout / tries;
        for (i, e) in self.entries.iter_mut().enumerate() {
            let p = &mut e.dns;
            if p.done || p.time_out(now, self.dns_timeout) {
                continue;
            }
            if p.due(now, tries, dns_interval) {
                let server = self.servers[usize::from(p.attempts) % self.servers.len()];
                let id = self.base.wrapping_add(i as u16);
                match self
                    .udp
                    .send_to(&query(id, e.answer.ip), SocketAddrV4::new(server, 53))
                {
                    Ok(_) => {
                        p.attempts += 1;
                        p.sent = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    // No route to that server: count the try, the next may
                    // work; if none ever went out there is nothing to wait for.
                    Err(_) => {
                        p.attempts += 1;
                        p.done = u32::from(p.attempts) == tries && !p.sent;
                    }
                }
            }
        }
        for (i, e) in self.entries.iter_mut().enumerate() {
            let p = &mut e.tcp;
            if p.time_out(now, self.timeout) {
                self.conns.retain(|(h, _)| *h != i);
                continue;
            }
            if p.done || !p.due(now, tries, tcp_interval) || self.conns.is_full() {
                continue;
            }
            match TcpConnect::start(SocketAddrV4::new(e.answer.ip, 22)) {
                Ok(conn) => {
                    p.started.get_or_insert(now);
                    p.attempts += 1;
                    // Not full: checked above.
                    let _ = self.conns.push((i, conn));
                }
                // Out of descriptors or buffers: try again on the next turn.
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS)
                    ) =>
                {
                    break
                }
                Err(_) => p.done = true,
            }
        }
    }

    /// Appends the descriptors to wait on; [`Lookup::handle`] takes the
    /// same slice back after poll.
    pub fn fds(&mut self, out: &mut Vec<sys::PollFd>) {
        out.push(sys::poll_fd(self.udp.as_raw_fd(), sys::POLLIN));
        self.conns_at = out.len();
        out.extend(
            self.conns
                .iter()
                .map(|(_, c)| sys::poll_fd(c.as_raw_fd(), sys::POLLOUT)),
        );
    }

    /// Reads replies and finished connects after poll; `fds` is the whole
    /// slice polled, with ours where [`Lookup::fds`] put them.
    pub fn handle(&mut self, fds: &[sys::PollFd]) {
        if fds[self.conns_at - 1].revents != 0 {
            self.read_replies();
        }
        let mut closed = Vec::new();
        for (k, fd) in fds[self.conns_at..].iter().enumerate() {
            if fd.revents == 0 {
                continue;
            }
            let (i, conn) = &self.conns[k];
            let e = &mut self.entries[*i];
            match conn.result() {
                Ok(()) => {
                    e.answer.ssh = true;
                    e.tcp.done = true;
                }
                Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => e.tcp.done = true,
                // Unreachable and the like: this attempt is over, others may not be.
                Err(_) => closed.push(k),
            }
        }
        let entries = &self.entries;
        let mut k = 0;
        self.conns.retain(|(i, _)| {
            let keep = !entries[*i].tcp.done && !closed.contains(&k);
            k += 1;
            keep
        });
    }

    fn read_replies(&mut self) {
        let mut buf = [0u8; dns::MAX_UDP_LEN + 1];
        loop {
            let (len, from) = match self.udp.recv_from(&mut buf) {
                Ok(got) => got,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    return
                }
                // An ICMP error for an earlier query: nothing to read.
                Err(_) => continue,
            };
            let SocketAddr::V4(from) = from else { continue };
            if len < 2 || from.port() != 53 || !self.servers.contains(from.ip()) {
                continue;
            }
            let id = u16::from_be_bytes([buf[0], buf[1]]);
            let Some(e) = self
                .entries
                .get_mut(usize::from(id.wrapping_sub(self.base)))
            else {
                continue;
            };
            if e.dns.done {
                continue;
            }
            match parse_reply(&buf[..len], id, &Name::reverse_ipv4(e.answer.ip)) {
                Some(Reply::Name(name)) => {
                    e.answer.name = Some(String::from_utf8_lossy(&name.to_text()).into_owned());
                    e.dns.done = true;
                }
                Some(Reply::NoName) => e.dns.done = true,
                None => {}
            }
        }
    }

    /// Steps and polls until every host is looked up.
    pub fn finish(&mut self) -> Result<(), Error> {
        let mut fds = Vec::new();
        loop {
            self.step(Instant::now());
            if self.is_done() {
                return Ok(());
            }
            fds.clear();
            self.fds(&mut fds);
            sys::poll(&mut fds, MAX_WAIT_MS).map_err(|e| Error::io("poll", e))?;
            self.handle(&fds);
        }
    }

    /// What was learned, in the order hosts were added.
    pub fn into_answers(self) -> Vec<Answer> {
        self.entries.into_iter().map(|e| e.answer).collect()
    }
}

/// Names every host by PTR and sets `ssh` for those that accept a TCP
/// connection on port 22, for hosts the sweep did not hand over.
pub fn lookup(
    hosts: &mut [Host],
    servers: &[Ipv4Addr],
    timeout: Duration,
    retries: u8,
) -> Result<(), Error> {
    for chunk in hosts.chunks_mut(MAX_HOSTS) {
        let mut lookup = Lookup::new(servers, timeout, retries)?;
        for host in chunk.iter() {
            lookup.add(host.ip);
        }
        lookup.finish()?;
        for (host, answer) in chunk.iter_mut().zip(lookup.into_answers()) {
            apply(host, answer);
        }
    }
    Ok(())
}

/// Copies what the lookup learned onto the host.
pub fn apply(host: &mut Host, answer: Answer) {
    if let Some(name) = answer.name {
        host.hostname = Some(name);
        host.name_source = Some(NameSource::Dns);
    }
    host.ssh = answer.ssh;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// A reply to `query(id, ip)` with the given flags and answer records
    /// (each: owner as a pointer to the question, type, rdata bytes).
    fn reply(id: u16, asked: Ipv4Addr, flags: u16, answers: &[(u16, &[u8])]) -> Vec<u8> {
        let mut buf = query(id, asked).to_vec();
        buf[2..4].copy_from_slice(&flags.to_be_bytes());
        buf[6..8].copy_from_slice(&(answers.len() as u16).to_be_bytes());
        for (type_, rdata) in answers {
            buf.extend_from_slice(&[0xc0, 0x0c]);
            buf.extend_from_slice(&type_.to_be_bytes());
            buf.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
            buf.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            buf.extend_from_slice(rdata);
        }
        buf
    }

    const OK: u16 = 0x8180;
    static TARGET_PTR: &[u8] = b"\x19ReCyClusteR-Target-3f2a1c\x03lab\x00";

    #[test]
    fn resolv_conf_nameservers() {
        let conf = "# comment\nsearch lab\nnameserver 10.0.0.1\nnameserver fd00::1\nnameserver 10.0.0.1\n\
                    nameserver 10.0.0.2 # trailing\n;nameserver 9.9.9.9\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n";
        assert_eq!(
            &nameservers(conf)[..],
            &[ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.3")]
        );
        assert_eq!(&nameservers("")[..], &[Ipv4Addr::LOCALHOST]);
    }

    #[test]
    fn query_is_a_ptr_question() {
        let q = query(0xbeef, ip("10.213.0.5"));
        let packet = dns::Packet::new_checked(&q[..]).unwrap();
        let (repr, end) = dns::Repr::parse(&packet).unwrap();
        assert_eq!(end, q.len());
        assert_eq!(repr.transaction_id, 0xbeef);
        assert_eq!(repr.question.type_, dns::Type::Ptr);
        assert_eq!(
            &repr.question.name.to_text()[..],
            b"5.0.213.10.in-addr.arpa"
        );
        assert_eq!(query(1, ip("255.255.255.255")).len(), dns::HEADER_LEN + 34);
    }

    #[test]
    fn a_ptr_answer_names_the_host() {
        let asked = ip("10.213.0.5");
        let qname = Name::reverse_ipv4(asked);
        let buf = reply(7, asked, OK, &[(12, TARGET_PTR)]);
        let Some(Reply::Name(name)) = parse_reply(&buf, 7, &qname) else {
            panic!()
        };
        assert_eq!(&name.to_text()[..], b"ReCyClusteR-Target-3f2a1c.lab");
    }

    #[test]
    fn nxdomain_and_empty_answers_mean_no_name() {
        let asked = ip("10.213.0.5");
        let qname = Name::reverse_ipv4(asked);
        assert_eq!(
            parse_reply(&reply(7, asked, 0x8183, &[]), 7, &qname),
            Some(Reply::NoName)
        );
        assert_eq!(
            parse_reply(&reply(7, asked, OK, &[]), 7, &qname),
            Some(Reply::NoName)
        );
        // An A record where a PTR should be: no name.
        assert_eq!(
            parse_reply(&reply(7, asked, OK, &[(1, &[10, 0, 0, 1])]), 7, &qname),
            Some(Reply::NoName)
        );
    }

    #[test]
    fn replies_to_something_else_are_ignored() {
        let asked = ip("10.213.0.5");
        let qname = Name::reverse_ipv4(asked);
        let good = reply(7, asked, OK, &[(12, TARGET_PTR)]);
        assert_eq!(parse_reply(&good, 8, &qname), None, "another id");
        assert_eq!(
            parse_reply(&good, 7, &Name::reverse_ipv4(ip("10.213.0.6"))),
            None,
            "another name"
        );
        assert_eq!(
            parse_reply(&reply(7, asked, 0x0100, &[(12, TARGET_PTR)]), 7, &qname),
            None,
            "a query"
        );
        assert_eq!(
            parse_reply(&reply(7, asked, 0x8380, &[(12, TARGET_PTR)]), 7, &qname),
            None,
            "truncated"
        );
        let mut big = good.clone();
        big.resize(dns::MAX_UDP_LEN + 1, 0);
        assert_eq!(parse_reply(&big, 7, &qname), None, "oversized");
        for len in 0..good.len() {
            assert_eq!(parse_reply(&good[..len], 7, &qname), None, "{len}");
        }
    }

    #[test]
    fn a_looping_name_in_an_answer_is_ignored() {
        let asked = ip("10.213.0.5");
        let qname = Name::reverse_ipv4(asked);
        // PTR rdata that points at itself: the record starts at offset 53.
        let buf = reply(7, asked, OK, &[(12, &[0xc0, 53])]);
        assert_eq!(buf.len(), 55);
        assert_eq!(parse_reply(&buf, 7, &qname), None);
    }

    #[test]
    fn a_ptr_behind_a_cname_is_followed() {
        let asked = ip("10.213.0.5");
        let qname = Name::reverse_ipv4(asked);
        // CNAME to "5.sub" (its rdata at offset 53), then a PTR owned by it.
        let mut buf = reply(7, asked, OK, &[(5, b"\x015\x03sub\x00")]);
        buf[6..8].copy_from_slice(&2u16.to_be_bytes());
        buf.extend_from_slice(&[0xc0, 53, 0, 12, 0, 1, 0, 0, 0, 60]);
        buf.extend_from_slice(&(TARGET_PTR.len() as u16).to_be_bytes());
        buf.extend_from_slice(TARGET_PTR);
        let Some(Reply::Name(name)) = parse_reply(&buf, 7, &qname) else {
            panic!("{buf:?}")
        };
        assert_eq!(&name.to_text()[..], b"ReCyClusteR-Target-3f2a1c.lab");
        // A PTR for some other owner is not ours.
        let other = reply(7, asked, OK, &[(5, b"\x015\x03sub\x00")]);
        assert_eq!(parse_reply(&other, 7, &qname), Some(Reply::NoName));
    }

    #[test]
    fn a_root_ptr_is_no_name() {
        let asked = ip("10.213.0.5");
        let qname = Name::reverse_ipv4(asked);
        assert_eq!(
            parse_reply(&reply(7, asked, OK, &[(12, b"\x00")]), 7, &qname),
            Some(Reply::NoName)
        );
    }
}
