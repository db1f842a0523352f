# shellcheck shell=bash
# Facilities: the demo city, one real open-data file, the 2017-04-01 handover.
# Sourced by scripts/demo.sh after `db init` and the administrator's login.

step "Facilities: build the demo city (run twice: the second run adds nothing)"
resv facility seed-demo
resv facility seed-demo

step "Facilities: import 焼津市's published 公共施設一覧 (older 24-column layout), dry run first"
resv facility import tests/data/opendata/yaizu_222127_public_facility.csv --dry-run
resv facility import tests/data/opendata/yaizu_222127_public_facility.csv

step "Facilities: 板橋区's file (current layout) - the shifted column is reported, not loaded"
resv facility import tests/data/opendata/itabashi_131199_public_facilities.csv --dry-run \
  >"$OUT/itabashi-dry-run.txt" 2>"$OUT/itabashi-rejects.txt"
head -n 12 "$OUT/itabashi-dry-run.txt"
head -n 3 "$OUT/itabashi-rejects.txt" >&2
printf 'rejected rows listed in %s (%s lines)\n' "$OUT/itabashi-rejects.txt" \
  "$(grep -c 'column' "$OUT/itabashi-rejects.txt")" >&2

step "Facilities: the city's senior welfare centres on 2017-03-31"
resv facility list --category senior_welfare_centre --on 2017-03-31

step "Handover: plan (writes nothing), then apply the same arguments"
HANDOVER=(--to inzai-fm --facility chuo-rojin --facility chiiki-fukushi --on 2017-04-01)
resv handover plan "${HANDOVER[@]}"
resv handover plan "${HANDOVER[@]}" --format json >"$OUT/handover-plan.json"
resv handover apply "${HANDOVER[@]}" --format json >"$OUT/handover-applied.json"
if cmp -s "$OUT/handover-plan.json" "$OUT/handover-applied.json"; then
  echo "apply did exactly what plan printed" >&2
else
  echo "apply differs from plan!" >&2
  exit 1
fi
resv handover apply "${HANDOVER[@]}" | tail -n 3

step "Facilities: who managed 中央老人福祉センター in May 2017, and before?"
resv facility history chuo-rojin
resv facility history chuo-rojin --on 2017-05-15
resv facility list --org inzai-fm --on 2017-05-15
