"""What a log says about why a process stopped: a dependency it could not reach (refused,
unresolvable, timing out, rejecting credentials) or an error of its own (panic, uncaught
exception, fatal log line). The vocabulary is that of the runtimes and client libraries
(Go net, glibc resolver, Node/libuv errno names, Java and Python exception classes, database
drivers), not of any one application.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# A dependency could not be reached, resolved or used.
DEPENDENCY = re.compile(
    r"(?i)("
    # refused / reset / unreachable (POSIX errno texts, libuv names, Go net, Java, Python)
    r"connection refused|\bECONNREFUSED\b|ConnectException|ConnectionRefusedError"
    r"|connection reset by peer|\bECONNRESET\b|\bEHOSTUNREACH\b|\bENETUNREACH\b"
    r"|no route to host|network is unreachable|host is unreachable"
    # name resolution
    r"|no such host|\bENOTFOUND\b|\bEAI_AGAIN\b|getaddrinfo|Name or service not known"
    r"|Temporary failure in name resolution|nodename nor servname|UnknownHostException"
    r"|could not translate host name|Could not resolve host|server misbehaving|\bNXDOMAIN\b"
    r"|Name does not resolve|No such host is known|bad address '"
    # timeouts while connecting or waiting on a peer
    r"|i/o timeout|\bETIMEDOUT\b|connection timed out|connect timed out|Read timed out"
    r"|SocketTimeoutException|ConnectTimeout|context deadline exceeded|ServerSelectionTimeout"
    r"|MongoServerSelectionError|server selection (timed out|timeout)"
    r"|timed out (connecting|waiting for)|operation timed out|timeout connecting"
    r"|upstream connect error"
    # client libraries and drivers failing to connect
    r"|dial tcp|failed to connect to|unable to connect to|could not connect to|can't connect to"
    r"|cannot connect to|error connecting to|connection to \S+ (failed|refused)"
    r"|Communications link failure|CommunicationsException|NewConnectionError"
    r"|Failed to establish a new connection|MaxRetryError"
    r"|connection to server|NoBrokersAvailable|Broker may not be available"
    r"|run out of available brokers"
    r"|AMQPConnectionError|socket hang up|Connection to .* refused"
    # credentials rejected by the peer
    r"|authentication failed|password authentication failed|Access denied for user"
    r"|Login failed for user|\bNOAUTH\b|\bWRONGPASS\b|invalid username[- ]or[- ]password"
    r"|SASL authentication|SaslAuthenticationException|AuthenticationFailed|invalid credentials"
    r"|ACCESS_REFUSED|Login was refused|role \"[^\"]+\" does not exist"
    # TLS towards the peer
    r"|x509: certificate|certificate verify failed|SSLHandshakeException|tls: handshake failure"
    r")"
)
# A process failing on its own: panics, uncaught exceptions, fatal log lines.
APP_ERROR = re.compile(
    r"(^panic: |^fatal error: |goroutine \d+ \[running\]|Traceback \(most recent call last\)"
    r"|panicked at |Fatal Python error"
    r"|^Exception in thread|Unhandled exception|UnhandledPromiseRejection|[Uu]ncaught \w*"
    r"|Segmentation fault|\bSIGSEGV\b|core dumped|^\s*Caused by: "
    r"|^\s*(?:[\w$]+\.)*[A-Z][\w$]*(?:Exception|Error)\b(?::|$)"
    r"|assertion failed|\babort(ed)?\b)"
)
# Error- and fatal-level log lines: weaker than a panic or an exception (often "exiting" after
# the real failure was logged).
ERROR_LINE = re.compile(
    r"(?i)(\bERROR\b|\bFATAL\b|\bCRITICAL\b|level=(error|fatal|crit)"
    r"|\"level\":\s*(\"(error|fatal|critical)\"|50|60)|\[(error|fatal)\]|\b[EF]\d{4} "
    r"|severity\W+(error|critical))"
)
# Lines logged at info/debug level: the process was doing fine there.
INFO_LINE = re.compile(
    r"(\bINFO\b|\bDEBUG\b|(?i:level=(info|debug))|(?i:\"level\":\s*(\"(info|debug)\"|20|30))"
    r"|\bI\d{4} |(?i:\[(info|debug)\]))"
)

_URL = re.compile(
    r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://(?:[^@/\s\"']*@)?([A-Za-z0-9.\-\[\]:]+?)(?::(\d+))?(?=[/?\s\"',]|$)"
)
# Zero-width matches, so that "dial tcp: lookup redis on ..." finds "redis" after "lookup".
# After a verb the peer follows a space; after a noun (`host=`, `"server":`, `host "db"`) it
# follows `=`, `:` or a quote — "the server running on" names no server.
_KEYWORD_HOST = re.compile(
    r"(?i)(?=\b(?:(?:lookup|connect(?:ing)? to|connection to|(?:server|host) at)[\s\"']+"
    r"|(?:host|server|address|addr|broker|endpoint|upstream)(?:\\?[\"'])?(?:\s*[=:]\s*|\s+)"
    r"\\?[\"'](?=[A-Za-z0-9])|(?:host|server|address|addr|broker|endpoint|upstream)\s*[=:]\s*)"
    r"\[?([A-Za-z0-9][A-Za-z0-9.\-]*)\]?(?::(\d{2,5}))?)"
)
_HOST_PORT = re.compile(r"(?<![\w.\-/])([a-z0-9][a-z0-9\-]*(?:\.[a-z0-9\-]+)+):(\d{2,5})\b")
# `redis:6379`, `localhost:5432`: a single-label host with a server port.
_SHORT_HOST_PORT = re.compile(r"(?<![\w.\-/])([a-z][a-z0-9\-]*):(\d{2,5})\b")
_CLUSTER_NAME = re.compile(r"(?<![\w.\-])((?:[a-z0-9\-]+\.)+svc(?:\.cluster\.local)?)\b")
# fmt: off
_FILE_SUFFIX = frozenset({
    "js", "ts", "mjs", "cjs", "py", "go", "java", "kt", "scala", "rb", "rs", "c", "cc", "cpp",
    "h", "cs", "php", "pl", "sh", "yaml", "yml", "json", "xml", "conf", "properties", "txt",
    "log", "jar", "class", "ini", "toml", "lock", "html", "css", "sql",
})
_NOT_HOSTS = frozenset({
    "tcp", "udp", "unix", "http", "https", "true", "false", "null", "none", "port", "line", "pid",
    "code", "status", "time", "took", "id", "size", "at", "on", "in", "to", "from", "error", "err",
    "warn", "info", "debug", "trace", "level", "msg", "lookup", "server", "host", "address",
    "addr", "broker", "endpoint", "upstream", "connect", "connection", "connecting", "dial",
})
# fmt: on


@dataclass(frozen=True)
class LogVerdict:
    """What a log tail says: `dependency` or `app`, the decisive line, the host if any."""

    kind: str
    line: str
    host: str | None = None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def _plausible(host: str) -> bool:
    host = host.strip(".").lower()
    if not host or host in _NOT_HOSTS or len(host) > 253:
        return False
    if "." in host and host.rsplit(".", 1)[1] in _FILE_SUFFIX:
        return False
    return bool(re.fullmatch(r"[a-z0-9\-.\[\]:]+", host))


def hosts_in(line: str) -> list[str]:
    """Peers a line names (`host:port` when the port is known): names first, then IPs."""
    ports: dict[str, str | None] = {}
    for pattern in (_URL, _KEYWORD_HOST, _HOST_PORT, _SHORT_HOST_PORT, _CLUSTER_NAME):
        for match in pattern.finditer(line):
            host = match.group(1).strip(".")
            port = match.group(2) if pattern.groups > 1 else None
            if not _plausible(host):
                continue
            if pattern is _SHORT_HOST_PORT and (host in _NOT_HOSTS or not _service_port(port)):
                continue
            if ports.get(host) is None:
                ports[host] = port

    def rank(item: tuple[str, str | None]) -> int:
        """How much a found host says: qualified names, short names with a port, words, IPs."""
        host, port = item
        if _is_ip(host):
            return 3
        if "." in host:
            return 0  # a qualified name says the most
        return 1 if port else 2  # `redis:6379` before a bare word after "connecting to"

    ordered = sorted(ports.items(), key=rank)
    return [f"{host}:{port}" if port else host for host, port in ordered]


def _service_port(port: str | None) -> bool:
    """Ports a short `name:port` pair plausibly points at a server on (not `line:42`)."""
    return port is not None and (int(port) >= 1000 or port in {"80", "443", "53", "389", "636"})


def _port(host: str) -> str | None:
    return host.rsplit(":", 1)[1] if host.count(":") == 1 else None


def _bare(host: str) -> str:
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _dependency_host(lines: list[str], at: int) -> str | None:
    """The peer a dependency failure is about: named on its line, else a host name nearby
    (an ECONNREFUSED line names an IP; the line before it names the server)."""
    own = hosts_in(lines[at])
    named = [h for h in own if not _is_ip(_bare(h))]
    if named:
        return named[0]
    ports = {_port(h) for h in own if _port(h)}
    window = list(range(at - 1, max(-1, at - 16), -1)) + list(
        range(at + 1, min(len(lines), at + 16))
    )
    nearby = [h for i in window for h in hosts_in(lines[i]) if not _is_ip(_bare(h))]
    same_port = [h for h in nearby if ports and _port(h) in ports]
    if same_port:
        return same_port[0]
    if nearby:
        return nearby[0]
    return own[0] if own else None


def _final_block(lines: list[str]) -> int:
    """Where the last failure begins: back from the last error line to the line after the
    nearest info/debug line (a failure the process recovered from is not this crash)."""
    end = len(lines) - 1
    while end >= 0 and not (
        DEPENDENCY.search(lines[end])
        or APP_ERROR.search(lines[end])
        or ERROR_LINE.search(lines[end])
    ):
        end -= 1  # shutdown chatter after the failure
    start = end
    while start > 0 and not (
        INFO_LINE.search(lines[start - 1]) and not _is_failure(lines[start - 1])
    ):
        start -= 1
    return max(start, 0)


def _is_failure(line: str) -> bool:
    return bool(DEPENDENCY.search(line) or APP_ERROR.search(line) or ERROR_LINE.search(line))


def read_log(lines: list[str]) -> LogVerdict | None:
    """The decisive failure of a log tail: a dependency it could not reach, or its own error."""
    # Within the last failure (from the last info line on), a dependency failure wins unless the
    # process failed on its own after it (a panic, an exception that is not a connection error);
    # a bare "fatal: exiting" line does not count.
    start = _final_block(lines)
    last_dep = last_app = last_err = -1
    for index in range(start, len(lines)):
        line = lines[index]
        if DEPENDENCY.search(line):
            last_dep = index
        elif APP_ERROR.search(line):
            last_app = index
        elif ERROR_LINE.search(line):
            last_err = index
    if last_dep >= 0 and last_app < last_dep:
        return LogVerdict("dependency", lines[last_dep].strip(), _dependency_host(lines, last_dep))
    if last_app >= 0:
        return LogVerdict("app", _headline(lines, last_app))
    if last_err >= 0:
        return LogVerdict("app", lines[last_err].strip())
    return None


def _headline(lines: list[str], at: int) -> str:
    """The line that names the error: a Go panic's message, a traceback's exception line."""
    line = lines[at].strip()
    if line.startswith("goroutine ") or line.startswith("Traceback"):
        for candidate in lines[at::-1] if line.startswith("goroutine ") else lines[at:]:
            stripped = candidate.strip()
            if stripped.startswith(("panic: ", "fatal error: ")) or re.match(
                r"^(?:[\w$]+\.)*[A-Z][\w$]*(?:Exception|Error)\b", stripped
            ):
                return stripped
    return line
