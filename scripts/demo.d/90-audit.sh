# shellcheck shell=bash
# Audit: read the history, take an anchor, show that tampering is caught, verify.
# Sourced by scripts/demo.sh after `db init` and the administrator's login.

step "Audit: who logged in, and what was refused or failed" "利用履歴: ログインした人と、拒否・失敗した操作"
resv audit list --action 'auth.*' --limit 5
resv audit list --outcome denied --format csv >"$OUT/audit-denied.csv"
resv audit list --outcome failed --format csv >"$OUT/audit-failed.csv"
DENIED="$(($(wc -l <"$OUT/audit-denied.csv") - 1))"
FAILED="$(($(wc -l <"$OUT/audit-failed.csv") - 1))"
say "refused attempts so far: $DENIED, failed: $FAILED (in $OUT/audit-denied.csv, $OUT/audit-failed.csv)" \
  "これまでの拒否 $DENIED 件、失敗 $FAILED 件（$OUT/audit-denied.csv、$OUT/audit-failed.csv）"

step "Audit: take an anchor (keep it outside the database) and look at its event" \
  "利用履歴: アンカーを取り（データベースの外に保管します）、その記録を表示します"
resv audit anchor >"$OUT/audit-anchor.txt"
cat "$OUT/audit-anchor.txt"
resv audit show "$(cut -d: -f1 "$OUT/audit-anchor.txt")"

if [[ "$RESV_DATABASE_URL" == postgresql* ]]; then
step "Audit: tampering is shown on a copy of a SQLite file (skipped on PostgreSQL)" \
  "利用履歴: 改ざんの検出は SQLite ファイルの複製で示します（PostgreSQL では省略します）"
else
step "Audit: someone with the database file (not the audit key) rewrites an event and re-chains the rest, on a copy - verify names it" \
  "利用履歴: データベースファイルを持つ人（利用履歴の鍵は持たない）が、複製の上で記録を 1 件書き換えて以降をつなぎ直します。検証はその記録を特定します"
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
  say "tampering NOT detected!" "改ざんが検出されませんでした。"
  exit 1
else
  say "verify refused the tampered copy with exit code $? (8 = integrity check failed)" \
    "検証は改ざんされた複製を終了コード $? で拒否しました（8 = 整合性検査の失敗）"
fi
fi

step "Audit: verify the real history against the anchor" "利用履歴: 実際の履歴をアンカーと照らして検証します"
resv audit verify --anchor "$(cat "$OUT/audit-anchor.txt")"
