//! A node of the inventory as the cluster engine reaches it: logged in
//! with the cluster key after its host key was checked against the one
//! setup recorded, and how its Docker engine is asked (the node's rccr
//! relay, the `docker` CLI, or, for the control, its own socket).
use super::ops::Op;
use super::relay;
use crate::docker::{self, http::Request, http::Response};
use crate::json::Value;
use crate::print;
use crate::ssh::{Connection, Limits, Output, SshError};
use crate::state::inventory::NodeRecord;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long one engine call may take (a swarm join waits for the manager).
pub const CALL_TIMEOUT: Duration = relay::CALL_TIMEOUT;

/// How many times [`Member::call`] makes a change that the swarm outdated.
const UPDATE_TRIES: usize = 5;

/// The control's own engine, which [`Member::local`] asks. Unit tests get
/// a socket that does not exist: no test may change the Docker of the
/// machine that runs it (a path that reached it could make that machine
/// leave its own swarm).
#[cfg(not(test))]
const LOCAL_SOCKET: &str = docker::SOCKET;
#[cfg(test)]
const LOCAL_SOCKET: &str = "/nonexistent/rccr-unit-tests/docker.sock";

/// How a member's engine is asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The control's own engine, on its socket.
    Local,
    /// The node's rccr (`rccr engine node`): calls on stdin.
    Relay,
    /// The node's `docker` command (nodes without rccr, or
    /// `RCCR_ENGINE_NODE=cli`): join tokens show in its process list.
    Cli,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Local => "local",
            Via::Relay => "rccr",
            Via::Cli => "docker-cli",
        }
    }
}

/// Why a node could not be logged in to.
#[derive(Debug)]
pub enum LoginError {
    Unreachable(SshError),
    /// The cluster key was refused, or we have none.
    Refused(String),
    /// The host key is the recorded one, but too weak to trust (RSA
    /// under 2048 bits, pinned before rccr refused such keys): never log in.
    WeakHostKey(String),
    /// The host key differs from the recorded one: never log in.
    HostKeyMismatch {
        presented: String,
        recorded: String,
    },
}

impl std::fmt::Display for LoginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoginError::Unreachable(e) => write!(f, "unreachable: {e}"),
            LoginError::Refused(e) => write!(f, "the cluster key: {e}"),
            LoginError::WeakHostKey(why) => write!(f, "{why}"),
            LoginError::HostKeyMismatch {
                presented,
                recorded,
            } => write!(
                f,
                "host key {presented} is not the recorded {recorded}: not logging in"
            ),
        }
    }
}

/// Connects to `node` and checks its host key against the recorded one;
/// the connection is not logged in yet.
pub fn connect(node: &NodeRecord, port: u16, timeout: Duration) -> Result<Connection, LoginError> {
    let conn = Connection::open(SocketAddr::new(node.ip, port), timeout)
        .map_err(LoginError::Unreachable)?;
    let key = conn.host_key();
    let presented = key.as_ref().map(|k| k.fingerprint.to_string());
    check_pin(presented, node.host_key.as_ref().map(ToString::to_string))?;
    if let Some(why) = key.and_then(|k| k.weakness()) {
        return Err(LoginError::WeakHostKey(why));
    }
    Ok(conn)
}

/// Whether the host key a node presented is the one its record pins. A
/// record without one (a hand-edited inventory) is no pin: nothing of the
/// cluster goes to a machine that was never checked.
fn check_pin(presented: Option<String>, recorded: Option<String>) -> Result<(), LoginError> {
    match (presented, recorded) {
        (Some(presented), Some(recorded)) if presented == recorded => Ok(()),
        (presented, recorded) => Err(LoginError::HostKeyMismatch {
            presented: presented.unwrap_or_else(|| "(none)".into()),
            recorded: recorded.unwrap_or_else(|| "(none recorded: run rccr setup)".into()),
        }),
    }
}

/// [`connect`], then log in as `user` with `key`.
pub fn login(
    node: &NodeRecord,
    port: u16,
    user: &str,
    key: Option<&Path>,
    timeout: Duration,
) -> Result<Connection, LoginError> {
    let conn = connect(node, port, timeout)?;
    let key = key.ok_or_else(|| LoginError::Refused("no cluster key on this machine".into()))?;
    conn.authenticate(user, key)
        .map_err(|e| LoginError::Refused(e.to_string()))?;
    Ok(conn)
}

/// A member of the engine's run.
pub struct Member<'n> {
    pub record: &'n NodeRecord,
    /// `None` for the control, which is asked locally.
    conn: Option<Connection>,
    /// Set once the node turned out to have no rccr relay: ask its
    /// `docker` command instead.
    cli: AtomicBool,
}

impl<'n> Member<'n> {
    pub fn local(record: &'n NodeRecord) -> Member<'n> {
        Member {
            record,
            conn: None,
            cli: AtomicBool::new(false),
        }
    }

    pub fn remote(record: &'n NodeRecord, conn: Connection) -> Member<'n> {
        conn.set_timeout(CALL_TIMEOUT + Duration::from_secs(5));
        Member {
            record,
            conn: Some(conn),
            cli: AtomicBool::new(false),
        }
    }

    pub fn via(&self) -> Via {
        match (&self.conn, self.cli.load(Ordering::Relaxed)) {
            (None, _) => Via::Local,
            (Some(_), false) => Via::Relay,
            (Some(_), true) => Via::Cli,
        }
    }

    /// The node's name, safe for a terminal.
    pub fn name(&self) -> String {
        print::name(&self.record.hostname).into_owned()
    }

    /// The address other nodes reach this one at.
    pub fn addr(&self) -> String {
        self.record.ip.to_string()
    }

    /// Runs a POSIX sh script with `args` on the node (the control: here).
    pub fn script(&self, script: &str, args: &[&str]) -> Result<Output, String> {
        match &self.conn {
            Some(conn) => conn
                .run_script(script, args, b"")
                .map_err(|e| e.to_string()),
            None => {
                let out = std::process::Command::new("sh")
                    .arg("-c")
                    .arg(script)
                    .arg("rccr")
                    .args(args)
                    .stdin(std::process::Stdio::null())
                    .output()
                    .map_err(|e| format!("cannot run sh: {e}"))?;
                Ok(Output {
                    status: out.status.code().unwrap_or(-1),
                    stdout: out.stdout,
                    stderr: out.stderr,
                })
            }
        }
    }

    /// Asks one thing of the node's engine. A change made at the version
    /// of what it changes (a swarm node, a service) is made again from a
    /// fresh read when the swarm changed it in between: the swarm itself
    /// updates a node that has just joined (its status, its description)
    /// and a service while it rolls out, and refuses a change made from an
    /// older version as "update out of sequence".
    pub fn call(&self, op: &Op) -> Result<Value, String> {
        let mut answer = self.call_once(op);
        for _ in 1..UPDATE_TRIES {
            let stale = matches!(&answer, Err(e) if e.contains("update out of sequence"));
            let Some(reread) = op.reread().filter(|_| stale) else {
                break;
            };
            let read = self.call_once(&reread)?;
            match op.redo(&read, |fresh| self.call_once(fresh)) {
                Some(again) => answer = again,
                None => break,
            }
        }
        answer
    }

    fn call_once(&self, op: &Op) -> Result<Value, String> {
        self.calls(std::slice::from_ref(op))
            .pop()
            .unwrap_or_else(|| Err("no answer".into()))
    }

    /// Asks several things, in order, in one round trip where the node
    /// relays; each answer is the API's JSON (`Null` for none).
    pub fn calls(&self, ops: &[Op]) -> Vec<Result<Value, String>> {
        match (self.via(), &self.conn) {
            (Via::Relay, Some(conn)) => match relayed(conn, ops) {
                Some(answers) => answers,
                // No rccr there that relays: its docker command, from now on.
                None => {
                    self.use_cli();
                    ops.iter().map(|op| by_cli(conn, op)).collect()
                }
            },
            (Via::Cli, Some(conn)) => ops.iter().map(|op| by_cli(conn, op)).collect(),
            _ => ops
                .iter()
                .map(|op| {
                    let mut last = Err("no call".to_string());
                    for request in op.requests() {
                        let called = docker::call(Path::new(LOCAL_SOCKET), &request, CALL_TIMEOUT)
                            .map_err(|e| e.to_string());
                        let ok = called.as_ref().is_ok_and(Response::ok);
                        last = called.map(|r| (request, r));
                        if !ok {
                            break;
                        }
                    }
                    last.and_then(|(request, r)| answer(&request, &r))
                })
                .collect(),
        }
    }

    /// Switches to the `docker` CLI (the node has no rccr that relays).
    pub fn use_cli(&self) {
        self.cli.store(true, Ordering::Relaxed);
    }
}

/// An API answer as JSON, or the engine's error.
/// The answer to `request`, refused unparsed when it is larger than any
/// honest answer to that kind of call ([`docker::max_answer`]): parsing
/// takes memory in proportion. An error's body too, which is parsed for
/// its message.
fn answer(request: &Request, r: &Response) -> Result<Value, String> {
    let max = docker::max_answer(request);
    if r.body.len() > max {
        return Err(format!(
            "the engine's answer ({}) is over {max} bytes",
            r.status
        ));
    }
    if !r.ok() {
        return Err(format!("{} ({})", r.error_message(), r.status));
    }
    if r.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    Value::parse(&r.body).map_err(|e| format!("the engine's answer is {e}"))
}

/// Room for each call's largest answer and its frame line, no more; and
/// the time the node's relay may take for them, one after another (a
/// distribution lookup per image, each up to its own bound), within 2 to
/// 15 minutes.
fn batch_limits(requests: &[Request]) -> Limits {
    Limits {
        max_output: requests.iter().map(|r| docker::max_answer(r) + 32).sum(),
        deadline: relay::CALL_TIMEOUT * (requests.len() as u32).clamp(2, 15),
    }
}

/// All the calls of `ops` in one exec of the node's relay; an op's answer
/// is its last call's (an op stops at its first failed call). `None` when
/// the node has no rccr, or one that speaks another protocol (nothing was
/// asked of its engine then).
fn relayed(conn: &Connection, ops: &[Op]) -> Option<Vec<Result<Value, String>>> {
    let calls: Vec<Vec<_>> = ops.iter().map(Op::requests).collect();
    let flat: Vec<_> = calls.iter().flatten().cloned().collect();
    let command = format!("rccr engine node {}", relay::PROTOCOL);
    let failed = |e: String| Some(ops.iter().map(|_| Err(e.clone())).collect());
    let out = match conn.run_within(
        &command,
        &relay::encode_requests(&flat),
        &batch_limits(&flat),
    ) {
        Ok(out) => out,
        Err(e) => return failed(e.to_string()),
    };
    // 127: no rccr on the node's PATH; 125: another protocol.
    if out.status == 127 || out.status == relay::UNSUPPORTED {
        return None;
    }
    if out.status != 0 {
        return failed(format!("rccr engine node: {}", out.error_line()));
    }
    let answers = match relay::decode_answers(&out.stdout) {
        Ok(a) => a,
        Err(e) => return failed(e),
    };
    let mut answers = answers.into_iter();
    let answers = calls
        .iter()
        .map(|requests| {
            // Every call of the op was made: its answer is the first that
            // failed, else the last.
            let mine: Vec<_> = answers.by_ref().take(requests.len()).collect();
            if mine.len() < requests.len() {
                return Err("the relay answered fewer calls than asked".into());
            }
            let failed = mine
                .iter()
                .position(|a| !a.as_ref().is_ok_and(Response::ok));
            let pick = failed.unwrap_or(mine.len() - 1);
            mine.into_iter()
                .nth(pick)
                .unwrap_or_else(|| Err("no call".into()))
                .and_then(|r| answer(&requests[pick], &r))
        })
        .collect();
    Some(answers)
}

fn by_cli(conn: &Connection, op: &Op) -> Result<Value, String> {
    // docker's own JSON is the API's, indented (`docker node inspect`
    // takes about twice the bytes): twice the bound. The blanks cost the
    // parsed tree nothing (its bound counts compact bytes).
    let limits = Limits {
        max_output: 2 * op.requests().last().map_or(0, docker::max_answer) + 1024,
        ..Limits::DEFAULT
    };
    let out = conn
        .run_within(&op.command(), b"", &limits)
        .map_err(|e| e.to_string())?;
    if out.status != 0 {
        return Err(out.error_line());
    }
    if out.stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    let answer =
        Value::parse(out.stdout.trim_ascii()).map_err(|e| format!("docker's answer is {e}"))?;
    engine_unreached(&answer).map_or(Ok(answer), Err)
}

/// Why a docker CLI could not reach its engine, as its `docker info`
/// tells it: a 20.10 client (Debian 12's) exits 0 then, with empty fields
/// and the reason in `ServerErrors` (later clients exit 1). Taken for an
/// answer, the engine's empty swarm state read as "unknown" and the node
/// was told to leave its swarm by hand.
fn engine_unreached(answer: &Value) -> Option<String> {
    let error = answer.get("ServerErrors").as_array().first()?;
    // Bounded as every error a node tells.
    Some(crate::ssh::stream::bounded(
        error.as_str().unwrap_or("its engine does not answer"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five images' distribution lookups, each up to the relay's bound:
    /// the batch is not cut at two minutes, failing them all (review
    /// docker-status, risk 6).
    #[test]
    fn a_batch_gets_the_time_its_calls_may_take_one_after_another() {
        let lookup = Request {
            method: "GET",
            path: "/distribution/nginx/json".into(),
            body: None,
        };
        let limits = |n: usize| batch_limits(&vec![lookup.clone(); n]);
        assert_eq!(limits(1).deadline, Limits::DEFAULT.deadline);
        assert_eq!(limits(5).deadline, relay::CALL_TIMEOUT * 5);
        assert_eq!(limits(256).deadline, Duration::from_secs(15 * 60));
        assert_eq!(limits(5).max_output, 5 * (docker::max_answer(&lookup) + 32));
    }

    /// `docker info --format '{{json .}}'` of docker.io 20.10 with its
    /// engine stopped (exit 0), abridged.
    #[test]
    fn a_docker_cli_that_cannot_reach_its_engine_is_no_answer() {
        let down = Value::parse(
            br#"{"ID":"","ServerVersion":"","Swarm":{"LocalNodeState":""},
                 "ServerErrors":["Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?"],
                 "ClientInfo":{"Debug":false}}"#,
        )
        .unwrap();
        assert_eq!(
            engine_unreached(&down).as_deref(),
            Some(
                "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. \
                 Is the docker daemon running?"
            )
        );
        let long = format!(r#"{{"ServerErrors":["{}"]}}"#, "e".repeat(5000));
        let told = engine_unreached(&Value::parse(long.as_bytes()).unwrap()).unwrap();
        assert_eq!(told.len(), 1024);
        let up = Value::parse(br#"{"ID":"X","ServerVersion":"20.10.24"}"#).unwrap();
        assert_eq!(engine_unreached(&up), None);
        assert_eq!(engine_unreached(&Value::parse(b"[]").unwrap()), None);
    }

    /// A relay or engine answering a small call with a large body (a
    /// node's word) is refused before the body is parsed; a list may be
    /// that large.
    #[test]
    fn an_answer_larger_than_its_kind_allows_is_refused_unparsed() {
        // One long string: well within the parser's density bound.
        let body = |len: usize| format!("\"{}\"", "a".repeat(len)).into_bytes();
        let of = |len| Response {
            status: 200,
            body: body(len),
        };
        let info = docker::api::info();
        let big = docker::MAX_SMALL_RESPONSE + 2;
        let err = answer(&info, &of(big)).unwrap_err();
        assert!(err.contains("over 65536 bytes"), "{err}");
        assert!(answer(&info, &of(1000)).is_ok());
        assert!(answer(&docker::api::nodes(), &of(big)).is_ok());
    }

    /// An error's body is parsed for its message: a large one is refused
    /// before that, as an answer is.
    #[test]
    fn an_error_larger_than_its_call_allows_is_refused_unparsed() {
        let error = |len: usize| Response {
            status: 404,
            body: format!("{{\"message\":\"{}\"}}", "a".repeat(len)).into_bytes(),
        };
        let image = docker::api::image("alpine");
        let err = answer(&image, &error(docker::MAX_SMALL_RESPONSE)).unwrap_err();
        assert_eq!(err, "the engine's answer (404) is over 65536 bytes");
        let err = answer(&image, &error(16)).unwrap_err();
        assert_eq!(err, format!("{} (404)", "a".repeat(16)));
    }

    /// Labels are a Go map: `Zone` and `zone` are two, which any node may
    /// set (daemon.json, `docker node update --label-add`). A manager's
    /// list that carries them is read, every node and service in it, and
    /// both labels; a node whose `ID` another key equals but for case
    /// (which Go would read as the last) is dropped, as one with none.
    #[test]
    fn labels_equal_but_for_case_leave_the_nodes_and_services_readable() {
        let ok = |body: &str| Response {
            status: 200,
            body: body.as_bytes().to_vec(),
        };
        let nodes = answer(
            &docker::api::nodes(),
            &ok(r#"[{"ID":"n1","Version":{"Index":9},
                     "Spec":{"Role":"manager","Labels":{"Rack":"1","rack":"2"}},
                     "Description":{"Hostname":"t1","Engine":{"Labels":{"Zone":"a","zone":"b"}}}},
                    {"ID":"n2","Id":"n3","Version":{"Index":3},"Spec":{"Role":"worker"}},
                    {"ID":"n4","Version":{"Index":4},"Spec":{"Role":"worker"}}]"#),
        )
        .unwrap();
        let nodes = docker::api::SwarmNode::parse_list(&nodes);
        let ids: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["n1", "n4"]);
        assert!(nodes[0].manager);
        assert_eq!((nodes[0].label("Rack"), nodes[0].label("rack")), ("1", "2"));
        let services = answer(
            &docker::api::services(),
            &ok(r#"[{"ID":"s1","Version":{"Index":4},
                     "Spec":{"Name":"web","Labels":{"rccr.managed":"true","Zone":"a","zone":"b"}}}]"#),
        )
        .unwrap();
        let services = docker::api::Service::parse_list(&services);
        assert_eq!(services.len(), 1);
        assert!(services[0].managed);
    }

    /// A unit test that asks the control's engine reaches none: not the
    /// Docker of the machine running the tests, whatever it holds.
    #[test]
    fn unit_tests_never_reach_the_hosts_docker() {
        assert_ne!(LOCAL_SOCKET, docker::SOCKET);
        assert!(!Path::new(LOCAL_SOCKET).exists());
        let node = crate::state::swarm::tests::target(1, "");
        let answers = Member::local(&node).calls(&[Op::Info]);
        assert!(matches!(answers.as_slice(), [Err(_)]), "{answers:?}");
    }

    #[test]
    fn only_the_recorded_host_key_lets_the_engine_in() {
        let key = || Some("SHA256:abc".to_string());
        assert!(check_pin(key(), key()).is_ok());
        for (presented, recorded) in [
            (Some("SHA256:xyz".to_string()), key()),
            (key(), None),
            (None, key()),
            (None, None),
        ] {
            let err = check_pin(presented, recorded.clone()).unwrap_err();
            assert!(matches!(err, LoginError::HostKeyMismatch { .. }), "{err}");
            if recorded.is_none() {
                assert!(err.to_string().contains("none recorded"), "{err}");
            }
        }
    }
}
