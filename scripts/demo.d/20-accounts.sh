# shellcheck shell=bash
# Accounts: grant the designated manager's staff from its roster (利用者名簿), first
# login with a one-time password, the next month's roster, training records.
# Sourced by scripts/demo.sh after `db init`, the administrator's login and
# 10-facilities.sh (`resv facility seed-demo` creates inzai-fm and its facilities).

ROSTER=scripts/demo-data/demo-roster.csv        # cp932, as the company's Excel saves it
ROSTER_MAY=scripts/demo-data/demo-roster-2.csv  # the same, with 中村 大輔 gone
CREDS="$OUT/inzai-fm-credentials.xlsx"

step "Accounts: the designated manager and its term" "アカウント: 指定管理者とその指定期間"
resv org show inzai-fm

step "Accounts: inzai-fm's roster (cp932 CSV) - the plan first, nothing changes" \
  "アカウント: inzai-fm の名簿（cp932 の CSV）: まず計画を表示します（何も変更しません）"
resv account import-roster "$ROSTER" --org inzai-fm --dry-run

step "Accounts: apply it in one transaction; one-time passwords go to a 0600 xlsx" \
  "アカウント: 1 回のトランザクションで適用します。初期パスワードはモード 0600 の xlsx に書き出します"
resv account import-roster "$ROSTER" --org inzai-fm --credentials-out "$CREDS" >/dev/null
ls -l "$CREDS" >&2

step "Accounts: importing the same roster again changes nothing" \
  "アカウント: 同じ名簿をもう一度取り込んでも何も変わりません"
resv account import-roster "$ROSTER" --org inzai-fm --credentials-out "$OUT/unused.xlsx" >/dev/null
test ! -e "$OUT/unused.xlsx"

step "Accounts: 佐藤 美咲 (inzai-fm-0001) logs in with her one-time password and sets her own" \
  "アカウント: 佐藤 美咲さん（inzai-fm-0001）が初期パスワードでログインし、自分のパスワードを設定します"
OTP=$(python - "$CREDS" <<'PY'
import sys
import openpyxl
ws = openpyxl.load_workbook(sys.argv[1], read_only=True).worksheets[0]
print(next(r[2] for r in ws.iter_rows(values_only=True) if r[0] == "inzai-fm-0001"))
PY
)
printf '%s\n%s\n' "$OTP" "Sakura-no-hana-ga-saku-koro-ni" | resv login inzai-fm-0001 --password-stdin
resv whoami
unset OTP
printf '%s\n' "$ADMIN_PW" | resv login it-admin --password-stdin

step "Accounts: next month's roster without 中村 大輔 - his account is disabled, not deleted" \
  "アカウント: 中村 大輔さんの載っていない翌月の名簿: そのアカウントは削除せずに停止します"
resv account import-roster "$ROSTER_MAY" --org inzai-fm >/dev/null
resv account list --org inzai-fm

step "Accounts: training records (研修記録)" "アカウント: 研修記録"
resv training record inzai-fm-0001 --course 個人情報保護研修 --on 2026-04-10 >/dev/null
resv training record inzai-fm-0004 --course 個人情報保護研修 --on 2026-04-10 >/dev/null
resv training list --org inzai-fm
