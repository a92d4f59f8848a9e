//! build-docker.sh and the Dockerfiles: the build command, and what the
//! build context lets through.
#[path = "common/image.rs"]
mod image;

use image::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

// ------------------------------------------------------------------ docker

#[test]
fn docker_build_gets_the_platform_the_tags_and_only_the_key_half_it_needs() {
    if !require("docker dry run", &[("ssh-keygen", "openssh-client")]) {
        return;
    }
    let dir = TempDir::new("docker");
    let inputs = Inputs::new(&dir);
    let run = |arch: &str, ty: &str, extra: &[&str]| {
        let out = inputs
            .command(&dir, &script("build-docker.sh"))
            .args(["--dry-run", "-v", "1.2.3"])
            .args(extra)
            .args([arch, ty])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
        text(&out.stdout)
    };
    let key = inputs.key.display().to_string();
    let control = run("armhf", "control", &[]);
    assert!(
        control.starts_with("docker buildx build --platform linux/arm/v6 "),
        "{control}"
    );
    assert_has(&control, "/image-builder/base/Dockerfile --target control ");
    assert_has(&control, &format!("--secret id=rccr_temp_key,src={key} "));
    assert_has(&control, "--build-arg RCCR_ARCH=armhf ");
    assert_has(&control, "--build-arg RCCR_TEMP_KEY_FP=SHA256:");
    assert_has(&control, "--tag nananina0415/rccr:1.2.3-armhf-control ");
    assert_has(&control, "--tag nananina0415/rccr:latest-armhf-control ");
    assert!(
        control
            .trim_end()
            .ends_with(&format!("--load {}", repo().display())),
        "{control}"
    );

    // The package list of the arch, as lib.sh reads it: no Ansible on the
    // armhf control, Ansible elsewhere.
    let build_arg = |cmd: &str| -> Vec<String> {
        let arg = cmd
            .split("--build-arg RCCR_PACKAGES=")
            .nth(1)
            .unwrap_or_else(|| panic!("no RCCR_PACKAGES: {cmd}"));
        let end = arg.find(" --").unwrap();
        arg[..end].split(' ').map(String::from).collect()
    };
    assert_eq!(build_arg(&control), packages("control", "armhf"));
    assert!(!build_arg(&control).contains(&"ansible".to_string()));
    let x86_control = run("x86_64", "control", &[]);
    assert!(build_arg(&x86_control).contains(&"ansible".to_string()));
    assert_eq!(build_arg(&x86_control), packages("control", "x86_64"));

    let target = run("rpi-aarch64", "target", &["--push", "--no-latest"]);
    assert_has(&target, "--platform linux/arm64 ");
    assert_has(&target, " --target target ");
    assert_has(
        &target,
        &format!("--secret id=rccr_temp_key_pub,src={key}.pub "),
    );
    assert!(
        !target.contains(&format!("src={key} ")),
        "a target build sees the private key: {target}"
    );
    assert!(!target.contains(":latest-"), "{target}");
    assert_has(&target, " --push ");
    for (arch, platform) in [
        ("x86_64", "linux/amd64"),
        ("x86", "linux/386"),
        ("aarch64", "linux/arm64"),
        ("armv7", "linux/arm/v7"),
    ] {
        assert!(
            run(arch, "target", &[]).contains(&format!("--platform {platform} ")),
            "{arch}"
        );
    }

    // A private key that does not match its .pub is refused.
    let other = dir.path("other/key");
    fs::create_dir_all(other.parent().unwrap()).unwrap();
    ok(Command::new(RCCR)
        .args(["keygen", "--type", "ed25519", "-f"])
        .arg(&other));
    fs::copy(
        inputs.key.with_extension("pub"),
        other.with_extension("pub"),
    )
    .unwrap();
    let out = inputs
        .command(&dir, &script("build-docker.sh"))
        .env("RCCR_TEMP_KEY", &other)
        .args(["-n", "x86_64", "control"])
        .output()
        .unwrap();
    assert_exit(&out, 1, "are not one pair");
}

/// What .dockerignore lets through: its `!` lines.
fn dockerignore_allows() -> Vec<String> {
    fs::read_to_string(repo().join(".dockerignore"))
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix('!'))
        .map(|l| l.trim_end_matches('/').to_string())
        .collect()
}

#[test]
fn dockerfiles_copy_only_what_the_context_lets_through() {
    let ignore = fs::read_to_string(repo().join(".dockerignore")).unwrap();
    assert!(
        ignore.lines().any(|l| l == "*"),
        "the context is not an allowlist"
    );
    assert!(
        !ignore.contains("!.rccr"),
        "the key must not enter the context"
    );
    let allows = dockerignore_allows();
    let dockerfile = fs::read_to_string(repo().join("image-builder/base/Dockerfile")).unwrap();
    let mut sources = Vec::new();
    for line in dockerfile.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"COPY") {
            let args: Vec<&str> = words[1..]
                .iter()
                .filter(|w| !w.starts_with("--"))
                .copied()
                .collect();
            // Every word but the last (the destination) is a source.
            sources.extend(args[..args.len() - 1].iter().map(|a| a.to_string()));
        }
        if let Some(rest) = line.split("type=bind,source=").nth(1) {
            sources.push(rest.split(',').next().unwrap().to_string());
        }
    }
    assert!(sources.len() >= 7, "{sources:?}");
    for src in sources {
        let src = src.trim_end_matches('/');
        if src == "dist/rccr-${RCCR_ARCH}" {
            assert!(
                allows.iter().any(|a| a == "dist/rccr-*"),
                "dist/rccr-* is ignored"
            );
            continue;
        }
        // Made by a build step before the image (build-docker.sh checks).
        if src == "dist/THIRD-PARTY-NOTICES" {
            assert!(allows.iter().any(|a| a == src), "{src} is ignored");
            continue;
        }
        assert!(
            repo().join(src).exists(),
            "the Dockerfile copies {src}, which does not exist"
        );
        assert!(
            allows
                .iter()
                .any(|a| src == a || src.starts_with(&format!("{a}/"))),
            "the Dockerfile copies {src}, which .dockerignore keeps out"
        );
    }
    assert!(
        !dockerfile.contains(".rccr/"),
        "the key must come as a secret"
    );
    // COPY keeps the context's modes, a checkout's: 0664 under umask 002,
    // and rccr refuses a config its group may write (StrictModes), so the
    // control would refuse its own. The config gets its mode here.
    let config_copies: Vec<&str> = dockerfile
        .lines()
        .filter(|l| l.starts_with("COPY ") && l.contains("cluster_config.yml"))
        .collect();
    assert!(!config_copies.is_empty());
    for line in config_copies {
        assert!(line.contains(" --chmod=0644 "), "{line}");
    }
    assert!(dockerfile
        .contains("ENTRYPOINT [\"/sbin/tini\", \"--\", \"/usr/libexec/rccr/docker-entrypoint\"]"));
    // One stage per node type, on the shared one; only the control's mounts
    // the private key.
    let stage = |ty: &str| {
        let from = format!("\nFROM node AS {ty}\n");
        let start = dockerfile
            .find(&from)
            .unwrap_or_else(|| panic!("no stage {ty}"));
        let rest = &dockerfile[start + from.len()..];
        rest[..rest.find("\nFROM ").unwrap_or(rest.len())].to_string()
    };
    assert!(stage("control").contains("--mount=type=secret,id=rccr_temp_key,"));
    let target = stage("target");
    assert!(target.contains("--mount=type=secret,id=rccr_temp_key_pub,"));
    assert!(
        !target.contains("id=rccr_temp_key,"),
        "a target stage mounts the private key"
    );
}

/// Runs the container entrypoint with stand-ins for rccr-init, ssh-keygen,
/// dockerd and sshd on PATH and a synthetic cgroup tree; returns what the
/// dockerd stand-in saw when it started.
fn entrypoint_run(dir: &TempDir, node_type: &str, cgroup_v2: bool) -> (Output, String) {
    let bin = dir.path("bin");
    let seen = dir.path("dockerd-saw");
    let cg = dir.path("cgroup");
    fs::create_dir_all(&cg).unwrap();
    if cgroup_v2 {
        write(
            &cg.join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        );
        write(&cg.join("cgroup.procs"), "1\n7\n12\n");
        write(&cg.join("cgroup.subtree_control"), "");
    }
    dir.write("node-type", format!("{node_type}\n"));
    let stub = |name: &str, body: &str| {
        let p = bin.join(name);
        write(&p, format!("#!/bin/sh\n{body}\n"));
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    };
    stub("rccr-init", "exit 0");
    stub("ssh-keygen", "exit 0");
    // What dockerd finds at its start: the subtree controllers and init/.
    stub(
        "dockerd",
        &format!(
            "{{ cat '{cg}/cgroup.subtree_control' 2>/dev/null; echo ---; cat '{cg}/init/cgroup.procs' 2>/dev/null; }} >'{seen}.tmp'; mv '{seen}.tmp' '{seen}'",
            cg = cg.display(),
            seen = seen.display()
        ),
    );
    stub("sshd", "echo \"sshd $*\"");
    let out = Command::new(repo().join("image-builder/base/docker/entrypoint.sh"))
        .arg("-p2222")
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("RCCR_NODE_TYPE_FILE", dir.path("node-type"))
        .env("CGROUP_ROOT", &cg)
        .env("DOCKERD_LOG", dir.path("dockerd.log"))
        .env("SSHD", bin.join("sshd"))
        .output()
        .unwrap();
    // dockerd runs in the background: wait for it (a watchdog, generous).
    for _ in 0..1200 {
        if seen.exists() || node_type != "target" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (out, fs::read_to_string(&seen).unwrap_or_default())
}

#[test]
fn the_entrypoint_nests_cgroup_v2_before_dockerd_starts() {
    let dir = TempDir::new("entrypoint-v2");
    let (out, seen) = entrypoint_run(&dir, "target", true);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(text(&out.stdout), "sshd -D -e -p2222\n", "{}", show(&out));
    // Every process moved out of the root cgroup, one per line (one write
    // each), and every controller handed down, before dockerd ran.
    assert_eq!(seen, "+cpuset +cpu +io +memory +pids\n---\n1\n7\n12\n");

    // cgroup v1 (no cgroup.controllers): nothing is touched.
    let dir = TempDir::new("entrypoint-v1");
    let (out, seen) = entrypoint_run(&dir, "target", false);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(seen, "---\n");
    assert!(!dir.path("cgroup/init").exists());

    // A control starts no dockerd and leaves the cgroups alone.
    let dir = TempDir::new("entrypoint-control");
    let (out, seen) = entrypoint_run(&dir, "control", true);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(seen, "");
    assert_eq!(
        fs::read_to_string(dir.path("cgroup/cgroup.subtree_control")).unwrap(),
        ""
    );
}
