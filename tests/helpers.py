"""Small builders for test samples."""

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
