//! The release workflows' rules that GitHub would only show on the first
//! tagged run, checked here (actionlint runs in tests/image_lint.rs):
//! - the Docker Hub push and login run only when both secrets are set: the
//!   guard step's own script is run with and without them, and every job
//!   that logs in or pushes waits for its answer;
//! - one version check, one build of the binaries per tag, one workflow a
//!   tag starts;
//! - every action pinned to a commit SHA, docker/* actions on their current
//!   majors, attestations in place;
//! - every checkout leaves no token behind (`persist-credentials: false`);
//! - a boot test that may not block says why.
//!
//! Every rule is also shown to fail on a workflow broken for it.
#[path = "common/image.rs"]
mod image;

use image::*;
use std::fs;
use std::process::Command;

/// Python (PyYAML) that prints one line per broken rule for the workflows
/// in a directory; with a second argument, it first breaks that rule in
/// memory (the rule's name), to show the check can fail.
const CHECKS: &str = r#"
import glob, os, re, sys, yaml

wf = {}
raw = {}
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.yml"))):
    with open(path) as f:
        raw[os.path.basename(path)] = f.read()
breaking = sys.argv[2] if len(sys.argv) > 2 else None
if breaking == "pin":
    raw["release.yml"] = re.sub(r"(attest-build-provenance)@[0-9a-f]{40} # (v\d+)\S*", r"\1@\2", raw["release.yml"], count=1)
if breaking == "major":
    raw["build-docker-images.yml"] = re.sub(r"(setup-buildx-action@[0-9a-f]{40}) # v4\S*", r"\1 # v3.11.1", raw["build-docker-images.yml"], count=1)
for name, text in raw.items():
    d = yaml.safe_load(text)
    d["on"] = d.pop(True, d.get("on"))  # YAML 1.1 reads `on` as true
    wf[name] = d

def steps(job):
    return job.get("steps", [])

def uses(job, prefix):
    return [s for s in steps(job) if s.get("uses", "").startswith(prefix)]

docker = wf["build-docker-images.yml"]
if breaking == "guard":
    del docker["jobs"]["push"]["if"]
if breaking == "version":
    wf["build-os-images.yml"]["jobs"]["version"] = wf["release.yml"]["jobs"]["version"]
if breaking == "binaries":
    wf["build-docker-images.yml"]["jobs"]["binaries"] = {"uses": "./.github/workflows/binaries.yml"}
if breaking == "trigger":
    wf["build-os-images.yml"]["on"] = {"push": {"tags": ["v*"]}}
if breaking == "reason":
    inc = wf["build-os-images.yml"]["jobs"]["boot-test"]["strategy"]["matrix"]["include"]
    del [i for i in inc if i["arch"] == "aarch64"][0]["reason"]
if breaking == "attest":
    rel = wf["release.yml"]["jobs"]["release"]
    rel["steps"] = [s for s in steps(rel) if "attest" not in s.get("uses", "")]
if breaking == "checkout":
    co = uses(wf["release.yml"]["jobs"]["version"], "actions/checkout@")[0]
    del co["with"]["persist-credentials"]

# Docker Hub: the guard job, and every job that logs in or pushes waits for
# it and runs only on its yes.
guard = "needs.hub.outputs.push == 'true'"
for name, job in docker["jobs"].items():
    pushes = uses(job, "docker/login-action") or any(
        "--push" in s.get("run", "") or "imagetools create" in s.get("run", "") for s in steps(job))
    if pushes:
        needs = job.get("needs", [])
        needs = [needs] if isinstance(needs, str) else needs
        if "hub" not in needs or job.get("if") != guard:
            print(f"guard: job {name} logs in or pushes without `if: {guard}`")
check = [s for s in steps(docker["jobs"]["hub"]) if s.get("id") == "check"][0]
if check["env"] != {"WANT_PUSH": "${{ inputs.push }}", "DOCKER_USERNAME": "${{ secrets.DOCKER_USERNAME }}",
                    "DOCKER_PASSWORD": "${{ secrets.DOCKER_PASSWORD }}"}:
    print(f"guard: the hub check reads {check['env']}")
secrets = docker["on"]["workflow_call"].get("secrets", {})
for s in ("DOCKER_USERNAME", "DOCKER_PASSWORD"):
    if secrets.get(s, {}).get("required") is not False:
        print(f"guard: secret {s} must be declared, not required")
if wf["release.yml"]["jobs"]["docker-images"].get("secrets") != "inherit":
    print("guard: release.yml does not hand the secrets to build-docker-images.yml")

# One version check and one build of the binaries per run, one workflow a
# tag starts.
version_checks = [(w, j) for w, d in wf.items() for j, job in d["jobs"].items()
                  if any("does not match Cargo.toml's version" in s.get("run", "") for s in steps(job))]
if version_checks != [("release.yml", "version")]:
    print(f"version: checked in {version_checks}")
tagged = [w for w, d in wf.items() if isinstance(d["on"], dict) and "tags" in (d["on"].get("push") or {})]
if tagged != ["release.yml"]:
    print(f"trigger: tags start {tagged}")
callers = {}
for w, d in wf.items():
    for j, job in d["jobs"].items():
        if job.get("uses", "").endswith("/binaries.yml"):
            callers.setdefault(w, []).append(j)
if callers != {"ci.yml": ["binaries"], "release.yml": ["binaries"]}:
    print(f"binaries: built by {callers}")
for w in ("build-os-images.yml", "build-docker-images.yml"):
    if set(wf[w]["on"]) != {"workflow_call"}:
        print(f"trigger: {w} runs on {list(wf[w]['on'])}, not only when release.yml calls it")

# Every action of another repository pinned to a full commit SHA, its
# release named in a comment (`owner/repo@SHA # vX.Y.Z`): a tag can be moved
# to other code, and these workflows sign provenance, publish the release
# and hold the Docker Hub token.
pinned = []
for w, text in raw.items():
    for line in text.splitlines():
        m = re.match(r"\s*(?:-\s+)?uses:\s*(\S+)(.*)$", line)
        if not m or m.group(1).startswith("./"):
            continue
        ref = re.fullmatch(r"([\w.-]+/[\w.-]+)@([0-9a-f]{40})", m.group(1))
        version = re.fullmatch(r"\s+# (v\d+)(\.\d+)*", m.group(2))
        if not ref or not version:
            print(f"pin: {w}: {line.strip()} is not pinned as ACTION@SHA # vX.Y.Z")
            continue
        pinned.append((w, ref.group(1), int(version.group(1)[1:])))
if not pinned:
    print("pin: no action found")

# docker/* actions on their current majors (v4 since March 2026).
for w, action, major in pinned:
    if action.startswith("docker/") and major < 4:
        print(f"major: {w} uses {action} v{major}")

# Attestations: every released file, SHA256SUMS, every pushed image.
rel = [s.get("with", {}) for s in steps(wf["release.yml"]["jobs"]["release"])
       if s.get("uses", "").startswith("actions/attest-build-provenance@")]
if {"subject-checksums": "release/SHA256SUMS"} not in rel or {"subject-path": "release/SHA256SUMS"} not in rel:
    print(f"attest: the release attests {rel}")
for j in ("push", "merge"):
    att = uses(docker["jobs"][j], "actions/attest-build-provenance@")
    if len(att) != 1 or att[0]["with"].get("push-to-registry") is not True:
        print(f"attest: docker job {j} does not attest its image in the registry")
    perms = docker["jobs"][j].get("permissions", {})
    if perms.get("id-token") != "write" or perms.get("attestations") != "write":
        print(f"attest: docker job {j} lacks id-token/attestations: write")

# No checkout leaves the job's token in .git/config for later steps (and
# for any code they run, the Docker builds and test scripts included):
# nothing here pushes with git; the release is published with `gh` and
# its own GH_TOKEN.
for w, d in wf.items():
    for j, job in d["jobs"].items():
        for s in uses(job, "actions/checkout@"):
            if (s.get("with") or {}).get("persist-credentials") is not False:
                print(f"checkout: {w} job {j} checks out without `persist-credentials: false`")

# A boot test that may not block the release says why.
boot = wf["build-os-images.yml"]["jobs"]["boot-test"]
for inc in boot["strategy"]["matrix"]["include"]:
    if inc.get("experimental") and not inc.get("reason"):
        print(f"reason: {inc['arch']} is informative without a reason")
if not any(i["arch"] == "aarch64" and i.get("experimental") for i in boot["strategy"]["matrix"]["include"]):
    print("reason: the aarch64 boot test under TCG blocks the release")
"#;

fn broken_rules(breaking: Option<&str>) -> Vec<String> {
    let mut cmd = Command::new("python3");
    cmd.args(["-c", CHECKS])
        .arg(repo().join(".github/workflows"));
    if let Some(rule) = breaking {
        cmd.arg(rule);
    }
    text(&ok(&mut cmd).stdout)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn the_workflows_keep_their_rules_and_each_check_can_fail() {
    if !require("workflow rules", &[("python3", "python3-yaml")]) {
        return;
    }
    assert_eq!(broken_rules(None), Vec::<String>::new());
    for rule in [
        "guard", "major", "pin", "version", "binaries", "trigger", "reason", "attest", "checkout",
    ] {
        let found = broken_rules(Some(rule));
        assert!(
            found.iter().any(|l| l.starts_with(&format!("{rule}: "))),
            "breaking {rule} went unnoticed: {found:?}"
        );
    }
}

/// Runs the Docker Hub guard's own script as GitHub would, and returns
/// (its output `push`, its stdout).
fn hub_check(want_push: &str, user: &str, password: &str) -> (String, String) {
    let script = Command::new("python3")
        .args([
            "-c",
            "import sys, yaml\nd = yaml.safe_load(open(sys.argv[1]))\n\
             print([s for s in d['jobs']['hub']['steps'] if s.get('id') == 'check'][0]['run'])",
        ])
        .arg(repo().join(".github/workflows/build-docker-images.yml"))
        .output()
        .unwrap();
    assert!(script.status.success(), "{}", show(&script));
    let dir = TempDir::new("hub-check");
    let output = dir.path("github-output");
    write(&output, "");
    let out = ok(Command::new("bash")
        .args(["-e", "-c"])
        .arg(text(&script.stdout))
        .env("WANT_PUSH", want_push)
        .env("DOCKER_USERNAME", user)
        .env("DOCKER_PASSWORD", password)
        .env("GITHUB_OUTPUT", &output));
    let push = fs::read_to_string(&output)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("push=").map(String::from))
        .unwrap_or_default();
    (push, text(&out.stdout))
}

#[test]
fn docker_hub_is_pushed_to_only_on_a_tag_with_both_secrets() {
    if !require(
        "Docker Hub guard",
        &[("python3", "python3-yaml"), ("bash", "bash")],
    ) {
        return;
    }
    let (push, _) = hub_check("true", "nananina0415", "dckr_pat_x");
    assert_eq!(push, "true");
    for (user, password) in [("", "dckr_pat_x"), ("nananina0415", ""), ("", "")] {
        let (push, notice) = hub_check("true", user, password);
        assert_eq!(push, "false", "{user:?} {password:?}");
        assert!(
            notice.starts_with(
                "::notice title=Docker Hub::DOCKER_USERNAME or DOCKER_PASSWORD is not set"
            ),
            "{notice}"
        );
    }
    let (push, notice) = hub_check("false", "nananina0415", "dckr_pat_x");
    assert_eq!(push, "false");
    assert_has(&notice, "not a tag");
}
