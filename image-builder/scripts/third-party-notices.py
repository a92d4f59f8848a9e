#!/usr/bin/env python3
"""Usage: third-party-notices.py [options]

Writes THIRD-PARTY-NOTICES: the licence of every third-party crate linked
into the rccr binary and of the C libraries they build from vendored source
(OpenSSL, libssh2, zlib), with the licence texts the crates ship. The
release carries it as a file of its own, and every image installs it as
/usr/share/licenses/rccr/THIRD-PARTY-NOTICES (beside rccr's own LICENSE).

What is linked comes from `cargo metadata` (run offline first, then
online): the rccr package's normal dependencies, followed transitively, for
the five musl targets the release builds; plus the build dependencies that
carry C sources into the binary (openssl-src, for openssl-sys's vendored
build). Dev-dependencies and build-only crates are not linked, and are
listed with --explain.

Written in Python rather than sh: it reads cargo's JSON and walks its
dependency graph.

Options:
  -o, --output FILE    where to write (default: <repo>/dist/THIRD-PARTY-NOTICES);
                       "-" for stdout
  --explain            print, for every package of Cargo.lock, "NAME VERSION
                       linked" or "NAME VERSION not-linked: REASON"
  --manifest-path P    the Cargo.toml (default: the repository's)
  -h, --help           show this help

Exit status: 0 written; 1 a linked crate has no licence text, or cargo
failed; 2 a usage error.
"""
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT_PACKAGE = "rccr"
# The targets of the release's binaries (image-builder/base/arches).
TARGETS = [
    "x86_64-unknown-linux-musl",
    "i686-unknown-linux-musl",
    "aarch64-unknown-linux-musl",
    "armv7-unknown-linux-musleabihf",
    "arm-unknown-linux-musleabihf",
]
# Crates that compile C sources into the binary: the licence files of that C
# code, relative to the crate's directory (the first that exists is used).
VENDORED_C = {
    "openssl-src": ("OpenSSL", ["openssl/LICENSE.txt", "openssl/LICENSE"]),
    "libssh2-sys": ("libssh2", ["libssh2/COPYING"]),
    "libz-sys": ("zlib", ["src/zlib/LICENSE", "src/zlib/README"]),
}
# Build dependencies whose output is linked: openssl-sys builds OpenSSL
# from openssl-src at build time (feature "vendored").
LINKED_BUILD_DEPS = {"openssl-src"}
LICENCE_FILE = re.compile(r"^(licen[cs]e|copying|notice|copyright|unlicense)([-._].*)?$", re.I)


def die(msg, code=1):
    print(f"third-party-notices: error: {msg}", file=sys.stderr)
    sys.exit(code)


def cargo_metadata(manifest):
    args = ["cargo", "metadata", "--format-version", "1", "--locked", "--manifest-path", manifest]
    for t in TARGETS:
        args += ["--filter-platform", t]
    for extra in (["--offline"], []):
        try:
            out = subprocess.run(args + extra, capture_output=True, check=True, text=True)
            return json.loads(out.stdout)
        except subprocess.CalledProcessError as e:
            err = e.stderr
        except FileNotFoundError:
            die("cargo not found")
    die(f"cargo metadata failed:\n{err}")


def linked_packages(meta):
    """Package ids linked into the binary, and why every other one is not."""
    pkgs = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    root = next(p["id"] for p in meta["packages"] if p["name"] == ROOT_PACKAGE and p["source"] is None)
    # (package id, follow its dependencies): a linked build dependency's own
    # dependencies (cc, ...) run at build time only.
    linked, todo = set(), [(root, True)]
    reason = {}
    while todo:
        pid, follow = todo.pop()
        if pid in linked:
            continue
        linked.add(pid)
        if not follow:
            continue
        for dep in nodes[pid]["deps"]:
            kinds = {k["kind"] for k in dep["dep_kinds"]}
            name = pkgs[dep["pkg"]]["name"]
            if None in kinds:
                todo.append((dep["pkg"], True))
            elif "build" in kinds and name in LINKED_BUILD_DEPS:
                todo.append((dep["pkg"], False))
            elif "build" in kinds:
                reason.setdefault(dep["pkg"], "build-time only")
            else:
                reason.setdefault(dep["pkg"], "dev-dependency only")
    # What the rest is: reached through build dependencies, or only through
    # dev-dependencies (tests).
    built, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid in built:
            continue
        built.add(pid)
        todo += [d["pkg"] for d in nodes[pid]["deps"] if any(k["kind"] != "dev" for k in d["dep_kinds"])]
    for pid in pkgs:
        if pid not in linked:
            reason[pid] = "build-time only" if pid in built else "dev-dependency only"
    linked.discard(root)
    return root, linked, reason


def licence_texts(pkg):
    """[(label, text)] of the licence files a crate ships."""
    d = os.path.dirname(pkg["manifest_path"])
    files = sorted(f for f in os.listdir(d) if LICENCE_FILE.match(f) and os.path.isfile(os.path.join(d, f)))
    if pkg.get("license_file") and pkg["license_file"] not in files:
        files.append(pkg["license_file"])
    out = []
    for f in files:
        with open(os.path.join(d, f), encoding="utf-8", errors="replace") as fh:
            out.append((f, fh.read().strip() + "\n"))
    return out


def vendored_texts(pkg):
    if pkg["name"] not in VENDORED_C:
        return None
    library, candidates = VENDORED_C[pkg["name"]]
    d = os.path.dirname(pkg["manifest_path"])
    for rel in candidates:
        path = os.path.join(d, rel)
        if os.path.isfile(path):
            with open(path, encoding="utf-8", errors="replace") as fh:
                return library, rel, fh.read().strip() + "\n"
    die(f"{pkg['name']} {pkg['version']}: no licence file of its {library} sources ({', '.join(candidates)})")


def render(meta, root, linked):
    pkgs = {p["id"]: p for p in meta["packages"]}
    version = pkgs[root]["version"]
    entries = sorted((pkgs[i] for i in linked), key=lambda p: (p["name"], p["version"]))
    texts, order = {}, []  # digest -> (number, text)

    def ref(text):
        digest = hashlib.sha256(text.encode()).hexdigest()
        if digest not in texts:
            texts[digest] = len(texts) + 1
            order.append(text)
        return texts[digest]

    lines = [
        f"Third-party notices for rccr {version}",
        "",
        "rccr itself is under the MIT licence (LICENSE, next to this file). The rccr",
        "binary links the third-party code below: C libraries built from vendored",
        "source, then Rust crates. Each entry names its licence and the licence",
        "texts it ships; identical texts are printed once, at the end, by number.",
        "",
        "C libraries",
        "===========",
        "",
    ]
    for p in entries:
        v = vendored_texts(p)
        if v:
            library, rel, text = v
            lines.append(f"{library}, vendored by the crate {p['name']} {p['version']} ({rel}): text [{ref(text)}]")
    lines += ["", "Rust crates", "===========", ""]
    for p in entries:
        texts_of = licence_texts(p)
        if not texts_of:
            die(f"{p['name']} {p['version']} ({p.get('license')}) ships no licence file")
        src = p.get("repository") or p.get("homepage") or "crates.io"
        refs = ", ".join(f"{label} [{ref(t)}]" for label, t in texts_of)
        lines.append(f"{p['name']} {p['version']}  {p.get('license') or 'see text'}  {src}")
        lines.append(f"    {refs}")
    lines += ["", "Licence texts", "============="]
    for n, text in enumerate(order, 1):
        lines += ["", f"[{n}]", "-" * 72, text.rstrip("\n")]
    return "\n".join(lines) + "\n"


def lock_packages(path):
    """(name, version) of every [[package]] in a Cargo.lock."""
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    return re.findall(r'^\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"', text, re.M)


def write_atomically(path, data):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".notices.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv):
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    output = os.path.join(repo, "dist", "THIRD-PARTY-NOTICES")
    manifest = os.path.join(repo, "Cargo.toml")
    explain = False
    args = list(argv)
    while args:
        a = args.pop(0)
        if a in ("-h", "--help"):
            print(__doc__.strip())
            return 0
        if a in ("-o", "--output", "--manifest-path"):
            if not args:
                die(f"{a} needs a value", 2)
            value = args.pop(0)
            if a == "--manifest-path":
                manifest = value
            else:
                output = value
        elif a == "--explain":
            explain = True
        else:
            die(f"unknown argument: {a} (see --help)", 2)
    meta = cargo_metadata(manifest)
    root, linked, reason = linked_packages(meta)
    if explain:
        known = {(p["name"], p["version"]): p["id"] for p in meta["packages"]}
        lock = os.path.join(os.path.dirname(os.path.abspath(manifest)), "Cargo.lock")
        for name, version in sorted(lock_packages(lock)):
            pid = known.get((name, version))
            if pid == root:
                continue
            if pid is None:
                why = "not-linked: only for other targets"
            elif pid in linked:
                why = "linked"
            else:
                why = "not-linked: " + reason.get(pid, "not a dependency of rccr")
            print(f"{name} {version} {why}")
        return 0
    text = render(meta, root, linked)
    if output == "-":
        sys.stdout.write(text)
    else:
        write_atomically(output, text)
        print(f"third-party-notices: wrote {output} ({len(linked)} packages)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
