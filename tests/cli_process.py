"""`medgap` as a separate process, the way a user starts it: the command line, its environment, and a
data file of choice items whose stems tell which item a request asked."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def medgap(*args: str) -> list[str]:
    found = shutil.which("medgap")
    launcher = [found] if found else [sys.executable, "-c", "import sys; from medgap.cli import main; sys.exit(main())"]
    return [*launcher, *map(str, args)]


def environment(**extra: str) -> dict[str, str]:
    pythonpath = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "MEDGAP_DB")}
    return {**env, "PYTHONPATH": pythonpath, **extra}


def stem(i: int) -> str:
    return f"【编号{i:03d}】门静脉高压患者出现呕血，首选的处理措施是"


def write_items(path: Path, n: int) -> Path:
    lines = []
    for i in range(n):
        options = ["A. 三腔二囊管压迫", "B. 急诊手术", "C. 输血补液", "D. 口服止血药", "E. 观察"]
        record = {"question": stem(i), "options": options, "answer": "C", "other": {"source": "Med-Exam", "id": i}}
        lines.append(json.dumps(record, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def asked_per_item(per_question, n: int) -> list[int]:
    received = dict(per_question)
    return [sum(count for prompt, count in received.items() if stem(i) in prompt) for i in range(n)]
