"""Router overhead per call against a direct httpx call to the same local OpenAI-style server.

Run: .venv/bin/python bench/router.py [--calls 2000] [--rounds 10]
Both sides POST the same chat completion to a server on 127.0.0.1 and decode the answer; the
router adds its policy, breaker, deadline, redaction check and result building. Prints both
means and their ratio from one run (target: router / direct <= 1.10).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.llm_servers import OpenAIServer

from awoooi.ai.intents import Intent
from awoooi.ai.router import Router
from awoooi.ai.settings import AISettings, ProviderConfig

PROMPT = "Pod shop/web-7d9f8c6b5d-x2kqz is crash looping; restarts 5 in 10 minutes."


async def direct_call(client: httpx.AsyncClient) -> str:
    """What a caller without the router would do."""
    response = await client.post(
        "/chat/completions",
        json={
            "model": "test-model",
            "messages": [{"role": "user", "content": PROMPT}],
            "temperature": 0.2,
            "max_tokens": 1024,
            "stream": False,
        },
    )
    response.raise_for_status()
    return str(response.json()["choices"][0]["message"]["content"])


async def timed(calls: int, call: object) -> float:
    """Seconds for `calls` sequential awaits of call()."""
    started = time.perf_counter()
    for _ in range(calls):
        await call()  # type: ignore[operator]
    return time.perf_counter() - started


async def main(calls: int, rounds: int) -> None:
    server = OpenAIServer().start()
    try:
        settings = AISettings(
            providers=[
                ProviderConfig(
                    name="nemotron", kind="openai", base_url=server.base_url, model="test-model"
                )
            ]
        )
        router = Router(settings)
        client = httpx.AsyncClient(base_url=server.base_url, trust_env=False, timeout=20)
        per_round = max(1, calls // rounds)

        async def via_router() -> str:
            result = await router.chat(Intent.DIAGNOSE, PROMPT)
            assert result.success, result.error
            return result.text

        async def via_httpx() -> str:
            return await direct_call(client)

        await timed(50, via_router)  # warm up both connection pools
        await timed(50, via_httpx)
        direct: list[float] = []
        routed: list[float] = []
        for index in range(rounds):
            # Alternate the order so neither side always runs on a warmer machine.
            pair = [(direct, via_httpx), (routed, via_router)]
            for bucket, call in pair if index % 2 == 0 else reversed(pair):
                bucket.append(await timed(per_round, call) / per_round)
        await client.aclose()
        await router.aclose()
    finally:
        server.stop()
    direct_us = statistics.median(direct) * 1e6
    routed_us = statistics.median(routed) * 1e6
    print(f"calls per side: {per_round * rounds} in {rounds} rounds (median of round means)")
    print(f"{'path':<28}{'us/call':>12}")
    print(f"{'direct httpx (reference)':<28}{direct_us:>12.1f}")
    print(f"{'awoooi Router.chat':<28}{routed_us:>12.1f}")
    print(f"ratio router/direct: {routed_us / direct_us:.3f}  (target <= 1.10)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds))
