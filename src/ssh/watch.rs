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
/// while it waited for bytes). No longer than [`GRACE`]: a step's new
/// deadline is seen before it and its grace have passed, so no wake-up
/// is needed when a step begins (its allowance is read when a read from
/// the node is judged).
const TICK: Duration = Duration::from_secs(1);
const _: () = assert!(TICK.as_millis() <= GRACE.as_millis());

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
    /// Recorded under the same lock as the bounds it was judged by: a
    /// step begun after it knows the cut came before it.
    cut: Option<Cut>,
    /// Whether any step has begun: a cut before the first step (a node
    /// that floods as soon as it is connected) is that step's own.
    begun: bool,
    /// When the connection was dropped: the pump ends soon after, even
    /// with bytes for a node that does not take them.
    closing: Option<Instant>,
}

/// The pump of one connection. Dropping it (after libssh2's end of the
/// pair) ends the pump, which closes the node's socket, and waits for
/// it: at once when libssh2's end is closed and all it sent has gone on,
/// else [`CLOSE_WAIT`] later at most. (What libssh2 sent is lost when
/// bytes from the node it left unread can no longer be handed to it:
/// only a graceful disconnect's message.)
pub struct Watch {
    state: Arc<Mutex<State>>,
    /// The pump's end of the pair: shut when the watch is dropped, which
    /// wakes the pump whatever it waits for.
    local: Arc<UnixStream>,
    pump: Option<JoinHandle<()>>,
}

/// A step under way: its deadline holds until this is dropped.
pub struct Step<'w> {
    watch: &'w Watch,
    due: Option<Instant>,
    /// The cut of the connection before this step began.
    before: Option<Cut>,
}

impl Watch {
    /// Starts pumping between `tcp` and the socket returned (libssh2's),
    /// with `allowed` bytes from the node allowed before any step.
    pub fn start(tcp: TcpStream, allowed: u64) -> io::Result<(Watch, UnixStream)> {
        Watch::start_ticking(tcp, allowed, TICK)
    }

    /// [`Watch::start`] with a pump that looks at its bounds every `tick`
    /// when nothing wakes it (tests: an hour, to tell what woke it).
    fn start_ticking(
        tcp: TcpStream,
        allowed: u64,
        tick: Duration,
    ) -> io::Result<(Watch, UnixStream)> {
        let (theirs, ours) = UnixStream::pair()?;
        tcp.set_nonblocking(true)?;
        ours.set_nonblocking(true)?;
        let state = Arc::new(Mutex::new(State {
            allowed,
            ..State::default()
        }));
        let local = Arc::new(ours);
        let (shared, pumped) = (state.clone(), local.clone());
        let pump = std::thread::Builder::new()
            .name("rccr-ssh-pump".into())
            .stack_size(STACK)
            .spawn(move || pump(tcp, &pumped, &shared, tick))?;
        Ok((
            Watch {
                state,
                local,
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
        let before = state.cut.filter(|_| state.begun);
        state.begun = true;
        Step {
            watch: self,
            due,
            before,
        }
    }

    /// Why the pump cut the connection, if it did.
    pub fn cut(&self) -> Option<Cut> {
        self.state().cut
    }
}

impl Step<'_> {
    /// Why the pump cut the connection while this step was under way, if
    /// it did.
    pub fn cut(&self) -> Option<Cut> {
        match self.before {
            Some(_) => None,
            None => self.watch.cut(),
        }
    }

    /// Why the pump had cut the connection before this step began, if it
    /// had: the step's own failure is only that.
    pub fn cut_before(&self) -> Option<Cut> {
        self.before
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
            // Its end hangs up, so the pump wakes now, not at its next
            // tick; what libssh2 sent before is still read and passed on
            // (unless the node's bytes it left unread cannot be handed
            // to it).
            let _ = self.local.shutdown(Shutdown::Both);
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
/// is passed (a cut, recorded); then shuts both sockets, so that libssh2
/// sees the end.
fn pump(tcp: TcpStream, local: &UnixStream, state: &Mutex<State>, tick: Duration) {
    copy(&tcp, local, state, tick);
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

/// Counts `read` bytes from the node in all, and judges them by the
/// allowance as it is now (a step begun during the read counts): true
/// for a flood, which is recorded as the cut under the same lock.
fn count(state: &Mutex<State>, read: u64) -> bool {
    let mut state = lock(state);
    state.read = read;
    let flood = read > state.allowed;
    if flood {
        state.cut = Some(Cut::Flood(state.allowed));
    }
    flood
}

/// The pump's loop, until an end closes or a bound is passed (then the
/// cut is recorded).
fn copy(tcp: &TcpStream, local: &UnixStream, state: &Mutex<State>, tick: Duration) {
    use crate::sys::{poll, poll_fd, POLLIN, POLLOUT};
    let mut down = Buf::new(DOWN_BUF);
    let mut up = Buf::new(UP_BUF);
    let mut read = 0u64;
    // The node may still send (until a read finds the end), and take
    // bytes (until a write fails): a node that resets the connection
    // after its last words (a disconnect's reason) still has them read.
    let (mut from_node, mut to_node) = (true, true);
    // When libssh2's end hung up (closed, or shut as the watch is
    // dropped): what it sent before has a moment to go on.
    let mut local_gone: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let (due, closing) = {
            let mut state = lock(state);
            let due = state.due.iter().max().map(|d| *d + GRACE);
            if due.is_some_and(|due| due <= now) {
                state.cut = Some(Cut::Overdue);
                return;
            }
            let closing = state.closing.into_iter().chain(local_gone).min();
            (due, closing.map(|c| c + CLOSE_WAIT))
        };
        let mut wait = match due {
            Some(due) => (due - now).min(tick),
            None => tick,
        };
        match closing {
            Some(end) if end <= now => return,
            Some(end) => wait = wait.min(end - now),
            None => {}
        }
        // Whatever is waiting goes on first; more is read only once it
        // has: a side that does not take its bytes holds the other back.
        let node_events = (if from_node && down.is_empty() {
            POLLIN
        } else {
            0
        }) | (if to_node && !up.is_empty() {
            POLLOUT
        } else {
            0
        });
        let local_events = (if to_node && up.is_empty() { POLLIN } else { 0 })
            | (if down.is_empty() { 0 } else { POLLOUT });
        // libssh2's end is watched even when nothing is asked of it, for
        // its hang-up; once seen, only for what is asked.
        let local_fd = if local_events == 0 && local_gone.is_some() {
            -1
        } else {
            local.as_raw_fd()
        };
        let node_fd = if node_events == 0 {
            -1
        } else {
            tcp.as_raw_fd()
        };
        let mut fds = [
            poll_fd(node_fd, node_events),
            poll_fd(local_fd, local_events),
        ];
        if poll(&mut fds, wait.as_millis().max(1) as i32).is_err() {
            return;
        }
        // An event not asked for is an error or a hang-up.
        if local_fd >= 0 && fds[1].revents & !local_events != 0 {
            local_gone.get_or_insert_with(Instant::now);
        }
        // Any event on the node's socket with room for its bytes: its
        // bytes, or the end (an error or a hang-up comes after the bytes
        // the kernel holds).
        if node_events & POLLIN != 0 && fds[0].revents != 0 {
            // One byte past the allowance tells a flood.
            let allowed = lock(state).allowed;
            match down.fill(tcp, allowed.saturating_sub(read) + 1) {
                Some(0) => from_node = false,
                Some(n) => {
                    read += n as u64;
                    if count(state, read) {
                        return;
                    }
                }
                None => {}
            }
        }
        if !down.drain(local) {
            return;
        }
        if local_events & POLLIN != 0 && fds[1].revents != 0 {
            // libssh2 closed its end (what it sent before, a disconnect,
            // has gone on).
            if up.fill(local, u64::MAX) == Some(0) {
                return;
            }
        }
        if to_node && !up.drain(tcp) {
            to_node = false;
        }
        // The node went: libssh2 gets what it sent, then the end.
        if !from_node && down.is_empty() {
            return;
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

    /// Runs `f` on a thread of its own; whether it returned within a
    /// backstop far past what it takes (minutes: the pumps of these tests
    /// tick once an hour, so only a wake-up ends their waits early).
    fn returns(f: impl FnOnce() + Send + 'static) -> bool {
        let (done, returned) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            f();
            let _ = done.send(());
        });
        returned.recv_timeout(Duration::from_secs(120)).is_ok()
    }

    /// libssh2's end writes to a node that takes nothing, until neither
    /// the node's socket nor the pump's buffers have room: the pump waits
    /// for the node, with bytes for it, and asks nothing of libssh2's end.
    fn stuck_on_a_node_that_takes_nothing() -> (Watch, UnixStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (node, _) = listener.accept().unwrap();
        let hour = Duration::from_secs(3600);
        let (watch, mut socket) = Watch::start_ticking(tcp, 1 << 20, hour).unwrap();
        // A write that finds no room for a while ends the filling: the
        // pump took what it could (the wait is no bound of the test).
        socket
            .set_write_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let chunk = vec![b'x'; 64 << 10];
        while socket.write(&chunk).is_ok() {}
        (watch, socket, node)
    }

    /// Dropping the watch wakes its pump: before, a pump with bytes for a
    /// node that did not take them did not look at libssh2's end, and saw
    /// the drop only at its next tick.
    #[test]
    fn a_dropped_watch_wakes_its_pump() {
        let (watch, socket, _node) = stuck_on_a_node_that_takes_nothing();
        assert!(returns(move || drop(watch)), "the drop waited for a tick");
        drop(socket);
    }

    /// The same once libssh2's end has closed (the order a connection
    /// drops in): its hang-up is seen though nothing is asked of it.
    #[test]
    fn a_watch_dropped_after_libssh2s_end_wakes_its_pump() {
        let (watch, socket, _node) = stuck_on_a_node_that_takes_nothing();
        drop(socket);
        assert!(returns(move || drop(watch)), "the drop waited for a tick");
    }

    /// A node's last words before it resets the connection (sshd's
    /// disconnect reason) reach libssh2: before, the reset's error ended
    /// the pump before it read the bytes the kernel held.
    #[test]
    fn the_bytes_a_node_sent_before_a_reset_reach_libssh2() {
        use crate::sys::{poll, poll_fd};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut tcp = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut node, _) = listener.accept().unwrap();
        // Bytes the node never reads make its close a reset.
        tcp.write_all(b"unread").unwrap();
        node.write_all(b"too many authentication failures").unwrap();
        drop(node);
        // The reset has come (an error or a hang-up, after the bytes).
        let mut fds = [poll_fd(tcp.as_raw_fd(), 0)];
        poll(&mut fds, -1).unwrap();
        assert_ne!(fds[0].revents, 0);
        let (_watch, socket) = Watch::start(tcp, 1 << 20).unwrap();
        assert_eq!(read_all(socket), b"too many authentication failures");
    }

    /// A read from the node is judged by the allowance when it is counted:
    /// a step begun while the pump read (after it saw the allowance) is
    /// not a flood.
    #[test]
    fn a_read_is_judged_by_the_allowance_when_it_is_counted() {
        let state = Mutex::new(State {
            allowed: 10,
            ..State::default()
        });
        // The pump saw 10 allowed and read 11; a step added 10 meanwhile.
        lock(&state).allowed += 10;
        assert!(!count(&state, 11));
        assert_eq!(lock(&state).cut, None);
        assert!(count(&state, 21));
        assert_eq!(lock(&state).cut, Some(Cut::Flood(20)));
    }

    /// A cut before any step began (a node that floods as soon as it is
    /// connected) is the first step's own: before, the handshake said the
    /// connection was cut off earlier.
    #[test]
    fn a_cut_before_the_first_step_is_its_own() {
        let (tcp, node) = node(1000, Duration::ZERO, 1 << 20);
        let (watch, socket) = Watch::start(tcp, 1000).unwrap();
        let reader = std::thread::spawn(move || read_all(socket));
        node.join().unwrap();
        while watch.cut().is_none() {
            std::thread::sleep(Duration::from_millis(10));
        }
        let first = watch.step(0, None);
        assert_eq!(
            (first.cut(), first.cut_before()),
            (Some(Cut::Flood(1000)), None)
        );
        drop(first);
        drop(watch);
        reader.join().unwrap();
    }

    /// A step begun after the cut knows it came before it.
    #[test]
    fn a_step_tells_a_cut_before_it_from_its_own() {
        let (tcp, node) = node(1000, Duration::ZERO, 1 << 20);
        let (watch, socket) = Watch::start(tcp, 1000).unwrap();
        let under_way = watch.step(0, None);
        read_all(socket);
        node.join().unwrap();
        let later = watch.step(1 << 20, None);
        assert_eq!(
            (under_way.cut(), under_way.cut_before()),
            (Some(Cut::Flood(1000)), None)
        );
        assert_eq!(
            (later.cut(), later.cut_before()),
            (None, Some(Cut::Flood(1000)))
        );
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
