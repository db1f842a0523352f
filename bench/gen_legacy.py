"""Generate a large synthetic legacy registrant export, messy in the known ways.

    python bench/gen_legacy.py OUT.csv --records 1000000 [--encoding cp932] [--seed 7]

Every record is fictitious.  The mess: cp932 with 髙/﨑/①/㈱, half-width ｶﾅ and
hiragana readings, full-width digits, every date form (昭和15年3月2日, S15.3.2,
H1.1.8, 平成元年, 1940/3/2, 1940-03-02, 19400302), dash variants in phones, postal
codes and addresses (ハイツー stays), 内線, quoted fields and quoted newlines, CRLF,
the trailing comma on every line; about 1% rejects (昭和64年1月8日, 平成31年5月1日,
impossible, future, bad phone, half-width-only postal) and 0.5% duplicates (same
registration number, or same name and date of birth).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys

SURNAMES = (
    "髙橋 田中 山﨑 佐藤 鈴木 伊藤 渡邊 渡辺 齋藤 斎藤 小林 加藤 吉田 山田 佐々木 山口 松本 井上 木村 林 "
    "清水 山本 中村 森 池田 橋本 阿部 石川 山下 中島 石井 小川 前田 岡田 長谷川 藤田 後藤 近藤 村上 遠藤 "
    "青木 坂本 斉藤 福田 太田 西村 藤井 金子 岡本 藤原 中野 三浦 原田 中川 松田 竹内 小野 田村 中山 和田 "
    "石田 森田 上田 原 内田 柴田 酒井 宮崎 横山 高木 安藤 宮本 大野 小島 工藤 谷口 今井 高田 丸山 増田 "
    "杉山 村田 大塚 小山 平野 藤本 河野 上野 野口 武田 松井 千葉 岩崎 菅原 木下 久保 佐野 野村 松尾 濱田"
).split()
SURNAME_KANA = {
    "髙橋": "タカハシ",
    "田中": "タナカ",
    "山﨑": "ヤマザキ",
    "佐藤": "サトウ",
    "鈴木": "スズキ",
}
GIVEN = (
    "一郎 二郎 三郎 花子 良子 幸子 和子 洋子 節子 清 勇 博 茂 実 進 昭 明 誠 正 隆 "
    "浩 修 豊 稔 弘 武 勝 光子 久子 美代子 恵子 京子 文子 敏子 千代子 静子 春子 ①子 秀雄 "
    "和夫 正夫 義雄 幸雄 健一 正雄 久雄 英子 貞子 信子 トミ ハル キヨ フミ ヨシ マサ "
    "チヨ ミツ ツル カメ 重雄 利夫 勝利 正男 三男 政雄 武夫 信夫 幸一 健二 忠 保 守 "
    "功 薫 栄 登 昇 孝 満 哲也 和彦 俊夫 康夫 邦夫 照子 弘子 悦子 道子 則子 由美子 律子 礼子 艶子"
).split()
PARTS = list(
    "秀和正義幸健利勝政武信忠英重昭明清貞春美恵敏光久文千代節良洋京静照弘悦道則由律礼艶雄夫男郎子江枝"
)
TOWNS = ["大森", "木下", "小林", "船尾", "高花", "原", "草深", "内野", "牧の原", "西の原", "竹袋"]
BUILDINGS = ["", "", "", " ハイツー", " コーポ・サンシャイン", " メゾンドール", " グリーンハイツ"]
HEADER = [
    "区分", "登録番号", "氏名", "フリガナ", "生年月日", "郵便番号", "住所", "電話番号",
    "緊急連絡先氏名", "緊急連絡先電話番号", "団体名", "代表者氏名",
]  # fmt: skip
ERAS = [("明治", "M", 1868), ("大正", "T", 1912), ("昭和", "S", 1926), ("平成", "H", 1989)]
FW = str.maketrans("0123456789-", "０１２３４５６７８９－")
HW_KANA = str.maketrans(
    "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン",
    "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝ",
)
KANA = "アイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン"


def era_of(d: dt.date) -> tuple[str, str, int]:
    if d >= dt.date(1989, 1, 8):
        return "平成", "H", d.year - 1988
    if d >= dt.date(1926, 12, 25):
        return "昭和", "S", d.year - 1925
    return "大正", "T", d.year - 1911


def date_text(rng: random.Random, d: dt.date) -> str:
    era, code, y = era_of(d)
    form = rng.randrange(9)
    if form == 0:
        return f"{era}{y}年{d.month}月{d.day}日"
    if form == 1:
        return f"{era}{y}年{d.month}月{d.day}日".translate(FW)
    if form == 2:
        return f"{code}{y}.{d.month}.{d.day}"
    if form == 3:
        return f"{era}{'元' if y == 1 else y}年{d.month}月{d.day}日"
    if form == 4:
        return f"{d.year}/{d.month}/{d.day}"
    if form == 5:
        return d.isoformat()
    if form == 6:
        return d.strftime("%Y%m%d")
    if form == 7:
        return f"{code}{y:02d}.{d.month:02d}.{d.day:02d}"
    return f"{d.year}年{d.month}月{d.day}日"


def phone_text(rng: random.Random) -> str:
    a, b = rng.randrange(1000, 9999), rng.randrange(1000, 9999)
    form = rng.randrange(6)
    if form == 0:
        return f"0476-{rng.randrange(10, 99)}-{a}"
    if form == 1:
        return f"０４７６－{rng.randrange(10, 99)}－{a}".translate(FW)
    if form == 2:
        return f"090{a}{b}"
    if form == 3:
        return f"080ー{a}ー{b}"
    if form == 4:
        return f"0476({rng.randrange(10, 99)}){a} 内線{rng.randrange(1, 999)}"
    return f"070‐{a}‐{b}"


def record(rng: random.Random, i: int, today: dt.date) -> list[str]:
    group = rng.random() < 0.03
    legacy = f"{i:08d}" if rng.random() > 0.05 else f"{i:08d}".translate(FW)
    sur = rng.choice(SURNAMES)
    given = rng.choice(GIVEN) if rng.random() < 0.5 else rng.choice(PARTS) + rng.choice(PARTS)
    name = f"{sur}{rng.choice([' ', '　', ''])}{given}"
    kana = "".join(rng.choice(KANA) for _ in range(rng.randrange(3, 6)))
    kana = SURNAME_KANA.get(sur, kana) + " " + "".join(rng.choice(KANA) for _ in range(3))
    r = rng.random()
    if r < 0.2:
        kana = kana.translate(HW_KANA)
    elif r < 0.3:
        kana = "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in kana)
    dob = dt.date(1925, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 40))
    dob_s = date_text(rng, dob)
    postal = f"{rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}"
    pf = rng.randrange(4)
    postal = [postal, postal.replace("-", ""), postal.translate(FW), "〒" + postal][pf]
    dash = rng.choice(["-", "－", "ー", "‐", "−"])
    addr = f"印西市{rng.choice(TOWNS)}{rng.randrange(1, 3000)}{dash}{rng.randrange(1, 30)}"
    if rng.random() < 0.3:
        addr = addr.translate(FW)
    addr += rng.choice(BUILDINGS)
    if rng.random() < 0.01:
        addr += "\n" + f"{rng.randrange(101, 999)}号室"
    em_name = f"{sur} {rng.choice(GIVEN)}" if rng.random() < 0.7 else ""
    em_phone = phone_text(rng) if em_name else ""
    # about 1% rejects of every kind
    bad = rng.random()
    if bad < 0.002:
        dob_s = "昭和64年1月8日"
    elif bad < 0.004:
        dob_s = "平成31年5月1日"
    elif bad < 0.006:
        dob_s = f"{dob.year}/2/30"
    elif bad < 0.007:
        dob_s = (today + dt.timedelta(days=400)).isoformat()
    elif bad < 0.009:
        postal = "12-345"
    elif bad < 0.01:
        name = ""
    phone = phone_text(rng) if bad >= 0.0095 or bad < 0.009 else "03-12"
    row = ["団体" if group else "個人", legacy, name, kana, dob_s, postal, addr, phone,
           em_name, em_phone, "", ""]  # fmt: skip
    if group:
        row[10] = f"㈱{rng.choice(TOWNS)}{rng.choice(['会', 'クラブ', '同好会'])}{i}"
        row[11], row[2], row[3], row[4] = name, "", "", ""
    return row


def generate(
    path: str, records: int, encoding: str = "cp932", seed: int = 7, today: dt.date | None = None
) -> None:
    """Write the file; ``today`` (default: the real day) places the future-date rejects."""
    rng = random.Random(seed)
    today = today or dt.date.today()
    recent: list[list[str]] = []
    with open(path, "w", encoding=encoding, newline="") as f:
        f.write(",".join(HEADER) + ",\r\n")
        for i in range(1, records + 1):
            if recent and rng.random() < 0.005:
                row = list(rng.choice(recent))  # a duplicate: same number or same person
                if rng.random() < 0.5:
                    row[1] = f"{i:08d}"
            else:
                row = record(rng, i, today)
                if len(recent) < 1000:
                    recent.append(row)
                elif rng.random() < 0.01:
                    recent[rng.randrange(1000)] = row
            quote_all = rng.random() < 0.2
            out = []
            for v in row:
                if quote_all or any(c in v for c in ',"\n\r'):
                    v = '"' + v.replace('"', '""') + '"'
                out.append(v)
            f.write(",".join(out) + ",\r\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--records", type=int, default=10_000)
    p.add_argument("--encoding", default="cp932", choices=["cp932", "utf-8", "utf-8-sig"])
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args()
    generate(a.out, a.records, a.encoding, a.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
