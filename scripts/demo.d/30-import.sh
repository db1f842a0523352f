# 30-import: the migration administrator moves a legacy registrant file (cp932 CSV,
# fictitious people) into the central senior welfare centre: dry run, read the
# rejects, import, re-run to show nothing changes.
LEGACY="scripts/demo-data/demo-legacy.csv"

step "Import legacy registrants: dry run first (nothing is written)"
resv import registrants "$LEGACY" --facility chuo-rojin --dry-run --rejects "$OUT/import-rejects-dry-run.csv"

step "The rejects file: record number, column, reason (no personal data beyond the registration number)"
cat "$OUT/import-rejects-dry-run.csv" >&2

step "Import for real (checkpointed; an interrupted run finishes with 'resv import resume')"
resv import registrants "$LEGACY" --facility chuo-rojin --rejects "$OUT/import-rejects.xlsx"

step "Re-running the same file changes nothing (every record is 'unchanged')"
resv import registrants "$LEGACY" --facility chuo-rojin

step "The batches, with who ran them and their reconciliation"
resv import list
resv import show 2 > "$OUT/import-batch-2.txt"
grep reconciliation "$OUT/import-batch-2.txt" >&2

step "A legacy export with registration status, card validity (有効期限) and words for 'none' (なし, 未設定, -): deleted registrations are skipped, and the reconciliation still adds up"
cat scripts/demo-data/demo-legacy-status.toml >&2
resv import registrants scripts/demo-data/demo-legacy-status.csv --facility inba-rojin \
  --mapping scripts/demo-data/demo-legacy-status.toml --rejects "$OUT/import-rejects-status.csv"
cat "$OUT/import-rejects-status.csv" >&2
