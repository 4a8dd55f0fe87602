"""rollout_undo for StatefulSets and DaemonSets: kubectl's ControllerRevision rollback against the
API stand-in (the revision's data patched in as a strategic merge patch), and the in-memory
fake's model of it."""

from __future__ import annotations

from typing import Any

import pytest

from awoooi.adapters.kube import KubeError, KubeNotFound, ObjectRef
from awoooi.adapters.lightkube_client import LightkubeClient
from tests.helpers.fake_kube import InMemoryKube
from tests.helpers.kube_api import (
    STRATEGIC,
    FakeKubeAPI,
    make_controller_revision,
    make_workload,
)

NS = "prod"
PLURALS = {"StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}


def seed(api: FakeKubeAPI, kind: str, revisions: int = 3) -> dict[str, Any]:
    """`db` at revision `revisions` (image v<n>); revision 3 also added a template annotation.
    A look-alike revision 9 of another owner shares the labels."""
    workload = make_workload(kind, "db", NS, image=f"registry/db:v{revisions}")
    workload["spec"]["template"]["metadata"]["annotations"] = {"checksum/config": "v3"}
    stored = api.add(workload)
    for n in range(1, revisions + 1):
        revision = make_controller_revision(stored, revision=n, image=f"registry/db:v{n}")
        if n < 3:
            del revision["data"]["spec"]["template"]["metadata"]["annotations"]
        api.add(revision)
    api.add(
        make_controller_revision(
            stored, revision=9, image="evil:v9", owner_uid="00000000-0000-0000-0000-000000000000"
        )
    )
    return stored


def template(api: FakeKubeAPI, kind: str) -> dict[str, Any]:
    stored = api.get(kind, NS, "db")
    assert stored is not None
    return dict(stored["spec"]["template"])


def images(api: FakeKubeAPI, kind: str) -> list[str]:
    return [c["image"] for c in template(api, kind)["spec"]["containers"]]


@pytest.mark.parametrize("kind", ["StatefulSet", "DaemonSet"])
async def test_undo_patches_the_previous_revisions_data_like_kubectl(
    api: FakeKubeAPI, kube: LightkubeClient, kind: str
) -> None:
    seed(api, kind)
    [previous] = [
        obj
        for key, obj in api.objects.items()
        if key[2] == "controllerrevisions" and obj["revision"] == 2
    ]

    assert await kube.rollout_undo(ObjectRef(kind, NS, "db")) == 2

    [patch] = api.writes()
    assert patch.method == "PATCH"
    assert patch.path == f"/apis/apps/v1/namespaces/{NS}/{PLURALS[kind]}/db"
    assert patch.content_type == STRATEGIC
    assert patch.body == previous["data"]  # the revision's data, verbatim ($patch: replace)
    assert images(api, kind) == ["registry/db:v2"]
    # The whole template is replaced: revision 3's annotation is gone.
    assert "annotations" not in template(api, kind)["metadata"]
    [listing] = api.requests_to("GET", f"/apis/apps/v1/namespaces/{NS}/controllerrevisions")
    assert listing.query["labelSelector"] == "app=db"


async def test_undo_to_an_explicit_revision(api: FakeKubeAPI, kube: LightkubeClient) -> None:
    seed(api, "DaemonSet")

    assert await kube.rollout_undo(ObjectRef("DaemonSet", NS, "db"), to_revision=1) == 1

    assert images(api, "DaemonSet") == ["registry/db:v1"]


async def test_undo_twice_goes_back_and_forth_as_the_controller_renumbers(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    seed(api, "StatefulSet")
    ref = ObjectRef("StatefulSet", NS, "db")

    assert await kube.rollout_undo(ref) == 2
    # The controller sees revision 2's template running again and renumbers it to 4.
    assert api.record_revision("StatefulSet", NS, "db")["revision"] == 4
    assert await kube.rollout_undo(ref) == 3

    assert images(api, "StatefulSet") == ["registry/db:v3"]
    assert api.record_revision("StatefulSet", NS, "db")["revision"] == 5


async def test_undo_to_the_running_template_sends_no_patch(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    seed(api, "StatefulSet")

    assert await kube.rollout_undo(ObjectRef("StatefulSet", NS, "db"), to_revision=3) == 3

    assert api.writes() == []


async def test_undo_with_one_revision_or_an_unknown_one_fails_without_patching(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    seed(api, "DaemonSet", revisions=1)
    ref = ObjectRef("DaemonSet", NS, "db")

    with pytest.raises(KubeError, match="no previous revision to roll back to"):
        await kube.rollout_undo(ref)
    with pytest.raises(KubeError, match="revision 9 not found"):
        await kube.rollout_undo(ref, to_revision=9)  # 9 exists, but is not db's
    assert api.writes() == []


async def test_undo_of_a_missing_statefulset_is_not_found(kube: LightkubeClient) -> None:
    with pytest.raises(KubeNotFound):
        await kube.rollout_undo(ObjectRef("StatefulSet", NS, "db"))


async def test_a_revision_without_a_template_is_refused(
    api: FakeKubeAPI, kube: LightkubeClient
) -> None:
    stored = seed(api, "StatefulSet")
    broken = make_controller_revision(stored, revision=4)
    broken["data"] = {"spec": {}}
    api.add(broken)

    with pytest.raises(KubeError, match="revision 4 holds no pod template"):
        await kube.rollout_undo(ObjectRef("StatefulSet", NS, "db"), to_revision=4)
    assert api.writes() == []


# -- the in-memory fake ------------------------------------------------------------------------


async def test_in_memory_undo_follows_the_controller_revision_rule() -> None:
    kube = InMemoryKube()
    db = kube.add("StatefulSet", NS, "db", revision=3, revisions=[1, 2, 3])
    ref = ObjectRef("StatefulSet", NS, "db")

    assert await kube.rollout_undo(ref) == 2
    assert (db.revision, db.revisions) == (4, [1, 3, 4])  # 2 renumbered to 4
    assert await kube.rollout_undo(ref) == 3
    assert await kube.rollout_undo(ref, to_revision=1) == 1
    with pytest.raises(KubeError, match="cannot be rolled back"):
        await kube.rollout_undo(ObjectRef("ReplicaSet", NS, "db-abc"))
