# shellcheck shell=bash
# Monitoring report: the month's workbook for the city's inspection (月次モニタリング).
# Sourced by scripts/demo.sh; works with whatever events the earlier steps recorded.
# The demo's actions happen now, so the demo month is the current month in Japan.

REPORT_MONTH="$(TZ=Asia/Tokyo date +%Y-%m)"
REPORT_ORG=()
if resv facility list --org inzai-fm >/dev/null 2>&1; then
  REPORT_ORG=(--org inzai-fm)
fi

step "Report: monthly monitoring workbook for $REPORT_MONTH ${REPORT_ORG[*]:-(city-wide)}" \
  "報告: $REPORT_MONTH の月次モニタリング報告 ${REPORT_ORG[*]:-（市全体）}"
resv report monthly --month "$REPORT_MONTH" "${REPORT_ORG[@]}" \
  --output "$OUT/monitoring-$REPORT_MONTH.xlsx" | tee "$OUT/monitoring-$REPORT_MONTH.sha256"
(cd / && sha256sum -c "$OUT/monitoring-$REPORT_MONTH.sha256" >&2)
ls -l "$OUT/monitoring-$REPORT_MONTH.xlsx" >&2

step "Report: the same month city-wide, English headings" "報告: 同じ月の市全体の報告（見出しは英語）"
resv report monthly --month "$REPORT_MONTH" --lang en --output "$OUT/monitoring-$REPORT_MONTH-en.xlsx"

step "Audit: a monitor's signed anchor file (Ed25519; checkable with the public key alone)" \
  "利用履歴: モニタリング担当の署名付きアンカーファイル（Ed25519。公開鍵だけで確認できます）"
resv audit signing-key --private-out "$OUT/monitor-anchor.key" --public-out "$OUT/monitor-anchor.pub"
resv audit anchor --output "$OUT/anchor-$REPORT_MONTH.json" --signing-key "$OUT/monitor-anchor.key"
resv audit check-anchor "$OUT/anchor-$REPORT_MONTH.json" --public-key "$OUT/monitor-anchor.pub"

step "Audit: the history verifies against the anchors the reports and the signed file hold" \
  "利用履歴: 報告書と署名付きファイルのアンカーに照らして、履歴を検証します"
resv audit verify --anchor-from "$OUT/monitoring-$REPORT_MONTH.xlsx" \
  --anchor-from "$OUT/monitoring-$REPORT_MONTH-en.xlsx" \
  --anchor-file "$OUT/anchor-$REPORT_MONTH.json" --public-key "$OUT/monitor-anchor.pub"
