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

# The language resv shows (RESV_LANG, else the locale, else English), decided once by
# resv's own rule, so that the headings below read like resv's output around them.
RESV_PYTHON="$(dirname "$(command -v resv)")/python"
[ -x "$RESV_PYTHON" ] || RESV_PYTHON=python3
DEMO_LANG="$("$RESV_PYTHON" -m resv_cli.core.i18n)"

# step ENGLISH JAPANESE: a step's heading; say ENGLISH JAPANESE: a line of commentary
# (both on stderr, in resv's language; both texts are required)
step() { if [ "$DEMO_LANG" = ja ]; then printf '\n== %s\n' "$2"; else printf '\n== %s\n' "$1"; fi >&2; }
say() { if [ "$DEMO_LANG" = ja ]; then printf '%s\n' "$2"; else printf '%s\n' "$1"; fi >&2; }

step "Initialise a new shared database ($RESV_DATABASE_URL)" \
  "共有データベースを新しく初期化します（$RESV_DATABASE_URL）"
printf '%s\n' "$ADMIN_PW" | resv db init --admin it-admin --name "情報 太郎" --city-name "印西市" --password-stdin
printf '%s\n' "$ADMIN_PW" | resv login it-admin --password-stdin
resv whoami
resv db check

for part in scripts/demo.d/*.sh; do
  [ -e "$part" ] || continue
  # shellcheck source=/dev/null
  source "$part"
done

step "Done. Outputs in $OUT:" "完了しました。出力ファイルは $OUT にあります:"
ls -l "$OUT" >&2
