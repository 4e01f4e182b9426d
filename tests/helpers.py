"""Small builders for test samples, and the browser settings of the Playwright tests."""

from pathlib import Path

from medgap.records import Gold, Sample, Source


def choice_sample(sample_id: str, answer: str = "A", n_options: int = 4, dimension: str = "knowledge_qa",
                  task: str = "test-task", kind: str | None = None, **extra) -> Sample:
    letters = [chr(ord("A") + i) for i in range(n_options)]
    return Sample(
        id=sample_id,
        source=Source(dataset="fixture"),
        task=task,
        dimension=dimension,
        kind=kind or ("multi" if len(answer) > 1 else "single"),
        question=f"问题 {sample_id}",
        options={letter: f"{sample_id} 选项内容 {letter}" for letter in letters},
        gold=Gold(letters=sorted(answer)),
        **extra,
    )


# Debian's chromium, launched by path (playwright cannot download a browser here); the flags keep
# it off the network, which this machine does not have.
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
