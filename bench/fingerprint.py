"""Benchmark normalize_message as a log grouper on Loghub-2k against drain3's TemplateMiner."""

# Run from the repository root with the project's venv:
#
#     .venv/bin/python bench/fingerprint.py [--data DIR] [--json] [--repeat N] [--errors SYS]
#
# For each of the 16 Loghub-2k systems it groups `Content` by `normalize_message` and reports
# grouping accuracy (GA), pairwise precision, and messages/second of our normalizer and of
# drain3's TemplateMiner (default config, in memory, no persistence, `add_log_message`) over the
# same messages in the same run. `--errors SYS` lists one system's merged and split groups, to
# study the rule set. The data's definitions are in shared/bench/loghub/README.md.

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from awoooi.symptoms.normalize import normalize_message

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "bench" / "loghub"

SYSTEMS = (
    "Android",
    "Apache",
    "BGL",
    "HDFS",
    "HPC",
    "Hadoop",
    "HealthApp",
    "Linux",
    "Mac",
    "OpenSSH",
    "OpenStack",
    "Proxifier",
    "Spark",
    "Thunderbird",
    "Windows",
    "Zookeeper",
)

# Drain's published GA on Loghub-2k: Zhu et al., "Tools and Benchmarks for Automated Log
# Parsing", ICSE 2019, Table (logpai/logparser docs/benchmark.rst, Drain column; mean 0.866).
# Those numbers come from per-dataset tuned Drain (regexes, depth and threshold per system).
DRAIN_PUBLISHED_GA: dict[str, float] = {
    "Android": 0.911,
    "Apache": 1.000,
    "BGL": 0.963,
    "HDFS": 0.998,
    "HPC": 0.887,
    "Hadoop": 0.948,
    "HealthApp": 0.780,
    "Linux": 0.690,
    "Mac": 0.787,
    "OpenSSH": 0.788,
    "OpenStack": 0.733,
    "Proxifier": 0.527,
    "Spark": 0.920,
    "Thunderbird": 0.955,
    "Windows": 0.997,
    "Zookeeper": 0.967,
}


@dataclass(frozen=True)
class Result:
    """One system's scores and throughputs."""

    system: str
    messages: int
    true_groups: int
    predicted_groups: int
    ga: float
    drain_published_ga: float
    pairwise_precision: float
    pairwise_recall: float
    ours_msgs_per_s: float
    drain3_msgs_per_s: float

    @property
    def ratio(self) -> float:
        """How many times faster our normalizer is than drain3."""
        return self.ours_msgs_per_s / self.drain3_msgs_per_s


def load_system(data: Path, system: str) -> tuple[list[str], list[str]]:
    """The (Content, EventId) columns of one system's structured, corrected CSV."""
    path = data / f"{system}_2k.log_structured_corrected.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [row["Content"] for row in rows], [row["EventId"] for row in rows]


def grouping_accuracy(predicted: Sequence[str], truth: Sequence[str]) -> float:
    """Loghub GA: share of messages whose predicted group equals their true group as a set."""
    predicted_members: dict[str, set[int]] = defaultdict(set)
    true_members: dict[str, set[int]] = defaultdict(set)
    for index, (pred, true) in enumerate(zip(predicted, truth, strict=True)):
        predicted_members[pred].add(index)
        true_members[true].add(index)
    correct = 0
    for members in predicted_members.values():
        first = next(iter(members))
        if members == true_members[truth[first]]:
            correct += len(members)
    return correct / len(truth)


def _pairs(counts: Counter[object]) -> int:
    return sum(n * (n - 1) // 2 for n in counts.values())


def pairwise_scores(predicted: Sequence[str], truth: Sequence[str]) -> tuple[float, float]:
    """ICSE'19 pairwise precision and recall (1.0 when there are no pairs to judge)."""
    predicted_pairs = _pairs(Counter(predicted))
    true_pairs = _pairs(Counter(truth))
    shared_pairs = _pairs(Counter(zip(predicted, truth, strict=True)))
    precision = shared_pairs / predicted_pairs if predicted_pairs else 1.0
    recall = shared_pairs / true_pairs if true_pairs else 1.0
    return precision, recall


def _best_rates(runs: Sequence[Callable[[], object]], messages: int, repeat: int) -> list[float]:
    """Messages per second of each run: the fastest of `repeat` tries, the runs taking turns."""
    # The fastest try is the least disturbed by other load; taking turns makes a burst of load
    # hit both groupers alike.
    best = [float("inf")] * len(runs)
    for _ in range(repeat):
        for index, run in enumerate(runs):
            start = time.perf_counter()
            run()
            best[index] = min(best[index], time.perf_counter() - start)
    return [messages / seconds for seconds in best]


def _run_ours(contents: Sequence[str]) -> list[str]:
    return [normalize_message(text) for text in contents]


def _run_drain3(contents: Sequence[str]) -> list[int]:
    from drain3 import TemplateMiner  # type: ignore[import-untyped]
    from drain3.template_miner_config import TemplateMinerConfig  # type: ignore[import-untyped]

    # An explicit default config: TemplateMiner() would otherwise read ./drain3.ini if present.
    miner = TemplateMiner(config=TemplateMinerConfig())
    return [miner.add_log_message(text)["cluster_id"] for text in contents]


def evaluate(data: Path, system: str, repeat: int) -> Result:
    """Score one system and time both groupers on its messages."""
    contents, truth = load_system(data, system)
    predicted = _run_ours(contents)
    precision, recall = pairwise_scores(predicted, truth)
    ours, drain3 = _best_rates(
        [lambda: _run_ours(contents), lambda: _run_drain3(contents)], len(contents), repeat
    )
    return Result(
        system=system,
        messages=len(contents),
        true_groups=len(set(truth)),
        predicted_groups=len(set(predicted)),
        ga=grouping_accuracy(predicted, truth),
        drain_published_ga=DRAIN_PUBLISHED_GA[system],
        pairwise_precision=precision,
        pairwise_recall=recall,
        ours_msgs_per_s=ours,
        drain3_msgs_per_s=drain3,
    )


def summary(results: Sequence[Result]) -> dict[str, float]:
    """Means of the scores; throughputs as total messages over total time of each grouper."""
    count = len(results)
    messages = sum(r.messages for r in results)
    ours = messages / sum(r.messages / r.ours_msgs_per_s for r in results)
    drain = messages / sum(r.messages / r.drain3_msgs_per_s for r in results)
    return {
        "ga": sum(r.ga for r in results) / count,
        "drain_published_ga": sum(r.drain_published_ga for r in results) / count,
        "pairwise_precision": sum(r.pairwise_precision for r in results) / count,
        "pairwise_recall": sum(r.pairwise_recall for r in results) / count,
        "ours_msgs_per_s": ours,
        "drain3_msgs_per_s": drain,
        "ratio": ours / drain,
    }


def print_table(results: Sequence[Result]) -> None:
    """The human-readable table, one row per system and a mean row."""
    header = (
        f"{'system':<12} {'GA':>6} {'Drain GA':>9} {'pair P':>7} "
        f"{'ours msg/s':>11} {'drain3 msg/s':>13} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.system:<12} {r.ga:>6.3f} {r.drain_published_ga:>9.3f} "
            f"{r.pairwise_precision:>7.4f} {r.ours_msgs_per_s:>11,.0f} "
            f"{r.drain3_msgs_per_s:>13,.0f} {r.ratio:>5.1f}x"
        )
    mean = summary(results)
    print("-" * len(header))
    print(
        f"{'mean':<12} {mean['ga']:>6.3f} {mean['drain_published_ga']:>9.3f} "
        f"{mean['pairwise_precision']:>7.4f} {mean['ours_msgs_per_s']:>11,.0f} "
        f"{mean['drain3_msgs_per_s']:>13,.0f} {mean['ratio']:>5.1f}x"
    )
    print("(mean msg/s: all messages over all time; ratio: ours / drain3)")


def print_errors(data: Path, system: str, limit: int = 40) -> None:
    """Show the wrongly grouped messages of one system: merged groups first, then split ones."""
    contents, truth = load_system(data, system)
    predicted = _run_ours(contents)
    by_pred: dict[str, list[int]] = defaultdict(list)
    by_true: dict[str, list[int]] = defaultdict(list)
    for index, (pred, true) in enumerate(zip(predicted, truth, strict=True)):
        by_pred[pred].append(index)
        by_true[true].append(index)
    merged = [(p, m) for p, m in by_pred.items() if len({truth[i] for i in m}) > 1]
    print(f"== {system}: {len(merged)} predicted groups merge several true groups")
    for pred, members in sorted(merged, key=lambda item: -len(item[1]))[:limit]:
        print(f"  {pred!r}: {dict(Counter(truth[i] for i in members))}")
    split = [(t, m) for t, m in by_true.items() if len({predicted[i] for i in m}) > 1]
    print(f"== {system}: {len(split)} true groups split over several predicted groups")
    for true, members in sorted(split, key=lambda item: -len(item[1]))[:limit]:
        variants = Counter(predicted[i] for i in members)
        print(f"  {true} ({len(members)} msgs, {len(variants)} variants):")
        for variant, n in variants.most_common(4):
            print(f"      {n:>4} {variant[:150]!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the benchmark and print the table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Loghub-2k folder")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--repeat", type=int, default=5, help="timing runs, the best is kept")
    parser.add_argument(
        "--errors", metavar="SYS", choices=SYSTEMS, help="list one system's grouping errors"
    )
    args = parser.parse_args(argv)

    data: Path = args.data
    missing = [s for s in SYSTEMS if not (data / f"{s}_2k.log_structured_corrected.csv").is_file()]
    if missing:
        if len(missing) == len(SYSTEMS):
            what = "no <Sys>_2k.log_structured_corrected.csv files"
        else:
            what = f"missing {', '.join(missing)}"
        print(
            f"fingerprint bench: Loghub-2k data not found in {data} ({what}); "
            "pass --data DIR (see shared/bench/loghub/README.md)",
            file=sys.stderr,
        )
        return 2
    if args.errors:
        print_errors(data, args.errors)
        return 0
    try:
        import drain3  # noqa: F401
    except ImportError:
        print(
            "fingerprint bench: drain3 is not installed; run `.venv/bin/pip install -e '.[dev]'`",
            file=sys.stderr,
        )
        return 2

    results = [evaluate(data, system, max(1, args.repeat)) for system in SYSTEMS]
    if args.json:
        document = {
            "systems": [asdict(r) | {"ratio": r.ratio} for r in results],
            "mean": summary(results),
        }
        print(json.dumps(document, indent=2))
    else:
        print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
