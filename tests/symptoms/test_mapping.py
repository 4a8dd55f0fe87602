"""Alert-to-pattern mapping cases that once merged different symptoms or split equal ones."""

from __future__ import annotations

from awoooi.symptoms import SymptomSettings, pattern_from_alert


def _hash(labels: dict[str, str], annotations: dict[str, str]) -> str:
    return pattern_from_alert(labels, annotations).compute_hash()


def test_identifying_label_values_in_text_keep_symptoms_apart() -> None:
    def alert(condition: str, node: str) -> str:
        labels = {"alertname": "KubeNodeCondition", "condition": condition, "node": node}
        return _hash(labels, {"summary": f"Node {node} has {condition} condition"})

    assert alert("MemoryPressure", "worker-1") != alert("DiskPressure", "worker-1")
    assert alert("DiskPressure", "worker-1") == alert("DiskPressure", "worker-7")


def test_pod_owner_kind_beats_a_node_label() -> None:
    labels = {"alertname": "PodNotReady", "pod": "web-7d9f8c6b5d-x2kqz", "node": "worker-2"}
    pattern = pattern_from_alert(labels, {})
    assert (pattern.services, pattern.resource_kind) == (("web",), "Deployment")
    node_only = pattern_from_alert({"alertname": "NodeNotReady", "node": "worker-2"}, {})
    assert (node_only.services, node_only.resource_kind) == ((), "Node")


def test_exporter_service_label_does_not_name_the_workload() -> None:
    labels = {
        "alertname": "KubeDeploymentReplicasMismatch",
        "service": "kube-state-metrics",
        "job": "kube-state-metrics",
        "deployment": "web",
        "namespace": "shop",
    }
    pattern = pattern_from_alert(labels, {})
    assert (pattern.services, pattern.resource_kind) == (("web",), "Deployment")
    settings = SymptomSettings(exporter_services=[])
    assert pattern_from_alert(labels, {}, settings).services == ("kube-state-metrics",)


def test_cronjob_runs_share_one_fingerprint() -> None:
    def run(job_name: str) -> str:
        labels = {"alertname": "KubernetesJobFailed", "namespace": "ops", "job_name": job_name}
        return _hash(labels, {"summary": f"Job ops/{job_name} failed to complete"})

    assert run("backup-28734120") == run("backup-28734180")
    pattern = pattern_from_alert({"alertname": "J", "job_name": "backup-28734120"}, {})
    assert (pattern.services, pattern.resource_kind) == (("backup",), "CronJob")
    plain = pattern_from_alert({"alertname": "J", "job_name": "migrate-schema"}, {})
    assert (plain.services, plain.resource_kind) == (("migrate-schema",), "Job")
