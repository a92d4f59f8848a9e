//! A watchdog between libssh2 and a node's TCP socket.
//!
//! libssh2 keeps every message it does not handle (an unknown type, an
//! unsolicited request) in a queue without a limit, and its blocking
//! waits look at their timeout only when a read finds nothing: a host
//! that streams such messages grows rccr's memory at wire speed, and
//! holds the call for as long as it streams. So libssh2 talks to one end
//! of a socket pair, and a small thread here copies the bytes between the
//! other end and the node, within two bounds:
//! - the bytes read from the node never exceed what rccr has allowed so
//!   far ([`Watch::step`]): each step (handshake, login, a command) adds
//!   its share, about as much as it may legitimately take;
//! - while a step is under way, it is cut off a second ([`GRACE`]) past
//!   its deadline (libssh2's own timeout normally comes first). Between
//!   steps (a connection kept for later) no deadline applies.
//!
//! Past either, both sockets are shut: libssh2 sees the connection close
//! and fails, and [`Watch::cut`] says why.
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long past a step's deadline the pump waits for libssh2 to give up
/// by itself.
pub const GRACE: Duration = Duration::from_secs(1);

/// How long a dropped connection's pump may still pass on its last bytes.
const CLOSE_WAIT: Duration = Duration::from_millis(200);

/// How often an idle pump looks at its bounds again (a step that began
/// while it waited for bytes).
const TICK: Duration = Duration::from_secs(1);

/// Bytes in flight each way: from the node, to the node.
const DOWN_BUF: usize = 32 << 10;
const UP_BUF: usize = 16 << 10;

/// The pump's stack: its buffers are on the heap.
const STACK: usize = 64 << 10;

/// What a node keeps of its allowance once no step is under way: what it
/// may still send for a step just ended (a command cut off with its
/// channel's window in flight), and keep-alives. The rest lapses, so that
/// the bound does not grow with every command a kept connection ran. Two
/// windows: a window's data in small packets takes up to half as much
/// again in framing.
pub const CARRY: u64 = 2 * super::CHANNEL_WINDOW + (256 << 10);

/// Why the pump cut a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// The node sent more than this many bytes, all that was allowed.
    Flood(u64),
    /// A step ran past its deadline and [`GRACE`].
    Overdue,
}

#[derive(Default)]
struct State {
    /// Bytes the node may have sent in all.
    allowed: u64,
    /// Bytes the node has sent (the pump's count).
    read: u64,
    /// Steps under way.
    steps: usize,
    /// The deadlines of the steps under way.
    due: Vec<Instant>,
    cut: Option<Cut>,
    /// When the connection was dropped: the pump ends soon after, even
    /// with bytes for a node that does not take them.
    closing: Option<Instant>,
}

/// The pump of one connection. Dropping it (after libssh2's end of the
/// pair) ends the pump, which closes the node's socket, and waits for
/// it: at once when libssh2's end is closed, else a moment later.
pub struct Watch {
    state: Arc<Mutex<State>>,
    pump: Option<JoinHandle<()>>,
}

/// A step under way: its deadline holds until this is dropped.
pub struct Step<'w> {
    watch: &'w Watch,
    due: Option<Instant>,
}

impl Watch {
    /// Starts pumping between `tcp` and the socket returned (libssh2's),
    /// with `allowed` bytes from the node allowed before any step.
    pub fn start(tcp: TcpStream, allowed: u64) -> io::Result<(Watch, UnixStream)> {
        let (theirs, ours) = UnixStream::pair()?;
        tcp.set_nonblocking(true)?;
        ours.set_nonblocking(true)?;
        let state = Arc::new(Mutex::new(State {
            allowed,
            ..State::default()
        }));
        let shared = state.clone();
        let pump = std::thread::Builder::new()
            .name("rccr-ssh-pump".into())
            .stack_size(STACK)
            .spawn(move || pump(tcp, ours, &shared))?;
        Ok((
            Watch {
                state,
                pump: Some(pump),
            },
            theirs,
        ))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Allows `bytes` more from the node and, until the step returned is
    /// dropped, bounds the connection by `due` (`None`: no deadline).
    pub fn step(&self, bytes: u64, due: Option<Instant>) -> Step<'_> {
        let mut state = self.state();
        state.allowed = state.allowed.saturating_add(bytes);
        state.due.extend(due);
        state.steps += 1;
        Step { watch: self, due }
    }

    /// Why the pump cut the connection, if it did.
    pub fn cut(&self) -> Option<Cut> {
        self.state().cut
    }
}

impl Drop for Step<'_> {
    fn drop(&mut self) {
        let mut state = self.watch.state();
        if let Some(i) = state.due.iter().position(|d| Some(*d) == self.due) {
            state.due.swap_remove(i);
        }
        state.steps -= 1;
        if state.steps == 0 {
            state.allowed = state.allowed.min(state.read.saturating_add(CARRY));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Some(pump) = self.pump.take() {
            self.state().closing = Some(Instant::now());
            let _ = pump.join();
        }
    }
}

/// A poisoned lock is still the state: the pump holds it only to read
/// and to record a cut.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Copies between the node and libssh2 until either end closes or a bound
/// is passed; then records why (a cut) and shuts both sockets, so that
/// libssh2 sees the end.
fn pump(tcp: TcpStream, local: UnixStream, state: &Mutex<State>) {
    let cut = copy(&tcp, &local, state);
    lock(state).cut = cut;
    let _ = tcp.shutdown(Shutdown::Both);
    let _ = local.shutdown(Shutdown::Both);
}

/// Bytes waiting to be written on.
struct Buf {
    bytes: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Buf {
    fn new(size: usize) -> Buf {
        Buf {
            bytes: vec![0; size].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Writes what is waiting to `to`; false once `to` failed.
    fn drain(&mut self, mut to: impl Write) -> bool {
        while !self.is_empty() {
            match to.write(&self.bytes[self.start..self.end]) {
                Ok(0) => return false,
                Ok(n) => self.start += n,
                Err(e) if blocked(&e) => return true,
                Err(_) => return false,
            }
        }
        self.start = 0;
        self.end = 0;
        true
    }

    /// Reads at most `most` bytes from `from` into the empty buffer: the
    /// count, `None` for nothing yet, 0 at the end (or a failure).
    fn fill(&mut self, mut from: impl Read, most: u64) -> Option<usize> {
        let room = self
            .bytes
            .len()
            .min(usize::try_from(most).unwrap_or(usize::MAX));
        match from.read(&mut self.bytes[..room]) {
            Ok(n) => {
                self.end = n;
                Some(n)
            }
            Err(e) if blocked(&e) => None,
            Err(_) => Some(0),
        }
    }
}

fn blocked(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// The pump's loop; `Some` when it cut the connection.
fn copy(tcp: &TcpStream, local: &UnixStream, state: &Mutex<State>) -> Option<Cut> {
    use crate::sys::{poll, poll_fd, POLLIN, POLLOUT};
    let mut down = Buf::new(DOWN_BUF);
    let mut up = Buf::new(UP_BUF);
    let mut read = 0u64;
    let mut node_open = true;
    loop {
        let (due, closing) = {
            let state = lock(state);
            let due = state.due.iter().max().map(|d| *d + GRACE);
            (due, state.closing.map(|c| c + CLOSE_WAIT))
        };
        let now = Instant::now();
        let mut wait = match due {
            Some(due) if due <= now => return Some(Cut::Overdue),
            Some(due) => (due - now).min(TICK),
            None => TICK,
        };
        match closing {
            Some(end) if end <= now => return None,
            Some(end) => wait = wait.min(end - now),
            None => {}
        }
        // Whatever is waiting goes on first; more is read only once it
        // has: a side that does not take its bytes holds the other back.
        let node_events = if node_open {
            (if down.is_empty() { POLLIN } else { 0 }) | (if up.is_empty() { 0 } else { POLLOUT })
        } else {
            0
        };
        let local_events = (if node_open && up.is_empty() {
            POLLIN
        } else {
            0
        }) | (if down.is_empty() { 0 } else { POLLOUT });
        let fd = |events, fd| poll_fd(if events == 0 { -1 } else { fd }, events);
        let mut fds = [
            fd(node_events, tcp.as_raw_fd()),
            fd(local_events, local.as_raw_fd()),
        ];
        if poll(&mut fds, wait.as_millis().max(1) as i32).is_err() {
            return None;
        }
        // An event not asked for is an error or a hang-up: the node's
        // ends it; libssh2's is read to its end below.
        if fds[0].revents & !fds[0].events != 0 {
            node_open = false;
        }
        if node_open && down.is_empty() && fds[0].revents & POLLIN != 0 {
            // One byte past the allowance tells a flood; a step begun
            // during the poll counts.
            let allowed = lock(state).allowed;
            match down.fill(tcp, allowed.saturating_sub(read) + 1) {
                Some(0) => node_open = false,
                Some(n) => {
                    read += n as u64;
                    lock(state).read = read;
                    if read > allowed {
                        return Some(Cut::Flood(allowed));
                    }
                }
                None => {}
            }
        }
        if !down.drain(local) {
            return None;
        }
        if node_open && up.is_empty() && fds[1].revents != 0 {
            // libssh2 closed its end (what it sent before, a disconnect,
            // has gone on).
            if up.fill(local, u64::MAX) == Some(0) {
                return None;
            }
        }
        if node_open && !up.drain(tcp) {
            node_open = false;
        }
        // The node went: libssh2 gets what it sent, then the end.
        if !node_open && down.is_empty() {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A node on 127.0.0.1 that writes `chunk` every `every` until it has
    /// written `cap` bytes or its reader went; answers whether it wrote
    /// them all. `rccr` is the pump's TCP end.
    fn node(chunk: usize, every: Duration, cap: usize) -> (TcpStream, JoinHandle<bool>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let rccr = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut sock, _) = listener.accept().unwrap();
        let node = std::thread::spawn(move || {
            let mut written = 0;
            while written < cap {
                if sock
                    .write_all(&vec![b'x'; chunk.min(cap - written)])
                    .is_err()
                {
                    return false;
                }
                written += chunk;
                std::thread::sleep(every);
            }
            true
        });
        (rccr, node)
    }

    /// What libssh2 would read from its end, to the end.
    fn read_all(mut socket: UnixStream) -> Vec<u8> {
        // Only a backstop: the tests end long before.
        socket
            .set_read_timeout(Some(Duration::from_secs(300)))
            .unwrap();
        let mut got = Vec::new();
        let _ = socket.read_to_end(&mut got);
        got
    }

    /// The allowance of the steps a kept connection ran lapses past
    /// [`CARRY`] once none is under way: before, a node could flood
    /// libssh2's queue with all that a hundred commands were allowed and
    /// did not use.
    #[test]
    fn an_unused_allowance_lapses_when_no_step_is_under_way() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut sock, _) = listener.accept().unwrap();
        let (watch, socket) = Watch::start(tcp, 0).unwrap();
        for _ in 0..10 {
            drop(watch.step(1 << 20, None));
        }
        let _under_way = watch.step(1000, None);
        let node = std::thread::spawn(move || {
            let chunk = vec![b'x'; 1 << 16];
            (0..256).all(|_| sock.write_all(&chunk).is_ok())
        });
        let got = read_all(socket);
        assert_eq!(watch.cut(), Some(Cut::Flood(CARRY + 1000)));
        assert!(got.len() as u64 <= CARRY + 1000, "{}", got.len());
        assert!(!node.join().unwrap(), "the node wrote all of its 16 MiB");
    }

    #[test]
    fn no_more_than_the_allowance_reaches_libssh2() {
        let (tcp, node) = node(1000, Duration::ZERO, 8 << 20);
        let (watch, socket) = Watch::start(tcp, 150_000).unwrap();
        let got = read_all(socket);
        // What was read and not yet passed on when it was cut is dropped.
        assert!(got.len() <= 150_000, "{}", got.len());
        assert_eq!(watch.cut(), Some(Cut::Flood(150_000)));
        assert!(!node.join().unwrap(), "the node wrote all of its 8 MiB");
    }

    #[test]
    fn a_step_still_under_way_past_its_deadline_is_cut_off() {
        // A byte every 50 ms for a minute at most, ever a sign of life;
        // a step of 1 s.
        let (tcp, node) = node(1, Duration::from_millis(50), 1200);
        let (watch, socket) = Watch::start(tcp, 1 << 20).unwrap();
        let _step = watch.step(0, Some(Instant::now() + Duration::from_secs(1)));
        let got = read_all(socket);
        assert!(!got.is_empty());
        assert_eq!(watch.cut(), Some(Cut::Overdue));
        assert!(
            !node.join().unwrap(),
            "the node dripped for its whole minute"
        );
    }

    #[test]
    fn bytes_go_both_ways_and_a_closed_end_ends_the_pump() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut node, _) = listener.accept().unwrap();
        let (watch, mut socket) = Watch::start(tcp, 1 << 20).unwrap();
        let echo = std::thread::spawn(move || {
            let mut buf = vec![0; 1 << 16];
            loop {
                match node.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => node.write_all(&buf[..n]).unwrap(),
                }
            }
        });
        // More than the buffers hold each way, idle between (no step).
        let sent: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let writer = {
            let (mut socket, sent) = (socket.try_clone().unwrap(), sent.clone());
            std::thread::spawn(move || socket.write_all(&sent).unwrap())
        };
        let mut got = vec![0; sent.len()];
        socket.read_exact(&mut got).unwrap();
        writer.join().unwrap();
        assert!(got == sent);
        // libssh2's end closed: the pump ends, and so does the node's.
        drop(socket);
        drop(watch);
        echo.join().unwrap();
    }

    #[test]
    fn steps_end_their_deadlines() {
        let (tcp, _node) = node(1, Duration::from_secs(1), 1);
        let (watch, _socket) = Watch::start(tcp, 0).unwrap();
        let soon = Some(Instant::now() + Duration::from_secs(3600));
        let (a, b) = (watch.step(1, soon), watch.step(2, None));
        assert_eq!(watch.state().due.len(), 1);
        drop(a);
        drop(b);
        let state = watch.state();
        assert!(state.due.is_empty());
        assert_eq!(state.allowed, 3);
    }
}
