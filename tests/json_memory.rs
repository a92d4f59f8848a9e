//! How much heap `json::Value::parse` takes for a node's answer: hostile
//! shapes (many tiny values, deep nesting) and real ones (the answers of
//! a 256-node swarm running 100 services), counted by this test binary's
//! own allocator. `cargo test --test json_memory -- --nocapture` prints
//! the figures.
//!
//! The bound: parsing takes at most [`RATIO`] times the answer's bytes
//! (plus a small constant), whatever the answer is, and real answers
//! still parse.
use rccr::json::Value;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Heap bytes per byte of input a parse may take at its peak.
const RATIO: usize = rccr::json::MAX_TREE_RATIO;
/// What a parse may take besides (its stacks, a tiny answer's tree).
const SLACK: usize = 64 * 1024;
/// A hostile answer's size: what one relay exec may bring (the SSH
/// output limit of the engine's connections).
const HOSTILE: usize = 1 << 20;

/// The system allocator, counting this thread's live and peak bytes (the
/// tests of this binary run on threads of their own).
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    /// Blocks live now, and at the peak.
    static BLOCKS: Cell<usize> = const { Cell::new(0) };
    static PEAK_BLOCKS: Cell<usize> = const { Cell::new(0) };
}

fn add(n: usize, blocks: usize) {
    let _ = LIVE.try_with(|live| {
        live.set(live.get() + n);
        let blocks = BLOCKS.with(|b| {
            b.set(b.get() + blocks);
            b.get()
        });
        let _ = PEAK.try_with(|peak| {
            if live.get() > peak.get() {
                peak.set(live.get());
                PEAK_BLOCKS.with(|b| b.set(blocks));
            }
        });
    });
}

fn sub(n: usize, blocks: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(n)));
    let _ = BLOCKS.try_with(|b| b.set(b.get().saturating_sub(blocks)));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size(), 1);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        sub(layout.size(), 1);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // A moving realloc holds both blocks for a moment: count it so.
        add(new_size, 1);
        sub(layout.size(), 1);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What one parse cost: its peak above what was live before (bytes, and
/// blocks then live), and what the tree it returned holds.
struct Cost {
    ok: bool,
    peak: usize,
    blocks: usize,
    kept: usize,
}

/// What a heap block costs beyond its bytes, about: glibc rounds a block
/// up to 16 bytes with an 8-byte header (32 at least), musl's mallocng to
/// its size class with a 4-byte header.
const BLOCK_OVERHEAD: usize = 16;

fn parse_cost(text: &[u8]) -> Cost {
    let before = LIVE.with(Cell::get);
    let blocks_before = BLOCKS.with(Cell::get);
    PEAK.with(|p| p.set(before));
    PEAK_BLOCKS.with(|p| p.set(blocks_before));
    let parsed = Value::parse(text);
    let kept = LIVE.with(Cell::get) - before;
    let peak = PEAK.with(Cell::get) - before;
    let blocks = PEAK_BLOCKS.with(Cell::get).saturating_sub(blocks_before);
    let ok = parsed.is_ok();
    drop(parsed);
    Cost {
        ok,
        peak,
        blocks,
        kept,
    }
}

/// Parses `text`, prints its figures and returns them.
fn measure(name: &str, text: &[u8]) -> Cost {
    let cost = parse_cost(text);
    let resident = cost.peak + BLOCK_OVERHEAD * cost.blocks;
    println!(
        "{name:<28} {:>8} B in  peak {:>8} B ({:>4.1}x) in {:>6} blocks (~{:>4.1}x with headers)  kept {:>8} B  {}",
        text.len(),
        cost.peak,
        cost.peak as f64 / text.len() as f64,
        cost.blocks,
        resident as f64 / text.len() as f64,
        cost.kept,
        if cost.ok { "parsed" } else { "refused" },
    );
    cost
}

/// `item` repeated, comma-separated, inside `open`/`close`, to about
/// [`HOSTILE`] bytes.
fn repeated(open: &str, item: &str, close: &str) -> Vec<u8> {
    let n = (HOSTILE - open.len() - close.len()) / (item.len() + 1);
    let mut text = String::with_capacity(HOSTILE);
    text.push_str(open);
    for i in 0..n {
        if i > 0 {
            text.push(',');
        }
        text.push_str(item);
    }
    text.push_str(close);
    text.into_bytes()
}

/// Nesting as deep as the parser allows.
fn deep(open: &str, leaf: &str, close: &str) -> String {
    let depth = rccr::json::MAX_DEPTH - 1;
    open.repeat(depth) + leaf + &close.repeat(depth)
}

fn hostile() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("[0,0,0,...]", repeated("[", "0", "]")),
        ("[[],[],...]", repeated("[", "[]", "]")),
        ("[{},{},...]", repeated("[", "{}", "]")),
        ("[\"\",\"\",...]", repeated("[", "\"\"", "]")),
        ("[\"a\",\"a\",...]", repeated("[", "\"a\"", "]")),
        ("[null,...]", repeated("[", "null", "]")),
        // Just under the bound: parsed.
        ("[1234567,...] 4x", repeated("[", "1234567", "]")),
        ("[\"abcdefg\",...] 3.9x", repeated("[", "\"abcdefg\"", "]")),
        ("{\"a\":0,\"a\":0,...}", repeated("{", "\"a\":0", "}")),
        ("{\"\":\"\",...}", repeated("{", "\"\":\"\"", "}")),
        ("{\"a\":\"b\",...}", repeated("{", "\"a\":\"b\"", "}")),
        (
            "[[[[...0]]]],... deep",
            repeated("[", &deep("[", "0", "]"), "]"),
        ),
        (
            "{\"a\":{\"a\":...}},... deep",
            repeated("[", &deep("{\"a\":", "0", "}"), "]"),
        ),
        (
            "[1e999999...]",
            format!("[{}]", "1".repeat(HOSTILE - 2)).into_bytes(),
        ),
        (
            "[\"\\u00e9...\"] escapes",
            format!("[\"{}\"]", "\\u00e9".repeat((HOSTILE - 4) / 6)).into_bytes(),
        ),
    ]
}

const CERT: &str = "-----BEGIN CERTIFICATE-----\\nMIIBajCCARCgAwIBAgIUbYqrLSOSQHoxD8CwG6Bi2PJi9c8wCgYIKoZIzj0EAwIw\\nEzERMA8GA1UEAxMIc3dhcm0tY2EwHhcNMTcwNDI0MjE0MzAwWhcNMzcwNDE5MjE0\\nMzAwWjATMREwDwYDVQQDEwhzd2FybS1jYTBZMBMGByqGSM49AgEGCCqGSM49AwEH\\nA0IABJk/VyMPYdaqDXJb/VXh5n/1Yuv7iNrxV3Qb3l06XD46seovcDWs3IZNV1lf\\n3Skyr0ofcchipoiHkXBODojJydSjQjBAMA4GA1UdDwEB/wQEAwIBBjAPBgNVHRMB\\nAf8EBTADAQH/MB0GA1UdDgQWBBRUXxuRcnFjDfR/RIAUQab8ZV/n4jAKBggqhkjO\\nPQQDAgNIADBFAiAy+JTe6Uc3KyLCMiqGl2GyWGQqQDEcO3/YG36x7om65AIhAJvz\\npxv6zFeVEkAEEkqIYi0omA9+CjanB/6Bz4n1uw8H\\n-----END CERTIFICATE-----\\n";

/// A 25-character Docker ID.
fn id(kind: char, i: usize) -> String {
    format!("{kind}{i:0>8}x4kd0q8mrlf2z9vbw3h")
}

/// One node of `GET /nodes`, as a recent engine (Go's encoding/json,
/// compact) writes it.
fn node(i: usize) -> String {
    let plugins: Vec<String> = [
        ("Log", "awslogs"),
        ("Log", "fluentd"),
        ("Log", "gcplogs"),
        ("Log", "gelf"),
        ("Log", "journald"),
        ("Log", "json-file"),
        ("Log", "local"),
        ("Log", "splunk"),
        ("Log", "syslog"),
        ("Network", "bridge"),
        ("Network", "host"),
        ("Network", "ipvlan"),
        ("Network", "macvlan"),
        ("Network", "null"),
        ("Network", "overlay"),
        ("Volume", "local"),
    ]
    .iter()
    .map(|(t, n)| format!(r#"{{"Type":"{t}","Name":"{n}"}}"#))
    .collect();
    let manager = if i < 3 {
        format!(
            r#","ManagerStatus":{{"Leader":{},"Reachability":"reachable","Addr":"10.0.{}.{}:2377"}}"#,
            i == 0,
            i / 250,
            i % 250 + 2
        )
    } else {
        String::new()
    };
    format!(
        r#"{{"ID":"{}","Version":{{"Index":{}}},"CreatedAt":"2026-11-02T10:11:12.123456789Z","UpdatedAt":"2026-11-02T10:14:52.987654321Z","Spec":{{"Labels":{{"rccr.arch":"aarch64","rccr.managed":"true"}},"Role":"{}","Availability":"active"}},"Description":{{"Hostname":"ReCyClusteR-Target-{i:03}","Platform":{{"Architecture":"aarch64","OS":"linux"}},"Resources":{{"NanoCPUs":4000000000,"MemoryBytes":3979440128}},"Engine":{{"EngineVersion":"25.0.5","Plugins":[{}]}},"TLSInfo":{{"TrustRoot":"{CERT}","CertIssuerSubject":"MBMxETAPBgNVBAMTCHN3YXJtLWNh","CertIssuerPublicKey":"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEmT9XIw9h1qoNclv9VeHmf/Vi6/uI2vFXdBveXTpcPjqx6i9wNazchk1XWV/dKTKvSh9xyGKmiIeRcE4OiMnJ1A=="}}}},"Status":{{"State":"ready","Addr":"10.0.{}.{}"}}{manager}}}"#,
        id('n', i),
        1000 + i,
        if i < 3 { "manager" } else { "worker" },
        plugins.join(","),
        i / 250,
        i % 250 + 2,
    )
}

const PLATFORMS: &str = r#"[{"Architecture":"amd64","OS":"linux"},{"OS":"linux"},{"Architecture":"arm","OS":"linux"},{"Architecture":"arm64","OS":"linux"},{"Architecture":"386","OS":"linux"},{"Architecture":"ppc64le","OS":"linux"},{"Architecture":"riscv64","OS":"linux"},{"Architecture":"s390x","OS":"linux"}]"#;

fn task_template(i: usize) -> String {
    format!(
        r#"{{"ContainerSpec":{{"Image":"registry.lan/app-{i}:1.2.3@sha256:0f3e1c5a9b7d2e4f6a8c0b1d3e5f7a9c2b4d6e8f0a1c3e5b7d9f2a4c6e8b0d1f","Labels":{{"com.example.tier":"web"}},"Env":["MODE=production","PORT=8080"],"Init":false,"StopGracePeriod":10000000000,"DNSConfig":{{}},"Isolation":"default"}},"Resources":{{"Limits":{{}},"Reservations":{{}}}},"RestartPolicy":{{"Condition":"any","Delay":5000000000,"MaxAttempts":0}},"Placement":{{"Constraints":["node.labels.rccr.arch==aarch64"],"Platforms":{PLATFORMS}}},"ForceUpdate":0,"Runtime":"container"}}"#
    )
}

fn service_spec(i: usize) -> String {
    let update = r#"{"Parallelism":1,"FailureAction":"pause","Monitor":5000000000,"MaxFailureRatio":0,"Order":"stop-first"}"#;
    format!(
        r#"{{"Name":"app-{i}","Labels":{{"rccr.managed":"true"}},"TaskTemplate":{},"Mode":{{"Replicated":{{"Replicas":3}}}},"UpdateConfig":{update},"RollbackConfig":{update},"EndpointSpec":{{"Mode":"vip","Ports":[{{"Protocol":"tcp","TargetPort":8080,"PublishedPort":{},"PublishMode":"ingress"}}]}}}}"#,
        task_template(i),
        9000 + i
    )
}

/// One service of `GET /services`.
fn service(i: usize) -> String {
    format!(
        r#"{{"ID":"{}","Version":{{"Index":{}}},"CreatedAt":"2026-11-02T10:20:00.123456789Z","UpdatedAt":"2026-11-02T10:21:00.123456789Z","Spec":{},"PreviousSpec":{},"Endpoint":{{"Spec":{{"Mode":"vip","Ports":[{{"Protocol":"tcp","TargetPort":8080,"PublishedPort":{},"PublishMode":"ingress"}}]}},"Ports":[{{"Protocol":"tcp","TargetPort":8080,"PublishedPort":{},"PublishMode":"ingress"}}],"VirtualIPs":[{{"NetworkID":"{}","Addr":"10.0.0.{}/24"}}]}}}}"#,
        id('s', i),
        2000 + i,
        service_spec(i),
        service_spec(i),
        9000 + i,
        9000 + i,
        id('w', 0),
        i % 250 + 2
    )
}

/// One running task of `GET /tasks`.
fn task(i: usize) -> String {
    format!(
        r#"{{"ID":"{}","Version":{{"Index":{}}},"CreatedAt":"2026-11-02T10:20:00.123456789Z","UpdatedAt":"2026-11-02T10:21:00.123456789Z","Labels":{{}},"Spec":{},"ServiceID":"{}","Slot":{},"NodeID":"{}","Status":{{"Timestamp":"2026-11-02T10:20:58.123456789Z","State":"running","Message":"started","ContainerStatus":{{"ContainerID":"e5d62702a1b48d01c3e02ca1e0212a250801fa8d67caca0b6f35919ebc12f035","PID":677,"ExitCode":0}},"PortStatus":{{}}}},"DesiredState":"running","NetworksAttachments":[{{"Network":{{"ID":"{}","Version":{{"Index":18}},"CreatedAt":"2026-11-02T10:11:12.912919752Z","UpdatedAt":"2026-11-02T10:11:12.955277358Z","Spec":{{"Name":"ingress","Labels":{{}},"DriverConfiguration":{{}},"Ingress":true,"IPAMOptions":{{"Driver":{{}}}},"Scope":"swarm"}},"DriverState":{{"Name":"overlay","Options":{{"com.docker.network.driver.overlay.vxlanid_list":"4096"}}}},"IPAMOptions":{{"Driver":{{"Name":"default"}},"Configs":[{{"Subnet":"10.0.0.0/24","Gateway":"10.0.0.1"}}]}}}},"Addresses":["10.0.0.{}/24"]}}]}}"#,
        id('t', i),
        3000 + i,
        task_template(i / 3),
        id('s', i / 3),
        i % 3 + 1,
        id('n', i % 256),
        id('w', 0),
        i % 250 + 2
    )
}

/// A service of a user's own stack: 40 short environment entries and 30
/// short labels, the densest honest answer these fixtures have.
fn labelled_service(i: usize) -> String {
    let env: Vec<String> = (0..40).map(|k| format!("\"V{k}=1\"")).collect();
    let labels: Vec<String> = (0..30).map(|k| format!("\"l{k}\":\"x\"")).collect();
    service(i)
        .replace(
            r#""Env":["MODE=production","PORT=8080"]"#,
            &format!(r#""Env":[{}]"#, env.join(",")),
        )
        .replace(
            r#""Labels":{"com.example.tier":"web"}"#,
            &format!(r#""Labels":{{{}}}"#, labels.join(",")),
        )
}

fn list(items: impl Iterator<Item = String>) -> Vec<u8> {
    format!("[{}]", items.collect::<Vec<_>>().join(",")).into_bytes()
}

fn info() -> Vec<u8> {
    format!(
        r#"{{"ID":"{}","Containers":4,"ContainersRunning":3,"ContainersPaused":0,"ContainersStopped":1,"Images":5,"Driver":"overlay2","DriverStatus":[["Backing Filesystem","extfs"],["Supports d_type","true"],["Using metacopy","false"],["Native Overlay Diff","true"],["userxattr","false"]],"Plugins":{{"Volume":["local"],"Network":["bridge","host","ipvlan","macvlan","null","overlay"],"Authorization":null,"Log":["awslogs","fluentd","gcplogs","gelf","journald","json-file","local","splunk","syslog"]}},"MemoryLimit":true,"SwapLimit":true,"CpuCfsPeriod":true,"CpuCfsQuota":true,"CPUShares":true,"CPUSet":true,"PidsLimit":true,"IPv4Forwarding":true,"Debug":false,"NFd":45,"OomKillDisable":false,"NGoroutines":160,"SystemTime":"2026-11-02T10:21:00.123456789Z","LoggingDriver":"json-file","CgroupDriver":"cgroupfs","CgroupVersion":"2","NEventsListener":0,"KernelVersion":"6.6.31-0-rpi","OperatingSystem":"Alpine Linux v3.20","OSVersion":"3.20.3","OSType":"linux","Architecture":"aarch64","IndexServerAddress":"https://index.docker.io/v1/","RegistryConfig":{{"AllowNondistributableArtifactsCIDRs":null,"AllowNondistributableArtifactsHostnames":null,"InsecureRegistryCIDRs":["::1/128","127.0.0.0/8"],"IndexConfigs":{{"docker.io":{{"Name":"docker.io","Mirrors":[],"Secure":true,"Official":true}}}},"Mirrors":null}},"NCPU":4,"MemTotal":3979440128,"GenericResources":null,"DockerRootDir":"/var/lib/docker","HttpProxy":"","HttpsProxy":"","NoProxy":"","Name":"ReCyClusteR-Target-001","Labels":[],"ExperimentalBuild":false,"ServerVersion":"25.0.5","Runtimes":{{"io.containerd.runc.v2":{{"path":"runc","status":{{"org.opencontainers.runtime-spec.features":"{{\"ociVersionMin\":\"1.0.0\",\"ociVersionMax\":\"1.1.0\"}}"}}}},"runc":{{"path":"runc"}}}},"DefaultRuntime":"runc","Swarm":{{"NodeID":"{}","NodeAddr":"10.0.0.3","LocalNodeState":"active","ControlAvailable":true,"Error":"","RemoteManagers":[{{"NodeID":"{}","Addr":"10.0.0.2:2377"}},{{"NodeID":"{}","Addr":"10.0.0.3:2377"}},{{"NodeID":"{}","Addr":"10.0.0.4:2377"}}],"Nodes":256,"Managers":3,"Cluster":{{"ID":"{}","Version":{{"Index":5123}},"CreatedAt":"2026-11-02T10:11:12.853781916Z","UpdatedAt":"2026-11-02T10:11:12.999868824Z","Spec":{{"Name":"default","Labels":{{}},"Orchestration":{{"TaskHistoryRetentionLimit":5}},"Raft":{{"SnapshotInterval":10000,"KeepOldSnapshots":0,"LogEntriesForSlowFollowers":500,"ElectionTick":10,"HeartbeatTick":1}},"Dispatcher":{{"HeartbeatPeriod":5000000000}},"CAConfig":{{"NodeCertExpiry":7776000000000000}},"TaskDefaults":{{}},"EncryptionConfig":{{"AutoLockManagers":false}}}},"TLSInfo":{{"TrustRoot":"{CERT}","CertIssuerSubject":"MBMxETAPBgNVBAMTCHN3YXJtLWNh","CertIssuerPublicKey":"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEmT9XIw9h1qoNclv9VeHmf/Vi6/uI2vFXdBveXTpcPjqx6i9wNazchk1XWV/dKTKvSh9xyGKmiIeRcE4OiMnJ1A=="}},"RootRotationInProgress":false,"DefaultAddrPool":["10.0.0.0/8"],"SubnetSize":24,"DataPathPort":4789}}}},"LiveRestoreEnabled":false,"Isolation":"","InitBinary":"docker-init","ContainerdCommit":{{"ID":"v1.7.15"}},"RuncCommit":{{"ID":"v1.1.12"}},"InitCommit":{{"ID":"de40ad0"}},"SecurityOptions":["name=seccomp,profile=builtin","name=cgroupns"],"Warnings":null}}"#,
        id('e', 1),
        id('n', 1),
        id('n', 0),
        id('n', 1),
        id('n', 2),
        id('c', 0),
    )
    .into_bytes()
}

fn real() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("GET /info", info()),
        ("GET /nodes, 256 nodes", list((0..256).map(node))),
        ("GET /services, 100", list((0..100).map(service))),
        ("GET /tasks, 300 running", list((0..300).map(task))),
        (
            "GET /services, 100 with short labels",
            list((0..100).map(labelled_service)),
        ),
    ]
}

/// The answers whose parse took more than the bound.
fn over_the_bound(answers: &[(&str, Vec<u8>, Cost)]) -> Vec<String> {
    answers
        .iter()
        .filter(|(_, text, cost)| cost.peak > RATIO * text.len() + SLACK)
        .map(|(name, text, cost)| format!("{name}: {} B of heap for {} B", cost.peak, text.len()))
        .collect()
}

fn measure_all(answers: Vec<(&'static str, Vec<u8>)>) -> Vec<(&'static str, Vec<u8>, Cost)> {
    answers
        .into_iter()
        .map(|(name, text)| {
            let cost = measure(name, &text);
            (name, text, cost)
        })
        .collect()
}

#[test]
fn real_answers_parse_within_the_bound() {
    let measured = measure_all(real());
    let refused: Vec<&str> = measured.iter().filter(|m| !m.2.ok).map(|m| m.0).collect();
    assert_eq!(refused, Vec::<&str>::new());
    assert_eq!(over_the_bound(&measured), Vec::<String>::new());
    // What rccr reads of them still reads.
    let nodes = Value::parse(&list((0..256).map(node))).unwrap();
    assert_eq!(rccr::docker::api::SwarmNode::parse_list(&nodes).len(), 256);
    let services = Value::parse(&list((0..100).map(service))).unwrap();
    let services = rccr::docker::api::Service::parse_list(&services);
    assert_eq!(services.len(), 100);
    assert_eq!(services[7].replicas, Some(3));
}

#[test]
fn a_hostile_answer_costs_at_most_a_small_multiple_of_its_bytes() {
    let measured = measure_all(hostile());
    assert_eq!(over_the_bound(&measured), Vec::<String>::new());
}
