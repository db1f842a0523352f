# shellcheck shell=bash
# Field encryption: the keys as city IT handles them, and the database file as a thief sees it.
# Sourced by scripts/demo.sh after the import (30-import.sh).

step "Field encryption: rotate the data key (every registrant re-sealed in committed batches; resumable)" \
  "項目暗号化: データ鍵を更新します（すべての利用者をバッチごとに確定しながら暗号化し直します。中断しても再開できます）"
resv key rotate --batch-size 500

step "Field encryption: the keys (identifiers, states and counts; never a key)" \
  "項目暗号化: 鍵の状態（識別子、状態、件数だけを表示し、鍵そのものは表示しません）"
resv key status

if [[ "$RESV_DATABASE_URL" != postgresql* ]]; then
step "Field encryption: a copy of the database file holds the imported names, but no phone or address in clear" \
  "項目暗号化: データベースファイルの複製には取り込んだ氏名はありますが、電話番号や住所は平文では入っていません"
python3 - "$OUT/demo.db" "$OUT/keys-copy.db" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[2])
sqlite3.connect(sys.argv[1]).backup(con)  # a consistent copy (WAL included)
con.close()
data = open(sys.argv[2], "rb").read()
assert "坂本 重江".encode() in data  # names are not encrypted
for value in ("090-7395-2773", "09073952773", "印西市船尾561"):
    assert value.encode() not in data, value
PY
rm -f "$OUT/keys-copy.db"
say "found: 坂本 重江; not found: 090-7395-2773, 印西市船尾561" \
  "見つかった値: 坂本 重江。見つからなかった値: 090-7395-2773、印西市船尾561"
fi
