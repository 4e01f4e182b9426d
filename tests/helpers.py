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


# A Qwen-style chat template that writes a default system prompt when none is sent, as Qwen2.5's does.
QWEN_LIKE_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def write_gguf(path: Path, template: str = QWEN_LIKE_TEMPLATE, tokens=("<s>", "<|im_end|>", "a")) -> Path:
    """A GGUF file with tokenizer metadata and a chat template, and no weights: enough for
    everything that reads a model's template."""
    from gguf import GGUFWriter

    writer = GGUFWriter(str(path), "llama")
    writer.add_chat_template(template)
    writer.add_token_list(list(tokens))
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(1)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


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
