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
//! - a boot test that may not block says why;
//! - an Alpine container that writes into the checkout gives what it made
//!   to the runner user (`--owner`), and no job makes out/ for it;
//! - Docker Hub only after the OS images and the GitHub Release, with its
//!   two secrets and no other; the x86_64 images pushed are the ones tested,
//!   saved and uploaded only when the run pushes;
//! - every step runs in `bash -eo pipefail` (`defaults: run: shell: bash`),
//!   as the steps run here;
//! - every artifact upload may run again in the same run (`overwrite:
//!   true`), the tested images kept as long as the temporary key;
//! - latest-* (and GitHub's Latest) move in one job, after both types'
//!   multi-platform images, one run at a time across tags, always to the
//!   highest published version that is no pre-release at that moment,
//!   never to a back-port or a lower version finishing last; every run
//!   does it, whatever its tag, so a later run repairs one cancelled,
//!   failed or cut short;
//! - a release is made once: a run for a tag whose release (a draft too)
//!   has files stops before the binaries and the temporary key; nothing is
//!   replaced, and Publish may run again after a failed upload.
//!
//! Every rule is also shown to fail on a workflow broken for it. The steps
//! that decide (version, release check, Publish, Docker Hub tags) are also
//! run, as GitHub would, against stand-ins for gh, docker and
//! build-docker.sh.
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
if breaking == "owner":
    for s in steps(wf["build-os-images.yml"]["jobs"]["images"]):
        if "run" in s:
            s["run"] = s["run"].replace(' --owner "$(id -u):$(id -g)"', "")
if breaking == "gate":
    wf["release.yml"]["jobs"]["docker-images"]["needs"] = ["version", "binaries"]
if breaking == "rebuild":
    v = wf["release.yml"]["jobs"]["version"]
    v["steps"] = [s for s in steps(v) if s.get("id") != "unreleased"]
if breaking == "checkout":
    co = uses(wf["release.yml"]["jobs"]["version"], "actions/checkout@")[0]
    del co["with"]["persist-credentials"]
if breaking == "latest":
    wf["release.yml"]["jobs"]["latest"]["concurrency"]["group"] = "latest-${{ github.ref }}"
if breaking == "repair":
    wf["release.yml"]["jobs"]["latest"]["if"] = "${{ !cancelled() && needs.release.result == 'success' && needs.version.outputs.prerelease == 'false' }}"
if breaking == "shell":
    del wf["release.yml"]["defaults"]
if breaking == "artifact":
    for s in uses(docker["jobs"]["test-amd64"], "actions/upload-artifact@"):
        del s["with"]["overwrite"]
if breaking == "retention":
    for s in uses(docker["jobs"]["test-amd64"], "actions/upload-artifact@"):
        s["with"]["retention-days"] = 1
if breaking == "pushonly":
    for s in steps(docker["jobs"]["test-amd64"]):
        if "docker save" in s.get("run", ""):
            del s["if"]
if breaking == "tested":
    for s in steps(docker["jobs"]["push"]):
        if s.get("id") == "build":
            s["run"] = s["run"].replace('docker load --input "tested/$TYPE.tar"', "image-builder/scripts/build-docker.sh --load -v \"$VERSION\" x86_64 \"$TYPE\"")

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
# release.yml logs in only to move latest-*, on the hub's yes (the Docker
# workflow's `pushed`, which the latest job's check reads).
for j, job in wf["release.yml"]["jobs"].items():
    for s in steps(job):
        if (s.get("uses", "").startswith("docker/login-action") or "imagetools create" in s.get("run", "")) \
                and s.get("if") != "steps.highest.outputs.docker == 'true'":
            print(f"guard: release.yml job {j} logs in or pushes on `if: {s.get('if')}`")
check = [s for s in steps(docker["jobs"]["hub"]) if s.get("id") == "check"][0]
if check["env"] != {"WANT_PUSH": "${{ inputs.push }}", "DOCKER_USERNAME": "${{ secrets.DOCKER_USERNAME }}",
                    "DOCKER_PASSWORD": "${{ secrets.DOCKER_PASSWORD }}"}:
    print(f"guard: the hub check reads {check['env']}")
secrets = docker["on"]["workflow_call"].get("secrets", {})
for s in ("DOCKER_USERNAME", "DOCKER_PASSWORD"):
    if secrets.get(s, {}).get("required") is not False:
        print(f"guard: secret {s} must be declared, not required")
if wf["release.yml"]["jobs"]["docker-images"].get("secrets") != {
        s: "${{ secrets.%s }}" % s for s in ("DOCKER_USERNAME", "DOCKER_PASSWORD")}:
    print("guard: release.yml does not hand build-docker-images.yml its two secrets, and only them")

# Docker Hub after the GitHub Release: its job waits for the OS images
# (their boot tests) and the release, pushes only when the release was
# made, and moves latest-* only for the highest version that is no
# pre-release (the version job's `latest`).
rel_jobs = wf["release.yml"]["jobs"]
dock = rel_jobs["docker-images"]
if not {"os-images", "release"} <= set(dock.get("needs", [])):
    print(f"gate: docker-images needs {dock.get('needs')}, not the OS images and the release")
if "needs.os-images.result == 'success'" not in dock.get("if", ""):
    print(f"gate: docker-images runs on `if: {dock.get('if')}`")
if "needs.release.result == 'success'" not in str(dock["with"].get("push")):
    print(f"gate: docker-images pushes on {dock['with'].get('push')}, not only after the release")

# The x86_64 images pushed are the ones tested: test-amd64 saves them
# after its test, and the x86_64 push legs load and push them, building
# nothing.
test_job = docker["jobs"]["test-amd64"]
names = [s.get("name", s.get("uses", "")) for s in steps(test_job)]
saves = [i for i, s in enumerate(steps(test_job)) if "docker save" in s.get("run", "")]
tests = [i for i, s in enumerate(steps(test_job)) if "test-image.sh docker" in s.get("run", "")]
uploads = [s for s in uses(test_job, "actions/upload-artifact@") if s["with"].get("name") == "amd64-tested"]
if not saves or not tests or saves[0] < tests[0] or not uploads:
    print(f"tested: test-amd64 does not save the images it tested: {names}")
build = [s for s in steps(docker["jobs"]["push"]) if s.get("id") == "build"][0]["run"]
x86_64 = build.split('if [ "$ARCH" = x86_64 ]; then', 1)[-1].split("else", 1)[0]
if "docker load" not in x86_64 or "docker push" not in x86_64 or "build-docker.sh" in x86_64 or "buildx" in x86_64:
    print(f"tested: the x86_64 push legs do not push the tested images: {x86_64.strip()}")
if "amd64-tested" not in [s["with"].get("name") for s in uses(docker["jobs"]["push"], "actions/download-artifact@")]:
    print("tested: the push legs do not download the tested images")
# ...and only when the run pushes: nothing saved or kept for a run that
# pushes nothing.
needs = test_job.get("needs", [])
if "hub" not in ([needs] if isinstance(needs, str) else needs):
    print("pushonly: test-amd64 does not wait for the hub's answer")
for s in steps(test_job):
    if ("docker save" in s.get("run", "") or s.get("uses", "").startswith("actions/upload-artifact@")) \
            and s.get("if") != guard:
        print(f"pushonly: test-amd64 saves or uploads on `if: {s.get('if')}`, not only when the run pushes")

# Every step runs under `bash --noprofile --norc -eo pipefail` (an explicit
# `shell: bash`), as run_step runs them: GitHub's default `bash -e` lets a
# failure before a pipe's last command pass.
for w, d in wf.items():
    if (d.get("defaults") or {}).get("run", {}).get("shell") != "bash":
        print(f"shell: {w} has no `defaults: run: shell: bash`")
    for j, job in d["jobs"].items():
        if (job.get("defaults") or {}).get("run", {}).get("shell", "bash") != "bash":
            print(f"shell: {w} job {j} runs another shell")
        for s in steps(job):
            if s.get("shell", "bash") != "bash":
                print(f"shell: {w} job {j} runs a step in {s['shell']}")

# Every artifact may be uploaded again by a re-run of its job in the same
# run (re-run failed jobs): without `overwrite: true`, upload-artifact stops
# at a 409 on the name the first attempt left. The tested images are kept
# as long as the temporary key the same push legs download.
def upload_withs(d):
    return [(j, s["with"]) for j, job in d["jobs"].items() for s in uses(job, "actions/upload-artifact@")]
for w, d in wf.items():
    for j, w_ in upload_withs(d):
        if w_.get("overwrite") is not True:
            print(f"artifact: {w} job {j} uploads {w_.get('name')} without `overwrite: true`")
kept = {w_.get("name"): w_.get("retention-days", 90) for d in wf.values() for _, w_ in upload_withs(d)}
if kept.get("amd64-tested", 0) < kept.get("rccr-temp-key", 90):
    print(f"retention: amd64-tested is kept {kept.get('amd64-tested')} days, the key {kept.get('rccr-temp-key')}")

# latest-* and GitHub's Latest move in release.yml's latest job only: after
# the release and the Docker workflow (both types' merges), one job at a
# time across tags (a concurrency group that is not the ref's), each move
# behind its own check, done then, that the version is still the highest.
latest = rel_jobs.get("latest", {})
if not {"release", "docker-images"} <= set(latest.get("needs", [])):
    print(f"latest: the latest job needs {latest.get('needs')}, not the release and the Docker images")
group = (latest.get("concurrency") or {}).get("group", "")
if not group or "${{" in group or latest["concurrency"].get("cancel-in-progress") is not False:
    print(f"latest: the latest job's concurrency is {latest.get('concurrency')}, not one group for every tag")
if wf["release.yml"].get("concurrency", {}).get("group") == group:
    print("latest: the latest job shares the run's group")
ids = [s.get("id") for s in steps(latest)]
if not ids or ids[0] != "highest" or any("steps.highest.outputs." not in str(s.get("if")) for s in steps(latest)[1:]):
    print("latest: a step of the latest job moves without the highest-version check")
highest = steps(latest)[0] if ids else {}
if highest.get("env", {}).get("DOCKER_PUSHED") != "${{ needs.docker-images.result == 'success' && needs.docker-images.outputs.pushed == 'true' }}":
    print(f"latest: latest-* move on {highest.get('env', {}).get('DOCKER_PUSHED')}, not after every Docker merge")
if "releases?per_page=100" not in highest.get("run", ""):
    print("latest: the latest job does not read the releases on GitHub")
# Every run whose release is out sets latest to the highest release,
# whatever its tag (a back-port's, a pre-release's): a later run repairs
# one whose job was cancelled or failed.
if latest.get("if") != "${{ !cancelled() && needs.release.result == 'success' }}":
    print(f"repair: the latest job runs on `if: {latest.get('if')}`, not after every published release")
if docker["on"]["workflow_call"].get("outputs", {}).get("pushed", {}).get("value") != "${{ jobs.hub.outputs.push }}":
    print("latest: build-docker-images.yml does not say whether it pushed")
if "latest" in docker["on"]["workflow_call"]["inputs"] or "latest" in dock["with"]:
    print("latest: build-docker-images.yml is still told to move latest-*")
for w, d in wf.items():
    for j, job in d["jobs"].items():
        if (w, j) == ("release.yml", "latest"):
            continue
        for s in steps(job):
            run = s.get("run", "")
            if ":latest-" in run or "--tag \"$RCCR_IMAGE:latest" in run:
                print(f"latest: {w} job {j} tags latest-*")
            if "build-docker.sh" in run and "--no-latest" not in run:
                print(f"latest: {w} job {j} builds with a latest-* tag")
            if "gh release" in run and "--latest=false" not in run:
                print(f"latest: {w} job {j} may make a release Latest")

# A release is made once: the version job, which everything else waits
# for, stops a run for a tag whose release has files, before the binaries
# (and the run's temporary key) are made; Publish never replaces a file.
unreleased = [s for s in steps(rel_jobs["version"]) if s.get("id") == "unreleased"]
if not unreleased or unreleased[0].get("if") != "steps.version.outputs.publish == 'true'":
    print("rebuild: the version job does not check for an existing release")
if rel_jobs["version"].get("permissions", {}).get("contents") != "write":
    print("rebuild: the version job's token is not shown draft releases (contents: write)")
if "version" not in rel_jobs["binaries"].get("needs", []):
    print("rebuild: the binaries (and the temporary key) do not wait for the release check")
clobbers = [line.strip() for s in steps(rel_jobs["release"]) for line in s.get("run", "").splitlines()
            if "--clobber" in line]
if any(c != 'gh release upload "$TAG" "${unfinished[@]}" --clobber --repo "$GITHUB_REPOSITORY"' for c in clobbers):
    print(f"rebuild: Publish replaces files of a release: {clobbers}")

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

# What root writes in an Alpine container (`docker run -v "$PWD:/src"
# ... OUTDIR`) the script gives to the runner user: every such run passes
# `--owner "$(id -u):$(id -g)"`, and the script's output_dir and
# give_made_dirs (lib.sh, tested below) hand over OUTDIR and every parent
# they made, out/ included on the Pi jobs. That is the one place, and it
# runs wherever the scripts do: a job making out/ itself first would be a
# second copy, run in GitHub Actions only.
for w, d in wf.items():
    for j, job in d["jobs"].items():
        for s in steps(job):
            for line in s.get("run", "").replace("\\\n", " ").splitlines():
                words = line.split()
                if "docker run" in line and '"$PWD:/src"' in line and '--owner "$(id -u):$(id -g)"' not in line:
                    print(f"owner: {w} job {j}: a container writes the checkout without --owner")
                if words[:2] == ["mkdir", "-p"] and any(a == "out" or a.startswith("out/") for a in words[2:]):
                    print(f"owner: {w} job {j} makes {' '.join(words[2:])} itself: the container script's --owner does")

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
        "guard",
        "major",
        "pin",
        "version",
        "binaries",
        "trigger",
        "reason",
        "attest",
        "checkout",
        "owner",
        "gate",
        "rebuild",
        "latest",
        "repair",
        "tested",
        "artifact",
        "retention",
        "pushonly",
    ] {
        let found = broken_rules(Some(rule));
        assert!(
            found.iter().any(|l| l.starts_with(&format!("{rule}: "))),
            "breaking {rule} went unnoticed: {found:?}"
        );
    }
}

/// Runs the `run:` of the step `step` (its id, else its name) of `job` in
/// workflow `file` as GitHub does (`shell: bash`, the workflows' default:
/// `bash --noprofile --norc -eo pipefail`), in `dir` with `env`, the
/// stand-ins in `dir/bin` first on PATH. Returns what it wrote to
/// GITHUB_OUTPUT and its output.
fn run_step(
    file: &str,
    job: &str,
    step: &str,
    dir: &TempDir,
    env: &[(&str, &str)],
) -> (String, std::process::Output) {
    let script = workflow_query(
        file,
        &format!(
            "[s for s in d['jobs'][{job:?}]['steps'] if {step:?} in (s.get('id'), s.get('name'))][0]['run']"
        ),
    )
    .expect("python3 with PyYAML");
    let output = dir.path("github-output");
    write(&output, "");
    let path = format!(
        "{}:{}",
        dir.path("bin").display(),
        std::env::var("PATH").unwrap()
    );
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c"])
        .arg(script)
        .current_dir(dir.path(""))
        .env("GITHUB_OUTPUT", &output)
        .env("PATH", path)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (fs::read_to_string(&output).unwrap(), out)
}

/// Whether `run_step` can run (python3 with PyYAML, bash) for `test`.
fn step_tools(test: &str) -> bool {
    require(test, &[("python3", "python3-yaml"), ("bash", "bash")])
}

/// The value of `key` a step wrote to GITHUB_OUTPUT ("" when none).
fn step_output(outputs: &str, key: &str) -> String {
    outputs
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")).map(String::from))
        .unwrap_or_default()
}

/// A stand-in program `name` in `dir/bin` (`run_step` puts it first on
/// PATH), or at `name` when it holds a slash: it appends its arguments,
/// one line per call, to `dir/NAME.log`, then runs `body`.
fn stand_in(dir: &TempDir, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = if name.contains('/') {
        dir.path(name)
    } else {
        dir.path(&format!("bin/{name}"))
    };
    let log = dir.path(&format!("{}.log", name.rsplit('/').next().unwrap()));
    write(
        &path,
        format!("#!/bin/sh\necho \"$*\" >>'{}'\n{body}\n", log.display()),
    );
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
}

/// The arguments each call of the stand-in `name` got, one line per call.
fn calls(dir: &TempDir, name: &str) -> String {
    fs::read_to_string(dir.path(&format!("{name}.log"))).unwrap_or_default()
}

/// Runs the Docker Hub guard's own script as GitHub would, and returns
/// (its output `push`, its stdout).
fn hub_check(want_push: &str, user: &str, password: &str) -> (String, String) {
    let dir = TempDir::new("hub-check");
    let (outputs, out) = run_step(
        "build-docker-images.yml",
        "hub",
        "check",
        &dir,
        &[
            ("WANT_PUSH", want_push),
            ("DOCKER_USERNAME", user),
            ("DOCKER_PASSWORD", password),
        ],
    );
    assert!(out.status.success(), "{}", show(&out));
    (step_output(&outputs, "push"), text(&out.stdout))
}

#[test]
fn docker_hub_is_pushed_to_only_on_a_tag_with_both_secrets() {
    if !step_tools("Docker Hub guard") {
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
    assert_has(&notice, "no GitHub Release made");
}

/// fetch-packages.sh and mkimage-base.sh run as root in an Alpine
/// container and write into the runner's checkout. With --owner, every
/// directory they made on the way to OUTDIR goes to the runner user, not
/// only OUTDIR: a root-owned out/ made for out/apks stopped the Pi image
/// jobs writing out/images. lib.sh's two helpers, run under fakeroot (a
/// chown to any owner, seen by stat in the same session), and the two
/// scripts using them.
#[test]
fn the_container_scripts_hand_over_every_directory_they_made() {
    if !require("container output owner", &[("fakeroot", "fakeroot")]) {
        return;
    }
    let dir = TempDir::new("made-dirs");
    let base = dir
        .path("")
        .to_string_lossy()
        .trim_end_matches('/')
        .to_string();
    let run = ok(Command::new("fakeroot")
        .args(["--", "sh", "-euc"])
        .arg(
            r#"SCRIPT_DIR=$1/image-builder/scripts
. "$SCRIPT_DIR/lib.sh"
OWNER=4321:4322
output_dir "$2/out/apks"
echo "made $OUTPUT_MADE"
touch "$2/out/apks/APKINDEX"
give_made_dirs
output_dir "$2/out/images"
echo "made $OUTPUT_MADE"
give_made_dirs
mkdir "$2/kept"
output_dir "$2/kept"
echo "made ${OUTPUT_MADE:-nothing}"
give_made_dirs
cd "$2" && stat -c '%u:%g %n' . out out/apks out/apks/APKINDEX out/images kept"#,
        )
        .arg("sh")
        .arg(repo())
        .arg(&base));
    let out = text(&run.stdout);
    assert_lines(
        &out,
        "what output_dir made and give_made_dirs gave",
        [
            format!("made {base}/out"),
            format!("made {base}/out/images"),
            "made nothing".to_string(),
            "4321:4322 out".to_string(),
            "4321:4322 out/apks".to_string(),
            "4321:4322 out/apks/APKINDEX".to_string(),
            "4321:4322 out/images".to_string(),
        ],
    );
    // What was there before is not theirs to give.
    for line in out
        .lines()
        .filter(|l| l.ends_with(" .") || l.ends_with(" kept"))
    {
        assert!(!line.starts_with("4321:"), "{out}");
    }
    for script in ["fetch-packages.sh", "mkimage-base.sh"] {
        let body = fs::read_to_string(image::script(script)).unwrap();
        assert_has(&body, "output_dir \"$OUTDIR\"");
        assert_has(&body, "give_made_dirs");
        assert!(!body.contains("mkdir -p \"$OUTDIR\""), "{script}");
    }
}

/// release.yml's version step in a checkout whose Cargo.toml says
/// `version`, for `event` on the ref `ref_type` `ref_name`: (publish,
/// prerelease, its output).
fn version_step(
    version: &str,
    event: &str,
    ref_type: &str,
    ref_name: &str,
) -> (String, String, std::process::Output) {
    let dir = TempDir::new("release-version");
    write(
        &dir.path("Cargo.toml"),
        format!("[package]\nname = \"rccr\"\nversion = \"{version}\"\n\n[dependencies]\n"),
    );
    // The step reads the version with the checkout's image-builder/scripts/lib.sh.
    std::os::unix::fs::symlink(repo().join("image-builder"), dir.path("image-builder")).unwrap();
    let (outputs, out) = run_step(
        "release.yml",
        "version",
        "version",
        &dir,
        &[
            ("GITHUB_EVENT_NAME", event),
            ("GITHUB_REF_TYPE", ref_type),
            ("GITHUB_REF_NAME", ref_name),
        ],
    );
    (
        step_output(&outputs, "publish"),
        step_output(&outputs, "prerelease"),
        out,
    )
}

/// Only a pushed tag publishes: by hand (workflow_dispatch), on a tag too,
/// everything is built and nothing published or pushed, as the workflow's
/// header says (a dispatch on a tag used to publish). A version with a '-'
/// is a pre-release. Whether it is the latest is decided at the end, by
/// the latest job (see `only_the_highest_release_at_move_time_is_latest`).
#[test]
fn only_a_pushed_tag_publishes() {
    if !step_tools("release version") {
        return;
    }
    for (version, event, ref_type, ref_name, publish, pre) in [
        ("1.2.0", "push", "tag", "v1.2.0", "true", "false"),
        ("1.12.0-rc.1", "push", "tag", "v1.12.0-rc.1", "true", "true"),
        (
            "1.10.1",
            "workflow_dispatch",
            "tag",
            "v1.10.1",
            "false",
            "false",
        ),
        (
            "1.10.1",
            "workflow_dispatch",
            "branch",
            "main",
            "false",
            "false",
        ),
    ] {
        let (p, r, out) = version_step(version, event, ref_type, ref_name);
        assert!(out.status.success(), "{}", show(&out));
        assert_eq!(
            (p.as_str(), r.as_str()),
            (publish, pre),
            "{event} {ref_name}"
        );
    }
    let (_, _, out) = version_step("1.2.0", "workflow_dispatch", "tag", "v1.2.0");
    assert_has(&text(&out.stdout), "built and tested, not published");
    let (_, _, out) = version_step("", "workflow_dispatch", "branch", "main");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_has(&text(&out.stdout), "no version in Cargo.toml's [package]");
    let (_, _, out) = version_step("1.2.0", "push", "tag", "v1.2.1");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_has(
        &text(&out.stdout),
        "tag v1.2.1 does not match Cargo.toml's version 1.2.0",
    );
}

/// A stand-in gh in `dir` whose `gh api` answers with `pages` (JSON, one
/// page each, in order) through the call's `--jq` filter with jq, as
/// `gh api --paginate --jq` does (`None`: GitHub fails); any other call
/// runs `other`.
fn gh_with_pages(dir: &TempDir, pages: Option<&[&str]>, other: &str) {
    let api = match pages {
        None => "echo 'HTTP 502: Bad Gateway' >&2; exit 1".to_string(),
        Some(pages) => {
            for (n, page) in pages.iter().enumerate() {
                write(&dir.path(&format!("pages/{n}.json")), page);
            }
            "while [ $# -gt 0 ]; do [ \"$1\" != --jq ] || filter=$2; shift; done\n\
             for page in pages/*.json; do jq -r \"$filter\" \"$page\" || exit 1; done\n\
             exit 0"
                .to_string()
        }
    };
    stand_in(
        dir,
        "gh",
        &format!("if [ \"$1\" = api ]; then\n{api}\nfi\n{other}"),
    );
}

/// release.yml's check for an existing release, GitHub's list of releases
/// played by a stand-in gh (`pages`, see `gh_with_pages`). Its output and
/// gh's arguments.
fn unreleased_step(pages: Option<&[&str]>) -> (std::process::Output, String) {
    let dir = TempDir::new("release-unreleased");
    gh_with_pages(&dir, pages, "");
    let (_, out) = run_step(
        "release.yml",
        "version",
        "unreleased",
        &dir,
        &[
            ("GH_TOKEN", "ghs_x"),
            ("TAG", "v1.2.0"),
            ("GITHUB_REPOSITORY", "owner/rccr"),
        ],
    );
    (out, calls(&dir, "gh"))
}

/// A run for a tag whose GitHub Release has files stops in the version job,
/// before the binaries and the run's temporary key are made: a new key in
/// images replacing those users downloaded made pairs that refuse each
/// other. A draft counts (the tag's own endpoint hides drafts: the step
/// lists every release, every page). No release, or one without files
/// (notes written by hand), goes on; a failed listing, or more than one
/// release of the tag, stops.
#[test]
fn a_release_that_has_files_is_not_made_again() {
    if !step_tools("release check") || !require("release check", &[("jq", "jq")]) {
        return;
    }
    let other = r#"[{"tag_name":"v1.1.0","draft":false,"assets":[{"name":"a"}]}]"#;
    let (out, gh) = unreleased_step(Some(&[other, "[]"]));
    assert!(out.status.success(), "{}", show(&out));
    assert_has(&text(&out.stdout), "no release v1.2.0 yet");
    assert_has(&gh, "api --paginate repos/owner/rccr/releases?per_page=100");
    let empty = r#"[{"tag_name":"v1.2.0","draft":false,"assets":[]}]"#;
    let (out, _) = unreleased_step(Some(&[other, empty]));
    assert!(out.status.success(), "{}", show(&out));
    assert_has(&text(&out.stdout), "has no files yet");
    // A draft with files, on the second page.
    let draft = r#"[{"tag_name":"v1.2.0","draft":true,"assets":[{"name":"a"},{"name":"b"}]}]"#;
    let (out, _) = unreleased_step(Some(&[other, draft]));
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_has(
        &text(&out.stdout),
        "::error title=Release v1.2.0 exists::it has 2 files already",
    );
    // Two drafts without files carry the tag: Publish could not tell which.
    let empty_draft = r#"[{"tag_name":"v1.2.0","draft":true,"assets":[]}]"#;
    let (out, _) = unreleased_step(Some(&[empty_draft, empty_draft]));
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_has(
        &text(&out.stdout),
        "::error title=Release v1.2.0::2 releases (drafts too) carry the tag",
    );
    let (out, _) = unreleased_step(None);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_has(&text(&out.stdout), "GitHub did not list the releases");
}

/// The files Publish uploads in `publish_step`: (name, content).
const RELEASED: [(&str, &str); 2] = [("SHA256SUMS", "sums\n"), ("rccr-x86_64", "binary\n")];

/// GitHub's `digest` of a file holding `content` ("sha256:HEX").
fn digest_of(content: &str) -> String {
    let dir = TempDir::new("digest");
    write(&dir.path("file"), content);
    let out = ok(Command::new("sha256sum").arg(dir.path("file")));
    format!("sha256:{}", text(&out.stdout).split(' ').next().unwrap())
}

/// An asset of a release as GitHub lists it.
fn asset(name: &str, state: &str, content: &str) -> String {
    format!(
        r#"{{"name":"{name}","state":"{state}","digest":"{}"}}"#,
        digest_of(content)
    )
}

/// release.yml's Publish with a stand-in gh, the files of `RELEASED` made:
/// `release` is the tag's release on GitHub (draft, its assets as JSON),
/// `None` none; `list_fails`: GitHub does not list the releases. Its output
/// and gh's calls.
fn publish_step(
    prerelease: &str,
    release: Option<(bool, &[String])>,
    list_fails: bool,
) -> (std::process::Output, String) {
    publish_releases(prerelease, release.as_slice(), list_fails)
}

/// `publish_step` with every release of the tag in `releases`, each on
/// its own page.
fn publish_releases(
    prerelease: &str,
    releases: &[(bool, &[String])],
    list_fails: bool,
) -> (std::process::Output, String) {
    let dir = TempDir::new("release-publish");
    for (name, content) in RELEASED {
        write(&dir.path(&format!("release/{name}")), content);
    }
    write(&dir.path("notes.md"), "notes\n");
    let other = r#"[{"tag_name":"v1.1.0","draft":false,"assets":[{"name":"SHA256SUMS","state":"uploaded","digest":"sha256:0"}]}]"#;
    let tagged: Vec<String> = releases
        .iter()
        .map(|(draft, assets)| {
            format!(
                r#"[{{"tag_name":"v1.2.0","draft":{draft},"assets":[{}]}}]"#,
                assets.join(",")
            )
        })
        .collect();
    let pages: Vec<&str> = std::iter::once(other)
        .chain(tagged.iter().map(String::as_str))
        .collect();
    gh_with_pages(&dir, (!list_fails).then_some(&pages[..]), "");
    let (_, out) = run_step(
        "release.yml",
        "release",
        "Publish",
        &dir,
        &[
            ("GH_TOKEN", "ghs_x"),
            ("TAG", "v1.2.0"),
            ("PRERELEASE", prerelease),
            ("GITHUB_REPOSITORY", "owner/rccr"),
        ],
    );
    (out, calls(&dir, "gh"))
}

/// The call of gh that creates or publishes the release, split in words.
fn publishing_call(gh: &str) -> Vec<String> {
    gh.lines()
        .find(|l| l.starts_with("release create") || l.starts_with("release edit"))
        .unwrap_or_else(|| panic!("no create or edit: {gh}"))
        .split(' ')
        .map(String::from)
        .collect()
}

/// Publish marks a pre-release so, never makes the release GitHub's Latest
/// (left out, GitHub makes any new release Latest, a back-port too: the
/// latest job decides, at the end), and publishes a release that was a
/// draft (by hand, or left by a failed create) with every file uploaded.
#[test]
fn publish_marks_a_pre_release_and_leaves_latest_to_the_latest_job() {
    if !step_tools("release publish") || !require("release publish", &[("jq", "jq")]) {
        return;
    }
    for release in [None, Some((true, &[][..])), Some((false, &[][..]))] {
        for pre in ["true", "false"] {
            let (out, gh) = publish_step(pre, release, false);
            assert!(out.status.success(), "{}", show(&out));
            let words = publishing_call(&gh);
            assert_eq!(
                words.contains(&"--prerelease".to_string()),
                pre == "true",
                "{gh}"
            );
            assert!(words.contains(&"--latest=false".to_string()), "{gh}");
            assert!(!gh.contains("--latest "), "{gh}");
            assert_eq!(words[1] == "edit", release.is_some(), "{gh}");
            if release.is_some() {
                assert!(words.contains(&"--draft=false".to_string()), "{gh}");
                assert_has(
                    &gh,
                    "release upload v1.2.0 release/SHA256SUMS release/rccr-x86_64 --repo owner/rccr",
                );
            } else {
                assert_has(
                    &gh,
                    "release create v1.2.0 release/SHA256SUMS release/rccr-x86_64 --title RCCR v1.2.0",
                );
            }
            assert!(!gh.contains("--clobber"), "{gh}");
        }
    }
}

/// Publish, the tag's release there with `assets` (`draft` or not), stops
/// saying `error`, and uploads nothing and publishes nothing.
fn publish_refused(draft: bool, assets: &[String], error: &str) {
    let (out, gh) = publish_step("false", Some((draft, assets)), false);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_has(&text(&out.stdout), error);
    assert!(
        !gh.contains("release upload") && !gh.contains("release edit"),
        "{gh}"
    );
}

/// Publish run again after an upload failed part-way (re-run the failed
/// jobs: it used to stop at the first file already there): a file there
/// with the same checksum is kept, the others uploaded, and the release
/// published. A file there with another checksum is never replaced: the
/// run stops, uploading nothing. Only an upload that never finished
/// (GitHub's state not `uploaded`) is uploaded over, and only in a draft.
/// Two releases carrying the tag stop the run with one error.
#[test]
fn publish_runs_again_after_a_failed_upload_and_replaces_no_file() {
    if !step_tools("release publish") || !require("release publish", &[("jq", "jq")]) {
        return;
    }
    let sums = asset("SHA256SUMS", "uploaded", "sums\n");
    let binary = asset("rccr-x86_64", "uploaded", "binary\n");
    // Half uploaded: a draft with one file.
    let (out, gh) = publish_step("false", Some((true, std::slice::from_ref(&sums))), false);
    assert!(out.status.success(), "{}", show(&out));
    assert_has(
        &text(&out.stdout),
        "SHA256SUMS: already there, the same file",
    );
    assert_lines(
        &gh,
        "gh's calls",
        [
            "release upload v1.2.0 release/rccr-x86_64 --repo owner/rccr",
            "release edit v1.2.0 --draft=false --notes-file notes.md --latest=false --repo owner/rccr",
        ],
    );
    // Every file there (only the edit had failed), published or not.
    for draft in [true, false] {
        let (out, gh) = publish_step(
            "false",
            Some((draft, &[sums.clone(), binary.clone()])),
            false,
        );
        assert!(out.status.success(), "{}", show(&out));
        assert!(!gh.contains("release upload"), "{gh}");
        assert_eq!(publishing_call(&gh)[1], "edit", "{gh}");
    }
    // Another file under the name: never replaced, draft or not.
    let other = asset("rccr-x86_64", "uploaded", "another binary\n");
    for draft in [true, false] {
        publish_refused(
            draft,
            &[sums.clone(), other.clone()],
            "::error title=Release v1.2.0::rccr-x86_64 is there with another checksum",
        );
    }
    // An upload that never finished, in a draft: uploaded over; in a
    // published release: the run stops.
    let broken = asset("rccr-x86_64", "starter", "bin");
    let (out, gh) = publish_step("false", Some((true, std::slice::from_ref(&broken))), false);
    assert!(out.status.success(), "{}", show(&out));
    assert_lines(
        &gh,
        "gh's calls",
        [
            "release upload v1.2.0 release/rccr-x86_64 --clobber --repo owner/rccr",
            "release upload v1.2.0 release/SHA256SUMS --repo owner/rccr",
        ],
    );
    publish_refused(
        false,
        &[sums.clone(), broken],
        "rccr-x86_64: an unfinished upload in a published release",
    );
    // Two drafts carry the tag (drafts do not claim it): the files of one
    // counted as there while gh published the other without them.
    let (out, gh) = publish_releases(
        "false",
        &[(true, std::slice::from_ref(&sums)), (true, &[])],
        false,
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_lines(
        &text(&out.stdout),
        "Publish's output",
        ["::error title=Release v1.2.0::2 releases (drafts too) carry the tag: delete all but one, then re-run"],
    );
    assert!(!gh.lines().any(|l| l.starts_with("release ")), "{gh}");
    // GitHub did not list the releases: nothing made.
    let (out, gh) = publish_step("false", None, true);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(!gh.lines().any(|l| l.starts_with("release ")), "{gh}");
}

/// GitHub's list of releases as two pages of `releases?per_page=100`, each
/// release "TAG", "TAG draft" or "TAG prerelease" (a TAG with a '-' is a
/// pre-release too).
fn release_pages(releases: &[&str]) -> [String; 2] {
    let page = |releases: &[&str]| {
        let entries: Vec<String> = releases
            .iter()
            .map(|r| {
                let (tag, kind) = r.split_once(' ').unwrap_or((r, ""));
                format!(
                    r#"{{"tag_name":"{tag}","draft":{},"prerelease":{}}}"#,
                    kind == "draft",
                    kind == "prerelease" || tag.contains('-')
                )
            })
            .collect();
        format!("[{}]", entries.join(","))
    };
    let (first, second) = releases.split_at(releases.len() / 2);
    [page(first), page(second)]
}

/// release.yml's latest job's check, the releases on GitHub `releases`
/// (see `release_pages`; `None`: GitHub fails), for the run of tag `tag`,
/// the Docker workflow's `docker_pushed` (everything pushed) and
/// `docker_hub` (the hub's yes): (its outputs, its output, gh's calls).
fn highest_step(
    releases: Option<&[&str]>,
    tag: &str,
    docker_pushed: &str,
    docker_hub: &str,
) -> (String, std::process::Output, String) {
    let dir = TempDir::new("release-latest");
    let pages = releases.map(release_pages);
    let pages: Option<Vec<&str>> = pages
        .as_ref()
        .map(|p| p.iter().map(String::as_str).collect());
    gh_with_pages(&dir, pages.as_deref(), "");
    let (outputs, out) = run_step(
        "release.yml",
        "latest",
        "highest",
        &dir,
        &[
            ("GH_TOKEN", "ghs_x"),
            ("TAG", tag),
            ("DOCKER_PUSHED", docker_pushed),
            ("DOCKER_HUB", docker_hub),
            ("GITHUB_REPOSITORY", "owner/rccr"),
        ],
    );
    (outputs, out, calls(&dir, "gh"))
}

/// latest-* and GitHub's Latest go to the highest published release that
/// is no pre-release, as the releases on GitHub say when the latest job
/// runs (one at a time across tags), not when the run started, whatever
/// this run's tag: of two tags released together, the lower one finishing
/// last moves nothing back (it used to), and a back-port's or a
/// pre-release's run moves them to the highest (it used to move nothing,
/// so a highest release whose job was cancelled stayed off latest). A tag
/// never released, a draft or a pre-release above holds nothing back (raw
/// tags used to: a v1.4.0 whose run failed kept every 1.3.x from latest).
/// Docker Hub's tags move to this run's version only when its Docker
/// workflow pushed everything, to another release's when Docker Hub is set
/// up (the hub's yes).
#[test]
fn only_the_highest_release_at_move_time_is_latest() {
    if !step_tools("release latest") || !require("release latest", &[("jq", "jq")]) {
        return;
    }
    let released = ["v1.2.0", "v1.9.0", "v1.10.0", "v1.11.0-rc.1", "vnext"];
    // (tag, pushed, hub) -> (docker, own, highest)
    for (tag, pushed, hub, want_docker, want_own, want_tag) in [
        ("v1.10.1", "true", "true", "true", "true", "v1.10.1"),
        ("v1.10.1", "false", "true", "false", "true", "v1.10.1"),
        // A back-port, a version that sorts last as text only, and a
        // pre-release: latest goes to v1.10.0, Docker Hub's too when it is
        // set up, whatever this run pushed.
        ("v1.9.1", "true", "true", "true", "false", "v1.10.0"),
        ("v1.9.1", "false", "true", "true", "false", "v1.10.0"),
        ("v1.9.1", "false", "false", "false", "false", "v1.10.0"),
        ("v1.2.0", "true", "true", "true", "false", "v1.10.0"),
        ("v1.12.0-rc.1", "true", "true", "true", "false", "v1.10.0"),
    ] {
        // This tag's own release counts whether GitHub lists it yet or not.
        for listed in [false, true] {
            let mut releases = released.to_vec();
            if listed {
                releases.push(tag);
            }
            let (outputs, out, gh) = highest_step(Some(&releases), tag, pushed, hub);
            assert!(out.status.success(), "{}", show(&out));
            let got = ["move", "docker", "own", "tag", "version"].map(|k| step_output(&outputs, k));
            assert_eq!(
                got,
                [
                    "true",
                    want_docker,
                    want_own,
                    want_tag,
                    want_tag.trim_start_matches('v')
                ],
                "{tag} {pushed} {hub} {listed}"
            );
            assert_has(&gh, "api --paginate repos/owner/rccr/releases?per_page=100");
        }
    }
    let (_, out, _) = highest_step(Some(&["v1.10.0", "v1.9.1"]), "v1.9.1", "true", "true");
    assert_has(
        &text(&out.stdout),
        "v1.9.1 is not the highest version (v1.10.0): latest-* and GitHub's Latest go to v1.10.0",
    );
    let (_, out, _) = highest_step(Some(&["v1.10.1"]), "v1.10.1", "false", "true");
    assert_has(&text(&out.stdout), "Docker Hub's latest-* stay there");
    let (_, out, _) = highest_step(Some(&["v1.10.0"]), "v1.9.1", "false", "false");
    assert_has(&text(&out.stdout), "Docker Hub's latest-* stay there");
    // v1.4.0 tagged, never released (its run failed; only its tag is
    // there), a draft v2.0.0 and a v1.5.0 marked pre-release by hand:
    // v1.3.2 is the highest release.
    let (outputs, out, _) = highest_step(
        Some(&["v1.3.1", "v2.0.0 draft", "v1.5.0 prerelease"]),
        "v1.3.2",
        "true",
        "true",
    );
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(step_output(&outputs, "tag"), "v1.3.2", "{}", show(&out));
    // v1.3.0 and v1.4.0 tagged minutes apart: both runs started as the
    // highest; whichever job comes last, latest goes to v1.4.0.
    for tag in ["v1.3.0", "v1.4.0"] {
        let (outputs, _, _) = highest_step(Some(&["v1.3.0", "v1.4.0"]), tag, "true", "true");
        assert_eq!(step_output(&outputs, "tag"), "v1.4.0", "{tag}");
        assert_eq!(
            step_output(&outputs, "own"),
            (tag == "v1.4.0").to_string(),
            "{tag}"
        );
    }
    // A first pre-release, no release yet: nothing moves.
    let (outputs, out, _) = highest_step(Some(&[]), "v0.1.0-rc.1", "true", "true");
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(step_output(&outputs, "move"), "false");
    assert_eq!(step_output(&outputs, "docker"), "false");
    let (outputs, out, _) = highest_step(None, "v1.4.0", "true", "true");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(step_output(&outputs, "move"), "");
    assert_has(&text(&out.stdout), "GitHub did not list the releases");
}

/// One step of a workflow's job as the workflow says: its id (else its
/// name), its `if` ("" when none), whether it is an action (`uses:`) and
/// its `env`.
struct WorkflowStep {
    key: String,
    condition: String,
    action: bool,
    env: Vec<(String, String)>,
}

/// The job `job` of workflow `file`: its `env` and its steps.
fn job_steps(file: &str, job: &str) -> (Vec<(String, String)>, Vec<WorkflowStep>) {
    let listing = workflow_query(
        file,
        &format!(
            r#""\n".join(["JOB\t%s\t%s" % kv for kv in (d['jobs'][{job:?}].get('env') or {{}}).items()] + [
                "STEP\t%s\t%s\t%s" % (s.get('id') or s.get('name') or s['uses'], s.get('if', ''), 'uses' in s)
                + "".join("\nENV\t%s\t%s" % kv for kv in (s.get('env') or {{}}).items())
                for s in d['jobs'][{job:?}]['steps']])"#
        ),
    )
    .expect("python3 with PyYAML");
    let mut job_env = Vec::new();
    let mut steps: Vec<WorkflowStep> = Vec::new();
    for line in listing.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        match fields[..] {
            ["JOB", name, value] => job_env.push((name.to_string(), value.to_string())),
            ["STEP", key, condition, action] => steps.push(WorkflowStep {
                key: key.to_string(),
                condition: condition.to_string(),
                action: action == "True",
                env: Vec::new(),
            }),
            ["ENV", name, value] => steps
                .last_mut()
                .unwrap()
                .env
                .push((name.to_string(), value.to_string())),
            _ => panic!("{line:?}"),
        }
    }
    (job_env, steps)
}

/// The value of a workflow expression `expr` (without `${{ }}`): a step's
/// output from `outputs` (each step's GITHUB_OUTPUT by its key), else one
/// of `known`; any other expression stops the test.
fn expression(expr: &str, known: &[(&str, &str)], outputs: &[(String, String)]) -> String {
    if let Some(rest) = expr.strip_prefix("steps.") {
        let (id, key) = rest.split_once(".outputs.").expect(expr);
        let written = outputs
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, o)| o.as_str());
        return step_output(written.unwrap_or(""), key);
    }
    known
        .iter()
        .find(|(e, _)| *e == expr)
        .unwrap_or_else(|| panic!("no value for the expression {expr:?}"))
        .1
        .to_string()
}

/// What `run_job` saw: each step's GITHUB_OUTPUT by its key, every step's
/// output together, and whether every step succeeded.
struct JobRun {
    outputs: Vec<(String, String)>,
    output: String,
    success: bool,
}

/// Runs the job `job` of `file` as GitHub would, in `dir` with its
/// stand-ins: each step whose `if` (`steps.ID.outputs.KEY == 'true'`)
/// holds, with its own and the job's `env` worked out from the workflow
/// (`known` the values of the other expressions), stopping at the first
/// step that fails. Actions (`uses:`) are left out.
fn run_job(file: &str, job: &str, dir: &TempDir, known: &[(&str, &str)]) -> JobRun {
    let (job_env, steps) = job_steps(file, job);
    // GitHub's own variable for every step.
    let repository = [("GITHUB_REPOSITORY".to_string(), "owner/rccr".to_string())];
    let mut run = JobRun {
        outputs: Vec::new(),
        output: String::new(),
        success: true,
    };
    let value = |v: &str, outputs: &[(String, String)]| match v
        .strip_prefix("${{ ")
        .and_then(|v| v.strip_suffix(" }}"))
    {
        Some(expr) => expression(expr, known, outputs),
        None => {
            assert!(!v.contains("${{"), "{v}");
            v.to_string()
        }
    };
    for step in steps {
        if !step.condition.is_empty() {
            let (expr, want) = step
                .condition
                .split_once(" == ")
                .unwrap_or_else(|| panic!("if: {}", step.condition));
            let want = want.trim_matches('\'');
            if expression(expr, known, &run.outputs) != want {
                continue;
            }
        }
        if step.action {
            continue;
        }
        let env: Vec<(String, String)> = job_env
            .iter()
            .chain(&step.env)
            .map(|(k, v)| (k.clone(), value(v, &run.outputs)))
            .chain(repository.iter().cloned())
            .collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (outputs, out) = run_step(file, job, &step.key, dir, &env);
        run.output.push_str(&show(&out));
        run.outputs.push((step.key, outputs));
        if !out.status.success() {
            run.success = false;
            break;
        }
    }
    run
}

/// A stand-in docker in `dir` for `buildx imagetools` against a registry
/// kept in `dir/registry`, one "REF DIGEST" a line, `images` at first:
/// `inspect REF` fails for a REF not there, else (with `--format`)
/// answers its digest; `create --prefer-index=false --tag REF SOURCE`
/// points REF at SOURCE's digest (SOURCE a tag, or IMAGE@DIGEST).
fn docker_registry(dir: &TempDir, images: &[String]) {
    let registry = dir.path("registry");
    write(&registry, images.join("\n") + "\n");
    stand_in(
        dir,
        "docker",
        &format!(
            r#"registry='{}'
digest_of() {{ case "$1" in *@*) echo "${{1#*@}}" ;; *) awk -v ref="$1" '$1 == ref {{ print $2 }}' "$registry" ;; esac; }}
case "$3" in
inspect)
  digest=$(digest_of "$4")
  [ -n "$digest" ] || {{ echo "ERROR: $4: not found" >&2; exit 1; }}
  case "$*" in *--format*) echo "{{\"digest\": \"$digest\"}}" ;; *) echo "Name: $4" ;; esac ;;
create)
  digest=$(digest_of "$7")
  [ -n "$digest" ] || {{ echo "ERROR: $7: not found" >&2; exit 1; }}
  awk -v ref="$6" '$1 != ref' "$registry" >"$registry.new"
  echo "$6 $digest" >>"$registry.new"
  mv "$registry.new" "$registry" ;;
esac"#,
            registry.display()
        ),
    );
}

/// Docker Hub's images of `version` as its run pushed them, each per-arch
/// and multi-platform tag with its own digest, `sha256:VERSION-SUFFIX`
/// (all but `missing`); with `latest`, the latest-* tags pointing at them.
fn release_images(version: &str, missing: &str, latest: bool) -> Vec<String> {
    latest_tags_in_order()
        .iter()
        .map(|t| t.strip_prefix("latest-").unwrap())
        .filter(|s| format!("{version}-{s}") != missing)
        .map(|s| {
            let tag = if latest {
                format!("latest-{s}")
            } else {
                format!("{version}-{s}")
            };
            format!("nananina0415/rccr:{tag} sha256:{version}-{s}")
        })
        .collect()
}

/// Where each latest-* points in the stand-in registry of `dir`: "TAG
/// DIGEST" lines, in `latest_tags_in_order`.
fn latest_in_registry(dir: &TempDir) -> Vec<String> {
    let registry = fs::read_to_string(dir.path("registry")).unwrap();
    latest_tags_in_order()
        .iter()
        .map(|t| {
            registry
                .lines()
                .find_map(|l| l.strip_prefix(&format!("nananina0415/rccr:{t} ")))
                .map_or(format!("{t} none"), |d| format!("{t} {d}"))
        })
        .collect()
}

/// latest-* in `latest_in_registry`'s form, every one on `version`'s image.
fn latest_on(version: &str) -> Vec<String> {
    latest_tags_in_order()
        .iter()
        .map(|t| {
            format!(
                "{t} sha256:{version}-{}",
                t.strip_prefix("latest-").unwrap()
            )
        })
        .collect()
}

/// release.yml's whole latest job for the run of `tag`, its Docker
/// workflow having pushed everything, Docker Hub set up: GitHub's releases
/// `releases` (see `release_pages`) played by a stand-in gh, Docker Hub
/// by `docker_registry` in `dir` holding `images`.
fn latest_job(dir: &TempDir, releases: &[&str], tag: &str, images: &[String]) -> JobRun {
    let pages = release_pages(releases);
    gh_with_pages(dir, Some(&[&pages[0], &pages[1]]), "");
    docker_registry(dir, images);
    run_job(
        "release.yml",
        "latest",
        dir,
        &[
            ("github.token", "ghs_x"),
            ("github.ref_name", tag),
            ("needs.version.outputs.version", tag.trim_start_matches('v')),
            (
                "needs.docker-images.result == 'success' && needs.docker-images.outputs.pushed == 'true'",
                "true",
            ),
            ("needs.docker-images.outputs.pushed == 'true'", "true"),
        ],
    )
}

/// v1.3.0's latest job is running, v1.4.0's waits, and the back-port
/// v1.3.1 arrives: GitHub cancels v1.4.0's waiting job. v1.3.1's run (a
/// pre-release's just as well) moves every latest to the highest release,
/// v1.4.0: GitHub's Latest and Docker Hub's latest-*, from the version
/// tags v1.4.0's run pushed (it used to move nothing, and latest stayed on
/// v1.3.0 until someone re-ran v1.4.0's job). Run again it changes
/// nothing, and a move cut short (a job cancelled after five tags, nothing
/// set back) is finished by the next run.
#[test]
fn a_run_that_is_not_the_highest_moves_latest_to_the_highest_release() {
    if !step_tools("latest repair") || !require("latest repair", &[("jq", "jq")]) {
        return;
    }
    let published = ["v1.3.0", "v1.4.0", "v1.3.1", "v1.5.0-rc.1"];
    let mut images = release_images("1.3.0", "", true);
    for version in ["1.3.0", "1.4.0", "1.3.1", "1.5.0-rc.1"] {
        images.extend(release_images(version, "", false));
    }
    for tag in ["v1.3.1", "v1.5.0-rc.1"] {
        let dir = TempDir::new("latest-repair");
        let run = latest_job(&dir, &published, tag, &images);
        assert!(run.success, "{tag}: {}", run.output);
        let highest = &run.outputs[0].1;
        assert_eq!(step_output(highest, "tag"), "v1.4.0", "{tag}");
        assert_has(
            &run.output,
            &format!("{tag} is not the highest version (v1.4.0)"),
        );
        let gh = calls(&dir, "gh");
        assert_has(&gh, "release edit v1.4.0 --latest --repo owner/rccr\n");
        assert!(!gh.contains(&format!("release edit {tag}")), "{gh}");
        let docker = calls(&dir, "docker");
        assert_eq!(creates(&docker), latest_creates("1.4.0"), "{tag}");
        assert_eq!(latest_in_registry(&dir), latest_on("1.4.0"), "{tag}");
    }
    // Run again (any later run): GitHub's Latest said again, nothing
    // created, nothing changed.
    let dir = TempDir::new("latest-again");
    let mut again = images.clone();
    again.retain(|l| !l.starts_with("nananina0415/rccr:latest-"));
    again.extend(release_images("1.4.0", "", true));
    let run = latest_job(&dir, &published, "v1.3.1", &again);
    assert!(run.success, "{}", run.output);
    assert_has(&calls(&dir, "gh"), "release edit v1.4.0 --latest");
    assert!(
        !calls(&dir, "docker").contains("imagetools create"),
        "{}",
        calls(&dir, "docker")
    );
    assert_has(
        &run.output,
        "latest-* on 1.4.0; moved now: none, all there already",
    );
    assert_eq!(latest_in_registry(&dir), latest_on("1.4.0"));
    // v1.4.0's own job cancelled after moving five tags (no set-back):
    // the next run moves the other nine, and only them.
    let dir = TempDir::new("latest-cut-short");
    let order = latest_tags_in_order();
    let mut cut = images.clone();
    cut.retain(|l| {
        !order[..5]
            .iter()
            .any(|t| l.starts_with(&format!("nananina0415/rccr:{t} ")))
    });
    cut.extend(release_images("1.4.0", "", true).into_iter().take(5));
    let run = latest_job(&dir, &published, "v1.3.1", &cut);
    assert!(run.success, "{}", run.output);
    let docker = calls(&dir, "docker");
    let moved: Vec<&str> = docker
        .lines()
        .filter_map(|l| {
            l.strip_prefix("buildx imagetools create --prefer-index=false --tag nananina0415/rccr:")
        })
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        moved,
        order[5..].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(latest_in_registry(&dir), latest_on("1.4.0"));
}

/// The highest release's run did not push all its images (a push leg
/// failed: 1.4.0-armhf-target is not on Docker Hub): a later run that is
/// not the highest moves GitHub's Latest, leaves every latest-* where it
/// is with a warning, and succeeds. Its own images missing, the highest
/// run fails instead (see `latest_docker_tags_move_in_pairs_and_are_set_back_on_a_failure`).
#[test]
fn a_highest_release_without_its_images_leaves_docker_latest_alone() {
    if !step_tools("latest missing") || !require("latest missing", &[("jq", "jq")]) {
        return;
    }
    let dir = TempDir::new("latest-missing");
    let mut images = release_images("1.3.0", "", true);
    images.extend(release_images("1.3.0", "", false));
    images.extend(release_images("1.4.0", "1.4.0-armhf-target", false));
    images.extend(release_images("1.3.1", "", false));
    let run = latest_job(&dir, &["v1.3.0", "v1.4.0", "v1.3.1"], "v1.3.1", &images);
    assert!(run.success, "{}", run.output);
    assert_has(
        &calls(&dir, "gh"),
        "release edit v1.4.0 --latest --repo owner/rccr\n",
    );
    assert_has(
        &run.output,
        "::warning title=Latest::not on Docker Hub: nananina0415/rccr:1.4.0-armhf-target (its run did not push them all); no latest-* moved",
    );
    let docker = calls(&dir, "docker");
    assert!(!docker.contains("imagetools create"), "{docker}");
    assert_has(
        &docker,
        "buildx imagetools inspect nananina0415/rccr:1.4.0-armhf-target",
    );
    assert_eq!(latest_in_registry(&dir), latest_on("1.3.0"));
}

/// Runs `step` of `job` in `file` with stand-ins for build-docker.sh and
/// docker (docker's `push` says `push_says`) and `env`: its outputs, the
/// output, and the calls of both.
fn docker_step(
    file: &str,
    job: &str,
    step: &str,
    push_says: &str,
    env: &[(&str, &str)],
) -> (String, std::process::Output, String, String) {
    let dir = TempDir::new("docker-step");
    stand_in(
        &dir,
        "image-builder/scripts/build-docker.sh",
        "echo '{\"containerimage.digest\": \"sha256:1\"}' >metadata.json",
    );
    stand_in(
        &dir,
        "docker",
        &format!(
            "case \"$*\" in *--format*) echo '{{\"digest\": \"sha256:2\"}}' ;; push*) echo '{push_says}' ;; esac"
        ),
    );
    let mut env = env.to_vec();
    env.extend([("VERSION", "1.2.0"), ("RCCR_IMAGE", "nananina0415/rccr")]);
    let (outputs, out) = run_step(file, job, step, &dir, &env);
    (
        outputs,
        out,
        calls(&dir, "build-docker.sh"),
        calls(&dir, "docker"),
    )
}

/// `docker_step` of `job` in build-docker-images.yml, which must succeed:
/// its outputs and the calls of build-docker.sh and docker.
fn docker_ok(
    job: &str,
    step: &str,
    push_says: &str,
    env: &[(&str, &str)],
) -> (String, String, String) {
    let (outputs, out, build, docker) =
        docker_step("build-docker-images.yml", job, step, push_says, env);
    assert!(out.status.success(), "{job} {step}: {}", show(&out));
    (outputs, build, docker)
}

/// Every latest-* moves in release.yml's latest job, each a copy of the
/// version's image, the per-arch ones and both multi-platform ones
/// together: a push leg and a merge tag the version only (a failed leg
/// used to leave some latest-ARCH-TYPE moved, and one type's merge could
/// move latest-TYPE while the other's failed).
#[test]
fn latest_docker_tags_move_in_one_job_after_every_merge() {
    if !step_tools("docker latest") {
        return;
    }
    // LATEST: what the old merge step read to move latest-* itself.
    for (job, step, env, want) in [
        (
            "push",
            "build",
            &[("ARCH", "armhf"), ("TYPE", "target")][..],
            "--push --no-latest",
        ),
        (
            "merge",
            "merge",
            &[("TYPE", "target"), ("LATEST", "true")][..],
            "--tag nananina0415/rccr:1.2.0-target",
        ),
    ] {
        let (_, build, docker) = docker_ok(job, step, "", env);
        assert_has(&format!("{build}{docker}"), want);
        assert!(!docker.contains("latest"), "{job}: {docker}");
    }
    let (out, docker) = latest_move("", "");
    assert!(out.status.success(), "{}", show(&out));
    for t in ["control", "target"] {
        assert_has(
            &docker,
            &format!(
                "buildx imagetools create --prefer-index=false --tag nananina0415/rccr:latest-{t} \
                 nananina0415/rccr:1.2.0-{t}"
            ),
        );
        for arch in arch_table().iter().map(|row| &row[0]) {
            assert_has(
                &docker,
                &format!(
                    "create --prefer-index=false --tag nananina0415/rccr:latest-{arch}-{t} \
                     nananina0415/rccr:1.2.0-{arch}-{t}"
                ),
            );
        }
    }
}

/// release.yml's Docker Hub latest-* step for this run's own version
/// 1.2.0 (the highest), with a stand-in docker: `imagetools inspect` of
/// the ref ending `:{missing}` fails, any other with `--format` answers
/// the digest `sha256:old-{tag}`; `imagetools create --tag` of `:{fail}`
/// fails. Its output and docker's calls.
fn latest_move(missing: &str, fail: &str) -> (std::process::Output, String) {
    let dir = TempDir::new("latest-move");
    stand_in(
        &dir,
        "docker",
        &format!(
            r#"ref=$4
if [ "$3" = create ]; then ref=$6; fi
case "$3:${{ref##*/}}" in
  "inspect:rccr:{missing}") echo 'ERROR: not found' >&2; exit 1 ;;
  "create:rccr:{fail}") echo 'ERROR: 502 Bad Gateway' >&2; exit 1 ;;
  inspect:*) case "$*" in *--format*) echo "{{\"digest\": \"sha256:old-${{ref##*:}}\"}}" ;; esac ;;
esac"#
        ),
    );
    let (_, out) = run_step(
        "release.yml",
        "latest",
        "docker-latest",
        &dir,
        &[
            ("VERSION", "1.2.0"),
            ("OWN", "true"),
            ("RCCR_IMAGE", "nananina0415/rccr"),
        ],
    );
    (out, calls(&dir, "docker"))
}

/// The latest-* tags, in the order they must move: each per-arch
/// control/target pair back to back, the multi-platform pair last.
fn latest_tags_in_order() -> Vec<String> {
    let mut tags: Vec<String> = ["aarch64", "x86", "x86_64", "rpi-aarch64", "armv7", "armhf"]
        .iter()
        .flat_map(|a| [format!("latest-{a}-control"), format!("latest-{a}-target")])
        .collect();
    tags.extend(["latest-control".into(), "latest-target".into()]);
    tags
}

/// docker's `imagetools create` calls in its calls `docker`.
fn creates(docker: &str) -> Vec<&str> {
    docker
        .lines()
        .filter(|l| l.contains("imagetools create"))
        .collect()
}

/// The `imagetools create` calls that move every latest-* to `version`'s
/// image, in order.
fn latest_creates(version: &str) -> Vec<String> {
    latest_tags_in_order()
        .iter()
        .map(|t| {
            format!(
                "buildx imagetools create --prefer-index=false --tag nananina0415/rccr:{t} \
                 nananina0415/rccr:{version}-{}",
                t.strip_prefix("latest-").unwrap()
            )
        })
        .collect()
}

/// A control image pairs only with targets of its own release (the
/// temporary key), so latest-* never end half moved without a word: every
/// source is checked before anything moves, each pair moves back to back
/// (the loop used to move latest-control, then six per-arch controls, then
/// the targets), and on a failure part-way the tags moved are set back to
/// the image they had, one error line saying what moved, what was set back
/// and what did not move.
#[test]
fn latest_docker_tags_move_in_pairs_and_are_set_back_on_a_failure() {
    if !step_tools("docker latest pairs") {
        return;
    }
    let order = latest_tags_in_order();
    let (out, docker) = latest_move("", "");
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(creates(&docker), latest_creates("1.2.0"), "{docker}");
    let first_create = docker.find("imagetools create").unwrap();
    for t in &order {
        let source = format!(
            "imagetools inspect nananina0415/rccr:1.2.0-{} --format",
            t.strip_prefix("latest-").unwrap()
        );
        assert!(
            docker.find(&source).is_some_and(|i| i < first_create),
            "{source} not checked first: {docker}"
        );
    }
    // A source missing: nothing moves.
    let (out, docker) = latest_move("1.2.0-armhf-target", "");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(!docker.contains("imagetools create"), "{docker}");
    assert_has(
        &text(&out.stdout),
        "::error title=Latest::not on Docker Hub: nananina0415/rccr:1.2.0-armhf-target; no latest-* moved",
    );
    // latest-x86-target fails after three moves; latest-aarch64-target had
    // no image before (nothing to set it back to).
    let (out, docker) = latest_move("latest-aarch64-target", "latest-x86-target");
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    for t in ["latest-aarch64-control", "latest-x86-control"] {
        assert_has(
            &docker,
            &format!(
                "create --prefer-index=false --tag nananina0415/rccr:{t} nananina0415/rccr@sha256:old-{t}\n"
            ),
        );
    }
    assert!(
        !docker.contains("@sha256:old-latest-aarch64-target"),
        "{docker}"
    );
    assert_has(
        &text(&out.stdout),
        &format!(
            "::error title=Latest::moving latest-x86-target to 1.2.0 failed; moved and set back: \
             latest-aarch64-control latest-x86-control; moved, still 1.2.0: latest-aarch64-target; \
             not moved: {}\n",
            order[3..].join(" ")
        ),
    );
}

/// The x86_64 images pushed are the ones test-amd64 tested: it saves them
/// after the test, and the x86_64 push legs load and push that very image,
/// building nothing (they used to build another one), its digest the one
/// docker push reports; a push that reports none stops the leg.
#[test]
fn the_pushed_amd64_images_are_the_tested_ones() {
    if !step_tools("tested amd64") {
        return;
    }
    let (_, _, docker) = docker_ok("test-amd64", "Save the tested images", "", &[]);
    for t in ["control", "target"] {
        assert_has(
            &docker,
            &format!("save --output tested/{t}.tar nananina0415/rccr:1.2.0-x86_64-{t}"),
        );
    }
    let digest = format!("sha256:{}", "ab".repeat(32));
    let pushed = format!("1.2.0-x86_64-control: digest: {digest} size: 1234");
    let (outputs, build, docker) = docker_ok(
        "push",
        "build",
        &pushed,
        &[("ARCH", "x86_64"), ("TYPE", "control")],
    );
    assert_eq!(build, "", "the x86_64 leg built an image");
    assert_eq!(
        docker,
        "load --input tested/control.tar\npush nananina0415/rccr:1.2.0-x86_64-control\n"
    );
    assert_eq!(step_output(&outputs, "digest"), digest);
    let (_, out, _, _) = docker_step(
        "build-docker-images.yml",
        "push",
        "build",
        "denied: requested access to the resource is denied",
        &[("ARCH", "x86_64"), ("TYPE", "target")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_has(&text(&out.stdout), "reported no digest");
}
