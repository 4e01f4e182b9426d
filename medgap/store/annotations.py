"""Error labels in the run's database, in tables of their own: automatic pre-labels, the sample of
rows put to annotators, annotator tokens (only their SHA-256 is kept), every annotator's label
(written on each click, autocommitted) and adjudications.

Consensus of an item: once every annotator has labelled it, the category chosen by more than half
of them; without such a majority the item waits for the adjudicator, whose decision is final.

Every write is one statement that touches only its writer's own row (an annotator's label of an item,
keyed by item and annotator), so annotators labelling at once, on PostgreSQL from several machines,
never overwrite one another.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from medgap.analysis.taxonomy import CATEGORY_KEYS, ErrorLabel, category
from medgap.store.sqlite import Store

Key = tuple[str, int]  # (sample_id, permutation)
Role = Literal["annotator", "adjudicator"]
Status = Literal["pending", "agreed", "needs_adjudication", "adjudicated"]
NOTE_CHARS = 2000

def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class LabelChoice(BaseModel):
    """What a person chooses for one item: a primary category, optional secondary ones, a note."""

    category: str
    secondary: list[str] = Field(default_factory=list, max_length=len(CATEGORY_KEYS))
    note: str = Field(default="", max_length=NOTE_CHARS)

    @field_validator("category")
    @classmethod
    def _known(cls, value: str) -> str:
        category(value)
        return value

    @field_validator("secondary")
    @classmethod
    def _known_secondary(cls, value: list[str]) -> list[str]:
        for key in value:
            category(key)
        return list(dict.fromkeys(value))


class HumanLabel(LabelChoice):
    """One person's label of one item, as stored."""

    by: str = ""
    updated: str = ""

    @classmethod
    def made(cls, choice: LabelChoice, by: str) -> HumanLabel:
        """The stored form of a choice: the primary is not also secondary; who and when."""
        secondary = [key for key in choice.secondary if key != choice.category]
        return cls(category=choice.category, secondary=secondary, note=choice.note, by=by, updated=now())


@dataclass(frozen=True)
class Annotator:
    name: str
    role: Role
    finished: str | None = None


@dataclass
class ItemStatus:
    status: Status
    consensus: str | None = None
    secondary: list[str] = field(default_factory=list)
    labels: dict[str, HumanLabel] = field(default_factory=dict)
    adjudication: HumanLabel | None = None


def resolve(
    labels: dict[str, HumanLabel], annotators: list[str], adjudication: HumanLabel | None = None
) -> ItemStatus:
    """The consensus state of one item given its annotators' labels (see the module docstring)."""
    mine = {name: labels[name] for name in annotators if name in labels}
    if adjudication is not None:
        return ItemStatus("adjudicated", adjudication.category, adjudication.secondary, mine, adjudication)
    if not annotators or len(mine) < len(annotators):
        return ItemStatus("pending", labels=mine)
    top, votes = Counter(label.category for label in mine.values()).most_common(1)[0]
    if votes * 2 <= len(annotators):
        return ItemStatus("needs_adjudication", labels=mine)
    named = Counter(key for label in mine.values() for key in {label.category, *label.secondary})
    secondary = [key for key, count in named.items() if key != top and count * 2 > len(annotators)]
    return ItemStatus("agreed", top, secondary, mine)


class AnnotationStore:
    """The annotation tables of one `Store`'s database."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db  # its tables come with the store's schema (medgap.store.backend.MIGRATIONS)

    # pre-labels ------------------------------------------------------------------------------------
    def save_prelabels(self, run_id: str, labels: dict[Key, tuple[str, ErrorLabel]]) -> None:
        """Store pre-labels, each with the digest of the row it was made from."""
        stamp = now()
        with self.db:
            self.db.begin()
            self.db.executemany(
                "INSERT INTO error_prelabels VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, sample_id, permutation) "
                "DO UPDATE SET digest = excluded.digest, category = excluded.category, label = excluded.label, "
                "updated = excluded.updated",
                (
                    (run_id, sid, perm, digest, label.category, label.model_dump_json(), stamp)
                    for (sid, perm), (digest, label) in labels.items()
                ),
            )

    def prelabels(self, run_id: str) -> dict[Key, tuple[str, ErrorLabel]]:
        cursor = self.db.execute(
            "SELECT sample_id, permutation, digest, label FROM error_prelabels WHERE run_id = ?", (run_id,)
        )
        return {
            (sid, perm): (digest, ErrorLabel.model_validate_json(label))
            for sid, perm, digest, label in cursor
        }

    # annotators ------------------------------------------------------------------------------------
    def issue_token(self, run_id: str, name: str, role: Role) -> str:
        """A new secret token for `name` (replacing any earlier one); only its hash is stored."""
        token = secrets.token_urlsafe(24)
        self.db.execute(
            "INSERT INTO annotators VALUES (?, ?, ?, ?, NULL, ?) "
            "ON CONFLICT (run_id, name) DO UPDATE SET token_hash = excluded.token_hash, role = excluded.role",
            (run_id, name, role, token_hash(token), now()),
        )
        return token

    def annotators(self, run_id: str, role: Role | None = None) -> list[Annotator]:
        cursor = self.db.execute(
            "SELECT name, role, finished FROM annotators WHERE run_id = ? ORDER BY role DESC, name", (run_id,)
        )
        found = [Annotator(name, role_, finished) for name, role_, finished in cursor]
        return [a for a in found if role is None or a.role == role]

    def annotator_names(self, run_id: str) -> list[str]:
        return [a.name for a in self.annotators(run_id, "annotator")]

    def authenticate(self, run_id: str, token: str) -> Annotator | None:
        found = self.db.execute(
            "SELECT name, role, finished FROM annotators WHERE run_id = ? AND token_hash = ?",
            (run_id, token_hash(token)),
        ).fetchone()
        return Annotator(*found) if found else None

    def annotator(self, run_id: str, name: str) -> Annotator | None:
        found = self.db.execute(
            "SELECT name, role, finished FROM annotators WHERE run_id = ? AND name = ?", (run_id, name)
        ).fetchone()
        return Annotator(*found) if found else None

    def mark_finished(self, run_id: str, name: str) -> None:
        self.db.execute(
            "UPDATE annotators SET finished = ? WHERE run_id = ? AND name = ? AND finished IS NULL",
            (now(), run_id, name),
        )

    # the sample ------------------------------------------------------------------------------------
    def save_items(self, run_id: str, keys: list[Key]) -> None:
        with self.db:
            self.db.begin()
            self.db.executemany(
                "INSERT INTO annotation_items VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                ((run_id, i, sid, perm) for i, (sid, perm) in enumerate(keys)),
            )

    def items(self, run_id: str) -> list[Key]:
        cursor = self.db.execute(
            "SELECT sample_id, permutation FROM annotation_items WHERE run_id = ? ORDER BY position",
            (run_id,),
        )
        return [(sid, perm) for sid, perm in cursor]

    # labels ----------------------------------------------------------------------------------------
    def set_label(self, run_id: str, key: Key, annotator: str, label: LabelChoice) -> HumanLabel:
        """Write one annotator's label of one item now (autocommit)."""
        saved = HumanLabel.made(label, annotator)
        self.db.execute(
            "INSERT INTO error_labels VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, sample_id, permutation, "
            "annotator) DO UPDATE SET category = excluded.category, secondary = excluded.secondary, "
            "note = excluded.note, updated = excluded.updated",
            (
                run_id,
                key[0],
                key[1],
                annotator,
                saved.category,
                json.dumps(saved.secondary),
                saved.note,
                saved.updated,
            ),
        )
        return saved

    def labels(self, run_id: str) -> dict[Key, dict[str, HumanLabel]]:
        cursor = self.db.execute(
            "SELECT sample_id, permutation, annotator, category, secondary, note, updated FROM error_labels "
            "WHERE run_id = ?",
            (run_id,),
        )
        out: dict[Key, dict[str, HumanLabel]] = defaultdict(dict)
        for sid, perm, name, cat, secondary, note, updated in cursor:
            out[(sid, perm)][name] = HumanLabel(
                category=cat, secondary=json.loads(secondary), note=note, by=name, updated=updated
            )
        return dict(out)

    def set_adjudication(self, run_id: str, key: Key, adjudicator: str, label: LabelChoice) -> HumanLabel:
        saved = HumanLabel.made(label, adjudicator)
        self.db.execute(
            "INSERT INTO error_adjudications VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, sample_id, "
            "permutation) DO UPDATE SET adjudicator = excluded.adjudicator, category = excluded.category, "
            "secondary = excluded.secondary, note = excluded.note, updated = excluded.updated",
            (
                run_id,
                key[0],
                key[1],
                adjudicator,
                saved.category,
                json.dumps(saved.secondary),
                saved.note,
                saved.updated,
            ),
        )
        return saved

    def adjudications(self, run_id: str) -> dict[Key, HumanLabel]:
        cursor = self.db.execute(
            "SELECT sample_id, permutation, adjudicator, category, secondary, note, updated FROM error_adjudications "
            "WHERE run_id = ?",
            (run_id,),
        )
        return {
            (sid, perm): HumanLabel(
                category=cat, secondary=json.loads(secondary), note=note, by=name, updated=updated
            )
            for sid, perm, name, cat, secondary, note, updated in cursor
        }

    # consensus -------------------------------------------------------------------------------------
    def statuses(self, run_id: str) -> dict[Key, ItemStatus]:
        """The consensus state of every item of the run's sample, in sample order."""
        names = self.annotator_names(run_id)
        labels, decided = self.labels(run_id), self.adjudications(run_id)
        return {key: resolve(labels.get(key, {}), names, decided.get(key)) for key in self.items(run_id)}

    def consensus_labels(self, run_id: str) -> dict[Key, ErrorLabel]:
        """Human consensus as error labels, for the items that have one."""
        out = {}
        n = len(self.annotator_names(run_id))
        for key, state in self.statuses(run_id).items():
            if state.consensus is None:
                continue
            decision = state.adjudication  # set exactly when the status is "adjudicated"
            if decision is not None:
                rationale = f"adjudicated by {decision.by}" + (f": {decision.note}" if decision.note else "")
            else:
                votes = sum(1 for label in state.labels.values() if label.category == state.consensus)
                rationale = f"{votes} of {n} annotators"
            out[key] = ErrorLabel(
                category=state.consensus,
                secondary=state.secondary,
                source="adjudicated" if state.status == "adjudicated" else "consensus",
                rationale=rationale,
                confidence="high",
            )
        return out

    def prelabel(self, run_id: str, key: Key) -> ErrorLabel | None:
        found = self.db.execute(
            "SELECT label FROM error_prelabels WHERE run_id = ? AND sample_id = ? AND permutation = ?",
            (run_id, key[0], key[1]),
        ).fetchone()
        return ErrorLabel.model_validate_json(found[0]) if found else None

    # export ----------------------------------------------------------------------------------------
    def export_records(self, run_id: str) -> list[dict]:
        """One record per item of the sample: where it came from, its pre-label, every label, the consensus."""
        rows = {(r.sample_id, r.permutation): r for r in self.store.iter_rows(run_id)}
        names = self.annotator_names(run_id)
        prelabels = self.prelabels(run_id)
        records = []
        for (sid, perm), state in self.statuses(run_id).items():
            row = rows.get((sid, perm))
            pre = prelabels.get((sid, perm), (None, None))[1]
            records.append(
                {
                    "sample_id": sid,
                    "permutation": perm,
                    "task": row.task if row else None,
                    "dimension": row.dimension if row else None,
                    "kind": row.kind if row else None,
                    "prelabel": pre.category if pre else None,
                    "prelabel_secondary": pre.secondary if pre else [],
                    "prelabel_source": pre.source if pre else None,
                    "prelabel_confidence": pre.confidence if pre else None,
                    "prelabel_rationale": pre.rationale if pre else None,
                    "labels": {
                        name: state.labels[name].model_dump(exclude={"by"})
                        for name in names
                        if name in state.labels
                    },
                    "status": state.status,
                    "consensus": state.consensus,
                    "consensus_secondary": state.secondary,
                    "adjudicator": state.adjudication.by if state.adjudication else None,
                    "adjudicator_note": state.adjudication.note if state.adjudication else None,
                }
            )
        return records


EXPORT_FORMATS = ("csv", "jsonl")
EXPORT_COLUMNS = (
    "sample_id",
    "permutation",
    "task",
    "dimension",
    "kind",
    "prelabel",
    "prelabel_secondary",
    "prelabel_source",
    "prelabel_confidence",
    "prelabel_rationale",
    "status",
    "consensus",
    "consensus_secondary",
    "adjudicator",
    "adjudicator_note",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> str:
    """A CSV cell; lists joined with '|', and text a spreadsheet would run as a formula made inert."""
    if value is None:
        return ""
    text = "|".join(map(str, value)) if isinstance(value, list) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def export_text(records: list[dict], annotators: list[str], fmt: str) -> str:
    """The export as CSV (one column group per annotator) or JSONL."""
    if fmt == "jsonl":
        return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    if fmt != "csv":
        raise ValueError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    base = list(EXPORT_COLUMNS)
    per_annotator = [f"{name}{suffix}" for name in annotators for suffix in ("", "_secondary", "_note")]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(base + per_annotator)
    for record in records:
        cells = [record.get(k) for k in base]
        for name in annotators:
            label = record["labels"].get(name) or {}
            cells += [label.get("category"), label.get("secondary"), label.get("note")]
        writer.writerow([_csv_cell(cell) for cell in cells])
    return out.getvalue()
