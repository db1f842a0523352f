# shellcheck shell=bash
# Facilities: the demo city, one real open-data file, the 2017-04-01 handover.
# Sourced by scripts/demo.sh after `db init` and the administrator's login.

step "Facilities: build the demo city (run twice: the second run adds nothing)" \
  "施設: デモの市を作ります（2 回実行します。2 回目は何も追加しません）"
resv facility seed-demo
resv facility seed-demo

step "Facilities: import 焼津市's published 公共施設一覧 (older 24-column layout), dry run first" \
  "施設: 焼津市が公開している公共施設一覧（旧形式の 24 列）を、試行してから取り込みます"
resv facility import tests/data/opendata/yaizu_222127_public_facility.csv --dry-run
resv facility import tests/data/opendata/yaizu_222127_public_facility.csv

step "Facilities: 板橋区's file (current layout) - the shifted column is reported, not loaded" \
  "施設: 板橋区のファイル（現行形式）: 列が 1 つずれた行は取り込まずに報告します"
resv facility import tests/data/opendata/itabashi_131199_public_facilities.csv --dry-run \
  >"$OUT/itabashi-dry-run.txt" 2>"$OUT/itabashi-rejects.txt"
head -n 12 "$OUT/itabashi-dry-run.txt"
head -n 3 "$OUT/itabashi-rejects.txt" >&2
# each reject line starts with the file's name, in either language
REJECTED_LINES="$(grep -c '^itabashi_131199_public_facilities.csv' "$OUT/itabashi-rejects.txt" || true)"
say "rejected rows listed in $OUT/itabashi-rejects.txt ($REJECTED_LINES lines)" \
  "取り込まなかった行の一覧: $OUT/itabashi-rejects.txt（$REJECTED_LINES 行）"

step "Facilities: the city's senior welfare centres on 2017-03-31" \
  "施設: 2017-03-31 時点の市の老人福祉センター"
resv facility list --category senior_welfare_centre --on 2017-03-31

step "Handover: plan (writes nothing), then apply the same arguments" \
  "引継ぎ: 計画を表示し（何も書き込みません）、同じ引数で実行します"
HANDOVER=(--to inzai-fm --facility chuo-rojin --facility chiiki-fukushi --on 2017-04-01)
resv handover plan "${HANDOVER[@]}"
resv handover plan "${HANDOVER[@]}" --format json >"$OUT/handover-plan.json"
resv handover apply "${HANDOVER[@]}" --format json >"$OUT/handover-applied.json"
if cmp -s "$OUT/handover-plan.json" "$OUT/handover-applied.json"; then
  say "apply did exactly what plan printed" "実行した内容は計画の表示とまったく同じでした"
else
  say "apply differs from plan!" "実行した内容が計画と異なります。"
  exit 1
fi
resv handover apply "${HANDOVER[@]}" | tail -n 3

step "Facilities: who managed 中央老人福祉センター in May 2017, and before?" \
  "施設: 2017年5月とそれ以前に中央老人福祉センターを管理していた組織"
resv facility history chuo-rojin
resv facility history chuo-rojin --on 2017-05-15
resv facility list --org inzai-fm --on 2017-05-15
