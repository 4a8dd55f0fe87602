"""Conformance with Argo CD's diff verdicts (`../shared/conformance/argocd-diff/README.md`).

Our verdict for a pair is "out of sync" when analyzing `diff_object(config, live)` leaves at least
one item that is not ignored (C4, a missing live object, goes through `scan`). Each case also pins
the set of reported paths, so a verdict that stays right for the wrong reason is caught.

Deliberate differences from Argo CD are kept with OUR expected value and the reason next to them:
* A18, A19, A20 (SSD): Argo CD is OUT OF SYNC only because its *mocked* dry-run response lacks the
  `app.kubernetes.io/instance` label that config and live both have; config and live themselves
  agree, so we say IN SYNC (a real dry run would keep the label).
* A23 (SSD): same verdict (OUT OF SYNC, port 40 missing), but we also report the extra container
  `idle` on purpose: `kubectl-client-side-apply` owns it and Git does not have it, i.e. a manual
  addition, which Argo CD's server-side diff folds into the prediction and so never shows.
* A21 (SSD): same verdict, but our reason is `resources.requests` that `argocd-controller` applied
  and Git no longer sets (SSA would remove them); Argo CD's difference comes from the mock.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from awoooi.drift.manifests import Manifest
from awoooi.drift.scan import scan
from awoooi.drift.settings import DriftSettings, IgnoreRule
from awoooi.drift.sources import DesiredState, DumpState
from tests.drift.objects import items_for, load_fixture, reported, rid, show

IN_SYNC = False
OUT_OF_SYNC = True

Builder = Callable[[], tuple[dict[str, Any], dict[str, Any] | None]]


@dataclass(frozen=True)
class Case:
    """One asserted pair: how to build it, Argo CD's verdict, ours, and our reported paths."""

    build: Builder
    argo: bool
    ours: bool
    paths: frozenset[str] = frozenset()
    settings: DriftSettings = field(default_factory=DriftSettings)


def pair(config: str, live: str) -> Builder:
    return lambda: (load_fixture(config), load_fixture(live))


def a4() -> tuple[dict[str, Any], dict[str, Any]]:
    """TestThreeWayDiffExample2WithDifference: config labels mutated as the upstream test does."""
    config = load_fixture("elasticsearch-config.json")
    labels = config["metadata"]["labels"]
    labels["foo"] = "bar"
    labels["chart"] = "elasticsearch-1.7.1"
    del labels["release"]
    return config, load_fixture("elasticsearch-live.json")


def a9() -> tuple[dict[str, Any], dict[str, Any]]:
    """TestRedactedSecretData: masked values of different lengths on each side."""
    config = load_fixture("wordpress-config.json")
    live = load_fixture("wordpress-live.json")
    for key in ("wordpress-password", "smtp-password"):
        config["data"][key] = "++++++++"
        live["data"][key] = "++++++++++++"
    return config, live


def c4() -> tuple[dict[str, Any], None]:
    """TestInvalidSecretStringData: diffed against nil upstream, i.e. the live object is missing."""
    return load_fixture("inline/TestInvalidSecretStringData-config.yaml"), None


def c5() -> tuple[dict[str, Any], dict[str, Any]]:
    """TestDiffResourceWithInvalidField: live is the config without `invalidKey`."""
    config = load_fixture("inline/TestDiffResourceWithInvalidField-config.json")
    live = copy.deepcopy(config)
    del live["invalidKey"]
    return config, live


AGGR = pair("aggr-clusterrole-config.json", "aggr-clusterrole-live.json")
B_PAIR = pair(
    "util-argo/desired_deployment.yaml", "util-argo/live_deployment_with_managed_replica.yaml"
)
SESSION_AFFINITY = DriftSettings(
    ignore=[IgnoreRule(kind="Service", path="spec.sessionAffinity", reason="ignoreDifferences")]
)
# B1 (trusted manager kube-controller-manager), B3 (JSON pointer), B4 (jq): in our terms all three
# are an ignore rule on spec.replicas. kube-controller-manager wrote replicas by a plain Update
# here (no scale subresource, no HPA), so our built-in replica rules rightly do not apply.
REPLICAS_IGNORED = DriftSettings(
    ignore=[IgnoreRule(kind="Deployment", group="apps", path="spec.replicas", reason="trusted")]
)
RHL = frozenset({"spec.revisionHistoryLimit"})
ES_LABELS = frozenset({"metadata.labels.foo", "metadata.labels.chart", "metadata.labels.release"})

THREE_WAY: dict[str, Case] = {
    "A1": Case(AGGR, IN_SYNC, IN_SYNC),
    "A2": Case(
        AGGR,
        OUT_OF_SYNC,
        OUT_OF_SYNC,
        frozenset({"rules"}),
        DriftSettings(ignore_aggregated_rules=False),
    ),
    "A3": Case(pair("elasticsearch-config.json", "elasticsearch-live.json"), IN_SYNC, IN_SYNC),
    "A4": Case(a4, OUT_OF_SYNC, OUT_OF_SYNC, ES_LABELS),
    "A5": Case(pair("deployment-config.json", "deployment-live.json"), IN_SYNC, IN_SYNC),
    "A6": Case(
        pair("mutatingwebhookconfig-config.json", "mutatingwebhookconfig-live.json"),
        IN_SYNC,
        IN_SYNC,
    ),
    "A7": Case(pair("spinnaker-sa-config.json", "spinnaker-sa-live.json"), IN_SYNC, IN_SYNC),
    "A8": Case(pair("wordpress-config.json", "wordpress-live.json"), IN_SYNC, IN_SYNC),
    "A9": Case(
        a9,
        OUT_OF_SYNC,
        OUT_OF_SYNC,
        frozenset({"data.wordpress-password", "data.smtp-password"}),
    ),
    "A10": Case(
        pair("grafana-clusterrole-config.json", "grafana-clusterrole-live.json"), IN_SYNC, IN_SYNC
    ),
    "A11": Case(pair("sealedsecret-config.json", "sealedsecret-live.json"), IN_SYNC, IN_SYNC),
    "A12": Case(pair("endpoints-config.json", "endpoints-live.json"), IN_SYNC, IN_SYNC),
    "B1": Case(B_PAIR, OUT_OF_SYNC, OUT_OF_SYNC, RHL, REPLICAS_IGNORED),
    "B2": Case(B_PAIR, OUT_OF_SYNC, OUT_OF_SYNC, RHL | {"spec.replicas"}),
    "B3": Case(B_PAIR, OUT_OF_SYNC, OUT_OF_SYNC, RHL, REPLICAS_IGNORED),
    "B4": Case(B_PAIR, OUT_OF_SYNC, OUT_OF_SYNC, RHL, REPLICAS_IGNORED),
    "C1": Case(
        pair(
            "inline/TestThreeWayDiffExample1-config.json",
            "inline/TestThreeWayDiffExample1-live.json",
        ),
        IN_SYNC,
        IN_SYNC,
    ),
    "C2": Case(
        pair(
            "inline/TestIgnoreNamespaceForClusterScopedResources-config.yaml",
            "inline/TestIgnoreNamespaceForClusterScopedResources-live.yaml",
        ),
        IN_SYNC,
        IN_SYNC,
    ),
    "C3": Case(
        pair("inline/TestSecretStringData-config.yaml", "inline/TestSecretStringData-live.yaml"),
        IN_SYNC,
        IN_SYNC,
    ),
    "C4": Case(c4, OUT_OF_SYNC, OUT_OF_SYNC, frozenset({""})),
    "C5": Case(c5, OUT_OF_SYNC, OUT_OF_SYNC, frozenset({"invalidKey"})),
    "C6": Case(
        pair(
            "inline/TestDiffWithIgnoreDifferences-twoway-desired.yaml",
            "inline/TestDiffWithIgnoreDifferences-twoway-live.yaml",
        ),
        IN_SYNC,
        IN_SYNC,
        settings=SESSION_AFFINITY,
    ),
    "C7": Case(
        pair(
            "inline/TestDiffWithIgnoreDifferences-threeway-config.yaml",
            "inline/TestDiffWithIgnoreDifferences-threeway-live.yaml",
        ),
        IN_SYNC,
        IN_SYNC,
        settings=SESSION_AFFINITY,
    ),
}

SMD_SSD: dict[str, Case] = {
    "A13": Case(
        pair("smd-service-config.yaml", "smd-service-live.yaml"),
        OUT_OF_SYNC,
        OUT_OF_SYNC,
        frozenset({"spec.ports[port=1935,protocol=TCP].targetPort"}),
    ),
    "A14": Case(
        pair("smd-service-config-2-ports.yaml", "smd-service-live.yaml"),
        OUT_OF_SYNC,
        OUT_OF_SYNC,
        frozenset({"spec.ports[port=443,protocol=TCP]"}),
    ),
    "A15": Case(
        pair("smd-service-config.yaml", "smd-service-live-with-type.yaml"),
        OUT_OF_SYNC,
        OUT_OF_SYNC,
        frozenset({"spec.type", "spec.ports[port=1935,protocol=TCP].targetPort"}),
    ),
    "A16": Case(
        pair("smd-service-config-ports.yaml", "smd-service-live.yaml"),
        OUT_OF_SYNC,
        OUT_OF_SYNC,
        frozenset({"spec.ports[port=1935,protocol=UDP]", "spec.ports[port=443,protocol=UDP]"}),
    ),
    "A17": Case(pair("smd-deploy-config.yaml", "smd-deploy-live.yaml"), IN_SYNC, IN_SYNC),
    # A18-A20: ours differs (IN SYNC): the only difference Argo CD sees is an artifact of the
    # mocked dry-run response (it drops the app.kubernetes.io/instance label config and live
    # both have); no manual addition is involved. A19's webhook label is in the mock, not live.
    "A18": Case(pair("ssd-service-config.yaml", "ssd-service-live.yaml"), OUT_OF_SYNC, IN_SYNC),
    "A19": Case(pair("ssd-service-config.yaml", "ssd-service-live.yaml"), OUT_OF_SYNC, IN_SYNC),
    "A20": Case(
        pair("ssd-service-config.yaml", "ssd-service-live.yaml"),
        OUT_OF_SYNC,
        IN_SYNC,
        settings=SESSION_AFFINITY,
    ),
    # A21: same verdict; ours comes from requests argocd-controller applied and Git dropped.
    "A21": Case(
        pair("smd-deploy2-config.yaml", "smd-deploy2-live.yaml"),
        OUT_OF_SYNC,
        OUT_OF_SYNC,
        frozenset(
            {
                "spec.template.spec.containers[name=nginx].resources.requests.cpu",
                "spec.template.spec.containers[name=nginx].resources.requests.memory",
            }
        ),
    ),
    "A22": Case(
        pair("ssd-deploy-nested-config.yaml", "ssd-deploy-nested-live.yaml"),
        OUT_OF_SYNC,
        OUT_OF_SYNC,
        frozenset(
            {
                "spec.template.spec.containers[name=main-container].ports[containerPort=443,protocol=TCP]",
                "spec.template.spec.containers[name=main-container].env[name=ENV_VAR2]",
            }
        ),
    ),
    # A23: same verdict, plus a deliberate manual-addition report: container `idle`, owned by
    # kubectl-client-side-apply and absent from Git, is a hand-made change we want surfaced.
    "A23": Case(
        pair("ssd-deploy-with-manual-apply-config.yaml", "ssd-deploy-with-manual-apply-live.yaml"),
        OUT_OF_SYNC,
        OUT_OF_SYNC,
        frozenset(
            {
                "spec.template.spec.containers[name=main-container].ports[containerPort=40,protocol=TCP]",
                "spec.template.spec.containers[name=idle]",
            }
        ),
    ),
    "A24": Case(
        pair("ssd-svc-no-label-config.yaml", "ssd-svc-label-live.yaml"),
        OUT_OF_SYNC,
        OUT_OF_SYNC,
        frozenset({"metadata.labels.delete-me"}),
    ),
    "A25": Case(
        pair("ssd-deploy-composite-key-config.yaml", "ssd-deploy-composite-key-live.yaml"),
        OUT_OF_SYNC,
        OUT_OF_SYNC,
        frozenset(
            {"spec.template.spec.containers[name=nginx].ports[containerPort=8080,protocol=TCP]"}
        ),
    ),
    "A26": Case(
        pair("ssd-configmap-config.yaml", "ssd-configmap-live.yaml"),
        OUT_OF_SYNC,
        OUT_OF_SYNC,
        frozenset({"data.key3"}),
    ),
    "C8": Case(
        pair(
            "inline/TestStructuredMergeDiff_HPAv2ToV1Conversion-config.yaml",
            "inline/TestStructuredMergeDiff_HPAv2ToV1Conversion-live.yaml",
        ),
        IN_SYNC,
        IN_SYNC,
    ),
    "C9": Case(
        pair(
            "inline/TestStructuredMergeDiff_HPAv2ToV1Conversion_Modified-config.yaml",
            "inline/TestStructuredMergeDiff_HPAv2ToV1Conversion_Modified-live.yaml",
        ),
        OUT_OF_SYNC,
        OUT_OF_SYNC,
        frozenset({"spec.minReplicas", "spec.maxReplicas", "spec.metrics"}),
    ),
    "C10": Case(
        pair(
            "inline/TestServerSideDiff-resourceVersion-config.json",
            "inline/TestServerSideDiff-resourceVersion-live.json",
        ),
        IN_SYNC,
        IN_SYNC,
    ),
    "C11": Case(
        pair(
            "inline/TestServerSideDiffPreservesManagerOwnedField-config.yaml",
            "inline/TestServerSideDiffPreservesManagerOwnedField-live.yaml",
        ),
        OUT_OF_SYNC,
        OUT_OF_SYNC,
        frozenset({"spec.configuration.value"}),
    ),
}

# Where ours differs from Argo CD's asserted verdict; anything else differing is a failure.
DIFFERS_FROM_ARGO = {"A18", "A19", "A20"}


async def _verdict(case: Case) -> tuple[bool, set[str], str]:
    config, live = case.build()
    if live is None:
        resource = rid(config)
        desired = DesiredState([Manifest(config, resource, "config.yaml", 0)], [], "fixture")
        report = await scan(desired, DumpState(), case.settings)
        return report.has_drift, {i.path for i in report.reported}, show(report.items)
    items = items_for(config, live, case.settings)
    found = reported(items)
    return bool(found), {i.path for i in found}, show(items)


def _check(name: str, case: Case, out_of_sync: bool, paths: set[str], shown: str) -> None:
    word = "OUT OF SYNC" if case.ours else "IN SYNC"
    assert out_of_sync is case.ours, f"{name}: expected {word}, got\n{shown}"
    assert paths == set(case.paths), f"{name}: reported paths\n{shown}"
    assert (case.ours == case.argo) is (name not in DIFFERS_FROM_ARGO), name


@pytest.mark.parametrize("name", sorted(THREE_WAY, key=lambda n: (n[0], int(n[1:]))))
async def test_three_way_pairs_match_argo(name: str) -> None:
    case = THREE_WAY[name]
    out_of_sync, paths, shown = await _verdict(case)
    _check(name, case, out_of_sync, paths, shown)


@pytest.mark.parametrize("name", sorted(SMD_SSD, key=lambda n: (n[0], int(n[1:]))))
async def test_smd_ssd_pairs_config_against_live(name: str) -> None:
    case = SMD_SSD[name]
    out_of_sync, paths, shown = await _verdict(case)
    _check(name, case, out_of_sync, paths, shown)


def test_every_asserted_verdict_is_covered() -> None:
    """The README's asserted lists, and which of them we deliberately answer differently."""
    asserted = {f"A{n}" for n in range(1, 27)} | {f"B{n}" for n in range(1, 5)}
    asserted |= {f"C{n}" for n in range(1, 12)}
    assert set(THREE_WAY) | set(SMD_SSD) == asserted
    assert not set(THREE_WAY) & set(SMD_SSD)
    differing = {n for n, c in {**THREE_WAY, **SMD_SSD}.items() if c.ours != c.argo}
    assert differing == DIFFERS_FROM_ARGO


def test_a4_items_match_the_asserted_diff_output() -> None:
    """A4's asserted field-level diff: foo missing in live, release extra in live, chart changed."""
    config, live = a4()
    by_path = {i.path: i for i in reported(items_for(config, live))}
    assert (by_path["metadata.labels.foo"].change, by_path["metadata.labels.foo"].live) == (
        "removed",
        None,
    )
    release = by_path["metadata.labels.release"]
    assert (release.change, release.desired, release.live) == ("added", None, "elasticsearch4")
    assert "last applied configuration" in release.reason
    chart = by_path["metadata.labels.chart"]
    assert (chart.change, chart.desired, chart.live) == (
        "modified",
        "elasticsearch-1.7.1",
        "elasticsearch-1.7.0",
    )
    assert {i.level.value for i in by_path.values()} == {"low"}


def test_b_pair_replicas_are_reported_without_a_rule_and_ignored_with_one() -> None:
    """B1/B2: the difference in replicas is the only thing the trusted-manager rule changes."""
    config, live = B_PAIR()
    assert live is not None
    plain = {i.path: i for i in items_for(config, live)}
    assert not plain["spec.replicas"].ignored
    assert (plain["spec.replicas"].desired, plain["spec.replicas"].live) == (3, 2)
    ruled = {i.path: i for i in items_for(config, live, REPLICAS_IGNORED)}
    assert ruled["spec.replicas"].ignored
    assert ruled["spec.replicas"].reason == "trusted"
    rhl = ruled["spec.revisionHistoryLimit"]
    assert (rhl.change, rhl.desired, rhl.live, rhl.ignored) == ("modified", 1, 3, False)
