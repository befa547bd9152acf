#!/usr/bin/env bash
# Migrates Chinook from MariaDB (SOURCE_URL) to PostgreSQL (TARGET_URL) with Tandem: backfill, then verify.
# Exits with verify's code: 0 only at full parity, 1 with differences, 2 on error (backfill's code if it fails).
#
#   SOURCE_URL=mysql://root@127.0.0.1:3306/chinook TARGET_URL=postgres://postgres@127.0.0.1:5432/chinook \
#     examples/chinook/run.sh
#
# Runs the compiled CLI of this repository (bin/tandem.js, built by `npm install` / `npm run build`). To run
# another build, or from source without building, set TANDEM to the command, e.g. from the repository root:
#   TANDEM="node --import tsx src/cli/run.ts" examples/chinook/run.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CONFIG="$HERE/tandem.config.ts"

missing=()
[[ -n "${SOURCE_URL:-}" ]] || missing+=("SOURCE_URL (the MariaDB database loaded from Chinook_MySql.sql, e.g. mysql://root@127.0.0.1:3306/chinook)")
[[ -n "${TARGET_URL:-}" ]] || missing+=("TARGET_URL (the PostgreSQL database with the tables of Chinook_PostgreSql.sql, e.g. postgres://postgres@127.0.0.1:5432/chinook)")
if ((${#missing[@]})); then
  for m in "${missing[@]}"; do echo "run.sh: set $m" >&2; done
  echo "run.sh: see $HERE/README.md for how to load both databases" >&2
  exit 2
fi
export SOURCE_URL TARGET_URL

if [[ -n "${TANDEM:-}" ]]; then
  read -r -a tandem <<<"$TANDEM"
elif [[ -f "$ROOT/dist/cli/run.js" ]]; then
  tandem=(node "$ROOT/bin/tandem.js")
else
  echo "run.sh: $ROOT/dist is missing: run \`npm install\` (or \`npm run build\`) in $ROOT," >&2
  echo "        or set TANDEM=\"node --import tsx src/cli/run.ts\" and run this from $ROOT" >&2
  exit 2
fi

echo "== tandem backfill (config: $CONFIG)"
"${tandem[@]}" backfill --config "$CONFIG"

echo "== tandem verify"
exec "${tandem[@]}" verify --config "$CONFIG"
