"""Decide by code whether a provider is local: loopback, private, link-local or allow-listed."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

CLOUD_MODEL_SUFFIXES = ("-cloud", ":cloud")

# Private means RFC 1918 and IPv6 unique-local (RFC 4193) only. Python's `is_private` also counts
# documentation, benchmarking (198.18/15, handed out by "fake-IP" DNS proxies for public names),
# reserved and Teredo (2001::/32, tunnelled over the internet) ranges: those may leave the site.
_PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


def _address_is_local(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _address_is_local(address.ipv4_mapped)
    if address.is_unspecified or address.is_multicast:
        return False
    private = any(address in network for network in _PRIVATE_NETWORKS)
    return address.is_loopback or private or address.is_link_local


def resolve(host: str) -> list[str]:
    """Every address the host name resolves to (empty when it does not resolve)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return sorted({str(info[4][0]).split("%", 1)[0] for info in infos})


def host_is_local(host: str, local_hosts: Iterable[str] = ()) -> bool:
    """Loopback, private or link-local address, a name resolving only to such, or allow-listed."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if not name:
        return False
    if name in {allowed.strip().rstrip(".").lower() for allowed in local_hosts}:
        return True
    try:
        return _address_is_local(ipaddress.ip_address(name))
    except ValueError:
        pass
    addresses = resolve(name)
    # A name that resolves nowhere, or anywhere public, is not provably local.
    return bool(addresses) and all(_address_is_local(ipaddress.ip_address(a)) for a in addresses)


def url_host(url: str) -> str:
    """The host part of a URL ('' when there is none)."""
    return urlsplit(url).hostname or ""


def model_is_cloud(kind: str, model: str) -> bool:
    """An Ollama model named *-cloud or *:cloud runs on Ollama's servers, not here."""
    return kind == "ollama" and model.strip().lower().endswith(CLOUD_MODEL_SUFFIXES)


def provider_is_local(kind: str, base_url: str, model: str, local_hosts: Iterable[str]) -> bool:
    """Whether a provider is provably local (its host and its model)."""
    return host_is_local(url_host(base_url), local_hosts) and not model_is_cloud(kind, model)
