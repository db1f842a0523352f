#!/usr/bin/env bash
# make demo: the main job end to end on a SQLite file (or DEMO_DATABASE_URL).  Each capability adds its
# step here as it lands.  Outputs go to demo-out/.
set -euo pipefail
OUT="${DEMO_OUT:-demo-out}"
rm -rf "$OUT"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
# DEMO_DATABASE_URL runs it on another database, e.g. a new PostgreSQL database
export RESV_DATABASE_URL="${DEMO_DATABASE_URL:-$OUT/demo.db}"
export RESV_CONFIG_DIR="$OUT/config"
ADMIN_PW="demo-Admin-passphrase-2017"

step() { printf '\n== %s\n' "$*" >&2; }

step "Initialise a new shared database ($RESV_DATABASE_URL)"
printf '%s\n' "$ADMIN_PW" | resv db init --admin it-admin --name "情報 太郎" --city-name "印西市" --password-stdin
printf '%s\n' "$ADMIN_PW" | resv login it-admin --password-stdin
resv whoami
resv db check

for part in scripts/demo.d/*.sh; do
  [ -e "$part" ] || continue
  # shellcheck source=/dev/null
  source "$part"
done

step "Done. Outputs in $OUT:"
ls -l "$OUT" >&2
