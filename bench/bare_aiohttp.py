"""The bare aiohttp loop as a program of its own: what any Python harness costs at the least.

    python bench/bare_aiohttp.py URL PROMPTS.jsonl CONCURRENCY [LIMIT]

Reads one {"prompt": ...} per line, posts each as a chat completion with one ClientSession and
CONCURRENCY workers, parses every JSON reply, prints how many answers came back. No storage, no
extraction, no scoring: harness_overhead.py times it as a subprocess, exactly as it times
`medgap run`, so the interpreter start and the imports are on both sides of the ratio.
"""

import asyncio
import json
import sys

import aiohttp


async def post_all(url: str, prompts: list[str], concurrency: int) -> int:
    headers = {"Content-Type": "application/json", "Authorization": "Bearer bench"}
    pending = iter(prompts)
    answers = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def worker() -> None:
            nonlocal answers
            for prompt in pending:
                body = {"model": "bench-model", "messages": [{"role": "user", "content": prompt}],
                        "temperature": 0.0, "max_tokens": 512}
                async with session.post(url, data=json.dumps(body, ensure_ascii=False).encode(),
                                        headers=headers) as reply:
                    assert reply.status == 200, reply.status
                    json.loads(await reply.read())["choices"][0]["message"]["content"]
                    answers += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answers


def main() -> None:
    url, path, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3])
    limit = int(sys.argv[4]) if len(sys.argv) > 4 else None
    with open(path, encoding="utf-8") as lines:
        prompts = [json.loads(line)["prompt"] for line in lines][:limit]
    print(asyncio.run(post_all(url, prompts, concurrency)))


if __name__ == "__main__":
    main()
