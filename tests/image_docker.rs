//! build-docker.sh and the Dockerfiles: the build command, and what the
//! build context lets through.
#[path = "common/image.rs"]
mod image;

use image::*;
use std::fs;
use std::process::Command;

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
    assert!(
        control.contains("/image-builder/control/Dockerfile "),
        "{control}"
    );
    assert!(
        control.contains(&format!("--secret id=rccr_temp_key,src={key} ")),
        "{control}"
    );
    assert!(
        control.contains("--build-arg RCCR_ARCH=armhf "),
        "{control}"
    );
    assert!(
        control.contains("--build-arg RCCR_TEMP_KEY_FP=SHA256:"),
        "{control}"
    );
    assert!(
        control.contains("--tag nananina0415/rccr:1.2.3-armhf-control "),
        "{control}"
    );
    assert!(
        control.contains("--tag nananina0415/rccr:latest-armhf-control "),
        "{control}"
    );
    assert!(
        control
            .trim_end()
            .ends_with(&format!("--load {}", repo().display())),
        "{control}"
    );

    let target = run("rpi-aarch64", "target", &["--push", "--no-latest"]);
    assert!(target.contains("--platform linux/arm64 "), "{target}");
    assert!(
        target.contains(&format!("--secret id=rccr_temp_key_pub,src={key}.pub ")),
        "{target}"
    );
    assert!(
        !target.contains(&format!("src={key} ")),
        "a target build sees the private key: {target}"
    );
    assert!(!target.contains(":latest-"), "{target}");
    assert!(target.contains(" --push "), "{target}");
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
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("are not one pair"),
        "{}",
        show(&out)
    );
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
    for ty in ["control", "target"] {
        let dockerfile =
            fs::read_to_string(repo().join(format!("image-builder/{ty}/Dockerfile"))).unwrap();
        let mut sources = Vec::new();
        for line in dockerfile.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() == Some(&"COPY") {
                let args: Vec<&str> = words[1..]
                    .iter()
                    .filter(|w| !w.starts_with("--"))
                    .copied()
                    .collect();
                sources.push(args[0].to_string());
            }
            if let Some(rest) = line.split("type=bind,source=").nth(1) {
                sources.push(rest.split(',').next().unwrap().to_string());
            }
        }
        assert!(sources.len() >= 5, "{ty}: {sources:?}");
        for src in sources {
            let src = src.trim_end_matches('/');
            if src == "dist/rccr-${RCCR_ARCH}" {
                assert!(
                    allows.iter().any(|a| a == "dist/rccr-*"),
                    "{ty}: dist/rccr-* is ignored"
                );
                continue;
            }
            assert!(
                repo().join(src).exists(),
                "{ty} copies {src}, which does not exist"
            );
            assert!(
                allows
                    .iter()
                    .any(|a| src == a || src.starts_with(&format!("{a}/"))),
                "{ty} copies {src}, which .dockerignore keeps out"
            );
        }
        assert!(
            !dockerfile.contains(".rccr/"),
            "{ty}: the key must come as a secret"
        );
        assert!(dockerfile.contains(
            "ENTRYPOINT [\"/sbin/tini\", \"--\", \"/usr/libexec/rccr/docker-entrypoint\"]"
        ));
    }
}
