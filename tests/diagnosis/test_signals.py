"""Reading a log tail: dependency failures and the process's own errors across runtimes, the
peer a failure names, and the registry's ranking."""

from __future__ import annotations

import pytest

from awoooi.diagnosis.analyzers import ANALYZERS, rank, register
from awoooi.diagnosis.analyzers.signals import hosts_in, read_log
from awoooi.diagnosis.model import Cause, Finding


@pytest.mark.parametrize(
    ("lines", "kind", "host"),
    [
        # Go: the resolver's own wording
        (
            [
                '{"level":"fatal","msg":"init","error":"dial tcp: lookup '
                'nats.msg.svc.cluster.local on 10.96.0.10:53: no such host"}'
            ],
            "dependency",
            "nats.msg.svc.cluster.local",
        ),
        # Ruby
        (
            [
                "PG::ConnectionBad: could not connect to server: Connection refused",
                '\tIs the server running on host "pg.billing.svc" (10.2.0.7) and accepting',
            ],
            "dependency",
            "pg.billing.svc",
        ),
        # .NET
        (
            [
                "Unhandled exception. System.Net.Http.HttpRequestException: Connection refused "
                "(inventory.shop.svc:8080)"
            ],
            "dependency",
            "inventory.shop.svc:8080",
        ),
        # Java timeout
        (
            [
                "Caused by: java.net.SocketTimeoutException: Connect timed out",
                "\tat okhttp3.internal.connection.RealConnection.connect(RealConnection.kt:285)",
                "url=https://rates.partner.example.com/v2/fx",
            ],
            "dependency",
            "rates.partner.example.com",
        ),
        # Node: credentials rejected by Redis
        (
            [
                "ReplyError: WRONGPASS invalid username-password pair or user is disabled.",
                "    at parseError (/app/node_modules/redis-parser/lib/parser.js:179:12)",
            ],
            "dependency",
            None,
        ),
        # Python: the program's own bug
        (
            [
                "Traceback (most recent call last):",
                '  File "/srv/app.py", line 3, in <module>',
                "ZeroDivisionError: division by zero",
            ],
            "app",
            None,
        ),
        # Rust panic
        (
            [
                "thread 'main' panicked at src/main.rs:42:9:",
                "called `Option::unwrap()` on a `None` value",
                "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
                "fatal error: aborting",
            ],
            "app",
            None,
        ),
    ],
)
def test_read_log_across_runtimes(lines: list[str], kind: str, host: str | None) -> None:
    verdict = read_log(lines)

    assert verdict is not None
    assert verdict.kind == kind
    if host is not None:
        assert verdict.host == host


def test_a_quiet_log_says_nothing() -> None:
    assert read_log(["INFO started", "INFO listening on :8080"]) is None


def test_a_go_panic_names_its_message_not_the_goroutine_line() -> None:
    verdict = read_log(
        [
            "panic: nil pointer dereference",
            "",
            "goroutine 1 [running]:",
            "main.main()",
            "\t/src/main.go:12 +0x1d",
        ]
    )

    assert verdict is not None
    assert verdict.line == "panic: nil pointer dereference"


@pytest.mark.parametrize(
    ("line", "first"),
    [
        (
            'connection to server at "db.internal.example" (10.1.2.3), port 5432 failed',
            "db.internal.example",
        ),
        ("Error connecting to redis:6379. Connection refused.", "redis:6379"),
        ("at Object.<anonymous> (/app/server.js:10:5)", None),
        ("FileNotFoundException: /etc/app/config.yaml (No such file or directory)", None),
    ],
)
def test_hosts_in_a_line(line: str, first: str | None) -> None:
    found = hosts_in(line)

    assert (found[0] if found else None) == first


def test_rank_keeps_one_finding_per_cause_citing_all_evidence() -> None:
    ranked = rank(
        [
            Finding(Cause.APP_CRASH, "weak", 0.6, ("e1",)),
            Finding(Cause.OOM_KILLED, "oom", 0.95, ("e2",)),
            Finding(Cause.APP_CRASH, "strong", 0.85, ("e3", "e1")),
        ]
    )

    assert [(f.cause, f.summary) for f in ranked] == [
        (Cause.OOM_KILLED, "oom"),
        (Cause.APP_CRASH, "strong"),
    ]
    assert ranked[1].evidence == ("e1", "e3")


def test_a_rule_name_is_registered_once() -> None:
    name = ANALYZERS[0][0]

    with pytest.raises(ValueError, match="registered twice"):
        register(name)(lambda facts: [])
