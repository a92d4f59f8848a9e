//! Tests of the configuration: defaults, every key, every error.
use super::parse::distance;
use super::testdata;
use super::*;
use crate::error::{Error, ExitCode};
use crate::fsutil::scratch::Dir;
use crate::identity::{Arch, Mac, Role};
use std::path::Path;

fn parse(text: &str) -> (Config, Vec<Warning>) {
    Config::parse(text, "cluster_config.yml").unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

/// The error line for `text`; it must be bad input (exit 3), one line.
fn error(text: &str) -> String {
    let e = Config::parse(text, "cluster_config.yml").expect_err(text);
    assert_eq!(e.exit_code(), ExitCode::BadInput, "{e}");
    let s = e.to_string();
    assert!(!s.contains('\n'), "one line: {s:?}");
    s
}

#[track_caller]
fn rejects(text: &str, at: &str, what: &str) {
    let place = format!("cluster_config.yml:{at}");
    testdata::assert_refused(text, &error(text), &place, what);
}

#[test]
fn the_shipped_file_is_the_defaults() {
    let text = include_str!("../../cluster_config.yml");
    let (config, warnings) = parse(text);
    assert_eq!(config, Config::default());
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.discovery.hostname_filter, "ReCyClusteR");
    assert_eq!(config.ssh.temp_key, None);
    assert_eq!(config.ssh.key_type, KeyType::Ed25519);
}

/// The shipped file's comment on `hostname_filter` says what the parser
/// does with an empty one (it said `"" accepts every host`, and an
/// operator who followed it got exit 3).
#[test]
fn the_shipped_file_says_an_empty_filter_is_refused() {
    let text = include_str!("../../cluster_config.yml");
    let empty = text.replace("hostname_filter: ReCyClusteR", "hostname_filter: \"\"");
    assert!(error(&empty).contains("hostname_filter is empty"));
    let comment: String = text
        .lines()
        .skip_while(|l| !l.starts_with("discovery:"))
        .take_while(|l| !l.contains("hostname_filter:"))
        .collect();
    assert!(comment.contains("Must not be empty"), "{comment}");
    assert!(!comment.contains("accepts every host"), "{comment}");
}

#[test]
fn empty_documents_and_sections_are_defaults() {
    for text in [
        "",
        "# nothing\n",
        "cluster:\nnetwork:\ndiscovery:\nssh:\nnodes:\nplaybooks:\ncontainers:\n",
        "{}",
    ] {
        assert_eq!(parse(text), (Config::default(), vec![]), "{text:?}");
    }
}

#[test]
fn every_key() {
    let (c, w) = parse(
        "cluster:\n  name: lab.1\nnetwork:\n  subnet: 10.1.0.0/16\n  interface: eth0\n\
         discovery:\n  hostname_filter: \"lab\"\n  timeout_ms: 500\n  adopt: listed\n\
         ssh:\n  user: pi\n  port: 2222\n  temp_key: .rccr/ssh_temp_key\n  key_type: rsa\n\
         nodes:\n  - mac: \"AA-bb-CC-dd-EE-01\"\n    hostname: pi-1\n    role: control\n  - mac: \"aa:bb:cc:dd:ee:02\"\n    role: target\n    manager: false\n\
         playbooks:\n  - site.yml\n\
         containers:\n  - name: web\n    image: nginx:alpine\n    replicas: 0\n    placement:\n      arch: armv6l\n      labels:\n        disk: ssd\n        tier: 1\n        fast: true\n    ports:\n      - \"8080:80\"\n      - \"53:53/udp\"\n      - \"53:53/tcp\"\n    publish: host\n\
         swarm:\n  managers: 5\n  services_timeout_s: 600\n",
    );
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.cluster.name, "lab.1");
    assert_eq!(c.network.subnet.unwrap().to_string(), "10.1.0.0/16");
    assert_eq!(c.network.interface.as_deref(), Some("eth0"));
    assert_eq!(
        c.discovery,
        Discovery {
            hostname_filter: "lab".into(),
            timeout_ms: 500,
            adopt: AdoptPolicy::Listed,
        }
    );
    assert_eq!(
        (c.ssh.user.as_str(), c.ssh.port, c.ssh.key_type),
        ("pi", 2222, KeyType::Rsa)
    );
    assert_eq!(
        c.ssh.temp_key.as_ref().map(|k| k.path.as_path()),
        Some(Path::new(".rccr/ssh_temp_key"))
    );
    assert_eq!(
        c.nodes,
        [
            NodePin {
                mac: Mac([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 1]),
                hostname: Some("pi-1".into()),
                role: Some(Role::Control),
                manager: None,
            },
            NodePin {
                mac: Mac([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 2]),
                hostname: None,
                role: Some(Role::Target),
                manager: Some(false),
            },
        ]
    );
    assert_eq!(c.playbooks, [PathBuf::from("site.yml")]);
    assert_eq!(c.swarm.managers, Some(5));
    assert_eq!(c.swarm.services_timeout, Duration::from_secs(600));
    let web = &c.containers[0];
    assert_eq!(
        (web.name.as_str(), web.image.as_str(), web.replicas),
        ("web", "nginx:alpine", 0)
    );
    assert_eq!(web.placement.arch, Some(Arch::Armv6l));
    let labels: Vec<(&str, &str)> = web
        .placement
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(labels, [("disk", "ssd"), ("tier", "1"), ("fast", "true")]);
    assert_eq!(
        web.ports,
        [
            Port {
                published: 8080,
                target: 80,
                protocol: Protocol::Tcp
            },
            Port {
                published: 53,
                target: 53,
                protocol: Protocol::Udp
            },
            Port {
                published: 53,
                target: 53,
                protocol: Protocol::Tcp
            },
        ]
    );
    assert_eq!(web.publish, Some(Publish::Host));
    assert_eq!(c.containers[0].replicas, 0);
    let (c, _) = parse("containers:\n- name: a\n  image: b\n");
    assert_eq!(c.containers[0].replicas, 1);
    // Unset: rccr chooses (ingress, or host where ARMv6 nodes can run it).
    assert_eq!(c.containers[0].publish, None);
    let (c, _) = parse("containers:\n- name: a\n  image: b\n  publish: ingress\n");
    assert_eq!(c.containers[0].publish, Some(Publish::Ingress));
    let (c, _) = parse("network:\n  subnet: 192.168.1.0/24\n  interface:\n");
    assert_eq!(
        c.network.subnet,
        Some(Cidr::parse("192.168.1.0/24").unwrap())
    );
    assert_eq!(c.network.interface, None);
}

#[test]
fn value_checks() {
    rejects(
        &format!("cluster:\n  name: {}\n", "a".repeat(64)),
        "2:9",
        "is not valid",
    );
    rejects(
        &format!("discovery:\n  hostname_filter: {}\n", "a".repeat(64)),
        "2:20",
        "cannot begin a hostname",
    );
}

/// A placement label that swarm would refuse as a constraint (or never
/// match) is the file's error, with its line, not Docker's at setup's end.
#[test]
fn placement_labels_are_constraints_swarm_takes() {
    let labels = |body: &str| {
        format!(
            "containers:\n  - name: web\n    image: nginx\n    placement:\n      labels:\n{body}"
        )
    };
    for (body, why) in [
        (
            "        \"disk ssd\": x\n",
            "its key has a character swarm refuses",
        ),
        (
            "        \"a=b\": x\n",
            "its key has a character swarm refuses",
        ),
        ("        disk: \"\"\n", "its value is empty"),
        (
            "        disk: \"a==b\"\n",
            "its value has a character swarm refuses",
        ),
        (
            "        disk: \"a!=b\"\n",
            "its value has a character swarm refuses",
        ),
        (
            "        disk: \"<ssd>\"\n",
            "its value has a character swarm refuses",
        ),
        (
            "        disk: \"a\u{a0}b\"\n",
            "its value has a character swarm refuses",
        ),
    ] {
        let text = labels(body);
        rejects(&text, "6:9", "placement label '");
        rejects(&text, "6:9", why);
    }
    let text = labels("        \"disk ssd\": x\n");
    rejects(
        &text,
        "6:9",
        "placement label 'disk ssd: x' is no constraint swarm takes (node.labels.disk ssd==x): ",
    );
    // What swarm takes: dots, dashes, underscores, spaces inside a value.
    let (c, _) = parse(&labels(
        "        com.example.disk_type-1: \"fast ssd/2\"\n        rack: 3\n",
    ));
    assert_eq!(
        c.containers[0].placement.labels,
        [
            (
                "com.example.disk_type-1".to_string(),
                "fast ssd/2".to_string()
            ),
            ("rack".into(), "3".into())
        ]
    );
}

/// swarmkit's constraint rules (manager/constraint/constraint.go).
#[test]
fn swarm_constraints() {
    for good in [
        "node.labels.disk==ssd",
        "node.labels.rccr.arch!=armv6l",
        "engine.labels.os==linux",
        "node.role!=manager",
        "node.role==WORKER",
        "node.hostname==pi-1",
        "node.hostname != pi-1",
        "node.id==2ivku8v2gvtg4",
        "node.platform.arch==aarch64",
        "node.platform.os==linux",
        "node.ip==10.0.0.1",
        "node.ip!=10.0.0.0/24",
        "Node.Labels.disk==ssd",
    ] {
        assert_eq!(parse::constraint_error(good), None, "{good}");
    }
    for (bad, why) in [
        (
            "node.role=manager",
            "it has no == or !=; the forms are node.labels.KEY",
        ),
        ("node.role>manager", "it has no == or !="),
        ("node.labels.a b==c", "its key has a character"),
        ("==c", "its key has a character"),
        ("1node.role==manager", "its key has a character"),
        ("node.role==", "its value is empty"),
        ("node.role===manager", "its value has a character"),
        ("node.labels.a==b!=c", "its value has a character"),
        ("node.rol==manager", "swarm matches no node on its key"),
        ("node.labels.==x", "swarm matches no node on its key"),
        ("engine.label.os==linux", "swarm matches no node on its key"),
        ("node.role==leader", "no node ever has that value"),
        ("node.ip==pi-1", "no node ever has that value"),
        ("node.ip==10.0.0.0/x", "no node ever has that value"),
    ] {
        let said = parse::constraint_error(bad).unwrap_or_else(|| panic!("{bad} taken"));
        assert!(said.starts_with(why), "{bad}: {said}");
    }
}

#[test]
fn containers() {
    let svc = |body: &str| format!("containers:\n  - name: web\n    image: nginx\n{body}");
    rejects(
        &svc("    replicas: 1001\n"),
        "4:15",
        "containers.replicas must be from 0 to 1000",
    );
    rejects(
        &svc("    placement: aarch64\n"),
        "4:16",
        "containers.placement must be a mapping",
    );
    rejects(
        &svc("    placement:\n      arch: arm64\n"),
        "5:13",
        "'arm64' is not one of: x86_64, aarch64",
    );
    rejects(
        &svc("    placement:\n      labels:\n        - a\n"),
        "6:9",
        "containers.placement.labels must be a mapping",
    );
    rejects(
        &svc("    placement:\n      labels:\n        a:\n"),
        "6:11",
        "a placement label must be a string",
    );
    rejects(
        &svc("    publish: mesh\n"),
        "4:14",
        "containers.publish 'mesh' is not one of: ingress, host",
    );
    rejects(
        &svc("    publish:\n      - host\n"),
        "5:7",
        "containers.publish must be a string",
    );
    rejects(
        &svc("    ports: \"80:80\"\n"),
        "4:12",
        "containers.ports must be a list",
    );
    rejects(
        &svc("    ports:\n      - 80\n"),
        "5:9",
        "a port must be a string",
    );
    for bad in [
        "80",
        "80:",
        ":80",
        "0:80",
        "80:65536",
        "80:80/sctp",
        "a:80",
        "080000:80",
    ] {
        rejects(
            &svc(&format!("    ports:\n      - \"{bad}\"\n")),
            "5:9",
            "is not \"PUBLISHED:TARGET\"",
        );
    }
    rejects(
        &svc("    ports:\n      - \"53:53/udp\"\n      - \"53:54/udp\"\n"),
        "6:9",
        "port 53/udp is published twice",
    );
    // Taken on every node: SSH's and swarm's own ports.
    for own in ["22:22", "2377:80", "7946:80", "7946:80/udp", "4789:80/udp"] {
        rejects(
            &svc(&format!("    ports:\n      - \"{own}\"\n")),
            "5:9",
            "SSH's and swarm's own ports (22 and ssh.port, 2377/tcp, 7946, 4789/udp) are not published",
        );
    }
    // The nodes' SSH port, wherever the ssh section stands in the file.
    rejects(
        &format!(
            "{}ssh:\n  port: 2222\n",
            svc("    ports:\n      - \"2222:22\"\n")
        ),
        "5:9",
        "SSH's and swarm's own ports",
    );
    let (c, _) = parse(&svc(
        "    ports:\n      - \"4789:80\"\n      - \"22:22/udp\"\n",
    ));
    assert_eq!(c.containers[0].ports.len(), 2);
    for bad in ["-x", "/nginx", ".nginx", "nginx alpine"] {
        let text = format!("containers:\n  - name: web\n    image: '{bad}'\n");
        rejects(&text, "3:12", "containers.image");
    }
}

/// Swarm's rule for service names, case aside: the file's error, with its
/// line, not the engine's at setup's end.
#[test]
fn service_names_are_swarms() {
    let named = |name: &str| format!("containers:\n  - name: {name}\n    image: nginx\n");
    for good in ["web", "w", "my-app_2", "a--b", "Web9"] {
        assert_eq!(parse(&named(good)).0.containers[0].name, good);
    }
    let long = "a".repeat(64);
    for bad in [
        "my.app",
        "web-",
        "web_",
        "-web",
        "_web",
        "w b",
        "wéb",
        long.as_str(),
    ] {
        rejects(
            &named(&format!("'{bad}'")),
            "2:11",
            "is not valid: use 1-63 letters and digits",
        );
    }
    let twice = format!("{}{}", named("web"), "  - name: Web\n    image: nginx\n");
    rejects(
        &twice,
        "4:11",
        "container 'web' is defined twice (case does not count)",
    );
}

#[test]
fn unknown_keys_warn_with_a_suggestion() {
    let (c, w) = parse(
        "discovery:\n  hostname_filtr: x\nnetwrok:\n  subnet: 1\ncolour: red\nssh:\n  Port: 2\n",
    );
    assert_eq!(c, Config::default());
    let w: Vec<String> = w.iter().map(Warning::to_string).collect();
    assert_eq!(
        w,
        [
            "cluster_config.yml:2:3: unknown key 'hostname_filtr' in discovery (did you mean 'hostname_filter'?)",
            "cluster_config.yml:3:1: unknown key 'netwrok' (did you mean 'network'?)",
            "cluster_config.yml:5:1: unknown key 'colour' (known keys: cluster, network, discovery, ssh, nodes, playbooks, containers, swarm)",
            "cluster_config.yml:7:3: unknown key 'Port' in ssh (did you mean 'port'?)",
        ]
    );
    let (_, w) = parse("\"x\\ny\": 1\n");
    assert_eq!(
        w[0].msg,
        "unknown key 'x\\ny' (known keys: cluster, network, discovery, ssh, nodes, playbooks, containers, swarm)"
    );
    let (_, w) = parse(
        "nodes:\n- mac: \"aa:bb:cc:dd:ee:ff\"\n  role: target\n  rol: x\ncontainers:\n- name: a\n  imag: b\n  image: b\n  placement:\n    archs: x\n",
    );
    let w: Vec<String> = w.iter().map(|w| w.msg.clone()).collect();
    assert_eq!(
        w,
        [
            "unknown key 'rol' in a nodes item (did you mean 'role'?)",
            "unknown key 'imag' in a containers item (did you mean 'image'?)",
            "unknown key 'archs' in containers.placement (did you mean 'arch'?)",
        ]
    );
}

#[test]
fn closest_key() {
    let known = ["hostname_filter", "timeout_ms"];
    assert_eq!(closest("hostname_filtr", &known), Some("hostname_filter"));
    assert_eq!(closest("timeout", &known), Some("timeout_ms"));
    assert_eq!(closest("Timeout_MS", &known), Some("timeout_ms"));
    assert_eq!(closest("tiemout_ms", &known), Some("timeout_ms"));
    assert_eq!(closest("interface", &known), None);
    assert_eq!(distance("", "abc"), 3);
    assert_eq!(distance("ab", "ba"), 1);
    assert_eq!(distance("kitten", "sitting"), 3);
}

#[test]
fn bytes_that_are_not_utf8() {
    let e = Config::from_bytes(b"a: 1\nb: x\xffy\n", "c.yml").unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::BadInput);
    assert_eq!(
        e.to_string(),
        "c.yml:2:5: not valid UTF-8; save the file as UTF-8"
    );
    let e = Config::from_bytes("é\u{0}".as_bytes(), "c.yml").unwrap_err();
    crate::error::assert_says(&e, "c.yml:1:2: control character U+0000");
}

/// A scratch directory with `cwd/` and `root/etc/rccr/`.
struct Scratch(Dir);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = Dir::new(&format!("config-{name}"));
        std::fs::create_dir_all(dir.join("cwd")).unwrap();
        std::fs::create_dir_all(dir.join("root/etc/rccr")).unwrap();
        Scratch(dir)
    }
    fn write(&self, rel: &str, text: &[u8]) -> PathBuf {
        let p = self.0.join(rel);
        std::fs::write(&p, text).unwrap();
        p
    }
    fn load(&self, explicit: Option<&Path>) -> Result<Loaded, Error> {
        Config::load_from(explicit, &self.0.join("cwd"), &self.0.join("root"))
    }
    /// Writes `text`, which names the cluster `name`, at `rel`: a load
    /// without --config must now find that file.
    #[track_caller]
    fn found(&self, rel: &str, text: &[u8], name: &str) -> Loaded {
        let path = self.write(rel, text);
        let l = self.load(None).unwrap();
        assert_eq!(
            (l.config.cluster.name.as_str(), l.source.as_deref()),
            (name, Some(path.as_path()))
        );
        l
    }
}

/// `ssh.temp_key` keeps where the file names it: the key resolver warns
/// there when it names no file (`keys::resolve`), from the loaded config.
#[test]
fn a_temp_key_keeps_its_place() {
    let s = Scratch::new("tempkey");
    let missing = s.0.join("kee");
    let text = format!("ssh:\n  temp_key: {}\n", missing.display());
    let l = s.found("cwd/cluster_config.yml", text.as_bytes(), "recycluster");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let path = l.source.unwrap();
    let named = l.config.ssh.temp_key.unwrap();
    assert_eq!(named.path, missing);
    let w = named.warning("no such file".into()).to_string();
    assert_eq!(w, format!("{}:2:13: no such file", path.display()));
}

#[test]
fn lookup_order() {
    let s = Scratch::new("lookup");
    let l = s.load(None).unwrap();
    assert_eq!((l.config, l.source), (Config::default(), None));

    s.found(
        "root/etc/rccr/cluster_config.yml",
        b"cluster:\n  name: system\n",
        "system",
    );
    let l = s.found(
        "cwd/cluster_config.yml",
        b"cluster:\n  name: local\nbogus: 1\n",
        "local",
    );
    let local = l.source.expect("found");
    assert_eq!(l.warnings[0].file, local.display().to_string());

    s.write("cwd/other.yml", b"cluster:\n  name: explicit\n");
    let l = s.load(Some(Path::new("other.yml"))).unwrap();
    assert_eq!(l.config.cluster.name, "explicit");
    s.write("cwd/bad.yml", b"cluster:\n  name: [x]\n");
    let e = s.load(Some(Path::new("bad.yml"))).unwrap_err();
    crate::error::assert_says(&e, "bad.yml:2:9: flow collections");
    assert_eq!(e.exit_code(), ExitCode::BadInput);
}

#[test]
fn lookup_errors() {
    let s = Scratch::new("errors");
    let e = s.load(Some(Path::new("missing.yml"))).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::BadInput);
    crate::error::assert_says(&e, "--config missing.yml: no such file: ");

    // Present but unreadable is an error, not a reason to fall through.
    std::fs::create_dir(s.0.join("cwd/cluster_config.yml")).unwrap();
    s.write(
        "root/etc/rccr/cluster_config.yml",
        b"cluster:\n  name: system\n",
    );
    let e = s.load(None).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::BadInput, "{e}");
    assert!(e.to_string().contains(": a directory: "), "{e}");
    std::fs::remove_dir(s.0.join("cwd/cluster_config.yml")).unwrap();

    // A link to nothing is no reason to fall through either.
    std::os::unix::fs::symlink("/nonexistent/c.yml", s.0.join("cwd/cluster_config.yml")).unwrap();
    let e = s.load(None).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::BadInput, "{e}");
    let said = e.to_string();
    assert!(said.ends_with("cwd/cluster_config.yml: a link to no file; fix or remove the link, or pass a config with --config"), "{said}");
    std::fs::remove_file(s.0.join("cwd/cluster_config.yml")).unwrap();

    s.write("cwd/cluster_config.yml", &vec![b'#'; MAX_SIZE + 1]);
    let e = s.load(None).unwrap_err();
    assert_eq!(e.exit_code(), ExitCode::BadInput);
    assert!(e.to_string().contains("larger than 1 MiB"), "{e}");
}

#[test]
fn a_config_others_could_have_written_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let chmod = |p: &Path, mode| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    let s = Scratch::new("modes");
    let local = s.write("cwd/cluster_config.yml", b"cluster:\n  name: local\n");
    // Writable by its group is by others only when others are in it.
    if !crate::fsutil::scratch::give_to_a_shared_group(&local) {
        return;
    }
    for (mode, who) in [(0o666, "everyone"), (0o664, "its group")] {
        chmod(&local, mode);
        let e = s.load(None).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::BadInput, "{e}");
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("{}: is writable by {who}", local.display())),
            "{msg}"
        );
    }
    chmod(&local, 0o644);
    assert_eq!(s.load(None).unwrap().config.cluster.name, "local");
    // A directory anyone may write to: someone else could have put it there.
    let cwd = s.0.join("cwd");
    chmod(&cwd, 0o777);
    let e = s.load(None).unwrap_err();
    crate::error::assert_says(&e, &format!("{}: is writable by everyone", cwd.display()));
    // Sticky, like /tmp: no one can replace a file another owns there.
    chmod(&cwd, 0o1777);
    assert_eq!(s.load(None).unwrap().config.cluster.name, "local");
    chmod(&cwd, 0o755);
    // The explicit file too.
    let other = s.write("cwd/other.yml", b"cluster:\n  name: explicit\n");
    chmod(&other, 0o646);
    assert_eq!(
        s.load(Some(Path::new("other.yml")))
            .unwrap_err()
            .exit_code(),
        ExitCode::BadInput
    );
}

#[test]
fn a_config_another_user_owns_is_refused_whatever_its_mode() {
    use crate::fsutil::scratch::give_to_another_user;
    let s = Scratch::new("owner");
    let local = s.write("cwd/cluster_config.yml", b"cluster:\n  name: local\n");
    assert_eq!(s.load(None).unwrap().config.cluster.name, "local");
    // 0644: no one else may write it, but its owner may, and that is not us.
    if !give_to_another_user(&local) {
        return;
    }
    for explicit in [None, Some(Path::new("cluster_config.yml"))] {
        let e = s.load(explicit).unwrap_err();
        assert_eq!(e.exit_code(), ExitCode::BadInput, "{e}");
        let shown = explicit.map_or(local.clone(), Path::to_path_buf);
        crate::error::assert_says(&e, &format!(
                "{}: is owned by uid 65534, neither this user nor root: rccr does not read a config others could have written",
                shown.display()
            ));
    }
    // Its directory another user's: they could have put any file there.
    std::os::unix::fs::chown(&local, Some(0), None).unwrap();
    let cwd = s.0.join("cwd");
    give_to_another_user(&cwd);
    let e = s.load(None).unwrap_err();
    crate::error::assert_says(&e, &format!("{}: is owned by uid 65534", cwd.display()));
}

#[test]
fn port_parsing() {
    assert_eq!(
        parse_port("65535:1/udp"),
        Some(Port {
            published: 65535,
            target: 1,
            protocol: Protocol::Udp
        })
    );
    assert_eq!(parse_port("+80:80"), None);
}

#[test]
fn refused_inputs_name_line_col_and_reason() {
    let cases = testdata::rejects(include_str!("testdata/config_rejects.txt"));
    assert!(cases.len() > 40);
    for (line, at, what, input) in cases {
        eprintln!("testdata/config_rejects.txt:{line}");
        rejects(&input, &at, &what);
    }
}

/// `text` is refused with a line that starts `cluster_config.yml:START`,
/// says `says`, and holds no control character of the file.
#[track_caller]
fn refused_as(text: &str, start: &str, says: &str) {
    let e = error(text);
    assert!(e.starts_with(&format!("cluster_config.yml:{start}")), "{e}");
    assert!(e.contains(says), "{e}");
    assert!(!e.chars().any(char::is_control), "{e}");
}

/// The filter begins the names setup gives nodes (`FILTER-Control-1a2b3c`)
/// and must be part of a DNS name to match one: a filter that cannot be
/// either is refused at load, with its line, not found out at setup as
/// "no node found" or as names left unchanged without a word.
#[test]
fn a_hostname_filter_must_begin_a_valid_hostname() {
    let long = "a".repeat(49);
    for filter in ["Re Cy", "lab_", "x\\e[2J", "-lab", "lab.x", "ünï", &long] {
        let text = format!("discovery:\n  hostname_filter: \"{filter}\"\n");
        refused_as(
            &text,
            "2:20: discovery.hostname_filter '",
            "1-48 letters, digits and '-'",
        );
    }
    for filter in ["ReCyClusteR", "lab-", "node7", &"a".repeat(48)] {
        let text = format!("discovery:\n  hostname_filter: \"{filter}\"\n");
        assert_eq!(parse(&text).0.discovery.hostname_filter, filter);
    }
}

/// A node pinned to an image default takes a generated name at its next
/// boot, and setup renames it back on every run; two pins that differ in
/// case only are one name to every other part of rccr.
#[test]
fn a_pinned_hostname_is_no_image_default_and_pins_ignore_case() {
    for name in ["localhost", "ReCyClusteR-Target", "recycluster-control"] {
        let text = format!("nodes:\n  - mac: \"aa:bb:cc:dd:ee:01\"\n    hostname: {name}\n");
        refused_as(&text, "3:15: nodes.hostname '", "pick a name of your own");
    }
    let e = error(
        "nodes:\n  - mac: \"aa:bb:cc:dd:ee:01\"\n    hostname: pi-kitchen\n  - mac: \"aa:bb:cc:dd:ee:02\"\n    hostname: Pi-Kitchen\n",
    );
    assert!(
        e.starts_with("cluster_config.yml:5:15: hostname 'pi-kitchen' is pinned twice"),
        "{e}"
    );
}

/// A playbook is an argument of ansible-playbook and a line of setup's
/// output: one that starts with '-' would be an option, one with a
/// control character would act on the terminal.
#[test]
fn a_playbook_that_is_an_option_or_holds_a_control_character_is_refused() {
    for (item, says) in [
        ("--version", "starts with '-'"),
        ("-eansible_become_pass=x", "starts with '-'"),
        ("\"\\e]0;x\\a.yml\"", "control character"),
        ("\"site\\n.yml\"", "control character"),
    ] {
        refused_as(
            &format!("playbooks:\n  - {item}\n"),
            "2:5: playbook '",
            says,
        );
    }
}

/// A relative playbook path means the same file whichever directory rccr
/// runs in: it is taken from the config file's directory.
#[test]
fn relative_paths_are_relative_to_the_config_file() {
    let s = Scratch::new("playbooks");
    std::fs::create_dir_all(s.0.join("cwd/conf")).unwrap();
    let text =
        b"playbooks:\n  - site.yml\n  - sub/more.yml\n  - /srv/abs.yml\nssh:\n  temp_key: k/temp\n";
    s.write("cwd/conf/c.yml", text);
    let l = s.load(Some(Path::new("conf/c.yml"))).unwrap();
    let conf = s.0.join("cwd/conf");
    let temp_key = l.config.ssh.temp_key.as_ref().map(|k| k.path.clone());
    assert_eq!(temp_key, Some(conf.join("k/temp")));
    assert_eq!(
        l.config.playbooks,
        [
            conf.join("site.yml"),
            conf.join("sub/more.yml"),
            PathBuf::from("/srv/abs.yml")
        ]
    );
    s.write("root/etc/rccr/cluster_config.yml", text);
    let l = s.load(None).unwrap();
    let etc = s.0.join("root/etc/rccr");
    assert_eq!(l.config.playbooks[0], etc.join("site.yml"));
    // ./cluster_config.yml: the working directory is its directory.
    let local = s.write("cwd/cluster_config.yml", text);
    let l = s.load(None).unwrap();
    assert_eq!(l.source.as_deref(), Some(local.as_path()));
    assert_eq!(l.config.playbooks[0], s.0.join("cwd/site.yml"));
    // A pipe (`--config <(...)`): as given, from the working directory,
    // not from /dev/fd.
    let fifo = s.0.join("cwd/fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success());
    let writer = std::thread::spawn(move || std::fs::write(fifo, text).unwrap());
    let l = s.load(Some(Path::new("fifo"))).unwrap();
    writer.join().unwrap();
    assert_eq!(l.config.playbooks[0], PathBuf::from("site.yml"));
}

/// A warning is one line, its characters in the order of its bytes,
/// whatever the file's name or keys hold (as errors are).
#[test]
fn a_warning_escapes_control_characters_and_direction_marks() {
    let (_, warnings) = Config::parse(
        "cluster:\n  \"a\u{202e}b\": 1\n  \"c\\e[2Jd\": 2\n",
        "evil\u{202e}\u{1b}.yml",
    )
    .unwrap();
    assert_eq!(warnings.len(), 2);
    for w in &warnings {
        let shown = w.to_string();
        assert!(
            !shown.chars().any(|c| c.is_control() || c == '\u{202e}'),
            "{shown:?}"
        );
        assert!(shown.starts_with("evil\\u{202e}\\u{1b}.yml:"), "{shown}");
    }
    assert!(
        warnings[0].to_string().contains("'a\\u{202e}b'"),
        "{}",
        warnings[0]
    );
}

/// A file of thousands of unknown keys (not a config, or a config pasted
/// into another file) gives a screenful, not thousands of lines: the
/// first ones in file order, then how many more.
#[test]
fn warnings_stop_after_the_first_twenty() {
    let mut text = String::from("cluster:\n");
    for n in 0..30 {
        text.push_str(&format!("  k{n}: 1\n"));
    }
    for n in 0..30 {
        text.push_str(&format!("t{n}: 1\n"));
    }
    let (_, warnings) = parse(&text);
    assert_eq!(warnings.len(), 21, "{warnings:?}");
    for (n, w) in warnings[..20].iter().enumerate() {
        assert_eq!(w.pos.line as usize, n + 2, "{w}");
        assert!(
            w.msg.starts_with(&format!("unknown key 'k{n}' in cluster")),
            "{w}"
        );
    }
    let last = &warnings[20];
    assert_eq!(last.pos.line, 22, "{last}");
    assert!(last.msg.starts_with("and 40 more unknown keys"), "{last}");
}
