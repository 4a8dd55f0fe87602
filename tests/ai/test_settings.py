"""The `ai:` section: locality decided by code at load, local-only chains, defaults and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from awoooi.ai.intents import LOCAL_ONLY_INTENTS, Intent, is_local_only
from awoooi.ai.locality import host_is_local, model_is_cloud, provider_is_local, url_host
from awoooi.ai.settings import AISettings, ProviderConfig
from awoooi.core.errors import ConfigError
from awoooi.settings import load_settings

LOCAL_HOSTS = [
    "127.0.0.1",
    "127.8.9.10",
    "::1",
    "[::1]",
    "localhost",
    "LOCALHOST.",
    "10.0.0.1",
    "10.255.255.254",
    "172.16.0.1",
    "172.31.255.254",
    "192.168.1.10",
    "fd00::1",
    "fd12:3456:789a::1",
    "169.254.169.254",
    "169.254.0.1",
    "fe80::1",
    "::ffff:10.0.0.7",  # IPv4-mapped private address
]
NOT_LOCAL_HOSTS = [
    "8.8.8.8",
    "1.1.1.1",
    "172.32.0.1",  # just outside 172.16/12
    "100.64.0.1",  # carrier-grade NAT is not on the premises
    "2001:4860::8888",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",  # IPv4-mapped public address
    "0.0.0.0",
    "::",
    "224.0.0.1",
    "ff02::1",
    "api.openai.com",
    "integrate.api.nvidia.com",
    "no-such-host.invalid",
    "llm.corp.invalid",
    "",
    # Reserved ranges that Python's `is_private` counts as private but that are neither
    # loopback, RFC 1918/4193 private nor link-local: traffic to them may well leave the site
    # (198.18.0.0/15 is what "fake-IP" DNS proxies hand out for public names; 2001::/32 is Teredo,
    # a tunnel over the public IPv4 internet).
    "203.0.113.5",
    "192.0.2.1",
    "198.51.100.7",
    "198.18.0.5",
    "240.0.0.1",
    "2001:db8::1",
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
]


def provider(name: str, base_url: str, *, kind: str = "openai", model: str = "m") -> dict:
    return {"name": name, "kind": kind, "base_url": base_url, "model": model}


def ai(providers: list[dict], **values: object) -> AISettings:
    return AISettings.model_validate({"providers": providers, **values})


def write_yaml(directory: Path, text: str) -> Path:
    path = directory / "awoooi.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- locality -----------------------------------------------------------------------------------


@pytest.mark.parametrize("host", LOCAL_HOSTS)
def test_local_hosts(host: str) -> None:
    assert host_is_local(host)


@pytest.mark.parametrize("host", NOT_LOCAL_HOSTS)
def test_not_local_hosts(host: str) -> None:
    assert not host_is_local(host)


def test_local_hosts_allow_list_names_a_host() -> None:
    assert not host_is_local("llm.corp.invalid")
    assert host_is_local("llm.corp.invalid", ["llm.corp.invalid"])
    assert host_is_local("LLM.corp.invalid.", ["llm.corp.invalid"])
    assert not host_is_local("other.corp.invalid", ["llm.corp.invalid"])


def test_cloud_models_are_cloud_even_on_localhost() -> None:
    assert model_is_cloud("ollama", "gpt-oss:120b-cloud")
    assert model_is_cloud("ollama", "deepseek-v3.1:671b-cloud")
    assert model_is_cloud("ollama", "kimi-k2:cloud")
    assert not model_is_cloud("ollama", "llama3.1:8b")
    assert not model_is_cloud("openai", "something-cloud")  # the suffix is Ollama's convention
    assert not provider_is_local("ollama", "http://127.0.0.1:11434", "gpt-oss:120b-cloud", [])
    assert not provider_is_local("ollama", "http://localhost:11434", "kimi-k2:cloud", [])
    assert provider_is_local("ollama", "http://localhost:11434", "llama3.1:8b", [])
    assert url_host("http://[::1]:8000/v1") == "::1"


def test_locality_is_decided_at_load_and_exposed() -> None:
    settings = ai(
        [
            provider("nim", "http://127.0.0.1:8000/v1"),
            provider("lan", "http://192.168.10.5:8000/v1"),
            provider("named", "http://llm.corp.invalid:8000/v1"),
            provider("openai", "https://api.openai.com/v1"),
            provider("public-ip", "http://8.8.8.8/v1"),
            provider("cloudy", "http://127.0.0.1:11434", kind="ollama", model="gpt-oss:20b-cloud"),
        ],
        local_hosts=["llm.corp.invalid"],
    )
    assert settings.is_local("nim")
    assert settings.is_local("lan")
    assert settings.is_local("named")
    assert not settings.is_local("openai")
    assert not settings.is_local("public-ip")
    assert not settings.is_local("cloudy")
    assert not settings.is_local("no-such-provider")


# --- local-only chains --------------------------------------------------------------------------


def test_local_only_intents() -> None:
    assert {Intent.DIAGNOSE, Intent.GENERATE_RUNBOOK, Intent.INTERPRET_DRIFT} == LOCAL_ONLY_INTENTS
    assert not is_local_only(Intent.CHAT)
    assert not is_local_only(Intent.SUMMARIZE)


@pytest.mark.parametrize("intent", sorted(LOCAL_ONLY_INTENTS))
@pytest.mark.parametrize(
    ("name", "base_url", "kind", "model"),
    [
        ("openai", "https://api.openai.com/v1", "openai", "gpt-4o"),
        ("google-dns", "http://8.8.8.8:8000/v1", "openai", "m"),
        ("v6", "http://[2001:4860::8888]/v1", "openai", "m"),
        ("ollama-cloud", "http://127.0.0.1:11434", "ollama", "gpt-oss:120b-cloud"),
    ],
)
def test_cloud_provider_in_a_local_only_chain_is_refused(
    intent: Intent, name: str, base_url: str, kind: str, model: str
) -> None:
    providers = [
        provider("nemotron", "http://127.0.0.1:8000/v1"),
        provider(name, base_url, kind=kind, model=model),
    ]
    with pytest.raises(ValidationError) as caught:
        ai(providers, chains={intent.value: ["nemotron", name]})
    message = str(caught.value)
    assert repr(name) in message
    assert repr(intent.value) in message
    assert "not local" in message


@pytest.mark.parametrize("intent", [Intent.CHAT, Intent.SUMMARIZE])
def test_cloud_provider_in_other_chains_is_fine(intent: Intent) -> None:
    settings = ai(
        [
            provider("nemotron", "http://127.0.0.1:8000/v1"),
            provider("openai", "https://api.openai.com/v1", model="gpt-4o"),
        ],
        chains={intent.value: ["openai", "nemotron"]},
    )
    assert [p.name for p in settings.chain(intent)] == ["openai", "nemotron"]
    assert not settings.is_local("openai")


def test_allow_listed_name_may_serve_a_local_only_intent() -> None:
    providers = [provider("corp", "http://llm.corp.invalid:8000/v1")]
    with pytest.raises(ValidationError, match="'corp'"):
        ai(providers, chains={"diagnose": ["corp"]})
    settings = ai(providers, chains={"diagnose": ["corp"]}, local_hosts=["llm.corp.invalid"])
    assert [p.name for p in settings.chain(Intent.DIAGNOSE)] == ["corp"]


def test_unknown_provider_in_a_chain_is_an_error() -> None:
    with pytest.raises(ValidationError) as caught:
        ai([provider("nemotron", "http://127.0.0.1:8000/v1")], chains={"chat": ["nemotron", "gpt"]})
    assert "unknown provider 'gpt'" in str(caught.value)
    assert "'chat'" in str(caught.value)


def test_duplicate_provider_names_are_an_error() -> None:
    with pytest.raises(ValidationError, match="unique: a"):
        ai([provider("a", "http://127.0.0.1:1/v1"), provider("a", "http://127.0.0.1:2/v1")])


def test_default_chains() -> None:
    settings = ai(
        [
            provider("openai", "https://api.openai.com/v1", model="gpt-4o"),
            provider("nemotron", "http://127.0.0.1:8000/v1"),
            provider("cloudy", "http://127.0.0.1:11434", kind="ollama", model="x:cloud"),
            provider("ollama", "http://127.0.0.1:11434", kind="ollama", model="llama3.1:8b"),
        ]
    )
    for intent in LOCAL_ONLY_INTENTS:
        assert [p.name for p in settings.chain(intent)] == ["nemotron", "ollama"]
    for intent in (Intent.CHAT, Intent.SUMMARIZE):
        assert [p.name for p in settings.chain(intent)] == [
            "openai",
            "nemotron",
            "cloudy",
            "ollama",
        ]


def test_seed_defaults_are_local_nemotron_then_ollama() -> None:
    settings = AISettings()
    assert [p.name for p in settings.chain(Intent.DIAGNOSE)] == ["nemotron", "ollama"]
    nemotron, ollama = settings.providers
    assert (nemotron.kind, ollama.kind) == ("openai", "ollama")
    assert nemotron.timeout_for("diagnose") == 30.0
    assert ollama.timeout_for("diagnose") == 60.0
    assert nemotron.timeout_for("summarize") == nemotron.timeout_for("default") == 20.0
    assert settings.is_local("nemotron")
    assert settings.is_local("ollama")


def test_an_explicit_empty_chain_means_reject() -> None:
    settings = ai([provider("nemotron", "http://127.0.0.1:8000/v1")], chains={"diagnose": []})
    assert settings.chain(Intent.DIAGNOSE) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("base_url", "ftp://127.0.0.1/v1"),
        ("base_url", "http:///v1"),
        ("base_url", "http://user:secret@127.0.0.1/v1"),
        ("name", "Bad Name"),
        ("api_key_env", "sk-live-abcdef 123"),
        ("timeouts", {"diagnose": 0}),
        ("kind", "anthropic"),
    ],
)
def test_provider_field_errors(field: str, value: object) -> None:
    values = {**provider("p", "http://127.0.0.1:8000/v1"), field: value}
    with pytest.raises(ValidationError):
        ProviderConfig.model_validate(values)


# --- through load_settings ----------------------------------------------------------------------


CLOUD_IN_DIAGNOSE = """
ai:
  providers:
    - {name: nemotron, kind: openai, base_url: "http://127.0.0.1:8000/v1", model: nemo}
    - {name: gpt, kind: openai, base_url: "https://api.openai.com/v1", model: gpt-4o}
  chains:
    diagnose: [nemotron, gpt]
"""


def test_load_settings_raises_config_error_naming_provider_and_intent(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write_yaml(tmp_path, CLOUD_IN_DIAGNOSE))
    detail = caught.value.detail
    assert "'gpt'" in detail
    assert "'diagnose'" in detail
    assert "not local" in detail


def test_load_settings_accepts_cloud_in_chat_chain(tmp_path: Path) -> None:
    text = CLOUD_IN_DIAGNOSE.replace("diagnose: [nemotron, gpt]", "chat: [gpt, nemotron]")
    settings = load_settings(write_yaml(tmp_path, text))
    assert [p.name for p in settings.ai.chain(Intent.CHAT)] == ["gpt", "nemotron"]
    assert [p.name for p in settings.ai.chain(Intent.DIAGNOSE)] == ["nemotron"]
    assert settings.ai.is_local("nemotron")
    assert not settings.ai.is_local("gpt")


def test_load_settings_unknown_chain_provider(tmp_path: Path) -> None:
    text = CLOUD_IN_DIAGNOSE.replace("diagnose: [nemotron, gpt]", "summarize: [claude]")
    with pytest.raises(ConfigError, match="unknown provider 'claude'"):
        load_settings(write_yaml(tmp_path, text))


def test_load_settings_unknown_intent_is_an_error(tmp_path: Path) -> None:
    text = CLOUD_IN_DIAGNOSE.replace("diagnose: [nemotron, gpt]", "poetry: [nemotron]")
    with pytest.raises(ConfigError, match=r"ai\.chains"):
        load_settings(write_yaml(tmp_path, text))


@pytest.mark.parametrize(
    ("addresses", "local"),
    [
        (["10.0.0.5"], True),
        (["10.0.0.5", "fd00::5"], True),
        (["10.0.0.5", "8.8.8.8"], False),  # anywhere public is enough to be cloud
        (["198.18.0.5"], False),  # a "fake-IP" DNS proxy's answer for a public name
        ([], False),  # does not resolve
    ],
)
def test_names_are_local_only_when_every_address_is(
    monkeypatch: pytest.MonkeyPatch, addresses: list[str], local: bool
) -> None:
    monkeypatch.setattr("awoooi.ai.locality.resolve", lambda host: addresses)
    assert host_is_local("llm.example.invalid") is local


def test_locality_is_not_re_resolved_after_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("awoooi.ai.locality.resolve", lambda host: ["10.0.0.5"])
    settings = ai(
        [provider("corp", "http://llm.example.invalid:8000/v1")], chains={"diagnose": ["corp"]}
    )
    # DNS now points elsewhere: the decision made at load stands (no flip between calls).
    monkeypatch.setattr("awoooi.ai.locality.resolve", lambda host: ["8.8.8.8"])
    assert settings.is_local("corp")
    assert [p.name for p in settings.chain(Intent.DIAGNOSE)] == ["corp"]
    # Loading again decides again, and refuses the chain.
    with pytest.raises(ValidationError, match="'corp'"):
        ai([provider("corp", "http://llm.example.invalid:8000/v1")], chains={"diagnose": ["corp"]})
