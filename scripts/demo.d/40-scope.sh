# shellcheck shell=bash
# Scope: the access layer seen by an operator, explain, and a policy file.
# Sourced by scripts/demo.sh after 10-facilities (demo city, handover of chuo-rojin
# and chiiki-fukushi to inzai-fm on 2017-04-01) and 20-accounts.

# (never the person's name -- デモ reads "demo" -- nor the organisation's code, city)
OP_PW="Kawa-no-nagare-passphrase-2026-a"
CITY_PW="Yama-no-ue-no-passphrase-2026-b"

# grant LOGIN ORG FACILITY NEW_PASSWORD: grant an operator, log in once to set the password
grant_operator() {
  local otp
  otp="$(resv account grant "$1" --name "デモ 職員 $1" --org "$2" --role operator \
    --facility "$3" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["one_time_password"])')"
  printf '%s\n%s\n' "$otp" "$4" | resv login "$1" --password-stdin
}

if ! resv account --help >/dev/null 2>&1; then
  step "Scope: skipped (needs \`resv account grant\` from the accounts capability)" \
    "利用範囲: 省略します（アカウントの機能の \`resv account grant\` が必要です）"
else
  step "Scope: two operators - one of the city at 本埜老人福祉センター, one of inzai-fm at 中央老人福祉センター" \
    "利用範囲: 窓口担当を 2 人作ります（本埜老人福祉センターの市の職員と、中央老人福祉センターの inzai-fm の職員）"
  grant_operator city-honme-demo city honme-rojin "$CITY_PW"
  printf '%s\n' "$ADMIN_PW" | resv login it-admin --password-stdin
  grant_operator fm-chuo-demo inzai-fm chuo-rojin "$OP_PW"

  step "Scope: the city operator registers 高橋 花子 at honme-rojin and issues her certificate" \
    "利用範囲: 市の窓口担当が honme-rojin で高橋 花子さんを登録し、登録証を発行します"
  printf '%s\n' "$CITY_PW" | resv login city-honme-demo --password-stdin
  HONME_ID="$(resv registrant add --facility honme-rojin --name "高橋 花子" --kana "たかはし はなこ" \
    --dob 1948-05-03 --phone 0476-33-3333 --address "印西市本埜1" --format json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
  resv registrant issue-certificate "$HONME_ID"

  step "Scope: the inzai-fm operator registers at chuo-rojin; honme-rojin is refused (exit 6)" \
    "利用範囲: inzai-fm の窓口担当は chuo-rojin では登録でき、honme-rojin では拒否されます（終了コード 6）"
  printf '%s\n' "$OP_PW" | resv login fm-chuo-demo --password-stdin
  CHUO_ID="$(resv registrant add --facility chuo-rojin --name "髙橋 花子" --kana "ﾀｶﾊｼ ﾊﾅｺ" \
    --dob 1948-05-03 --phone 0476-11-1111 --format json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
  resv registrant add --facility honme-rojin --name "試し 登録" || say "(refused, exit $?)" "（拒否されました。終了コード $?）"

  step "Scope: the operator's search finds only chuo-rojin's 髙橋 (高橋 = 髙橋, width and kana fold)" \
    "利用範囲: 窓口担当の検索で見つかるのは chuo-rojin の髙橋さんだけです（高橋と髙橋、全角と半角、かなの違いは区別しません）"
  resv registrant search --name 高橋
  resv registrant search --kana "たかはし はなこ" --count

  step "Scope: honme-rojin's record by number answers exactly like a missing one" \
    "利用範囲: honme-rojin の利用者を番号で開こうとしても、存在しない番号とまったく同じ応答になります"
  resv registrant show "$HONME_ID" || say "(exit $?)" "（終了コード $?）"
  resv registrant show 999999 || say "(exit $?)" "（終了コード $?）"

  step "Scope: the duplicate check across senior centres (match, facility, certificate only)" \
    "利用範囲: 老人福祉センターをまたぐ重複確認（分かるのは一致の有無、施設、登録証だけです）"
  resv registrant check-duplicate --name "髙橋花子" --kana "タカハシ ハナコ" --dob 1948-05-03 \
    --reason "申請 2026-0001"
  resv registrant issue-certificate "$CHUO_ID" || say "(refused, exit $?)" "（拒否されました。終了コード $?）"
  resv registrant issue-certificate "$CHUO_ID" --override-reason "本人確認の結果 別人（同姓同名）"

  step "Scope: explain - the same question before and after the handover" \
    "利用範囲: explain で、同じ問いを引継ぎの前と後で確かめます"
  printf '%s\n' "$ADMIN_PW" | resv login it-admin --password-stdin
  resv scope explain --account fm-chuo-demo --action search --facility chuo-rojin --on 2017-03-31
  resv scope explain --account fm-chuo-demo --action search --facility chuo-rojin-kaigi --on 2017-04-01
  resv scope explain --account fm-chuo-demo --action view --facility kodomo-fureai
  resv scope explain --account fm-chuo-demo --action check_duplicate --facility inba-rojin

  step "Scope: a policy file - plan (writes nothing), apply, apply again (no changes)" \
    "利用範囲: ポリシーファイルの計画（何も書き込みません）、適用、再適用（変更なし）"
  cat >"$OUT/scope-policy.toml" <<'TOML'
version = 1

[[rule]]
name = "fm-chuo-kodomo-event"
subject = "account:fm-chuo-demo"
actions = ["view", "search"]
resource = "registrants"
facility = "kodomo-fureai"
valid_until = 2026-12-31
purpose = "合同行事の参加者確認"
TOML
  resv scope plan "$OUT/scope-policy.toml"
  resv scope apply "$OUT/scope-policy.toml"
  resv scope apply "$OUT/scope-policy.toml"
  resv scope list
  resv scope explain --account fm-chuo-demo --action view --facility kodomo-fureai
fi
