# 30-import: the migration administrator moves a legacy registrant file (cp932 CSV,
# fictitious people) into the central senior welfare centre: dry run, read the
# rejects, import, re-run to show nothing changes.
LEGACY="scripts/demo-data/demo-legacy.csv"

step "Import legacy registrants: dry run first (nothing is written)" \
  "旧システムの利用者の取込: まず試行します（何も書き込みません）"
resv import registrants "$LEGACY" --facility chuo-rojin --dry-run --rejects "$OUT/import-rejects-dry-run.csv"

step "The rejects file: record number, column, reason (no personal data beyond the registration number)" \
  "取込不可の一覧: レコード番号、列、理由（登録番号のほかに個人情報は含みません）"
cat "$OUT/import-rejects-dry-run.csv" >&2

step "Import for real (checkpointed; an interrupted run finishes with 'resv import resume')" \
  "本番の取込（チェックポイントごとに確定します。中断したときは 'resv import resume' で最後まで取り込みます）"
resv import registrants "$LEGACY" --facility chuo-rojin --rejects "$OUT/import-rejects.xlsx"

step "Re-running the same file changes nothing (every record is 'unchanged')" \
  "同じファイルをもう一度取り込んでも何も変わりません（すべてのレコードが「変更なし」）"
resv import registrants "$LEGACY" --facility chuo-rojin

step "The batches, with who ran them and their reconciliation" \
  "取込バッチの一覧: 実行した人と件数の照合"
resv import list
resv import show 2 > "$OUT/import-batch-2.txt"
# the reconciliation line (its label is in resv's language; the equation is not)
grep ' = ' "$OUT/import-batch-2.txt" >&2

step "A legacy export with registration status, card validity (有効期限) and words for 'none' (なし, 未設定, -): deleted registrations are skipped, and the reconciliation still adds up" \
  "登録状態、有効期限、「なし」を表す語（なし、未設定、-）を含む旧システムの出力ファイル: 削除済みの登録は取り込まずに数え、件数の照合は合ったままです"
cat scripts/demo-data/demo-legacy-status.toml >&2
resv import registrants scripts/demo-data/demo-legacy-status.csv --facility inba-rojin \
  --mapping scripts/demo-data/demo-legacy-status.toml --rejects "$OUT/import-rejects-status.csv"
cat "$OUT/import-rejects-status.csv" >&2
