"""Structured answers of extraction items, read out of what models actually write.

An answer becomes a list of *items*, tuples of normalised strings compared by exact match:

- entities        (type, entity)                      CMeEE
- relations       (head, relation, tail)              CMeIE
- events          (主体词, 发生状态, 描述词, 解剖部位)   CHIP-CDEE (multi-valued fields joined, sorted)
- normalization   (standard term,)                    CHIP-CDN
- classification  (label,)                            CHIP-CTC

Layouts read, in this order (the first that yields an answer wins):

1. JSON, bare or in a ```json fence: lists of objects under many key spellings (`type`/`类型`,
   `entity`/`实体`, `head`/`头实体`, …), `{type: [entities]}` maps (MedBench v3), `[h, r, t]` lists,
   wrappers such as `{"entities": [...]}`;
2. text: `类型：实体1，实体2` and `[类型]实体：…` lines (MedBench/PromptCBLUE), `实体：类型`, `实体（类型）`,
   `实体 - 类型`, `实体：X，类型：Y`; triples `(头, 关系, 尾)`, `头-关系-尾`, `头 → 关系 → 尾`,
   `关系："R"，头实体："H"，尾实体："T"` (MedBench), `具有R关系的头尾实体对如下：头实体为H，尾实体为T。`
   (PromptCBLUE); event fields `主体词：…；发生状态：…；描述词：…；解剖部位：…`; markdown tables;
   a label or a term list after `答案：`.

An explicit "nothing found" (`无`, `[]`, `没有识别到实体`) is a valid empty answer. Text with no answer
in any layout raises `ParseError`: the scorer records it as a format error, never as an empty answer.

Normalisation before matching: Unicode NFKC (full-width to half-width), whitespace removed, ASCII
lower-cased, wrapping quotes and trailing punctuation stripped. Nothing else is forgiven.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from medgap.scoring.reply import MISSING, body_of, json_in

EXTRACTION_TYPES = ("entities", "relations", "events", "normalization", "classification")
Item = tuple[str, ...]

# MedBench's label sets (CMeEE types, CMeIE predicates, CHIP-CTC categories), used to tell which
# side of `A：B` is the type and which slot of a triple is the relation.
CMEEE_TYPES = ("疾病", "症状", "药物", "医疗操作", "身体部位", "医学检验项目", "设备", "微生物类", "医院科室")
CMEIE_RELATIONS = (
    "相关（导致）", "鉴别诊断", "遗传因素", "发病性别倾向", "相关（症状）", "手术治疗", "预防", "辅助检查", "筛查",
    "阶段", "临床表现", "风险评估因素", "同义词", "发病年龄", "预后生存率", "病史", "传播途径", "治疗后症状",
    "药物治疗", "辅助治疗", "化疗", "死亡率", "放射治疗", "病因", "组织学检查", "内窥镜检查", "多发群体", "并发症",
    "实验室检查", "就诊科室", "病理生理", "高危因素", "发病率", "多发地区", "病理分型", "影像学检查", "转移部位",
    "发病部位", "相关（转化）", "外侵部位", "预后状况", "发病机制", "多发季节",
)
CTC_LABELS = (
    "非上述类型", "疾病", "症状(患者感受)", "体征(医生检测）", "怀孕相关", "肿瘤进展", "疾病分期", "过敏耐受",
    "器官组织状态", "预期寿命", "口腔相关", "药物", "治疗或手术", "设备", "护理", "诊断", "实验室检查", "风险评估",
    "受体状态", "年龄", "特殊病人特征", "读写能力", "性别", "教育情况", "居住情况", "种族", "知情同意",
    "参与其它试验", "研究者决定", "能力", "伦理审查", "依存性", "成瘾行为", "睡眠", "锻炼", "饮食", "酒精使用",
    "性取向", "吸烟状况", "献血", "病例来源", "残疾群体", "健康群体", "数据可及性", "含有多个类别",
)
EVENT_FIELDS = ("主体词", "发生状态", "描述词", "解剖部位")


class ParseError(ValueError):
    """The text holds no answer in any layout this module reads."""


class ShapeError(ValueError):
    """Data (JSON or a gold structure) that is not in any shape known for the extraction type."""


@dataclass(frozen=True)
class Vocabulary:
    """Known names, normalised: entity types, relation names and class labels."""

    types: frozenset[str] = frozenset()
    relations: frozenset[str] = frozenset()
    labels: frozenset[str] = frozenset()

    @classmethod
    def of(cls, types: Iterable[str] = (), relations: Iterable[str] = (), labels: Iterable[str] = ()) -> Vocabulary:
        return cls(_cleaned(types), _cleaned(relations), _cleaned(labels))

    def extended(self, extraction_type: str, items: Iterable[Item]) -> Vocabulary:
        """This vocabulary plus the names used by `items` (the gold answer)."""
        items = list(items)
        if extraction_type == "entities":
            return Vocabulary(self.types | {i[0] for i in items}, self.relations, self.labels)
        if extraction_type == "relations":
            return Vocabulary(self.types, self.relations | {i[1] for i in items}, self.labels)
        if extraction_type == "classification":
            return Vocabulary(self.types, self.relations, self.labels | {i[0] for i in items})
        return self


def default_vocabulary(extraction_type: str) -> Vocabulary:
    return {
        "entities": Vocabulary.of(types=CMEEE_TYPES),
        "relations": Vocabulary.of(relations=CMEIE_RELATIONS),
        "classification": Vocabulary.of(labels=CTC_LABELS),
    }.get(extraction_type, Vocabulary())


# normalisation ----------------------------------------------------------------------------------

_EDGE = " \t\r\n\u3000\"'`*“”‘’「」『』[]"
_TRAILING = "。.,，;；、:："
_NONE_VALUES = frozenset(
    {"", "无", "空", "没有", "暂无", "none", "null", "nan", "n/a", "na", "-", "--", "/", "未提及", "不详"}
)


def clean(value: Any) -> str:
    """The form values are compared in (see the module docstring)."""
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(value))).lower()
    previous = None
    while previous != text:
        previous = text
        text = text.strip(_EDGE).rstrip(_TRAILING)
    return text


def _cleaned(values: Iterable[str]) -> frozenset[str]:
    return frozenset(c for c in (clean(v) for v in values) if c)


def split_values(text: str) -> list[str]:
    """`A，B、C；D` or `A##B` (CHIP-CDN) -> cleaned values, explicit none values dropped."""
    parts = re.split(r"##|[，,、;；]|\s{2,}|\t", text)
    return [c for c in (clean(p) for p in parts) if c and c not in _NONE_VALUES]


def dedupe(items: Iterable[Item]) -> list[Item]:
    return list(dict.fromkeys(items))


# locating the answer ------------------------------------------------------------------------------

_BULLET = re.compile(
    r"^(?:[-*+•·]\s+|[-*+•·](?=[^\s\-*])|\d{1,3}\s*[.、)）](?!\d)\s*|[（(]\d{1,3}[)）]\s*|#{1,6}\s+|>\s*)"
)
_NO_ANSWER = re.compile(
    r"^(?:答案|结果|输出)?[:：]?\s*(?:无|没有|空|none|null|n/?a|\[\]|\{\})[。.]?$"
    r"|(?:没有|未|并未|无法|不能)(?:能)?(?:发现|识别|抽取|提取|找到|检测|找出)(?:出|到)?(?:任何)?"
    r"|(?:不存在|不包含|没有|无)(?:任何)?(?:符合|相关|指定|明确)?(?:要求|条件)?的?(?:医学)?(?:命名)?"
    r"(?:实体|关系|三元组|事件|标准词|术语)",
    re.IGNORECASE,
)


def answer_lines(text: str) -> list[str]:
    """Non-blank lines without list bullets, numbering, heading marks or bold markers."""
    lines = []
    for raw in text.splitlines():
        line = raw.strip().replace("**", "").replace("__", "")
        line = _BULLET.sub("", line, count=1).strip()
        if line and not re.fullmatch(r"```\w*", line):
            lines.append(line)
    return lines


def says_none(text: str) -> bool:
    """An explicit statement that there is nothing to extract."""
    compact = re.sub(r"\s+", "", text)
    return bool(_NO_ANSWER.search(compact)) and len(compact) <= 80


# shared pieces of the readers -----------------------------------------------------------------------

_WRAPPER_KEYS = _cleaned((
    "entities", "entity_list", "实体", "实体列表", "识别结果", "result", "results", "answer", "答案", "output", "data",
    "结果", "relations", "relation_list", "triples", "triplets", "spo_list", "spo", "三元组", "关系列表", "events",
    "event_list", "事件", "事件列表", "items", "list", "normalization", "标准词", "标准化结果", "归一化结果",
))


def _unwrap(data: Any, keep: frozenset[str] = frozenset()) -> Any:
    """Descend through single-key wrapper objects such as {"entities": [...]}."""
    while isinstance(data, dict) and len(data) == 1:
        key = clean(next(iter(data)))
        if key not in _WRAPPER_KEYS or key in keep:
            break
        data = next(iter(data.values()))
    return data


def _field(record: dict, names: frozenset[str]) -> Any:
    for key, value in record.items():
        if clean(key) in names:
            return value
    return MISSING


def _texts(value: Any) -> list[str]:
    """A field value as cleaned strings: a list, or a string that may list several values."""
    if value is None or value is MISSING:
        return []
    if isinstance(value, (list, tuple)):
        return [c for c in (clean(v) for v in value if not isinstance(v, (dict, list))) if c and c not in _NONE_VALUES]
    return split_values(str(value))


def _one_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        value = value[0] if len(value) == 1 else MISSING
    if value is MISSING or value is None or isinstance(value, dict):
        raise ShapeError(f"expected a single string, found {value!r}"[:120])
    return clean(value)


def _table_rows(text: str) -> list[list[str]]:
    """Cells of markdown table rows, separator rows dropped."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.count("|") < 2:
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if all(re.fullmatch(r":?-{2,}:?", cell) for cell in cells if cell):
            continue
        rows.append(cells)
    return rows


def _column(header: list[str], names: frozenset[str]) -> int | None:
    for index, cell in enumerate(header):
        if clean(cell) in names:
            return index
    return None


# entities -------------------------------------------------------------------------------------------

_TYPE_KEYS = _cleaned(("type", "类型", "实体类型", "label", "category", "entity_type", "类别", "tag", "类"))
_ENTITY_KEYS = _cleaned(("entity", "实体", "name", "text", "mention", "实体名称", "实体名", "word", "span", "value",
                         "名称", "entity_name", "内容", "实体内容"))


def type_of(raw: str, vocab: Vocabulary) -> str | None:
    """The known entity type `raw` names (`疾病`, `[疾病]实体`, `疾病类`), or None."""
    text = clean(re.sub(r"[\[\]【】]", "", str(raw)))
    for candidate in (text, re.sub(r"(?:类实体|类|实体|名称|实体名称)$", "", text)):
        if candidate in vocab.types:
            return candidate
    return None


def _entities_from_data(data: Any, vocab: Vocabulary) -> list[Item]:
    data = _unwrap(data, keep=vocab.types)
    if isinstance(data, dict):
        values = list(data.values())
        if values and all(isinstance(v, str) for v in values) and any(type_of(v, vocab) for v in values):
            return [(type_of(v, vocab) or clean(v), clean(k)) for k, v in data.items() if clean(k)]
        items: list[Item] = []
        for key, value in data.items():
            if isinstance(value, (dict, bool, int, float)):
                raise ShapeError(f"entity type {key!r} maps to {type(value).__name__}, not a list of entities")
            kind = type_of(key, vocab) or clean(key)
            items += [(kind, entity) for entity in _texts(value)]
        return items
    if not isinstance(data, list):
        raise ShapeError(f"expected a list of entities, found {type(data).__name__}")
    items = []
    for element in data:
        if isinstance(element, dict):
            kind, entity = _field(element, _TYPE_KEYS), _field(element, _ENTITY_KEYS)
            if kind is MISSING or entity is MISSING:
                raise ShapeError(f"entity object without a type and an entity field: {element!r}"[:160])
            kind = type_of(str(kind), vocab) or clean(kind)
            items += [(kind, e) for e in _texts(entity)]
        elif isinstance(element, (list, tuple)) and len(element) == 2:
            first, second = (str(e) for e in element)
            first_type = type_of(first, vocab)
            if first_type and not type_of(second, vocab):
                items.append((first_type, clean(second)))
            else:
                items.append((type_of(second, vocab) or clean(second), clean(first)))
        elif isinstance(element, str):
            found = _entity_line(element, vocab)
            if found is None:
                raise ShapeError(f"cannot read {element!r} as a typed entity"[:120])
            items += found
        else:
            raise ShapeError(f"unexpected entity element {element!r}"[:120])
    return items


_KV_ENTITY = re.compile(
    r"(?:实体名称|实体名|实体|名称|entity)\s*[:：=]\s*(?P<entity>[^，,；;|]+?)\s*[，,；;|]\s*"
    r"(?:实体类型|类型|类别|type)\s*[:：=]\s*(?P<type>[^，,；;|]+)",
    re.IGNORECASE,
)
_TYPED_IN_PARENS = re.compile(r"(?P<entity>[^（()）、，,;；：:]+?)\s*[（(]\s*(?P<type>[^（()）]+?)\s*[)）]")
_COLON = re.compile(r"^(?P<left>[^：:]{1,24}?)\s*[：:]\s*(?P<right>.*)$")
_DASH = re.compile(r"\s*(?:->|→|=>|——|—|－|–|-|\|)\s*")


def _entity_line(line: str, vocab: Vocabulary) -> list[Item] | None:
    """Typed entities on one line, [] for a type explicitly given none, None when the line is not one."""
    pairs = [(m["type"], m["entity"]) for m in _KV_ENTITY.finditer(line)]
    if pairs:
        return [(type_of(t, vocab) or clean(t), clean(e)) for t, e in pairs if clean(e)]
    match = _COLON.match(line)
    if match:
        left, right = match["left"], match["right"]
        kind = type_of(left, vocab)
        if kind:
            return _typed_run(kind, right, vocab)
        kind = type_of(right, vocab)
        if kind:
            return [(kind, clean(left))]
    found = [(type_of(m["type"], vocab), clean(m["entity"])) for m in _TYPED_IN_PARENS.finditer(line)]
    typed: list[Item] = [(kind, entity) for kind, entity in found if kind and entity]
    if typed:
        return typed
    parts = _DASH.split(line)
    if len(parts) == 2:
        first, second = parts
        second_type = type_of(second, vocab)
        if second_type:
            return [(second_type, clean(first))]
        first_type = type_of(first, vocab)
        if first_type:
            return [(first_type, value) for value in split_values(second)]
    return None


def _typed_run(kind: str, values: str, vocab: Vocabulary) -> list[Item]:
    """`奥美拉唑，药物：阿莫西林，疾病：胃炎`: a value written as `类型：实体` switches the type for
    what follows (models put several types on one line)."""
    items: list[Item] = []
    for value in split_values(values):
        switch = _COLON.match(value)
        switched = type_of(switch["left"], vocab) if switch else None
        if switch and switched:
            kind, value = switched, clean(switch["right"])
        if value:
            items.append((kind, value))
    return items


def _entities_from_table(text: str, vocab: Vocabulary) -> list[Item] | None:
    rows = _table_rows(text)
    if len(rows) < 2:
        return None
    entity_col, type_col = _column(rows[0], _ENTITY_KEYS), _column(rows[0], _TYPE_KEYS)
    if entity_col is None or type_col is None:
        return None
    return [
        (type_of(row[type_col], vocab) or clean(row[type_col]), clean(row[entity_col]))
        for row in rows[1:]
        if len(row) > max(entity_col, type_col) and clean(row[entity_col])
    ]


def _entities_from_text(text: str, vocab: Vocabulary) -> list[Item] | None:
    table = _entities_from_table(text, vocab)
    if table is not None:
        return table
    found, recognised = [], False
    for line in answer_lines(text):
        items = _entity_line(line, vocab)
        if items is not None:
            recognised = True
            found += items
    return found if recognised else None


# relations ------------------------------------------------------------------------------------------

_HEAD_KEYS = _cleaned(("head", "subject", "头实体", "头", "主体", "主实体", "头部实体", "h", "sub", "实体1"))
_RELATION_KEYS = _cleaned(("relation", "predicate", "关系", "关系类型", "谓词", "r", "rel", "relation_type", "pred"))
_TAIL_KEYS = _cleaned(("tail", "object", "尾实体", "尾", "客体", "尾部实体", "t", "obj", "实体2"))


def relation_of(raw: str, vocab: Vocabulary) -> str | None:
    text = clean(raw)
    return text if text in vocab.relations else None


def orient(parts: list[str], vocab: Vocabulary) -> Item:
    """(head, relation, tail) from three values, moving a known relation name into the middle."""
    a, b, c = (clean(p) for p in parts)
    if relation_of(b, vocab) or not (relation_of(c, vocab) or relation_of(a, vocab)):
        return (a, b, c)
    if relation_of(c, vocab):
        return (a, c, b)
    return (b, a, c)


def _relations_from_data(data: Any, vocab: Vocabulary) -> list[Item]:
    data = _unwrap(data, keep=vocab.relations)
    if isinstance(data, dict):
        if _field(data, _HEAD_KEYS) is not MISSING:
            data = [data]
        else:  # {relation: [[head, tail], {"头实体": …, "尾实体": …}, …]}
            items: list[Item] = []
            for relation, pairs in data.items():
                if not isinstance(pairs, list):
                    raise ShapeError(f"relation {relation!r} maps to {type(pairs).__name__}, not a list of pairs")
                for pair in pairs:
                    if isinstance(pair, dict):
                        head, tail = _field(pair, _HEAD_KEYS), _field(pair, _TAIL_KEYS)
                        items.append((_one_text(head), clean(relation), _one_text(tail)))
                    elif isinstance(pair, (list, tuple)) and len(pair) == 2:
                        items.append((clean(pair[0]), clean(relation), clean(pair[1])))
                    else:
                        raise ShapeError(f"cannot read {pair!r} as a (head, tail) pair"[:120])
            return items
    if not isinstance(data, list):
        raise ShapeError(f"expected a list of triples, found {type(data).__name__}")
    items = []
    for element in data:
        if isinstance(element, dict):
            head, relation, tail = (_field(element, keys) for keys in (_HEAD_KEYS, _RELATION_KEYS, _TAIL_KEYS))
            if MISSING in (head, relation, tail):
                raise ShapeError(f"triple object without head, relation and tail fields: {element!r}"[:160])
            items.append((_one_text(head), _one_text(relation), _one_text(tail)))
        elif isinstance(element, (list, tuple)) and len(element) == 3:
            items.append(orient([str(e) for e in element], vocab))
        elif isinstance(element, str):
            found = _relation_line(element, vocab)
            if not found:
                raise ShapeError(f"cannot read {element!r} as a triple"[:120])
            items += found
        else:
            raise ShapeError(f"unexpected triple element {element!r}"[:120])
    return items


_REL_KEY = re.compile(
    r"(?P<key>头实体|尾实体|关系类型|关系|主体|客体|head|tail|relation|predicate|subject|object)\s*(?:[:：=]|为|是)\s*",
    re.IGNORECASE,
)
_REL_GROUP = {**{k: "h" for k in ("头实体", "主体", "head", "subject")},
              **{k: "r" for k in ("关系类型", "关系", "relation", "predicate")},
              **{k: "t" for k in ("尾实体", "客体", "tail", "object")}}
_HAS_RELATION = re.compile(r"具有\s*[\"“「]?(?P<relation>.+?)[\"”」]?\s*关系的(?:头尾)?实体对(?:如下)?\s*[:：]?")
_BRACKETED = re.compile(r"[（(<\[【]([^()（）<>\[\]【】]+?)[)）>\]】]")


def _key_value_triples(line: str, relation: str | None) -> list[Item]:
    """`关系："R"，头实体："H"，尾实体："T"` in any key order; a key seen again starts the next triple."""
    keys = list(_REL_KEY.finditer(line))
    triples: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for index, match in enumerate(keys):
        end = keys[index + 1].start() if index + 1 < len(keys) else len(line)
        slot = _REL_GROUP[match["key"].lower()]
        value = clean(line[match.end():end].strip().rstrip("，,；;。 "))
        if slot in current:
            triples.append(current)
            current = {}
        current[slot] = value
    triples.append(current)
    items: list[Item] = []
    for triple in triples:
        if relation and "r" not in triple:
            triple["r"] = clean(relation)
        if {"h", "r", "t"} <= triple.keys() and all(triple.values()):
            items.append((triple["h"], triple["r"], triple["t"]))
    return items


def _relation_line(line: str, vocab: Vocabulary, relation: str | None = None) -> list[Item]:
    header = _HAS_RELATION.search(line)
    if header:
        relation, line = header["relation"], line[header.end():]
    if _REL_KEY.search(line):
        keyed = _key_value_triples(line, relation)
        if keyed:
            return keyed
    line, restore = _shield_relations(line, vocab)
    items = []
    for match in _BRACKETED.finditer(line):
        parts = re.split(r"\s*[，,、;；|]\s*", match[1].strip())
        if len(parts) == 3 and all(clean(p) for p in parts):
            items.append(orient([restore(p) for p in parts], vocab))
    if items:
        return items
    parts = [p for p in _DASH.split(line.strip().rstrip("。；;")) if p.strip()]
    if len(parts) == 3 and all(0 < len(clean(p)) <= 40 for p in parts):
        return [orient([restore(p) for p in parts], vocab)]
    return []


def _shield_relations(line: str, vocab: Vocabulary) -> tuple[str, Callable[[str], str]]:
    """Known relation names that contain brackets (`相关（导致）`) swapped for placeholders, so that
    they do not end a `(头, 关系, 尾)` tuple early; returns the line and a function undoing it."""
    line = unicodedata.normalize("NFKC", line)
    names: dict[str, str] = {}
    bracketed = sorted((r for r in vocab.relations if re.search(r"[()\[\]]", r)), key=len, reverse=True)
    for index, name in enumerate(bracketed):
        if name in line:
            placeholder = f"\ue000{index}\ue001"
            line = line.replace(name, placeholder)
            names[placeholder] = name

    def restore(part: str) -> str:
        for placeholder, name in names.items():
            part = part.replace(placeholder, name)
        return part

    return line, restore


def _relations_from_table(text: str, vocab: Vocabulary) -> list[Item] | None:
    rows = _table_rows(text)
    if len(rows) < 2:
        return None
    head, relation, tail = (_column(rows[0], keys) for keys in (_HEAD_KEYS, _RELATION_KEYS, _TAIL_KEYS))
    if head is None or relation is None or tail is None:
        return None
    cols = (head, relation, tail)
    return [
        (clean(row[head]), clean(row[relation]), clean(row[tail]))
        for row in rows[1:]
        if len(row) > max(cols) and all(clean(row[c]) for c in cols)
    ]


def _relations_from_text(text: str, vocab: Vocabulary) -> list[Item] | None:
    table = _relations_from_table(text, vocab)
    if table is not None:
        return table
    found: list[Item] = []
    relation = None
    for line in answer_lines(text):
        header = _HAS_RELATION.search(line)
        if header:
            relation = header["relation"]
        found += _relation_line(line, vocab, relation)
    return found or None


# events ---------------------------------------------------------------------------------------------

_EVENT_KEY = re.compile(
    r"(?P<key>主体词|核心词|主体|发生状态|状态|描述词|描述|解剖部位|部位|core_name|tendency|character|anatomy_list)"
    r"\s*[:：=]\s*"
)
_EVENT_FIELD = {"主体词": 0, "核心词": 0, "主体": 0, "core_name": 0, "发生状态": 1, "状态": 1, "tendency": 1,
                "描述词": 2, "描述": 2, "character": 2, "解剖部位": 3, "部位": 3, "anatomy_list": 3}
_DATA_EVENT_KEYS = tuple(
    _cleaned(names) for names in (
        ("主体词", "核心词", "主体", "core_name", "subject", "event", "trigger"),
        ("发生状态", "状态", "tendency", "status", "polarity"),
        ("描述词", "描述", "character", "characters", "descriptors", "description", "attributes"),
        ("解剖部位", "部位", "anatomy", "anatomy_list", "body_part", "location"),
    )
)


def event_status(value: Any) -> str:
    """CHIP-CDEE's 发生状态: 否定, 不确定, or '' (occurred / not stated)."""
    text = clean(" ".join(value) if isinstance(value, list) else value or "")
    if text in ("否定", "否认", "阴性", "否", "negative", "未发生"):
        return "否定"
    if text in ("不确定", "可能", "疑似", "待排", "uncertain", "不明确"):
        return "不确定"
    return ""


def event_item(subject: Any, status: Any, descriptors: Any, sites: Any) -> Item:
    return (
        _one_text(subject),
        event_status(status),
        "|".join(sorted(set(_texts(descriptors)))),
        "|".join(sorted(set(_texts(sites)))),
    )


def _events_from_data(data: Any, vocab: Vocabulary) -> list[Item]:
    data = _unwrap(data)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ShapeError(f"expected a list of events, found {type(data).__name__}")
    items = []
    for element in data:
        if not isinstance(element, dict):
            raise ShapeError(f"expected an event object, found {element!r}"[:120])
        fields = [_field(element, keys) for keys in _DATA_EVENT_KEYS]
        if fields[0] is MISSING:
            raise ShapeError(f"event object without 主体词: {element!r}"[:160])
        items.append(event_item(*fields))
    return items


def _events_from_text(text: str, vocab: Vocabulary) -> list[Item] | None:
    keys = list(_EVENT_KEY.finditer(text))
    events: list[dict[int, str]] = []
    current: dict[int, str] = {}
    for index, match in enumerate(keys):
        end = keys[index + 1].start() if index + 1 < len(keys) else len(text)
        value = text[match.end():end].lstrip(" \t").split("\n")[0].strip().rstrip("，,；;。 ")
        slot = _EVENT_FIELD[match["key"]]
        if slot in current:
            events.append(current)
            current = {}
        current[slot] = value
    events.append(current)
    items = [event_item(e[0], e.get(1, ""), e.get(2, ""), e.get(3, "")) for e in events if clean(e.get(0, ""))]
    return items or None


# normalisation --------------------------------------------------------------------------------------

_TERM_KEYS = _cleaned(("entity", "标准词", "标准术语", "normalized", "term", "name", "标准名", "结果", "答案", "value"))
_TERM_MARKER = re.compile(
    r"(?:标准化?词|标准术语|标准名称?|标准化结果|归一化结果|标准化后|对应的标准[^：:\n]{0,6}|答案|结果|输出)"
    r"(?:是|为|如下)?\s*[:：]\s*"
)


_PROSE = re.compile(r"[。！？!?]|是|应该|对应|这个|我们|属于|因此|所以|根据|答案")


def _terms_from_data(data: Any, vocab: Vocabulary) -> list[Item]:
    data = _unwrap(data)
    if isinstance(data, dict):
        value = _field(data, _TERM_KEYS)
        if value is MISSING:
            raise ShapeError(f"no term field in {data!r}"[:120])
        data = value if isinstance(value, list) else [value]
    if isinstance(data, str):
        data = [data]
    if not isinstance(data, list):
        raise ShapeError(f"expected a list of terms, found {type(data).__name__}")
    items: list[Item] = []
    for element in data:
        if isinstance(element, dict):
            value = _field(element, _TERM_KEYS)
            if value is MISSING:
                raise ShapeError(f"term object without a term field: {element!r}"[:120])
            items += [(t,) for t in _texts(value)]
        elif isinstance(element, str):
            items += [(t,) for t in split_values(element)]
        else:
            raise ShapeError(f"unexpected term {element!r}"[:120])
    return items


def _terms_from_text(text: str, vocab: Vocabulary) -> list[Item] | None:
    markers = list(_TERM_MARKER.finditer(text))
    if markers:
        rest = text[markers[-1].end():]
        lines = answer_lines(rest)
        # a marker followed by a bullet list: one term per line
        if len(lines) > 1 and all(len(clean(line)) <= 30 for line in lines):
            values = [v for line in lines for v in split_values(line)]
        else:
            values = split_values(lines[0]) if lines else []
    else:
        lines = answer_lines(text)
        if not lines:
            return None
        lines = [line for line in lines if not line.endswith((":", "："))] or lines
        if len(lines) > 1 and all(len(clean(line)) <= 30 and "。" not in line for line in lines):
            values = [v for line in lines for v in split_values(line)]
        else:
            values = split_values(lines[-1])
    if not values:
        return None
    if any(len(v) > 25 or _PROSE.search(v) for v in values):
        raise ParseError("the terms read are sentences, not standard terms: " + values[0][:40])
    return [(v,) for v in values]


# classification -------------------------------------------------------------------------------------

_LABEL_KEYS = _cleaned(("label", "类别", "分类", "类型", "answer", "答案", "结果", "category", "class", "分类结果"))
_LABEL_MARKER = re.compile(r"(?:答案|类别|分类结果|分类|类型|结果|标签|属于|归为|归类为|判断为)(?:是|为)?\s*[:：]?\s*")


def _label_from_data(data: Any, vocab: Vocabulary) -> list[Item]:
    data = _unwrap(data)
    if isinstance(data, dict):
        data = _field(data, _LABEL_KEYS)
        if data is MISSING:
            raise ShapeError("no label field in the JSON object")
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, str):
        raise ShapeError(f"expected one label, found {data!r}"[:120])
    return [(clean(data),)]


def _labels_named(text: str, vocab: Vocabulary) -> list[str]:
    """Known labels in `text`, longest first without overlaps, in order of appearance."""
    compact = clean(text)
    taken = [False] * len(compact)
    found = []
    for label in sorted(vocab.labels, key=len, reverse=True):
        for match in re.finditer(re.escape(label), compact):
            span = range(match.start(), match.end())
            if not any(taken[i] for i in span):
                for i in span:
                    taken[i] = True
                found.append((match.start(), label))
    return [label for _, label in sorted(found)]


def _label_from_text(text: str, vocab: Vocabulary) -> list[Item] | None:
    lines = answer_lines(text)
    if not lines:
        return None
    whole = clean(_LABEL_MARKER.sub("", lines[-1], count=1)) if len(lines) == 1 else None
    if whole and (whole in vocab.labels or not vocab.labels) and len(whole) <= 20:
        return [(whole,)]
    markers = list(_LABEL_MARKER.finditer(text))
    if markers:
        named = _labels_named(text[markers[-1].end():].split("\n")[0], vocab)
        if named:
            return [(named[0],)]
    named = list(dict.fromkeys(_labels_named(text, vocab)))
    if len(named) == 1:
        return [(named[0],)]
    if len(named) > 1:
        raise ParseError("several labels named without a marked answer: " + "、".join(named[:4]))
    return None


# dispatch -------------------------------------------------------------------------------------------

_FROM_DATA = {
    "entities": _entities_from_data,
    "relations": _relations_from_data,
    "events": _events_from_data,
    "normalization": _terms_from_data,
    "classification": _label_from_data,
}
_FROM_TEXT = {
    "entities": _entities_from_text,
    "relations": _relations_from_text,
    "events": _events_from_text,
    "normalization": _terms_from_text,
    "classification": _label_from_text,
}


def _check_type(extraction_type: str) -> None:
    if extraction_type not in EXTRACTION_TYPES:
        raise ValueError(f"unknown extraction type {extraction_type!r} (one of {', '.join(EXTRACTION_TYPES)})")


def parse_answer(text: str, extraction_type: str, vocab: Vocabulary | None = None) -> list[Item]:
    """The items a model's answer states, deduplicated in order. Raises ParseError when the text
    holds no answer in any known layout (an explicit 'none found' is [] instead)."""
    _check_type(extraction_type)
    vocab = vocab or default_vocabulary(extraction_type)
    body = body_of(text)
    if not body:
        raise ParseError("empty response")
    problem = None
    data = json_in(body)
    if data is not MISSING:
        try:
            return dedupe(_FROM_DATA[extraction_type](data, vocab))
        except ShapeError as exc:
            problem = f"JSON not in a known {extraction_type} layout: {exc}"
    items = _FROM_TEXT[extraction_type](body, vocab)
    if items is not None:
        return dedupe(items)
    if says_none(body):
        return []
    raise ParseError(problem or f"no {extraction_type} found in any known layout")


def gold_items(structure: Any, extraction_type: str, vocab: Vocabulary | None = None) -> list[Item]:
    """Items of a gold answer: data (list/dict), a JSON string, a class label, or text in an answer
    layout. Raises ShapeError for gold that is none of these."""
    _check_type(extraction_type)
    vocab = vocab or default_vocabulary(extraction_type)
    if isinstance(structure, str):
        stripped = structure.strip()
        if stripped[:1] in "[{":
            try:
                structure = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise ShapeError(f"gold looks like JSON but does not parse: {exc.msg}") from None
        elif extraction_type == "classification":
            return [(clean(stripped),)] if clean(stripped) else []
        elif extraction_type == "normalization":
            return [(t,) for t in split_values(stripped)]
        else:
            try:
                return parse_answer(stripped, extraction_type, vocab)
            except ParseError as exc:
                raise ShapeError(f"gold text not in a known {extraction_type} layout: {exc}") from None
    if structure is None:
        raise ShapeError("the item has no gold structure")
    return dedupe(_FROM_DATA[extraction_type](structure, vocab))


def format_item(extraction_type: str, item: Item) -> str:
    """One item as people read it (used for covered/missed lists)."""
    if extraction_type == "entities":
        return f"{item[1]}（{item[0]}）"
    if extraction_type == "relations":
        return f"({item[0]}, {item[1]}, {item[2]})"
    if extraction_type == "events":
        fields = [f"{name}：{value}" for name, value in zip(EVENT_FIELDS, item, strict=True) if value]
        return "；".join(fields)
    return item[0]
