"""A small table of medical synonyms and abbreviations, folded to one form before lexical matching.

Only pairs that real reference answers and model answers write both ways are listed (病人/患者,
B超/超声, MRI/磁共振, 静滴/静脉滴注, …). Latin abbreviations match as whole words only, so `ct`
does not fire inside `pct`.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

# canonical form -> variants written for it
SYNONYMS: dict[str, tuple[str, ...]] = {
    "病人": ("患者", "病员"),
    "病儿": ("患儿",),
    "磁共振": ("mri", "核磁共振", "磁共振成像", "核磁"),
    "ct": ("计算机断层扫描", "计算机断层成像", "电子计算机断层扫描"),
    "超声": ("b超", "彩超", "b型超声"),
    "胸片": ("胸部x线片", "胸部平片", "x线胸片", "胸部x线"),
    "数字减影血管造影": ("dsa",),
    "心电图": ("ecg", "ekg"),
    "白细胞": ("wbc",),
    "血红蛋白": ("hb", "hgb"),
    "血小板": ("plt",),
    "谷丙转氨酶": ("alt", "丙氨酸氨基转移酶", "丙氨酸转氨酶"),
    "谷草转氨酶": ("ast", "天冬氨酸氨基转移酶", "天门冬氨酸氨基转移酶"),
    "转氨酶": ("氨基转移酶",),
    "前列腺特异性抗原": ("psa",),
    "癌胚抗原": ("cea",),
    "甲胎蛋白": ("afp",),
    "红细胞沉降率": ("血沉", "esr"),
    "c反应蛋白": ("crp",),
    "降钙素原": ("pct",),
    "幽门螺杆菌": ("幽门螺旋杆菌", "hp"),
    "慢性阻塞性肺疾病": ("copd", "慢阻肺"),
    "心肌梗死": ("心梗", "心肌梗塞"),
    "冠心病": ("冠状动脉粥样硬化性心脏病",),
    "急性肾损伤": ("aki",),
    "急性呼吸窘迫综合征": ("ards",),
    "弥散性血管内凝血": ("dic",),
    "蛛网膜下腔出血": ("sah",),
    "短暂性脑缺血发作": ("tia",),
    "深静脉血栓": ("dvt",),
    "肾小球滤过率": ("gfr",),
    "胃食管反流病": ("gerd",),
    "内镜逆行胰胆管造影": ("ercp",),
    "磁共振胰胆管成像": ("mrcp",),
    "乙型肝炎": ("乙肝",),
    "丙型肝炎": ("丙肝",),
    "人类免疫缺陷病毒": ("hiv", "艾滋病病毒"),
    "胃镜": ("纤维胃镜", "电子胃镜"),
    "结肠镜": ("纤维结肠镜", "电子结肠镜", "肠镜"),
    "静脉滴注": ("静滴", "静点", "静脉点滴"),
    "肌内注射": ("肌注", "肌肉注射"),
    "抗生素": ("抗菌药物", "抗菌药"),
    "化疗": ("化学治疗", "化学疗法"),
    "放疗": ("放射治疗", "放射疗法"),
    "体格检查": ("查体", "体检"),
    "实验室检查": ("化验",),
    "剂量": ("用量",),
}


def fold_width(text: str) -> str:
    """Full-width to half-width and lower case (NFKC), so `ＣＴ`/`CT`/`ct` compare equal."""
    return unicodedata.normalize("NFKC", text).lower()


@cache
def _pattern() -> tuple[re.Pattern[str], dict[str, str]]:
    to_canonical = {variant: canonical for canonical, variants in SYNONYMS.items() for variant in variants}
    # canonical forms map to themselves so a variant inside one (肠镜 in 结肠镜) is not rewritten
    to_canonical.update({canonical: canonical for canonical in SYNONYMS})
    alternatives = []
    for variant in sorted(to_canonical, key=len, reverse=True):  # longest first: 磁共振成像 before 磁共振
        escaped = re.escape(variant)
        alternatives.append(rf"(?<![a-z]){escaped}(?![a-z])" if variant.isascii() else escaped)
    return re.compile("|".join(alternatives)), to_canonical


def normalize_synonyms(text: str) -> str:
    """Width-folded, lower-cased text with each listed variant replaced by its canonical form."""
    pattern, to_canonical = _pattern()
    return pattern.sub(lambda m: to_canonical[m.group(0)], fold_width(text))
