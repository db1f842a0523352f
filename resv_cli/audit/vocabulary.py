"""The one audit vocabulary: every action, outcome and detail key the history holds.

Writers name actions through these constants (``A.REGISTRANT_VIEW``), readers (the
monthly report, ``audit list`` filters, the docs) look them up here, and
``chain.record`` refuses an action, outcome or detail key this module does not
define, so a new kind of event cannot be written without being named here first.
A test also scans the source for action strings that are not in ``ACTIONS``.

Each action carries its Japanese and English label (the report's Japanese sheets
show the label, the English ones the code).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class ActionDef:
    """One kind of audit event: its stable code and what people read for it."""

    code: str
    ja: str
    en: str
    # the action reads or writes registrants / bookings (personal data)
    personal: bool = False


_DEFS = (
    # accounts and sessions
    ActionDef("account.grant", "アカウント付与", "account granted"),
    ActionDef("account.import_roster", "名簿からのアカウント取込", "roster imported"),
    ActionDef("account.list", "アカウント一覧", "accounts listed"),
    ActionDef("account.show", "アカウント表示", "account shown"),
    ActionDef("account.update", "アカウント変更", "account updated"),
    ActionDef("account.enable", "アカウント再開", "account enabled"),
    ActionDef("account.disable", "アカウント停止", "account disabled"),
    ActionDef("account.disable_dormant", "休眠アカウント停止", "dormant accounts disabled"),
    ActionDef("account.revoke", "アカウント失効", "account revoked"),
    ActionDef("account.lock", "アカウントロック", "account locked"),
    ActionDef("account.unlock", "ロック解除", "account unlocked"),
    ActionDef("account.password_change", "パスワード変更", "password changed"),
    ActionDef("account.reset_password", "パスワード再発行", "password reset"),
    ActionDef("account.credentials_file", "初期パスワード一覧の出力", "one-time passwords filed"),
    ActionDef("account.policy", "パスワード方針表示", "password policy shown"),
    ActionDef("auth.login", "ログイン", "login"),
    ActionDef("auth.logout", "ログアウト", "logout"),
    ActionDef("auth.session", "セッション利用", "session used"),
    ActionDef("training.record", "研修記録登録", "training recorded"),
    ActionDef("training.import", "研修記録取込", "training imported"),
    ActionDef("training.list", "研修記録一覧", "training listed"),
    ActionDef("org.add", "組織登録", "organisation added"),
    ActionDef("org.list", "組織一覧", "organisations listed"),
    ActionDef("org.show", "組織表示", "organisation shown"),
    ActionDef("org.update", "組織変更", "organisation updated"),
    ActionDef("org.renew", "指定期間の更新", "designation renewed"),
    # facilities, handover, scope
    ActionDef("facility.add", "施設登録", "facility added"),
    ActionDef("facility.update", "施設変更", "facility updated"),
    ActionDef("facility.retire", "施設廃止", "facility retired"),
    ActionDef("facility.assign", "管理期間設定", "management assigned"),
    ActionDef("facility.import", "施設一覧取込", "facility list imported"),
    ActionDef("facility.seed_demo", "デモ施設作成", "demo city seeded"),
    ActionDef("handover.plan", "引継ぎ計画", "handover planned"),
    ActionDef("handover.apply", "引継ぎ実施", "handover applied"),
    ActionDef("scope.add", "利用範囲追加", "scope rule added"),
    ActionDef("scope.remove", "利用範囲削除", "scope rule removed"),
    ActionDef("scope.list", "利用範囲一覧", "scope rules listed"),
    ActionDef("scope.explain", "利用範囲の説明", "scope explained"),
    ActionDef("scope.plan", "利用範囲計画", "scope planned"),
    ActionDef("scope.apply", "利用範囲適用", "scope applied"),
    # personal data
    ActionDef("registrant.add", "利用者登録", "registrant added", personal=True),
    ActionDef("registrant.update", "利用者情報変更", "registrant updated", personal=True),
    ActionDef(
        "registrant.status", "利用者の登録状態変更", "registrant status changed", personal=True
    ),
    ActionDef("registrant.view", "利用者情報閲覧", "registrant viewed", personal=True),
    ActionDef("registrant.search", "利用者検索", "registrants searched", personal=True),
    ActionDef("registrant.issue_card", "利用者カード発行", "user card issued", personal=True),
    ActionDef("registrant.issue_certificate", "登録証発行", "certificate issued", personal=True),
    ActionDef("registrant.check_duplicate", "重複確認検索", "duplicate check", personal=True),
    ActionDef("booking.add", "施設貸出登録", "booking added", personal=True),
    ActionDef("booking.cancel", "施設貸出取消", "booking cancelled", personal=True),
    ActionDef("booking.list", "施設貸出一覧", "bookings listed", personal=True),
    ActionDef("import.batch", "旧システムデータ取込", "legacy import batch", personal=True),
    ActionDef("import.list", "取込一覧", "import batches listed"),
    ActionDef("import.show", "取込結果表示", "import batch shown", personal=True),
    # audit, reports, database
    ActionDef("audit.list", "利用履歴一覧", "audit history listed"),
    ActionDef("audit.show", "利用履歴表示", "audit event shown"),
    ActionDef("audit.verify", "改ざん検証", "audit chain verified"),
    ActionDef("audit.anchor", "検証用アンカー作成", "audit anchor written"),
    ActionDef("audit.archive", "利用履歴の保管", "audit history archived"),
    ActionDef("audit.key_upgrade", "利用履歴の鍵付き化", "audit chain keyed"),
    ActionDef("audit.key_rotate", "監査鍵の更新", "audit key rotated"),
    ActionDef("audit.key_status", "監査鍵の状態表示", "audit key status shown"),
    ActionDef("key.status", "暗号鍵の状態表示", "field encryption keys shown"),
    ActionDef("key.rotate", "データ鍵の更新", "data key rotated"),
    ActionDef("key.rewrap", "データ鍵の再ラップ", "data keys rewrapped"),
    ActionDef("report.export", "月次報告出力", "monthly report exported"),
    ActionDef("db.init", "データベース初期化", "database initialised"),
    ActionDef("db.grant_runtime_role", "実行用ロール付与", "runtime role granted"),
    ActionDef("db.rls_apply", "行レベルセキュリティ適用", "row-level security applied"),
    ActionDef("db.upgrade", "データベース構造の更新", "database schema upgraded"),
)

ACTIONS: MappingProxyType[str, ActionDef] = MappingProxyType({d.code: d for d in _DEFS})


class A:
    """Action codes as names: ``A.REGISTRANT_VIEW == "registrant.view"``."""

    ACCOUNT_GRANT = "account.grant"
    ACCOUNT_IMPORT_ROSTER = "account.import_roster"
    ACCOUNT_LIST = "account.list"
    ACCOUNT_SHOW = "account.show"
    ACCOUNT_UPDATE = "account.update"
    ACCOUNT_ENABLE = "account.enable"
    ACCOUNT_DISABLE = "account.disable"
    ACCOUNT_DISABLE_DORMANT = "account.disable_dormant"
    ACCOUNT_REVOKE = "account.revoke"
    ACCOUNT_LOCK = "account.lock"
    ACCOUNT_UNLOCK = "account.unlock"
    ACCOUNT_PASSWORD_CHANGE = "account.password_change"
    ACCOUNT_RESET_PASSWORD = "account.reset_password"
    ACCOUNT_POLICY = "account.policy"
    AUTH_LOGIN = "auth.login"
    AUTH_LOGOUT = "auth.logout"
    AUTH_SESSION = "auth.session"
    TRAINING_RECORD = "training.record"
    TRAINING_IMPORT = "training.import"
    TRAINING_LIST = "training.list"
    ORG_ADD = "org.add"
    ORG_LIST = "org.list"
    ORG_SHOW = "org.show"
    ORG_UPDATE = "org.update"
    ORG_RENEW = "org.renew"
    FACILITY_ADD = "facility.add"
    FACILITY_UPDATE = "facility.update"
    FACILITY_RETIRE = "facility.retire"
    FACILITY_ASSIGN = "facility.assign"
    FACILITY_IMPORT = "facility.import"
    FACILITY_SEED_DEMO = "facility.seed_demo"
    HANDOVER_PLAN = "handover.plan"
    HANDOVER_APPLY = "handover.apply"
    SCOPE_ADD = "scope.add"
    SCOPE_REMOVE = "scope.remove"
    SCOPE_LIST = "scope.list"
    SCOPE_EXPLAIN = "scope.explain"
    SCOPE_PLAN = "scope.plan"
    SCOPE_APPLY = "scope.apply"
    REGISTRANT_ADD = "registrant.add"
    REGISTRANT_UPDATE = "registrant.update"
    REGISTRANT_STATUS = "registrant.status"
    REGISTRANT_VIEW = "registrant.view"
    REGISTRANT_SEARCH = "registrant.search"
    REGISTRANT_ISSUE_CARD = "registrant.issue_card"
    REGISTRANT_ISSUE_CERTIFICATE = "registrant.issue_certificate"
    REGISTRANT_CHECK_DUPLICATE = "registrant.check_duplicate"
    BOOKING_ADD = "booking.add"
    BOOKING_CANCEL = "booking.cancel"
    BOOKING_LIST = "booking.list"
    IMPORT_BATCH = "import.batch"
    IMPORT_LIST = "import.list"
    IMPORT_SHOW = "import.show"
    ACCOUNT_CREDENTIALS_FILE = "account.credentials_file"
    AUDIT_LIST = "audit.list"
    AUDIT_SHOW = "audit.show"
    AUDIT_VERIFY = "audit.verify"
    AUDIT_ANCHOR = "audit.anchor"
    AUDIT_ARCHIVE = "audit.archive"
    AUDIT_KEY_UPGRADE = "audit.key_upgrade"
    AUDIT_KEY_ROTATE = "audit.key_rotate"
    AUDIT_KEY_STATUS = "audit.key_status"
    KEY_STATUS = "key.status"
    KEY_ROTATE = "key.rotate"
    KEY_REWRAP = "key.rewrap"
    REPORT_EXPORT = "report.export"
    DB_INIT = "db.init"
    DB_GRANT_RUNTIME_ROLE = "db.grant_runtime_role"
    DB_RLS_APPLY = "db.rls_apply"
    DB_UPGRADE = "db.upgrade"


OUTCOMES: MappingProxyType[str, tuple[str, str]] = MappingProxyType(
    {
        "allowed": ("許可", "allowed"),
        "denied": ("拒否", "denied"),
        "failed": ("失敗", "failed"),
    }
)

# Detail keys a writer may use, with what each holds.  Personal or secret values
# never appear: they go in as ``<key>_hmac`` keyed hashes (see chain.keyed_hash).
DETAIL_KEYS: MappingProxyType[str, str] = MappingProxyType(
    {
        "aborted": "why a batch was aborted",
        "access_gained": "accounts that gain access",
        "access_lost": "accounts that lose access",
        "accounts_extended": "accounts whose validity a renewal extended",
        "account": "the account a rule names",
        "account_id": "the account acted on",
        "accounts_issued": "accounts granted",
        "all_managed_facilities": "the organisation-wide grant (every facility it manages)",
        "action": "the action asked about",
        "actions": "the actions a rule grants",
        "added": "rows added",
        "anchor_seq": "the anchor's last event",
        "anchor_sources": "where the anchors came from (report, signed file, --anchor)",
        "anchors": "anchors checked",
        "archives": "archives checked",
        "batch": "import batch id",
        "batch_id": "import batch id",
        "before": "archive cut-off day",
        "category": "facility category",
        "chain_head_hash": "chain head MAC at export (an anchor held in the report)",
        "chain_head_seq": "chain head at export",
        "chain_from": "first event chained under a key",
        "chain_ok": "the chain verified intact at export",
        "changed": "rows changed",
        "city": "open-data city code",
        "clashes_with": "the booking a new booking overlaps",
        "column": "column of a file",
        "count_only": "a count was asked for, no rows",
        "course": "training course",
        "created": "rows created",
        "days": "days (dormancy)",
        "decided_by": "what decided an access question (period, rule, exception)",
        "decision": "allowed or denied",
        "dialect": "database dialect",
        "dormant_days": "days without login",
        "dry_run": "nothing was written",
        "duplicate_of": "the registrant a new one is a likely duplicate of",
        "duplicates": "duplicate rows",
        "duplicates_found": "duplicates found",
        "encoding": "file encoding",
        "encrypt_date_of_birth": "dates of birth are sealed too (field encryption)",
        "event": "the event shown",
        "events": "events archived",
        "events_checked": "events verified",
        "facilities": "facility codes",
        "facilities_added": "facilities added",
        "facility": "facility code",
        "fields": "the only fields a rule revealed",
        "file": "a file name (never its contents)",
        "file_sha256": "SHA-256 of a file",
        "first_bad_seq": "first event that failed verification",
        "first_seq": "first event of an archive",
        "flags": "flags raised",
        "from": "first day of a listing",
        "from_organization": "the previous manager",
        "head_seq": "last event of the chain",
        "imported": "rows imported",
        "include_deleted": "deleted registrants were asked for too",
        "kek_id": "key-encryption key identifier (never the key)",
        "key_id": "audit or data key identifier (never the key)",
        "keys": "audit or data keys (identifiers only)",
        "kind": "kind of the thing acted on",
        "lang": "report language",
        "last_seq": "last event of an archive",
        "layout": "file layout",
        "limit": "row limit of a listing",
        "lock_count": "locks so far",
        "login_id": "the login ID acted on",
        "matches": "number of matches",
        "minutes": "lockout minutes",
        "month": "report month",
        "noop": "nothing changed",
        "number": "certificate or card number",
        "on": "the day of the action",
        "opening_hours": "a facility's opening hours (a booking outside them)",
        "org": "organisation code",
        "organization": "organisation code",
        "organizations_added": "organisations added",
        "outcome": "outcome filter of a listing",
        "override_reason": "why a check was overridden (free text by staff)",
        "parent": "parent facility code",
        "password_set": "a password was set",
        "periods_added": "management periods added",
        "periods_closed": "management periods closed",
        "previous_kek_id": "the key-encryption key replaced",
        "previous_key_id": "the audit or data key(s) replaced",
        "previous_key_lost": "the replaced audit key was lost",
        "previous_status": "a registrant's status before the change",
        "previous_term_end": "designation term end before a renewal or correction",
        "public_key": "fingerprint of a monitor's anchor signing key",
        "purpose": "purpose of a purpose-bound search",
        "reason": "why (a code such as out_of_scope, not_found)",
        "records_read": "records read",
        "registrant_id": "registrant acted on",
        "registrant_ids": "registrants named",
        "rehashed": "the password hash was upgraded",
        "rejected": "rows rejected",
        "rejects": "rows rejected",
        "removed": "rows removed",
        "repaired": "rows repaired",
        "resource": "resource asked about",
        "results": "number of results",
        "retired": "facilities retired",
        "revision_from": "the schema revision before an upgrade",
        "revision_to": "the schema revision after an upgrade",
        "revoked": "roster rows of revoked accounts (not re-granted)",
        "role": "role",
        "roster_entry": "roster entry id",
        "row": "row of a file",
        "rows": "rows read",
        "session": "session id",
        "sessions_ended": "sessions ended",
        "sha256": "SHA-256 of the written file",
        "skipped": "records not imported by design (deleted registrations)",
        "status": "status",
        "security_officer": "the officer named by: account (account_id) or name (name_hmac)",
        "subject": "the subject a rule names",
        "term_end": "designation term end",
        "term_start": "designation term start",
        "terms_hmac": "keyed hash of search terms",
        "to": "the receiving organisation",
        "to_create": "roster rows to create",
        "to_disable": "roster rows to disable",
        "to_enable": "roster rows to re-enable",
        "to_update": "roster rows to update",
        "unchanged": "rows unchanged",
        "updated": "rows updated",
        "valid_from": "first valid day",
        "valid_until": "last valid day",
        "value": "a setting's value",
        "was_locked": "the account was locked",
    }
)


# Every other code a person reads in a table or the Japanese report, by kind:
# code -> (Japanese, English).  Stored values, JSON, CSV and the English report keep
# the code; ``code_label`` is the one lookup (``commands/render.py`` for tables,
# the report's sheets).  A column of a table shows labels when it is named in
# ``CODE_COLUMNS`` (column -> kind).  Add a code here, never a copy elsewhere.
CODES: dict[str, dict[str, tuple[str, str]]] = {
    "action": {d.code: (d.ja, d.en) for d in _DEFS},
    "outcome": dict(OUTCOMES),
    "role": {
        "admin": ("管理者", "administrator"),
        "monitor": ("モニタリング担当", "monitor"),
        "operator": ("窓口担当", "operator"),
    },
    "organization_kind": {
        "city": ("市", "city"),
        "designated_manager": ("指定管理者", "designated manager"),
    },
    # --- tables of the command line (commands/render.py) ---
    "boolean": {"True": ("はい", "yes"), "False": ("いいえ", "no")},
    "yes_no": {"yes": ("あり", "yes"), "no": ("なし", "no")},
    "account_status": {
        "active": ("有効", "active"),
        "disabled": ("停止", "disabled"),
        "revoked": ("失効", "revoked"),
    },
    # what an account can do today (``account list``'s state): its status, or why not
    "account_state": {
        "active": ("利用可", "active"),
        "disabled": ("停止", "disabled"),
        "revoked": ("失効", "revoked"),
        "locked": ("ロック中", "locked"),
        "expired": ("有効期限切れ", "expired"),
        "not_yet_valid": ("有効期間前", "not yet valid"),
    },
    "password_state": {
        "set": ("設定済み", "set"),
        "one-time": ("初期パスワード", "one-time"),
        "one-time, expired": ("初期パスワード（期限切れ）", "one-time, expired"),
    },
    "employment_kind": {
        "regular": ("正規職員", "regular"),
        "non_regular": ("非正規職員", "non-regular"),
    },
    "roster_status": {"active": ("在籍", "on the roster"), "left": ("退職", "left")},
    # the plan of a roster import (accounts.roster.LABELS)
    "roster_plan": {
        "create": ("作成", "create"),
        "update": ("更新", "update"),
        "enable": ("再開", "enable"),
        "disable": ("停止", "disable"),
        "revoked: not re-granted": ("失効中（再付与なし）", "revoked: not re-granted"),
        "unchanged": ("変更なし", "unchanged"),
    },
    "facility_category": {
        "sports": ("体育施設", "sports"),
        "culture_hall": ("文化ホール", "culture hall"),
        "community_centre": ("公民館・コミュニティセンター", "community centre"),
        "welfare_centre": ("福祉センター", "welfare centre"),
        "senior_welfare_centre": ("老人福祉センター", "senior welfare centre"),
        "senior_rest_house": ("老人憩いの家", "senior rest house"),
        "children_centre": ("子どもセンター・児童館", "children's centre"),
        "workshop": ("福祉作業所", "workshop"),
        "complex": ("複合施設", "complex"),
        "room": ("部屋・室", "room"),
        "office": ("庁舎・事務所", "office"),
        "library": ("図書館", "library"),
        "park": ("公園", "park"),
        "school": ("学校", "school"),
        "other": ("その他", "other"),
    },
    "opendata_layout": {"older": ("旧形式", "older"), "current": ("現行形式", "current")},
    "handover_result": {
        "applied": ("実施済み", "applied"),
        "already applied": ("実施済み（変更なし）", "already applied"),
    },
    "registrant_kind": {"individual": ("個人", "individual"), "group": ("団体", "group")},
    "registrant_status": {
        "active": ("有効", "active"),
        "suspended": ("利用停止", "suspended"),
        "deleted": ("登録抹消", "deleted"),
    },
    "certificate_kind": {
        "senior_certificate": ("登録証", "senior certificate"),
        "user_card": ("利用者カード", "user card"),
    },
    "booking_status": {"booked": ("予約済み", "booked"), "cancelled": ("取消", "cancelled")},
    "import_kind": {
        "registrants": ("利用者", "registrants"),
        "roster": ("名簿", "roster"),
        "facilities": ("施設", "facilities"),
        "training": ("研修記録", "training records"),
    },
    "import_status": {
        "running": ("実行中", "running"),
        "completed": ("完了", "completed"),
        "aborted": ("中止", "aborted"),
        "dry_run": ("試行", "dry run"),
    },
    "reject_kind": {"rejected": ("取込不可", "rejected"), "duplicate": ("重複", "duplicate")},
    # field encryption (``resv key status``)
    "data_key_state": {
        "active": ("使用中", "active"),
        "retiring": ("移行中", "retiring"),
        "retired": ("廃止", "retired"),
    },
    "data_key_purpose": {"data": ("データ鍵", "data"), "index": ("検索索引の鍵", "index")},
    # the rows of an import's summary table (``ImportResult.summary_rows``)
    "import_count": {
        "records read": ("読込件数", "records read"),
        "imported": ("取込", "imported"),
        "updated": ("更新", "updated"),
        "unchanged": ("変更なし", "unchanged"),
        "duplicates": ("重複", "duplicates"),
        "rejected": ("取込不可", "rejected"),
        "skipped": ("対象外（抹消済み）", "skipped"),
    },
    "scope_action": {
        "register": ("登録", "register"),
        "view": ("閲覧", "view"),
        "search": ("検索", "search"),
        "update": ("更新", "update"),
        "lend": ("貸出", "lend"),
        "check_duplicate": ("重複確認", "check duplicate"),
    },
    "scope_resource": {
        "registrants": ("利用者", "registrants"),
        "bookings": ("施設貸出", "bookings"),
    },
    "rule_kind": {
        "access": ("利用範囲", "access"),
        "duplicate_check": ("重複確認", "duplicate check"),
    },
    "rule_source": {"cli": ("コマンド", "command"), "policy": ("ポリシーファイル", "policy file")},
    "decision": {"allow": ("許可", "allow"), "deny": ("拒否", "deny")},
    # ``audit verify``'s reason code when the chain is broken
    "verify_reason": {
        "tail_cut": ("末尾の欠落", "tail cut off"),
        "anchor_mismatch": ("アンカー不一致", "anchor mismatch"),
        "altered": ("改ざん", "altered"),
        "missing": ("欠落", "missing"),
        "out_of_order": ("順序の乱れ", "out of order"),
        "unlinked": ("連結の不整合", "unlinked"),
        "archive": ("アーカイブの不整合", "archive"),
    },
    "resource_type": {
        "account": ("アカウント", "account"),
        "audit_event": ("利用履歴の記録", "audit event"),
        "audit_key": ("監査鍵", "audit key"),
        "data_key": ("データ鍵", "data key"),
        "booking": ("施設貸出", "booking"),
        "db_policy": ("行レベルセキュリティ", "row-level security"),
        "db_role": ("データベースロール", "database role"),
        "facility": ("施設", "facility"),
        "file": ("ファイル", "file"),
        "import_batch": ("取込バッチ", "import batch"),
        "management_period": ("管理期間", "management period"),
        "organization": ("組織", "organisation"),
        "registrant": ("利用者", "registrant"),
        "report": ("月次モニタリング報告", "monitoring report"),
        "scope_policy": ("利用範囲ポリシー", "scope policy"),
        "scope_rule": ("利用範囲ルール", "scope rule"),
        "setting": ("設定", "setting"),
        "training_record": ("研修記録", "training record"),
    },
    # --- the monthly report (resv_cli/reports): why an attempt was refused or failed,
    # the detail "reason" the writers record (access, sessions, accounts, records)
    "refusal_reason": {
        "out_of_scope": ("利用範囲外", "out_of_scope"),
        "scope": ("利用範囲外", "scope"),
        "not_eligible": ("重複確認の対象外", "not_eligible"),
        "not_found": ("該当なし", "not_found"),
        "role": ("役割の権限外", "role"),
        "rate_limit": ("回数制限の超過", "rate_limit"),
        "duplicate": ("他施設で登録証を発行済み", "duplicate"),
        "already_holds": ("登録証を発行済み", "already_holds"),
        "likely_duplicate": ("重複登録の可能性", "likely_duplicate"),
        "slot_taken": ("予約済みの時間帯", "slot_taken"),
        "already_cancelled": ("取消済み", "already_cancelled"),
        "login_id_taken": ("使用済みのログインID", "login_id_taken"),
        "already_revoked": ("失効済み", "already_revoked"),
        "own_account": ("自分のアカウント", "own_account"),
        "outside_opening_hours": ("開館時間外", "outside_opening_hours"),
        "no_change": ("変更なし", "no_change"),
        "wrong_password": ("パスワードの誤り", "wrong_password"),
        "unknown_id": ("存在しないID", "unknown_id"),
        "locked": ("ロック中", "locked"),
        "one_time_password_expired": ("初期パスワードの有効期限切れ", "one_time_password_expired"),
        "not_yet_valid": ("有効期間の開始前", "not_yet_valid"),
        "expired": ("有効期限切れ", "expired"),
        "disabled": ("停止中のアカウント", "disabled"),
        "revoked": ("失効したアカウント", "revoked"),
        "session_expired": ("セッションの有効期限切れ", "session_expired"),
        "session_ended": ("終了したセッション", "session_ended"),
        "session_logout": ("ログアウト後のセッション", "session_logout"),
        "session_revoked": ("アカウント失効後のセッション", "session_revoked"),
        "session_disabled": ("アカウント停止後のセッション", "session_disabled"),
        "session_password_reset": ("パスワード再発行後のセッション", "session_password_reset"),
        "session_password_changed": ("パスワード変更後のセッション", "session_password_changed"),
        "registrant_suspended": ("利用停止中の利用者", "registrant_suspended"),
        "registrant_deleted": ("登録抹消済みの利用者", "registrant_deleted"),
        "card_not_yet_valid": ("利用者カードの有効期間前", "card_not_yet_valid"),
        "card_expired": ("利用者カードの有効期限切れ", "card_expired"),
    },
}

# table column -> the kind of code it holds (columns not named here are shown as stored)
CODE_COLUMNS: dict[str, str] = {
    "action": "action",
    "outcome": "outcome",
    "role": "role",
    "kind": "organization_kind",
    "organization_kind": "organization_kind",
    # a command whose column holds another kind passes ``codes={column: kind}`` to
    # render() (e.g. registrants: kind -> registrant_kind, status -> registrant_status)
    "status": "account_status",
    "state": "account_state",
    "password": "password_state",
    "employment": "employment_kind",
    "employment_type": "employment_kind",
    "roster_status": "roster_status",
    "category": "facility_category",
    "layout": "opendata_layout",
    "handover": "handover_result",
    "previous_status": "registrant_status",
    "item": "import_count",
    "match": "yes_no",
    "decision": "decision",
    "source": "rule_source",
    "resource_type": "resource_type",
}


def code_label(kind: str, code: object, lang: str) -> object:
    """What a person reads for ``code`` of ``kind``: the Japanese label for ``ja``,
    the code itself for ``en`` (the English report and tables keep codes); a value
    this vocabulary does not know is returned unchanged."""
    if lang != "ja" or not isinstance(code, str):
        return code
    found = CODES.get(kind, {}).get(code)
    return found[0] if found is not None else code


def matching(pattern: str) -> list[str]:
    """Actions an ``audit list --action`` filter names: an exact code or a prefix ending in *.

    An empty answer means the filter names nothing the vocabulary knows.
    """
    if pattern.endswith("*"):
        return sorted(a for a in ACTIONS if a.startswith(pattern[:-1]))
    return [pattern] if pattern in ACTIONS else []


def check(action: str, outcome: str, detail_keys: object = ()) -> None:
    """Refuse an action, outcome or detail key the vocabulary does not define."""
    if action not in ACTIONS:
        raise ValueError(f"audit action {action!r} is not in resv_cli.audit.vocabulary")
    if outcome not in OUTCOMES:
        raise ValueError(f"bad outcome {outcome!r}")
    for key in detail_keys:  # type: ignore[attr-defined]
        # a keyed hash of a personal or secret value is named after it (name_hmac)
        if key not in DETAIL_KEYS and not (isinstance(key, str) and key.endswith("_hmac")):
            raise ValueError(f"audit detail key {key!r} is not in resv_cli.audit.vocabulary")
