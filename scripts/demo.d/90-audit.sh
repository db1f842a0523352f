# shellcheck shell=bash
# Audit: read the history, take an anchor, show that tampering is caught, verify.
# Sourced by scripts/demo.sh after `db init` and the administrator's login.

step "Audit: who logged in, and what was refused or failed"
resv audit list --action 'auth.*' --limit 5
resv audit list --outcome denied --format csv >"$OUT/audit-denied.csv"
resv audit list --outcome failed --format csv >"$OUT/audit-failed.csv"
printf 'refused attempts so far: %s, failed: %s (in %s, %s)\n' \
  "$(($(wc -l <"$OUT/audit-denied.csv") - 1))" "$(($(wc -l <"$OUT/audit-failed.csv") - 1))" \
  "$OUT/audit-denied.csv" "$OUT/audit-failed.csv" >&2

step "Audit: take an anchor (keep it outside the database) and look at its event"
resv audit anchor >"$OUT/audit-anchor.txt"
cat "$OUT/audit-anchor.txt"
resv audit show "$(cut -d: -f1 "$OUT/audit-anchor.txt")"

if [[ "$RESV_DATABASE_URL" == postgresql* ]]; then
step "Audit: tampering is shown on a copy of a SQLite file (skipped on PostgreSQL)"
else
step "Audit: someone with the database file (not the audit key) rewrites an event and re-chains the rest, on a copy - verify names it"
python3 - "$OUT/demo.db" "$OUT/tampered.db" <<'PY'
import hashlib, sqlite3, sys
from resv_cli.audit import chain
con = sqlite3.connect(sys.argv[2])
sqlite3.connect(sys.argv[1]).backup(con)  # a consistent copy (WAL included)
con.execute("DROP TRIGGER tr_audit_events_no_update")  # an attacker can, on a file
con.execute("UPDATE audit_events SET outcome = 'denied' WHERE seq = 2")
# without the key the attacker can only re-compute plain SHA-256 hashes: link every
# later event to the edited one, as a 0.1 history would have accepted
prev = con.execute("SELECT hash FROM audit_events WHERE seq = 1").fetchone()[0]
rows = con.execute(chain.verify_select_sql("sqlite") + "").fetchall()
for row in rows[1:]:
    fields = list(row[:12])
    fields[11] = prev
    digest = hashlib.sha256(chain.canonical_text(fields).encode()).hexdigest()
    con.execute("UPDATE audit_events SET prev_hash = ?, hash = ?, key_id = NULL WHERE seq = ?",
                (prev, "tmp" + str(row[0]), row[0]))
    con.execute("UPDATE audit_events SET hash = ? WHERE seq = ?", (digest, row[0]))
    prev = digest
con.commit()
PY
printf '%s\n' "$ADMIN_PW" | resv --db "$OUT/tampered.db" login it-admin --password-stdin
if resv --db "$OUT/tampered.db" audit verify; then
  echo "tampering NOT detected!" >&2
  exit 1
else
  echo "verify refused the tampered copy with exit code $? (8 = integrity check failed)" >&2
fi
fi

step "Audit: verify the real history against the anchor"
resv audit verify --anchor "$(cat "$OUT/audit-anchor.txt")"
