//! Bounded reading of byte streams, written once on `embedded_io::{Read,
//! Write}` so it behaves the same over an SSH channel, a pipe and a test
//! buffer (`&[u8]` is an `embedded_io::Read`).
//!
//! A node decides how much it sends and how slowly. Every read rccr makes
//! from a node goes through [`read_to_end`] or [`read_until`], which stop at
//! a byte limit, and through a [`Stream`] with a deadline ([`Deadlined`]),
//! which stops a node that trickles: memory and time stay bounded whatever
//! the node does. The Docker engine's socket is read so; an SSH command's
//! channel goes through [`exchange`], which keeps the same bounds while
//! it reads stdout and stderr and sends the input all at once.
use embedded_io::{ErrorKind, ErrorType, Read, Write};
use std::io;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// The longest string kept from a node's words (its engine's hostnames,
/// errors and versions, a failed command's line), so that one node's
/// endless word cannot widen every row of a table or every error.
pub const MAX_TEXT: usize = 1024;

/// `s` cut to [`MAX_TEXT`] bytes (at a character boundary).
pub fn bounded(s: &str) -> String {
    let mut end = s.len().min(MAX_TEXT);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Why a bounded read stopped.
#[derive(Debug)]
pub enum ReadError<E> {
    /// The stream failed (or its deadline passed).
    Io(E),
    /// The stream sent more than the limit, which is given.
    TooLarge(usize),
}

/// The bytes a read may take next: what is left of the limit, plus one to
/// notice a stream that goes over it.
fn room(out: &[u8], limit: usize, buf: usize) -> usize {
    (limit + 1).saturating_sub(out.len()).min(buf)
}

/// Appends the rest of `stream` to `out`, which may then hold at most
/// `limit` bytes; one byte more is [`ReadError::TooLarge`].
pub fn read_to_end<R: Read>(
    stream: &mut R,
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<(), ReadError<R::Error>> {
    let mut buf = [0u8; 8 * 1024];
    loop {
        let want = room(out, limit, buf.len());
        match stream.read(&mut buf[..want]).map_err(ReadError::Io)? {
            0 => return Ok(()),
            n => out.extend_from_slice(&buf[..n]),
        }
        if out.len() > limit {
            return Err(ReadError::TooLarge(limit));
        }
    }
}

/// Appends to `out` until it ends with `trailer` (true) or the stream ends
/// (false); `out` may hold at most `limit` bytes. Reads one chunk at a time
/// and never asks for more than the limit allows, so a stream that keeps
/// talking is cut off at the limit.
pub fn read_until<R: Read>(
    stream: &mut R,
    out: &mut Vec<u8>,
    trailer: &[u8],
    limit: usize,
) -> Result<bool, ReadError<R::Error>> {
    let mut buf = [0u8; 8 * 1024];
    while !out.ends_with(trailer) {
        let want = room(out, limit, buf.len());
        match stream.read(&mut buf[..want]).map_err(ReadError::Io)? {
            0 => return Ok(false),
            n => out.extend_from_slice(&buf[..n]),
        }
        if out.len() > limit {
            return Err(ReadError::TooLarge(limit));
        }
    }
    Ok(true)
}

/// A `std::io` error carried through `embedded_io`.
#[derive(Debug)]
pub struct IoError(pub io::Error);

impl embedded_io::Error for IoError {
    fn kind(&self) -> ErrorKind {
        match self.0.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ErrorKind::TimedOut,
            io::ErrorKind::BrokenPipe => ErrorKind::BrokenPipe,
            io::ErrorKind::Interrupted => ErrorKind::Interrupted,
            _ => ErrorKind::Other,
        }
    }
}

/// A `std::io` stream (an SSH channel, stdin, a pipe) as an `embedded_io`
/// one; [`Stream::until`] bounds it by a deadline.
pub struct Stream<T> {
    inner: T,
}

impl<T> Stream<T> {
    pub fn new(inner: T) -> Stream<T> {
        Stream { inner }
    }
}

impl<T: BlockingWaits> Stream<Deadlined<T>> {
    /// `inner` within `deadline` ([`Deadlined`]).
    pub fn until(inner: T, deadline: Instant) -> Self {
        Stream::new(Deadlined { inner, deadline })
    }
}

impl<T> ErrorType for Stream<T> {
    type Error = IoError;
}

impl<T: io::Read> Read for Stream<T> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, IoError> {
        loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other.map_err(IoError),
            }
        }
    }
}

impl<T: io::Write> Write for Stream<T> {
    /// Never `Ok(0)` for bytes to write (a stream that takes none is
    /// `WriteZero`): `embedded_io`'s `write_all` panics on it.
    fn write(&mut self, buf: &[u8]) -> Result<usize, IoError> {
        loop {
            match self.inner.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(0) if !buf.is_empty() => {
                    return Err(IoError(io::ErrorKind::WriteZero.into()));
                }
                other => return other.map_err(IoError),
            }
        }
    }

    fn flush(&mut self) -> Result<(), IoError> {
        self.inner.flush().map_err(IoError)
    }
}

/// A stream whose blocking reads and writes can be told how long to wait
/// at most: a socket's own timeouts, libssh2's session timeout.
pub trait BlockingWaits {
    /// The next read waits no longer than `most` (never zero).
    fn wait_to_read(&mut self, most: Duration) -> io::Result<()>;
    /// The next write or flush waits no longer than `most` (never zero).
    fn wait_to_write(&mut self, most: Duration) -> io::Result<()>;
}

impl BlockingWaits for UnixStream {
    fn wait_to_read(&mut self, most: Duration) -> io::Result<()> {
        self.set_read_timeout(Some(most))
    }

    fn wait_to_write(&mut self, most: Duration) -> io::Result<()> {
        self.set_write_timeout(Some(most))
    }
}

/// One deadline for a whole exchange: every read and write waits no
/// longer than what is left until `deadline`, and fails with `TimedOut`
/// once it has passed. A peer that trickles a byte at a time, each within
/// any one wait, cannot stretch the exchange.
pub struct Deadlined<T> {
    inner: T,
    deadline: Instant,
}

impl<T> Deadlined<T> {
    /// What is left until the deadline; `TimedOut` once it has passed.
    fn left(&self) -> io::Result<Duration> {
        match self.deadline.saturating_duration_since(Instant::now()) {
            left if left.is_zero() => {
                Err(io::Error::new(io::ErrorKind::TimedOut, "deadline passed"))
            }
            left => Ok(left),
        }
    }
}

impl<T: io::Read + BlockingWaits> io::Read for Deadlined<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.inner.wait_to_read(left)?;
        self.inner.read(buf)
    }
}

impl<T: io::Write + BlockingWaits> io::Write for Deadlined<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = self.left()?;
        self.inner.wait_to_write(left)?;
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        let left = self.left()?;
        self.inner.wait_to_write(left)?;
        self.inner.flush()
    }
}

/// A command's channel driven without blocking (an SSH channel in a
/// non-blocking session): each call does what it can now, and
/// `WouldBlock` means nothing can be done now.
pub trait Duplex {
    /// Reads the command's stdout (`stream` 0) or stderr (1); `Ok(0)` is
    /// that stream's end.
    fn read(&mut self, stream: usize, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes to the command's input.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize>;
    /// Ends the command's input.
    fn send_eof(&mut self) -> io::Result<()>;
    /// Whether the channel may do more now without waiting, though each
    /// call just said "nothing now": reading one stream takes in what
    /// came for the other (its data, the channel's end, a window opened
    /// for the input, `writing`), which no wait for the socket then sees.
    fn ready(&self, writing: bool) -> bool;
    /// Waits until the channel may do more, no longer than `most`.
    fn wait(&mut self, most: Duration) -> io::Result<()>;
}

/// The input [`exchange`] sends: `None` leaves the command's input as it
/// is (open, nothing sent).
pub type Input<'a> = Option<&'a [u8]>;

/// Whether an error is only "nothing now".
fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Sends `input` (then the input's end) while reading the command's stdout
/// and stderr into `outs`, all at once, until both have ended, or until
/// stdout ends with `trailer` if one is given (true when it does); within
/// `deadline` (`TimedOut` past it), each stream bounded by `limit` as in
/// [`read_to_end`]. Reading one stream to its end before the other could
/// wait for ever: a command that fills the unread one first stops
/// (an SSH channel's window shuts while unread data is held), and so does
/// one that writes before it reads all its input. A node that stops taking
/// its input is cut off at the deadline; one whose input fails (it exited
/// without reading it) is for its exit status to tell.
///
/// Both streams ended ends the exchange, with input left unsent and no
/// end sent for it: a command must not close its stdout and stderr
/// before it has read all of its input (`exec >log 2>&1; cat >file`
/// would see its input end, cut short, only when the channel closes).
/// An end sent then would pass the part sent for the whole; rccr's
/// commands keep their output open, and check that their input came
/// whole.
pub fn exchange<D: Duplex>(
    channel: &mut D,
    mut input: Input<'_>,
    mut outs: [&mut Vec<u8>; 2],
    limit: usize,
    trailer: Option<&[u8]>,
    deadline: Instant,
) -> Result<bool, ReadError<IoError>> {
    let mut buf = [0u8; 32 * 1024];
    let mut ended = [false; 2];
    // Passes in a row that moved nothing though the channel said it was
    // ready ([`Duplex::ready`]): the next pass takes what a read took in
    // for the other stream; a channel that stays ready without moving (a
    // send that waits for the socket, a key re-exchange never finished)
    // is waited for like any other, not spun on.
    let mut ready_passes = 0;
    loop {
        let mut moved = false;
        if let Some(rest) = input {
            if rest.is_empty() {
                match channel.send_eof() {
                    Err(e) if would_block(&e) => {}
                    _ => input = None,
                }
            } else {
                match channel.write(rest) {
                    // No room in the channel's window now.
                    Ok(0) => {}
                    Ok(n) => {
                        input = Some(&rest[n..]);
                        moved = true;
                    }
                    Err(e) if would_block(&e) => {}
                    // Not sent and not to be: the command is gone.
                    Err(_) => input = None,
                }
            }
        }
        for (stream, out) in outs.iter_mut().enumerate() {
            if ended[stream] {
                continue;
            }
            let want = room(out, limit, buf.len());
            match channel.read(stream, &mut buf[..want]) {
                Ok(0) => ended[stream] = true,
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    moved = true;
                }
                Err(e) if would_block(&e) => {}
                Err(e) => return Err(ReadError::Io(IoError(e))),
            }
            if out.len() > limit {
                return Err(ReadError::TooLarge(limit));
            }
        }
        if let Some(trailer) = trailer {
            if outs[0].ends_with(trailer) {
                return Ok(true);
            }
            if ended[0] {
                return Ok(false);
            }
        }
        // Both ended: the command closed its output (it exited, as a
        // rule); input it did not take is for its exit status to tell.
        // Not sent, nor its end: see the contract above.
        if ended == [true; 2] {
            return Ok(false);
        }
        if moved {
            ready_passes = 0;
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let e = io::Error::new(io::ErrorKind::TimedOut, "deadline passed");
            return Err(ReadError::Io(IoError(e)));
        }
        ready_passes += 1;
        if ready_passes > READY_PASSES || !channel.ready(input.is_some()) {
            ready_passes = 0;
            channel.wait(left).map_err(|e| ReadError::Io(IoError(e)))?;
        }
    }
}

/// How many passes in a row [`exchange`] makes without waiting while the
/// channel says it is ready and nothing moves.
const READY_PASSES: u32 = 4;

#[cfg(test)]
mod tests {
    use super::*;

    /// Buffers never block: there is nothing to bound.
    macro_rules! never_blocks {
        ($($buffer:ty),*) => {$(
            impl BlockingWaits for $buffer {
                fn wait_to_read(&mut self, _: Duration) -> io::Result<()> {
                    Ok(())
                }

                fn wait_to_write(&mut self, _: Duration) -> io::Result<()> {
                    Ok(())
                }
            }
        )*};
    }
    never_blocks!(Vec<u8>, &[u8]);

    /// A stream that yields `chunk` bytes per read, forever: an endless talker.
    struct Endless {
        reads: usize,
    }

    impl ErrorType for Endless {
        type Error = core::convert::Infallible;
    }

    impl Read for Endless {
        fn read(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error> {
            self.reads += 1;
            buf.fill(b'y');
            Ok(buf.len())
        }
    }

    #[test]
    fn read_to_end_takes_up_to_the_limit_and_no_more() {
        let mut out = Vec::new();
        read_to_end(&mut &b"hello"[..], &mut out, 5).unwrap();
        assert_eq!(out, b"hello");
        let mut out = Vec::new();
        let err = read_to_end(&mut &b"hello!"[..], &mut out, 5).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge(5)));
        assert_eq!(out.len(), 6, "one byte over is how it knows");
    }

    #[test]
    fn an_endless_stream_is_cut_off_at_the_limit() {
        let mut talker = Endless { reads: 0 };
        let mut out = Vec::new();
        let err = read_to_end(&mut talker, &mut out, 64 * 1024).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge(_)));
        assert_eq!(out.len(), 64 * 1024 + 1);
        assert!(out.capacity() < 256 * 1024, "{}", out.capacity());
        let mut out = Vec::new();
        let err = read_until(&mut talker, &mut out, b"\nEND\n", 1000).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge(1000)));
        assert_eq!(out.len(), 1001);
    }

    #[test]
    fn read_until_stops_at_the_trailer_or_the_end() {
        let mut input = &b"a\nb\nNONCE\n"[..];
        let mut out = Vec::new();
        assert!(read_until(&mut input, &mut out, b"\nNONCE\n", 100).unwrap());
        assert_eq!(out, b"a\nb\nNONCE\n");
        let mut out = Vec::new();
        assert!(!read_until(&mut &b"no trailer"[..], &mut out, b"\nX\n", 100).unwrap());
        assert_eq!(out, b"no trailer");
        // A stream that is exactly the trailer.
        let mut out = Vec::new();
        assert!(read_until(&mut &b"\nX\n"[..], &mut out, b"\nX\n", 3).unwrap());
    }

    /// Takes nothing: a channel whose peer's window stays shut.
    struct Shut;

    impl io::Write for Shut {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Ok(0)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stream_that_takes_nothing_fails_a_write_and_a_late_one_times_out() {
        // `embedded_io`'s `write_all` panics on a write of 0 bytes.
        let err = Stream::new(Shut).write_all(b"input").unwrap_err();
        assert_eq!(err.0.kind(), io::ErrorKind::WriteZero);
        let err = Stream::until(Vec::new(), Instant::now())
            .write_all(b"input")
            .unwrap_err();
        assert_eq!(err.0.kind(), io::ErrorKind::TimedOut);
        Stream::new(Shut).write_all(b"").unwrap();
    }

    #[test]
    fn a_stream_past_its_deadline_times_out() {
        let mut stream = Stream::until(&b"data"[..], Instant::now());
        let mut out = Vec::new();
        match read_to_end(&mut stream, &mut out, 100) {
            Err(ReadError::Io(IoError(e))) => assert_eq!(e.kind(), io::ErrorKind::TimedOut),
            other => panic!("{other:?}"),
        }
        let mut stream = Stream::new(&b"data"[..]);
        read_to_end(&mut stream, &mut out, 100).unwrap();
        assert_eq!(out, b"data");
    }

    /// A channel scripted by what each stream has: stdout's bytes come only
    /// once all of stderr is read (a window held shut by unread stderr),
    /// stderr's a piece a read with "nothing now" between, and the input
    /// is taken a few bytes at a time.
    struct Scripted {
        stdout: Vec<u8>,
        stderr: Vec<u8>,
        piece: usize,
        nothing_now: bool,
        taken: Vec<u8>,
        eofs: usize,
        waits: usize,
    }

    impl Scripted {
        fn new(stdout: &[u8], stderr: &[u8], piece: usize) -> Self {
            Scripted {
                stdout: stdout.to_vec(),
                stderr: stderr.to_vec(),
                piece,
                nothing_now: false,
                taken: Vec::new(),
                eofs: 0,
                waits: 0,
            }
        }
    }

    fn nothing_now() -> io::Error {
        io::ErrorKind::WouldBlock.into()
    }

    impl Duplex for Scripted {
        fn read(&mut self, stream: usize, buf: &mut [u8]) -> io::Result<usize> {
            self.nothing_now = !self.nothing_now;
            if stream == 0 && !self.stderr.is_empty() || self.nothing_now {
                return Err(nothing_now());
            }
            let from = if stream == 0 {
                &mut self.stdout
            } else {
                &mut self.stderr
            };
            let n = from.len().min(buf.len()).min(self.piece);
            buf[..n].copy_from_slice(&from[..n]);
            from.drain(..n);
            Ok(n)
        }

        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.nothing_now {
                return Err(nothing_now());
            }
            let n = buf.len().min(3);
            self.taken.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn send_eof(&mut self) -> io::Result<()> {
            self.eofs += 1;
            Ok(())
        }

        fn ready(&self, _: bool) -> bool {
            false
        }

        fn wait(&mut self, _: Duration) -> io::Result<()> {
            self.waits += 1;
            assert!(self.waits < 10_000, "waits for ever");
            Ok(())
        }
    }

    fn later() -> Instant {
        Instant::now() + Duration::from_secs(3600)
    }

    /// [`exchange`]'s answer, stdout and stderr.
    type Heard = (Result<bool, ReadError<IoError>>, Vec<u8>, Vec<u8>);

    fn heard(
        channel: &mut impl Duplex,
        input: Input<'_>,
        limit: usize,
        trailer: Option<&[u8]>,
        deadline: Instant,
    ) -> Heard {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let res = exchange(
            channel,
            input,
            [&mut out, &mut err],
            limit,
            trailer,
            deadline,
        );
        (res, out, err)
    }

    #[test]
    fn an_exchange_reads_stderr_while_stdout_waits_for_it_and_sends_the_input() {
        let stderr: Vec<u8> = (0..5000).map(|i| i as u8).collect();
        let mut channel = Scripted::new(b"out\n", &stderr, 7);
        let (found, out, err) = heard(&mut channel, Some(b"the input"), 5000, None, later());
        assert!(!found.unwrap());
        assert_eq!((out.as_slice(), err), (&b"out\n"[..], stderr));
        assert_eq!(channel.taken, b"the input");
        assert_eq!(channel.eofs, 1);
        // No input: none sent, nor its end.
        let mut channel = Scripted::new(b"x", b"y", 1);
        let (found, out, err) = heard(&mut channel, None, 1, None, later());
        assert!(!found.unwrap());
        assert_eq!((out, err, channel.eofs), (b"x".to_vec(), b"y".to_vec(), 0));
    }

    #[test]
    fn an_exchange_cuts_either_stream_off_at_the_limit() {
        for (stdout, stderr) in [(&b"12345"[..], &b""[..]), (b"", b"12345")] {
            let mut channel = Scripted::new(stdout, stderr, 2);
            let (res, out, err) = heard(&mut channel, None, 4, None, later());
            assert!(matches!(res, Err(ReadError::TooLarge(4))), "{res:?}");
            assert_eq!(out.len() + err.len(), 5);
        }
    }

    #[test]
    fn an_exchange_stops_at_the_trailer_and_keeps_the_stderr_so_far() {
        let mut channel = Scripted::new(b"head\nEND\n", b"warn", 3);
        // After the trailer the command waits for input: nothing comes.
        channel.stdout.extend_from_slice(b"never read");
        let trailer = Some(&b"\nEND\n"[..]);
        // Pieces of 3 end exactly at the trailer's end.
        let (found, out, err) = heard(&mut channel, None, 100, trailer, later());
        assert!(found.unwrap());
        assert_eq!(
            (out.as_slice(), err.as_slice()),
            (&b"head\nEND\n"[..], &b"warn"[..])
        );
        // A stdout that ends without the trailer.
        let mut channel = Scripted::new(b"no head", b"", 100);
        let (found, out, _) = heard(&mut channel, None, 100, trailer, later());
        assert!(!found.unwrap());
        assert_eq!(out, b"no head");
    }

    /// A channel that says it is ready and never moves (a key re-exchange
    /// the node never finishes): waited for, and cut off at the deadline,
    /// not spun on.
    struct ReadyForEver {
        passes: usize,
        waits: usize,
    }

    impl Duplex for ReadyForEver {
        fn read(&mut self, _: usize, _: &mut [u8]) -> io::Result<usize> {
            self.passes += 1;
            Err(nothing_now())
        }

        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(nothing_now())
        }

        fn send_eof(&mut self) -> io::Result<()> {
            Err(nothing_now())
        }

        fn ready(&self, _: bool) -> bool {
            true
        }

        fn wait(&mut self, most: Duration) -> io::Result<()> {
            self.waits += 1;
            std::thread::sleep(most.min(Duration::from_millis(20)));
            Ok(())
        }
    }

    #[test]
    fn a_channel_ready_for_ever_is_waited_for_and_cut_off_at_its_deadline() {
        let mut channel = ReadyForEver {
            passes: 0,
            waits: 0,
        };
        let deadline = Instant::now() + Duration::from_millis(200);
        match heard(&mut channel, Some(b"in"), 10, None, deadline).0 {
            Err(ReadError::Io(IoError(e))) => assert_eq!(e.kind(), io::ErrorKind::TimedOut),
            other => panic!("{other:?}"),
        }
        // Two streams read a pass: a few passes a wait, not a spin.
        let passes = channel.passes / 2;
        assert!(channel.waits > 0, "never waited ({passes} passes)");
        assert!(
            passes <= (READY_PASSES as usize + 1) * channel.waits + 1,
            "{passes} passes for {} waits",
            channel.waits
        );
    }

    /// A node that takes nothing and says nothing (`Silent(false)`), or
    /// whose command is gone (`Silent(true)`: its output ended, as
    /// libssh2's eof knows, so a wait would be a fault).
    struct Silent(bool);

    impl Duplex for Silent {
        fn read(&mut self, _: usize, _: &mut [u8]) -> io::Result<usize> {
            match self.0 {
                true => Ok(0),
                false => Err(nothing_now()),
            }
        }

        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(nothing_now())
        }

        fn send_eof(&mut self) -> io::Result<()> {
            Err(nothing_now())
        }

        fn ready(&self, _: bool) -> bool {
            self.0
        }

        fn wait(&mut self, _: Duration) -> io::Result<()> {
            assert!(!self.0, "waited for a command whose output ended");
            Ok(())
        }
    }

    /// A channel whose last stdout bytes and end come in while its stderr
    /// is read (as libssh2 takes in every packet then), and then nothing
    /// more: the socket is silent, and a wait for it lasts to the deadline.
    struct TakenIn {
        stdout: Option<Vec<u8>>,
        queued: Option<Vec<u8>>,
        stderr_read: bool,
    }

    impl Duplex for TakenIn {
        fn read(&mut self, stream: usize, buf: &mut [u8]) -> io::Result<usize> {
            if stream == 1 {
                if self.stderr_read {
                    return Ok(0);
                }
                self.stderr_read = true;
                self.queued = self.stdout.take();
                return Err(nothing_now());
            }
            match self.queued.take() {
                Some(bytes) => {
                    buf[..bytes.len()].copy_from_slice(&bytes);
                    Ok(bytes.len())
                }
                None if self.stderr_read => Ok(0),
                None => Err(nothing_now()),
            }
        }

        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(nothing_now())
        }

        fn send_eof(&mut self) -> io::Result<()> {
            Ok(())
        }

        fn ready(&self, _: bool) -> bool {
            self.queued.is_some()
        }

        fn wait(&mut self, _: Duration) -> io::Result<()> {
            panic!("waited for the socket with stdout's bytes taken in");
        }
    }

    /// A keys_lab step once hung to its 120 s deadline under load: stdout's
    /// last bytes and end came in while stderr was read, and the exchange
    /// waited for a socket nothing more came on.
    #[test]
    fn an_exchange_reads_what_came_in_for_a_stream_before_it_waits() {
        let mut channel = TakenIn {
            stdout: Some(b"done\n".to_vec()),
            queued: None,
            stderr_read: false,
        };
        let (res, out, err) = heard(&mut channel, None, 100, None, later());
        assert!(!res.unwrap());
        assert_eq!((out.as_slice(), err.as_slice()), (&b"done\n"[..], &b""[..]));
    }

    /// Input a command never took, once its output ended, neither holds
    /// the exchange to its deadline nor spins it there.
    #[test]
    fn input_left_when_the_output_ended_ends_the_exchange() {
        let (res, out, err) = heard(&mut Silent(true), Some(b"never taken"), 10, None, later());
        assert!(!res.unwrap());
        assert!(out.is_empty() && err.is_empty());
    }

    #[test]
    fn a_silent_exchange_times_out_at_its_deadline() {
        match heard(&mut Silent(false), Some(b"in"), 10, None, Instant::now()).0 {
            Err(ReadError::Io(IoError(e))) => assert_eq!(e.kind(), io::ErrorKind::TimedOut),
            other => panic!("{other:?}"),
        }
    }
}
