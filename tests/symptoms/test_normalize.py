"""normalize_message: every masking category, alert-flavoured cases, linear time, properties."""

from __future__ import annotations

from random import Random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from awoooi.symptoms import normalize_message
from awoooi.symptoms.normalize import PLACEHOLDER

# --- every masking category of the spec ------------------------------------------------------

MASKED = [
    # numbers
    ("restarts 5", "restarts <*>"),
    ("exit code -1", "exit code <*>"),
    ("ratio 0.25 reached", "ratio <*> reached"),
    ("retry 3/10", "retry <*>"),
    # hex ids
    ("handle 0x7fed806eb5d", "handle <*>"),
    ("mask ffffffff set", "mask <*> set"),
    ("container a489c868f0c37da93b76227c91bb03908ac0e742 died", "container <*> died"),
    ("image sha256:9b2a6c9e33c8 pulled", "image <*> pulled"),
    # UUIDs
    ("instance 550e8400-e29b-41d4-a716-446655440000 stopped", "instance <*> stopped"),
    ("[instance: b9000564-fe1a-409b-b8cc-1e88b294cd1d] VM Paused", "[instance: <*>] VM Paused"),
    # IPv4 and IPv6, with ports
    ("connect to 10.0.3.4 failed", "connect to <*> failed"),
    ("instance 10.0.3.4:9100 down", "instance <*> down"),
    ("from /10.251.42.84:50010", "from /<*>"),
    ("addr fe80::1ff:fe23:4567:890a up", "addr <*> up"),
    ("listen [::1]:8080 refused", "listen [<*>]:<*> refused"),
    ("peer [2001:db8::abcd]:443 reset", "peer [<*>]:<*> reset"),
    ("lease for 00:1a:2b:3c:4d:5e", "lease for <*>"),
    # Kubernetes pod and ReplicaSet suffixes: the workload name stays
    ("pod web-7d9f8c6b5d-x2kqz failed", "pod web-<*> failed"),
    ("pod web-7d9f8c6b5d-xkqzb failed", "pod web-<*> failed"),
    ("replicaset web-7d9f8c6b5d scaled", "replicaset web-<*> scaled"),
    ("pod fluentd-x2kqz failed", "pod fluentd-<*> failed"),
    ("pod kube-proxy-bcdfg failed", "pod kube-proxy-<*> failed"),
    ("pod db-0 failed", "pod db-<*> failed"),
    ("pod my-app2-66b6c48dd5-4jw2p failed", "pod my-app2-<*> failed"),
    # timestamps
    ("at 2024-01-02T03:04:05.123Z done", "at <*> done"),
    ("at 2024-01-02 03:04:05,123 done", "at <*> done"),
    ("connection at Fri Jun 17 07:07:00 2005 closed", "connection at <*> closed"),
    ("since Jun 17, 2005 7:07 ok", "since <*> ok"),
    ("on Friday, June 17, 2005 7:07:00 ok", "on <*> ok"),
    ("Decrease 5 at 10:20", "Decrease <*> at <*>"),
    ("[09:21:58.929] retry", "[<*>] retry"),
    ("epoch 1514038530000 ok", "epoch <*> ok"),
    # durations
    ("took 200ms", "took <*>"),
    ("took 1.5s then 3m20s", "took <*> then <*>"),
    ("lifetime <1 sec", "lifetime <*>"),
    ("waited 5 minutes", "waited <*>"),
    # sizes
    ("memory 512MiB of 1.5GB", "memory <*> of <*>"),
    ("limit 512Mi", "limit <*>"),
    ("estimated size 5.2 KB, free 14.0 KB", "estimated size <*>, free <*>"),
    ("sent 2933 bytes (2.86 KB)", "sent <*>"),
    # URL query strings: the path stays
    ("GET /healthz?verbose=1&x=y", "GET /healthz?<*>"),
    ("probe http://svc/ready?token=abc failed", "probe http://svc/ready?<*> failed"),
    # quoted values
    ('configmap "app-config" not found', "configmap <*> not found"),
    ("state 'Active' now", "state <*> now"),
    ('tag="*alarm*", name=x', "tag=<*>, name=x"),
    # e-mail addresses
    ("mail to ops@example.com bounced", "mail to <*> bounced"),
    ("from first.last+tag@mail.example.org", "from <*>"),
    # paths with ids (absolute paths of two or more segments)
    ("mount /var/lib/kubelet/pods/1f2e/volumes failed", "mount <*> failed"),
    ("Deleting block file /mnt/hadoop/dfs/data/current/subdir5/blk_1", "Deleting block file <*>"),
    ("wrote /tmp/x", "wrote <*>"),
    # host names
    ("rhost=csnsu.nsuok.edu user=root", "rhost=<*> user=root"),
    ("proxy.cse.cuhk.edu.hk:5070 open", "<*> open"),
    ("target node-a.example.com:9100 down", "target <*> down"),
    # other ids: a token containing a digit
    ("block blk_-4980916519894289629 ok", "block <*> ok"),
    ("attempt attempt_1445144423722_0020_m_000000_0 done", "attempt <*> done"),
    (
        "data_thread() got not answer from any [Thunderbird_A8]",
        "data_thread() got not answer from any [<*>]",
    ),
    # an empty value slot is the same field as a filled one
    ("connection from 1.2.3.4 () at x", "connection from <*> (<*>) at x"),
]


@pytest.mark.parametrize(("text", "expected"), MASKED)
def test_masks_each_category(text: str, expected: str) -> None:
    assert normalize_message(text) == expected


# --- alert annotations: same symptom, same output; different symptom, different output -------

ALERTS = [
    (
        "Pod default/web-7d9f8c6b5d-x2kqz is crash looping (restarts 5)",
        "Pod default/web-<*> is crash looping (restarts <*>)",
    ),
    (
        "Kubernetes Node not ready (instance 10.0.3.4:9100)",
        "Kubernetes Node not ready (instance <*>)",
    ),
    ("container nginx OOMKilled, memory 512Mi", "container nginx OOMKilled, memory <*>"),
    (
        'Back-off restarting failed container nginx in pod "web-7d9f8c6b5d-x2kqz"',
        "Back-off restarting failed container nginx in pod <*>",
    ),
    (
        "Filesystem on /dev/sda1 at 10.0.3.4:9100 has only 3.2% available space left",
        "Filesystem on <*> at <*> has only <*>% available space left",
    ),
    (
        "Pod shop/api-5b7cdfd9c-4jw2p is in waiting state (reason: CrashLoopBackOff)",
        "Pod shop/api-<*> is in waiting state (reason: CrashLoopBackOff)",
    ),
]


@pytest.mark.parametrize(("text", "expected"), ALERTS)
def test_alert_annotations(text: str, expected: str) -> None:
    assert normalize_message(text) == expected


SAME_SYMPTOM = [
    (
        "Pod default/web-7d9f8c6b5d-x2kqz is crash looping (restarts 5)",
        "Pod default/web-66b6c48dd5-bcdfg is crash looping (restarts 112)",
    ),
    (
        "Kubernetes Node not ready (instance 10.0.3.4:9100)",
        "Kubernetes Node not ready (instance 192.168.7.21:9100)",
    ),
    (
        "Kubernetes Node not ready (instance 10.0.3.4:9100)",
        "Kubernetes Node not ready (instance ip-10-0-3-4.ec2.internal:9100)",
    ),
    (
        "Kubernetes Node not ready (instance worker-a.example.com:9100)",
        "Kubernetes Node not ready (instance 10.0.3.4:9100)",
    ),
    ("container nginx OOMKilled, memory 512Mi", "container nginx OOMKilled, memory 1.5Gi"),
    ("StatefulSet db-0 is down", "StatefulSet db-12 is down"),
    ("DaemonSet pod fluentd-x2kqz evicted", "DaemonSet pod fluentd-bcdfg evicted"),
    ("request took 512 ms", "request took 1.2 s"),
    ("disk 85% full", "disk 97% full"),
    (
        'MountVolume.SetUp failed for volume "config" : configmap "app-config" not found',
        'MountVolume.SetUp failed for volume "secrets" : configmap "other" not found',
    ),
    (
        "Readiness probe failed: Get http://10.1.2.3:8080/ready?x=1: connection refused",
        "Readiness probe failed: Get http://10.9.8.7:8080/ready?x=2: connection refused",
    ),
    ("lost lease at Fri Jun 17 07:07:00 2005", "lost lease at Sat Jul 2 17:01:59 2005"),
]


@pytest.mark.parametrize(("first", "second"), SAME_SYMPTOM)
def test_same_symptom_other_instance_gives_same_output(first: str, second: str) -> None:
    assert normalize_message(first) == normalize_message(second)


DIFFERENT_SYMPTOMS = [
    ("container nginx OOMKilled", "container nginx CrashLoopBackOff"),
    ("container nginx OOMKilled", "container redis OOMKilled"),
    ("Kubernetes Node not ready (instance 10.0.3.4:9100)", "Kubernetes Node memory pressure"),
    (
        "Pod default/web-7d9f8c6b5d-x2kqz is crash looping",
        "Pod default/api-7d9f8c6b5d-x2kqz is crash looping",
    ),
    (
        "Pod is in waiting state (reason: ImagePullBackOff)",
        "Pod is in waiting state (reason: ErrImagePull)",
    ),
    ('"GET /v2/servers HTTP/1.1" status: 200', '"POST /v2/servers HTTP/1.1" status: 200'),
    ("Exception java.lang.OutOfMemoryError", "Exception java.lang.NullPointerException"),
    ("disk full on node", "disk pressure on node"),
    ("HTTP error 500", "HTTP error rate high"),
]


@pytest.mark.parametrize(("first", "second"), DIFFERENT_SYMPTOMS)
def test_different_symptoms_give_different_output(first: str, second: str) -> None:
    assert normalize_message(first) != normalize_message(second)


@pytest.mark.parametrize(
    "word",
    [
        "CrashLoopBackOff",
        "OOMKilled",
        "nginx",
        "ImagePullBackOff",
        "ContainerCreating",
        "kube-proxy",
        "coredns",
        "Evicted",
        "java.lang.OutOfMemoryError",
        "added",
        "Jun",
        "Friday",
    ],
)
def test_plain_words_and_identifiers_without_digits_stay(word: str) -> None:
    text = f"reason {word} seen"
    assert normalize_message(text) == text


def test_label_placeholders_from_the_mapping_stay() -> None:
    text = "Pod <namespace>/<pod> is crash looping (restarts <value>)"
    assert normalize_message(text) == text


def test_white_space_is_collapsed() -> None:
    assert normalize_message("  Node\t not\n\nready   (restarts  5 )  ") == (
        "Node not ready (restarts <*> )"
    )
    assert normalize_message("") == ""
    assert normalize_message(" \t\n") == ""


def test_adjacent_values_become_one_placeholder() -> None:
    assert normalize_message("Session: 30546173_4261722401 up") == "Session: <*> up"
    assert normalize_message("values 1 2 3 4 5 end") == "values <*> end"
    assert normalize_message("at 10.0.0.1:80/20:30 ok") == "at <*> ok"


# --- linear time on hostile input ------------------------------------------------------------

MIB = 1 << 20


@pytest.mark.parametrize(
    "unit",
    [
        "a",
        "1",
        "a1",
        "a-",
        "a.",
        "a:",
        "1:",
        "ab:",
        "a@",
        "/a",
        "?a=",
        "x?",
        '"a',
        "'a",
        "<*>",
        "<*>-",
        "( ",
        "()",
        "Jun ",
        "5 ",
        "web-7d9f8c6b5d-",
        "a.b.c-",
        "0x",
        "ffff",
        "-1",
    ],
)
def test_one_mib_without_spaces_runs_in_linear_time(unit: str) -> None:
    """~1 MiB of one repeated unit (and a different last character) is masked at all."""
    # No wall-clock assertion: quadratic work on 1 MiB is ~10^12 steps and would not finish
    # within the suite's per-test timeout, while linear work takes well under a second.
    for tail in ("", "x", "1", "A"):
        text = unit * (MIB // len(unit)) + tail
        result = normalize_message(text)
        assert isinstance(result, str)
        assert len(result) <= len(text) + len(PLACEHOLDER) * (text.count("()") + 1)


def test_mixed_hostile_input_runs() -> None:
    chunk = "ab.c-d_e~f+g@h:i/j\"k'l(m)n[o]p=q,r;s?t&u#v<w>x*y1:2:3::ff:"
    text = chunk * (MIB // len(chunk))
    assert normalize_message(normalize_message(text)) == normalize_message(text)


# --- properties: determinism, statelessness, idempotence -------------------------------------

FRAGMENTS = [
    "a",
    "b",
    "f",
    "x",
    "Z",
    "E",
    "EA",
    "ab",
    "abc",
    "web",
    "Jun",
    "Fri",
    "May",
    "Mon",
    "0",
    "1",
    "5",
    "7",
    "42",
    "0x1f",
    "0x",
    "ffffffff",
    "deadbeefcafe",
    "7d9f8c6b5d",
    "x2kqz",
    "bcdfg",
    "web-7d9f8c6b5d-x2kqz",
    "fluentd-bcdfg",
    "db-0",
    "10.0.3.4",
    ":9100",
    "fe80::1",
    "[::1]:8080",
    "00:1a:2b:3c:4d:5e",
    "FF:F2:9F:15:1F:72:00:0D:60:EA:E0:8D",
    "12:34",
    "ab:cd:",
    "Fri Jun 17 07:07:00 2005",
    "Jun 17",
    "07:07:00",
    "2024-01-02T03:04:05Z",
    "5.2 KB",
    "<1 sec",
    " KB",
    " s",
    "KB",
    "ms",
    "µs",
    "512MiB",
    "1.5GB",
    "200ms",
    "https://api.example.com/v1/x?id=7&y=z",
    "?a=1",
    "bob@example.com",
    "/var/lib/x/1",
    "'Active'",
    '"nginx"',
    "a.b.com",
    "a.b.c.d:80",
    "java.lang.Error",
    "com",
    "é",
    "-",
    "_",
    ".",
    "~",
    "+",
    ":",
    "::",
    "/",
    "//",
    "?",
    "=",
    "&",
    "@",
    '"',
    "'",
    "(",
    ")",
    "()",
    " ()",
    "(x)",
    "[",
    "]",
    "<",
    ">",
    "<*>",
    "<pod>",
    "*",
    "#",
    "%",
    ",",
    ";",
    " ",
    "  ",
    "\t",
    "\n",
]
MESSAGES = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join),
    st.text(alphabet="ab1:.-/\"'<>*()? =@_~+xJun9f", max_size=60),
    st.text(max_size=60),
)
PROPERTY_SETTINGS = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(MESSAGES)
def test_idempotent(text: str) -> None:
    once = normalize_message(text)
    assert normalize_message(once) == once


@PROPERTY_SETTINGS
@given(MESSAGES)
def test_output_is_collapsed_and_deterministic(text: str) -> None:
    once = normalize_message(text)
    assert once == normalize_message(text)
    assert once == " ".join(once.split())


@PROPERTY_SETTINGS
@given(st.lists(MESSAGES, min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_stateless_order_does_not_matter(texts: list[str], random: Random) -> None:
    alone = {text: normalize_message(text) for text in texts}
    shuffled = list(texts)
    random.shuffle(shuffled)
    for text in shuffled:
        assert normalize_message(text) == alone[text]


@PROPERTY_SETTINGS
@given(
    st.sampled_from(["Pod default/{} is crash looping", "pod {} OOMKilled", "{} evicted"]),
    st.sampled_from(["web", "api", "kube-proxy", "my-app2"]),
    st.text(alphabet="bcdfghjklmnpqrstvwxz2456789", min_size=5, max_size=5),
    st.text(alphabet="456789bcdf", min_size=9, max_size=10),
)
def test_any_pod_of_a_deployment_gives_the_same_output(
    template: str, workload: str, suffix: str, pod_hash: str
) -> None:
    reference = normalize_message(template.format(f"{workload}-7d9f8c6b5d-x2kqz"))
    assert normalize_message(template.format(f"{workload}-{pod_hash}-{suffix}")) == reference
    assert reference == template.format(f"{workload}-<*>")


@PROPERTY_SETTINGS
@given(
    st.tuples(*[st.integers(0, 255)] * 4),
    st.integers(1, 65535),
    st.integers(0, 10**6),
)
def test_any_instance_and_value_gives_the_same_output(
    octets: tuple[int, int, int, int], port: int, value: int
) -> None:
    address = ".".join(map(str, octets))
    text = f"Node not ready (instance {address}:{port}), restarts {value}"
    assert normalize_message(text) == "Node not ready (instance <*>), restarts <*>"
