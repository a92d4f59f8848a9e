//! Naming and probing live hosts: a reverse DNS (PTR) query and a TCP
//! connect to port 22 for every host, all in flight at once, in one loop.
//!
//! Both are asked again, up to `retries` times spread over the timeout,
//! while unanswered: a query goes to the next nameserver, a connect opens a
//! second socket beside the first (a slow answer to the first still counts).
//!
//! A reply is anyone's datagram, so it counts only when it matches a query
//! we sent: its transaction id (drawn at random for each host, no two
//! alike, so one id tells nothing of the others), its source (a nameserver
//! that host's query went to, from port 53; our own port is the kernel's
//! random ephemeral one) and its question (PTR, that host's reverse name).
use super::{Host, NameSource};
use crate::error::Error;
use crate::sys::{self, TcpConnect};
use crate::wire::dns::{self, Name, Rcode, Record, RecordData};
use std::collections::BTreeMap;
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
    /// The transaction id of this host's query, once drawn.
    dns_id: Option<u16>,
    /// One bit per nameserver (by index) the query went to.
    dns_asked: u8,
}

/// Transaction ids: random, each held by one host at most.
struct TransactionIds {
    holder: BTreeMap<u16, usize>,
    random: [u8; 64],
    /// How much of `random` is used up.
    used: usize,
}

impl TransactionIds {
    fn new() -> TransactionIds {
        TransactionIds {
            holder: BTreeMap::new(),
            random: [0; 64],
            used: 64,
        }
    }

    /// A random id no other host holds, now held by `entry`. Ends: a lookup
    /// holds fewer than 2^16 hosts ([`MAX_HOSTS`]).
    fn draw(&mut self, entry: usize) -> Result<u16, Error> {
        loop {
            if self.used == self.random.len() {
                getrandom::getrandom(&mut self.random).map_err(|e| {
                    Error::Failed(format!("cannot draw random DNS transaction ids: {e}"))
                })?;
                self.used = 0;
            }
            let id = u16::from_ne_bytes([self.random[self.used], self.random[self.used + 1]]);
            self.used += 2;
            if let std::collections::btree_map::Entry::Vacant(slot) = self.holder.entry(id) {
                slot.insert(entry);
                return Ok(id);
            }
        }
    }

    fn holder(&self, id: u16) -> Option<usize> {
        self.holder.get(&id).copied()
    }
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
    ids: TransactionIds,
    entries: Vec<Entry>,
    /// The port probed (and logged in to with --ssh-names).
    port: u16,
    /// Connects in flight: (entry, socket).
    conns: heapless::Vec<(usize, TcpConnect), MAX_CONNECTS>,
    /// At most this many in flight: [`MAX_CONNECTS`], or fewer once the
    /// process ran out of descriptors.
    max_conns: usize,
    /// Why the last step could not open a single connect.
    starved: Option<io::Error>,
    /// Where the connect file descriptors start in [`Lookup::fds`]' output.
    conns_at: usize,
}

/// Hosts one lookup can take: one transaction id each.
pub const MAX_HOSTS: usize = u16::MAX as usize;

impl Lookup {
    pub fn new(
        servers: &[Ipv4Addr],
        timeout: Duration,
        retries: u8,
        port: u16,
    ) -> Result<Lookup, Error> {
        let udp = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map_err(|e| Error::io("cannot open a UDP socket for DNS", e))?;
        Ok(Lookup {
            servers: servers.iter().copied().take(MAX_NAMESERVERS).collect(),
            timeout,
            dns_timeout: timeout.max(DNS_MIN_TIMEOUT),
            tries: u32::from(retries) + 1,
            udp,
            ids: TransactionIds::new(),
            entries: Vec::new(),
            port,
            conns: heapless::Vec::new(),
            max_conns: MAX_CONNECTS,
            starved: None,
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
            dns_id: None,
            dns_asked: 0,
        });
        true
    }

    pub fn is_done(&self) -> bool {
        self.entries.iter().all(|e| e.dns.done && e.tcp.done)
    }

    /// Sends the queries and starts the connects that are due, and gives
    /// up on those past the timeout. Out of descriptors, it starts no more
    /// connects than it has open; with none open it notes why
    /// (`starved`): the caller may hold descriptors it will free.
    pub fn step(&mut self, now: Instant) -> Result<(), Error> {
        self.starved = None;
        let tries = self.tries;
        let dns_interval = self.dns_timeout / tries;
        let tcp_interval = self.timeout / tries;
        for i in 0..self.entries.len() {
            let e = &mut self.entries[i];
            let p = &mut e.dns;
            if p.done || p.time_out(now, self.dns_timeout) {
                continue;
            }
            if !p.due(now, tries, dns_interval) {
                continue;
            }
            let server = usize::from(p.attempts) % self.servers.len();
            let id = match e.dns_id {
                Some(id) => id,
                None => *e.dns_id.insert(self.ids.draw(i)?),
            };
            let to = SocketAddrV4::new(self.servers[server], 53);
            match self.udp.send_to(&query(id, e.answer.ip), to) {
                Ok(_) => {
                    p.attempts += 1;
                    p.sent = true;
                    e.dns_asked |= 1 << server;
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                // No route to that server: count the try, the next may
                // work; if none ever went out there is nothing to wait for.
                Err(_) => {
                    p.attempts += 1;
                    p.done = u32::from(p.attempts) == tries && !p.sent;
                }
            }
        }
        for (i, e) in self.entries.iter_mut().enumerate() {
            let p = &mut e.tcp;
            if p.time_out(now, self.timeout) {
                self.conns.retain(|(h, _)| *h != i);
                continue;
            }
            if p.done || !p.due(now, tries, tcp_interval) || self.conns.len() >= self.max_conns {
                continue;
            }
            let to = SocketAddrV4::new(e.answer.ip, self.port);
            match TcpConnect::start(to) {
                Ok(conn) => {
                    p.started.get_or_insert(now);
                    p.attempts += 1;
                    // Below MAX_CONNECTS: checked above.
                    let _ = self.conns.push((i, conn));
                }
                Err(err) if super::out_of_sockets(&err) => {
                    if self.conns.is_empty() {
                        self.starved = Some(err);
                    } else {
                        // As many as we have open is what the limit
                        // allows: the rest wait for one of those to end.
                        self.max_conns = self.conns.len();
                    }
                    break;
                }
                Err(_) => p.done = true,
            }
        }
        Ok(())
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
        read_bounded(|| {
            let (len, from) = match self.udp.recv_from(&mut buf) {
                Ok(got) => got,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) =>
                {
                    return false;
                }
                // An ICMP error for an earlier query: nothing to read.
                Err(_) => return true,
            };
            let Some((i, reply)) = self.match_reply(&buf[..len], from) else {
                return true;
            };
            let e = &mut self.entries[i];
            if let Reply::Name(name) = reply {
                e.answer.name = Some(String::from_utf8_lossy(&name.to_text()).into_owned());
            }
            e.dns.done = true;
            true
        });
    }

    /// The host a datagram from `from` answers, and what it says; None
    /// unless it matches a query we sent: a nameserver that host's query
    /// went to, port 53, the host's transaction id, and its question.
    fn match_reply(&self, datagram: &[u8], from: SocketAddr) -> Option<(usize, Reply)> {
        let SocketAddr::V4(from) = from else {
            return None;
        };
        let server = self.servers.iter().position(|s| s == from.ip())?;
        let id = u16::from_be_bytes(datagram.get(..2)?.try_into().ok()?);
        let i = self.ids.holder(id)?;
        let e = &self.entries[i];
        if from.port() != 53 || e.dns_asked & 1 << server == 0 || e.dns.done {
            return None;
        }
        let reply = parse_reply(datagram, id, &Name::reverse_ipv4(e.answer.ip))?;
        Some((i, reply))
    }

    /// Steps and polls until every host is looked up. Fails when not one
    /// connect can be opened: with none of ours open, waiting frees no
    /// descriptor (this used to retry every few milliseconds, for ever).
    pub fn finish(&mut self) -> Result<(), Error> {
        // The sweep that held descriptors is over.
        self.max_conns = MAX_CONNECTS;
        let mut fds = Vec::new();
        loop {
            self.step(Instant::now())?;
            if let Some(err) = self.starved.take() {
                let what = format!("probe TCP port {}, with no other probe open", self.port);
                return Err(super::out_of_sockets_error(&what, err));
            }
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
    port: u16,
) -> Result<(), Error> {
    for chunk in hosts.chunks_mut(MAX_HOSTS) {
        let mut lookup = Lookup::new(servers, timeout, retries, port)?;
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

/// The most datagrams or frames one wake-up reads from a socket. Frames
/// sent faster than they are parsed (an ARP flood at line rate, echo
/// replies from anyone) would otherwise keep the reader in its loop for
/// as long as they come, and the scan past its timeout: the rest wait for
/// the next wake-up, after the caller has looked at its clock.
pub const MAX_READS_PER_WAKE: usize = 4096;

/// Calls `read` until it says nothing more waits (`false`), at most
/// [`MAX_READS_PER_WAKE`] times; how many times it called.
pub fn read_bounded(mut read: impl FnMut() -> bool) -> usize {
    for n in 1..=MAX_READS_PER_WAKE {
        if !read() {
            return n;
        }
    }
    MAX_READS_PER_WAKE
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Review F4: a socket that always has a frame waiting no longer
    /// keeps the reader: it returns after the bound, and at once when
    /// nothing waits.
    #[test]
    fn a_socket_that_never_runs_dry_is_read_a_bounded_number_of_times() {
        let mut calls = 0;
        let made = read_bounded(|| {
            calls += 1;
            true
        });
        assert_eq!((made, calls), (MAX_READS_PER_WAKE, MAX_READS_PER_WAKE));
        let mut waiting = 3;
        let made = read_bounded(|| {
            waiting -= 1;
            waiting > 0
        });
        assert_eq!((made, waiting), (3, 0));
    }

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

    // A reply to the PTR query for 10.213.0.5 with transaction id 0 (each
    // test puts its own in): QR RD RA, one answer, PTR node-5.lab.
    static REPLY_BYTES: [u8; 65] = [
        0x00, 0x00, 0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, //
        1, b'5', 1, b'0', 3, b'2', b'1', b'3', 2, b'1', b'0', 7, b'i', b'n', b'-', b'a', b'd',
        b'd', b'r', 4, b'a', b'r', b'p', b'a', 0, //
        0x00, 0x0c, 0x00, 0x01, //
        0xc0, 0x0c, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x0c, //
        6, b'n', b'o', b'd', b'e', b'-', b'5', 3, b'l', b'a', b'b', 0,
    ];

    fn reply_bytes(id: u16) -> [u8; 65] {
        let mut bytes = REPLY_BYTES;
        bytes[..2].copy_from_slice(&id.to_be_bytes());
        bytes
    }

    fn from(addr: &str) -> SocketAddr {
        addr.parse().unwrap()
    }

    /// A lookup of 10.213.0.5 whose first query went out (to the first of
    /// `servers`, loopback addresses: nothing answers there), its TCP probe
    /// left out; the query's transaction id, and when the lookup started.
    fn asked(servers: &[Ipv4Addr]) -> (Lookup, u16, Instant) {
        let mut lookup = Lookup::new(servers, Duration::from_secs(1), 1, 22).unwrap();
        assert!(lookup.add(ip("10.213.0.5")));
        lookup.entries[0].tcp.done = true;
        let start = lookup.entries[0].dns.started.unwrap();
        lookup.step(start).unwrap();
        let id = lookup.entries[0].dns_id.expect("the query went out");
        (lookup, id, start)
    }

    #[test]
    fn the_fixture_is_a_reply_to_our_query() {
        let bytes = reply_bytes(0x5a5a);
        let query = query(0x5a5a, ip("10.213.0.5"));
        // The id, the question count and the question are the query's.
        assert_eq!(bytes[..2], query[..2]);
        assert_eq!(bytes[4..6], query[4..6]);
        assert_eq!(bytes[12..41], query[12..]);
        let Some(Reply::Name(name)) =
            parse_reply(&bytes, 0x5a5a, &Name::reverse_ipv4(ip("10.213.0.5")))
        else {
            panic!()
        };
        assert_eq!(&name.to_text()[..], b"node-5.lab");
    }

    /// A hostile host on the LAN can send anything from anywhere: only a
    /// reply from a nameserver the query went to, from port 53, with its id
    /// and question, names the host. Another configured nameserver that was
    /// not asked (yet) used to be enough.
    #[test]
    fn a_reply_counts_only_from_the_server_asked_with_our_id_and_question() {
        let servers = [ip("127.0.0.1"), ip("127.0.0.2")];
        let (mut lookup, id, start) = asked(&servers);
        let named = Some((0, Reply::Name(Name::from_dotted("node-5.lab").unwrap())));
        let good = reply_bytes(id);
        assert_eq!(lookup.match_reply(&good, from("127.0.0.1:53")), named);
        for (bytes, sender, why) in [
            (good, "127.0.0.2:53", "a nameserver not asked yet"),
            (good, "10.213.0.66:53", "not a nameserver"),
            (good, "127.0.0.1:5353", "not port 53"),
            (
                reply_bytes(id.wrapping_add(1)),
                "127.0.0.1:53",
                "another id",
            ),
            (reply_bytes(id ^ 0x8000), "127.0.0.1:53", "another id"),
        ] {
            assert_eq!(lookup.match_reply(&bytes, from(sender)), None, "{why}");
        }
        // The question for 10.213.0.6, the id of 10.213.0.5's query.
        let mut other = good;
        other[13] = b'6';
        assert_eq!(lookup.match_reply(&other, from("127.0.0.1:53")), None);
        assert_eq!(lookup.match_reply(&good[..2], from("127.0.0.1:53")), None);
        assert_eq!(lookup.match_reply(&[], from("127.0.0.1:53")), None);
        // The retry goes to the second server: its answer counts now, and
        // the first server's still does.
        lookup.step(start + Duration::from_millis(600)).unwrap();
        assert_eq!(lookup.entries[0].dns.attempts, 2);
        assert_eq!(lookup.match_reply(&good, from("127.0.0.2:53")), named);
        assert_eq!(lookup.match_reply(&good, from("127.0.0.1:53")), named);
        // Once answered, a second answer is nothing.
        lookup.entries[0].dns.done = true;
        assert_eq!(lookup.match_reply(&good, from("127.0.0.1:53")), None);
    }

    /// Ids are drawn at random, none alike: knowing one says nothing of
    /// the next (they used to be a random base plus the host's index).
    #[test]
    fn transaction_ids_are_random_and_distinct() {
        let draw = |n: usize| -> Vec<u16> {
            let mut ids = TransactionIds::new();
            (0..n).map(|i| ids.draw(i).unwrap()).collect()
        };
        let ids = draw(4096);
        let distinct: std::collections::HashSet<u16> = ids.iter().copied().collect();
        assert_eq!(distinct.len(), ids.len());
        // By chance, about 4096/65536 pairs follow each other; in sequence,
        // all would.
        let in_sequence = ids
            .windows(2)
            .filter(|w| w[1] == w[0].wrapping_add(1))
            .count();
        assert!(
            in_sequence < 8,
            "{in_sequence} ids follow their predecessor"
        );
        assert_ne!(draw(16), draw(16), "two lookups draw alike");
        // Every id there is can be held, one host each: the last is found.
        let mut ids = TransactionIds::new();
        for i in 0..=usize::from(u16::MAX) {
            let id = ids.draw(i).unwrap();
            assert_eq!(ids.holder(id), Some(i));
        }
    }

    /// Set in a copy of this test binary that runs one test with few file
    /// descriptors.
    const FEW_FDS: &str = "SCAN_LOOKUP_TEST_FEW_FDS";

    /// In the test binary itself: runs `test` again in a child process with
    /// at most 64 descriptors (prlimit), and fails if it fails or hangs
    /// (a hang guard of 120 s, not a performance figure); false there. In
    /// that child: true, the test's body is to run.
    fn in_child_with_few_fds(test: &str) -> bool {
        if std::env::var_os(FEW_FDS).is_some() {
            return true;
        }
        let out = std::process::Command::new("timeout")
            .args(["120", "prlimit", "--nofile=64"])
            .arg(std::env::current_exe().unwrap())
            .args(["--exact", &format!("scan::lookup::tests::{test}")])
            .args(["--test-threads=1", "--nocapture"])
            .env(FEW_FDS, "1")
            .output()
            .expect("timeout and prlimit (util-linux) run the child");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{test} with 64 descriptors: {}\n{text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        false
    }

    /// Opens /dev/null until the process is out of descriptors.
    fn use_up_descriptors() -> Vec<std::fs::File> {
        let mut held = Vec::new();
        loop {
            match std::fs::File::open("/dev/null") {
                Ok(file) => held.push(file),
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                    return held;
                }
            }
        }
    }

    /// No descriptor for a single probe, and none of ours to wait for: one
    /// clear error, not a retry every few milliseconds for ever.
    #[test]
    fn out_of_descriptors_with_no_probe_open_is_an_error() {
        if !in_child_with_few_fds("out_of_descriptors_with_no_probe_open_is_an_error") {
            return;
        }
        let mut lookup = Lookup::new(&[], Duration::from_secs(1), 0, 22).unwrap();
        lookup.add(ip("127.0.0.1"));
        let _held = use_up_descriptors();
        let err = lookup.finish().unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot open a socket to probe TCP port 22, with no other probe open: \
             Too many open files (os error 24); raise the open file limit (ulimit -n)"
        );
    }

    /// Room for one connect at a time: every host is still probed, one
    /// after the other.
    #[test]
    fn out_of_descriptors_the_probes_go_one_at_a_time() {
        if !in_child_with_few_fds("out_of_descriptors_the_probes_go_one_at_a_time") {
            return;
        }
        let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut lookup = Lookup::new(&[], Duration::from_secs(60), 0, port).unwrap();
        let hosts = [ip("127.0.0.1"), ip("127.0.0.2"), ip("127.0.0.3")];
        for host in hosts {
            lookup.add(host);
        }
        let mut held = use_up_descriptors();
        held.pop();
        lookup.finish().unwrap();
        assert_eq!(lookup.max_conns, 1, "the probes went one at a time");
        let answers = lookup.into_answers();
        assert_eq!(answers.iter().map(|a| a.ip).collect::<Vec<_>>(), hosts);
        assert!(answers.iter().all(|a| a.ssh), "{answers:?}");
    }
}
