"""The one secret redactor of the service: logs, job errors, notifications and AI prompts.

`redact(text)` replaces every secret it recognises with a typed placeholder, ``[REDACTED:<kind>]``,
so a reader still learns *what* leaked (a GitHub token, a database password) but never the value.

Rules run in a fixed order, most specific first: Kubernetes Secret manifests, private keys, token
shapes (AWS, JWT, GitHub, Slack, Google, ...), then header, URL and command-line credentials, then
secret-named keys (``password=``, ``client_secret:``, ...), and last standalone random strings
(``[REDACTED:high_entropy]``: 32+ base64 characters that look random, see `_looks_random`; hex
is kept, as Git SHAs, digests and ids are identities, not keys). A later rule never rewrites an
earlier placeholder, so the first, most precise kind wins. The rules re-run until the text stops
changing (at most four passes; text without secrets takes one), so
``redact(redact(x)) == redact(x)``.

Every pattern runs in linear time, whatever the input (see `tests/core/test_redact.py`):

* a pattern that scans a run of characters may only start at the beginning of that run (a negative
  lookbehind on the run's own class), so no run is rescanned from each of its positions;
* repetitions are possessive (``*+``, ``++``), so a failed match never backtracks into them;
* a failed match scans a bounded number of characters (a minimum length, a fixed-width shape), or up
  to a delimiter that no other attempt scans past;
* the structural passes (YAML and JSON manifests) walk the text once, line by line or token by
  token, and only run when the text mentions a ``Secret`` at all;
* a fixed number of rules over a bounded number of passes keeps the total linear.

Certificates (``client-certificate-data``, ``certificate-authority-data``, ``BEGIN CERTIFICATE``)
are public by design (every TLS handshake sends them) and useful when debugging (subject, expiry),
so they are kept; the private keys that go with them are not.

Structures (log fields, playbook steps, drift values) go through `redact_structure(value, key)`:
every string in them is passed to `redact`, and a value under a key that `is_secret_key` names a
secret is hidden whole. A key is secret when it *ends* with a secret word, whatever its case and
optionally plural: password, passwd, passphrase, secret, token, credential, a named key (api_key,
private_key, client_key, subscription_key …: a bare ``key`` names a map entry, not a secret) — the
words `redact` looks for before ``=`` or ``:`` — the whole words pass, pwd and auth, or a
credential header: authorization (Proxy-Authorization), cookie (Set-Cookie), session, session
id. So ``X-Api-Key``, ``X-Auth-Token``, ``Private-Token``, ``JSESSIONID`` and ``client_secret``
are secret, while names *about* a secret (``token_path``, ``password_file``, ``api_key_env``,
``secretName``, ``existingSecret``, ``pageToken``) and look-alikes (``monkey``, ``keyboard``,
``bypass``, ``possession``) are not.

One placeholder rule: whatever hides a secret writes ``[REDACTED:<kind>]``. In text the kind is
what was recognised; for a value hidden by its key it is what the key names (``password``,
``token``, ``api_key``, ``private_key``, ``authorization``, ``cookie``, ``session``, else
``secret``). None, booleans and empty strings or containers under a secret key are kept: they
hide nothing, and show the secret is unset. The log pipeline alone writes a bare ``[REDACTED]``
for such values (`awoooi.core.logging.REDACTED`, the text its readers were promised), passing it
as `redact_structure`'s ``mask``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import itertools
import math
import re
import string
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PLACEHOLDER",
    "is_placeholder",
    "is_secret_key",
    "placeholder",
    "redact",
    "redact_structure",
]

PLACEHOLDER = re.compile(r"\[REDACTED:[a-z0-9_]+\]")
"""Matches one typed placeholder, as `redact` writes it."""


def placeholder(kind: str) -> str:
    """The text that stands in for a secret of this kind."""
    return f"[REDACTED:{kind}]"


def is_placeholder(text: str) -> bool:
    """Whether the text is exactly one placeholder (a value already redacted)."""
    return PLACEHOLDER.fullmatch(text) is not None


Match = re.Match[str]
_Rule = Callable[[str], str]

# A token character: url-safe base64 and the like. A placeholder's brackets count as token
# characters too, so a rule that refuses to start inside a token also refuses to start right
# after a placeholder, in the first pass as in the second (idempotence).
_BEFORE = r"(?<![A-Za-z0-9_\-\]])"
_AFTER = r"(?![A-Za-z0-9_\-\[])"
_NOT_REDACTED = r"(?!\[REDACTED:)"


def _splice(match: Match, group: str | int, kind: str) -> str:
    """The matched text with one group's span replaced by a placeholder."""
    start, end = match.span(group)
    whole = match.group(0)
    base = match.start()
    return whole[: start - base] + placeholder(kind) + whole[end - base :]


# --- Private keys ----------------------------------------------------------------------------

_PEM_LABEL = r"(?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?"
# A whole block. The body stops at the first "-----" (possessively), so a BEGIN without its END
# scans only up to the next marker: consecutive attempts never scan the same characters.
_PEM_BLOCK = re.compile(
    rf"-----BEGIN {_PEM_LABEL}-----(?:[^\-]++|-(?!----))*+-----END {_PEM_LABEL}-----"
)
# A block cut short (a truncated log line): the BEGIN line, then whole lines of base64 or PEM
# headers, separated by real or escaped ("\n" in JSON) line breaks.
_PEM_TRUNCATED = re.compile(
    rf"-----BEGIN {_PEM_LABEL}-----"
    r"(?:(?:[ \t\r\n]|\\[nr])++"
    r"(?:(?:Proc-Type|DEK-Info|Comment|Version|Hash|Charset):[^\r\n\\]*+"
    r"|[A-Za-z0-9+/=]++(?=[ \t]*+(?:\\[nr]|[\r\n\"',}\]]|$))))*+"
)


def _b64_prefix(header: str) -> str:
    raw = header.encode("ascii")
    whole = len(raw) // 3 * 3  # only complete 3-byte groups encode the same whatever follows
    return base64.b64encode(raw[:whole]).decode("ascii")


_B64_PEM_PREFIXES = sorted(
    {
        _b64_prefix(f"-----BEGIN {label}PRIVATE KEY")
        for label in ("", "RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED ", "PGP ")
    },
    key=len,
    reverse=True,
)
# A base64-encoded PEM private key (Secret data, kubeconfig, Helm values), wrapped or not.
_B64_PEM = re.compile(
    r"(?<![A-Za-z0-9+/=])(?:"
    + "|".join(re.escape(prefix) for prefix in _B64_PEM_PREFIXES)
    + r")[A-Za-z0-9+/=]*+"
    r"(?:\r?\n[ \t]*+[A-Za-z0-9+/=]{20,}+(?=[ \t]*+(?:\r?\n|$)))*+"
)

# kubeconfig: the client's private key, base64 (certificates are public and stay).
_KUBECONFIG_KEY = re.compile(
    _BEFORE
    + r"client-key-data(?P<sep>\\?[\"']?[ \t]*+:[ \t]*+)"
    + _NOT_REDACTED
    + r"(?:\\\"(?P<edq>[^\"\\\r\n]++)|\"(?P<dq>[^\"\r\n]++)|'(?P<sq>[^'\r\n]++)"
    r"|(?P<plain>[^\s\"',;}\]]++))"
)


def _sub_kubeconfig(text: str) -> str:
    def replace(match: Match) -> str:
        group = next(name for name in ("edq", "dq", "sq", "plain") if match.start(name) >= 0)
        return _splice(match, group, "kubeconfig_key")

    return _KUBECONFIG_KEY.sub(replace, text)


# --- Token shapes --------------------------------------------------------------------------

_AWS_ID = r"(?:AKIA|ASIA)[A-Z0-9]{16}"
# An access key id with its secret right after it (a credentials CSV, "id secret" on one line).
_AWS_PAIR = re.compile(
    _BEFORE + rf"(?P<id>{_AWS_ID})(?P<sep>[\s,;:|\"'=]{{1,8}}+)(?P<secret>[A-Za-z0-9/+]{{40}})"
    r"(?![A-Za-z0-9/+=_\-\[])"
)
_AWS_KEY_ID = re.compile(_BEFORE + _AWS_ID + _AFTER)
# Three base64url segments, the first a JSON header ("eyJ" is base64 for '{"').
_JWT = re.compile(_BEFORE + r"eyJ[A-Za-z0-9_\-]{8,}+\.[A-Za-z0-9_\-]{8,}+\.[A-Za-z0-9_\-]*+")
# Prefixed tokens: a prefix, a minimum of body characters, then the rest of the run. The minimum
# keeps look-alikes ("ghp_short") and bounds the work of a failed attempt.
_TOKEN_SHAPES: tuple[tuple[str, str], ...] = (
    ("github_token", r"gh[pousr]_[A-Za-z0-9]{30}|github_pat_[A-Za-z0-9_]{30}"),
    ("gitlab_token", r"glpat-[A-Za-z0-9_\-]{20}"),
    ("slack_token", r"(?:xox[abposre]|xapp)-[A-Za-z0-9\-]{10}"),
    ("anthropic_key", r"sk-ant-[A-Za-z0-9_\-]{20}"),
    ("openai_key", r"sk-[A-Za-z0-9_\-]{20}"),
    ("stripe_key", r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16}|whsec_[A-Za-z0-9]{20}"),
    ("huggingface_token", r"hf_[A-Za-z0-9]{30}"),
    ("gcp_key", r"AIza[A-Za-z0-9_\-]{35}"),
    ("google_oauth_token", r"ya29\.[A-Za-z0-9_\-]{20}"),
    ("google_refresh_token", r"1//0[A-Za-z0-9_\-]{20}"),
    ("gcp_client_secret", r"GOCSPX-[A-Za-z0-9_\-]{20}"),
    ("digitalocean_token", r"do[opr]_v1_[a-f0-9]{32}"),
    ("npm_token", r"npm_[A-Za-z0-9]{36}"),
    ("awoooi_token", r"awi_[A-Za-z0-9_\-]{16}"),
)
# A literal that every shape above starts with (or holds: "_v1_"): text without any of them
# cannot hold a prefixed token. Keep in step with the shapes.
_TOKEN_PREFIXES = (
    "gh", "github_pat_", "glpat-", "xox", "xapp-", "sk-", "sk_", "rk_", "whsec_", "hf_", "AIza",
    "ya29.", "1//0", "GOCSPX-", "_v1_", "npm_", "awi_",
)  # fmt: skip
_TOKEN = re.compile(
    _BEFORE
    + "(?:"
    + "|".join(f"(?P<{kind}>{shape})" for kind, shape in _TOKEN_SHAPES)
    + r")[A-Za-z0-9_\-]*+"
)
# Telegram bot tokens, also inside https://api.telegram.org/bot<token>/sendMessage.
_TELEGRAM_MIN = 41  # five digits, ":", 35 characters
_TELEGRAM = re.compile(_BEFORE + r"(?P<bot>(?:bot)?)[0-9]{5,12}:[A-Za-z0-9_\-]{35}" + _AFTER)
_SLACK_WEBHOOK = re.compile(
    r"(?P<keep>hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9_/\-]{8,}+"
)
_DISCORD_WEBHOOK = re.compile(
    r"(?P<keep>discord(?:app)?\.com/api/webhooks/[0-9]++/)[A-Za-z0-9_\-]{8,}+"
)
# Azure AD (Entra ID) client secrets: three characters, a digit, "Q~", then 31 to 34 more.
_AZURE_CLIENT_SECRET = re.compile(
    r"(?<![A-Za-z0-9_~.\-\]])[A-Za-z0-9_~.\-]{3}[0-9]Q~[A-Za-z0-9_~.\-]{31,34}+"
    r"(?![A-Za-z0-9_~.\-\[])"
)


def _sub_aws(text: str) -> str:
    def pair(match: Match) -> str:
        return placeholder("aws_access_key") + match["sep"] + placeholder("aws_secret_key")

    text = _AWS_PAIR.sub(pair, text)
    return _AWS_KEY_ID.sub(placeholder("aws_access_key"), text)


def _sub_jwt(text: str) -> str:
    return _JWT.sub(placeholder("jwt"), text)


def _sub_prefixed_tokens(text: str) -> str:
    return _TOKEN.sub(lambda match: placeholder(match.lastgroup or "token"), text)


def _sub_telegram(text: str) -> str:
    return _TELEGRAM.sub(lambda match: match["bot"] + placeholder("telegram_bot_token"), text)


def _sub_webhooks(text: str) -> str:
    text = _SLACK_WEBHOOK.sub(lambda match: match["keep"] + placeholder("slack_webhook"), text)
    return _DISCORD_WEBHOOK.sub(lambda match: match["keep"] + placeholder("discord_webhook"), text)


def _sub_azure(text: str) -> str:
    return _AZURE_CLIENT_SECRET.sub(placeholder("azure_client_secret"), text)


# --- Headers, URLs, command lines ------------------------------------------------------------

_SCHEMES = r"(?:bearer|basic|token|bot)"
# Authorization / Cookie headers, in HTTP, JSON, YAML or key=value form. With a known scheme the
# credential is one token; otherwise (Digest, AWS4-HMAC-SHA256, cookies) the rest of the value.
_AUTH_HEADER = re.compile(
    r"(?i)" + _BEFORE + r"(?P<head>(?:proxy-)?authorization|(?:set-)?cookie)"
    r"(?P<sep>\\?[\"']?[ \t]*+[:=][ \t]*+\\?[\"']?)"
    rf"(?:(?P<scheme>{_SCHEMES})[ \t]++|(?!{_SCHEMES}[ \t]))"
    + _NOT_REDACTED
    + r"(?P<value>(?(scheme)[^\s\"'\\,;]++|[^\r\n\"'\\]++))"
)
# "Bearer <token>" anywhere else: 16+ token characters, or 8+ with a digit among the first 15,
# so prose ("bearer authentication", "bearer tokens") survives.
_BEARER = re.compile(
    r"(?i)" + _BEFORE + r"(?P<keep>bearer[ \t]++)"
    r"(?:[A-Za-z0-9._~+/=\-]{16,}+|(?=[A-Za-z._~+/=\-]{0,14}[0-9])[A-Za-z0-9._~+/=\-]{8,}+)"
)
# scheme://user:password@host. The lookbehind anchors the scheme at the start of its run of
# letters (without it a long run with no "://" is retried from every position: quadratic). The
# password runs to the last "@" before the path, so an unencoded "@" in it does not leak the rest.
_URL_PASSWORD = re.compile(
    r"(?i)(?<![a-z0-9+.\-])(?P<keep>[a-z][a-z0-9+.\-]*+://[^:/\s\[]*+:)"
    + _NOT_REDACTED
    + r"(?P<password>[^/\s]+)@"
)
# scheme://<token>@host: a token used as the user name (GitHub, GitLab deploy tokens). Short
# names (git@, deploy@) are user names and stay.
_URL_USER_TOKEN = re.compile(
    r"(?<![A-Za-z0-9+.\-])(?P<keep>[A-Za-z][A-Za-z0-9+.\-]*+://)"
    + _NOT_REDACTED
    + r"[A-Za-z0-9._~\-]{16,}+@"
)
# curl -u user:password, --user, --proxy-user.
_CLI_USER = re.compile(
    _BEFORE
    + r"(?P<keep>(?:-u|--user|--proxy-user)(?:[ \t]++|=)[\"']?[^\s:\"']*+:)"
    + _NOT_REDACTED
    + r"[^\s\"']++"
)
# --password value, --api-key value, ... (the "=" form is a key=value pair, handled below).
_CLI_FLAG = re.compile(
    r"(?i)" + _BEFORE + r"(?P<keep>--(?:[a-z0-9]++-)*?(?P<word>password|passwd|token|secret"
    r"|api-key|apikey|access-key|secret-key)[ \t]++[\"']?)(?!-)" + _NOT_REDACTED + r"[^\s\"']++"
)


# The signature of a pre-signed URL (S3, GCS, Azure SAS "sig=", CloudFront): whoever holds the
# URL holds the access it grants until it expires. 16+ characters, so "sig=15" (a signal) stays.
_URL_SIGNATURE = re.compile(
    r"(?i)(?<![A-Za-z0-9_\-])(?P<keep>(?:sig|signature|x-amz-signature|x-goog-signature)=)"
    + _NOT_REDACTED
    + r"[A-Za-z0-9%+/=_.\-]{16,}+"
)
# Tools that take a password as a short option: mysql and its siblings glue it to -p ("-p pw"
# asks for one, and "pw" is the database), redis-cli -a, sshpass -p. The command's own arguments
# are matched possessively up to the end of the command (a pipe, ";", "&", a redirection, the end
# of the line), so no argument is scanned twice.
_PASSWORD_TOOLS = re.compile(
    r"(?<![A-Za-z0-9_.\-/])(?P<tool>(?:mysql|mariadb)[A-Za-z0-9_\-]*+|redis-cli|sshpass)"
    r"(?P<args>[ \t][^\r\n|;&<>]*+)"
)
_QUOTED_OR_PLAIN = r"(?:'[^'\r\n]*+'|\"[^\"\r\n]*+\"|[^\s\"']++)"
_TOOL_PASSWORD = {
    "mysql": re.compile(r"(?<=[ \t])(?P<keep>-p)" + _NOT_REDACTED + _QUOTED_OR_PLAIN),
    "redis-cli": re.compile(
        r"(?<=[ \t])(?P<keep>-a[ \t]*+)(?!-)" + _NOT_REDACTED + _QUOTED_OR_PLAIN
    ),
    "sshpass": re.compile(r"(?<=[ \t])(?P<keep>-p[ \t]*+)(?!-)" + _NOT_REDACTED + _QUOTED_OR_PLAIN),
}


def _password_option(match: Match) -> str:
    value = match.group(0)[len(match["keep"]) :]
    quote = value[0] if value[0] in "'\"" else ""
    return match["keep"] + quote + placeholder("password") + quote


def _sub_tool_passwords(text: str) -> str:
    def replace(match: Match) -> str:
        tool = match["tool"]
        family = "mysql" if tool.startswith(("mysql", "mariadb")) else tool
        return tool + _TOOL_PASSWORD[family].sub(_password_option, match["args"])

    return _PASSWORD_TOOLS.sub(replace, text)


def _header_kind(match: Match) -> str:
    if match["head"].lower().endswith("cookie"):
        return "cookie"
    scheme = (match["scheme"] or "").lower()
    if scheme == "bearer":
        return "bearer"
    if scheme == "basic":
        return "basic_auth"
    return "token" if scheme else "authorization"


def _sub_auth_headers(text: str) -> str:
    return _AUTH_HEADER.sub(lambda match: _splice(match, "value", _header_kind(match)), text)


def _sub_bearer(text: str) -> str:
    return _BEARER.sub(lambda match: match["keep"] + placeholder("bearer"), text)


def _sub_url_credentials(text: str) -> str:
    text = _URL_PASSWORD.sub(lambda match: _splice(match, "password", "password"), text)
    return _URL_USER_TOKEN.sub(lambda match: match["keep"] + placeholder("token") + "@", text)


def _sub_cli_user(text: str) -> str:
    return _CLI_USER.sub(lambda match: match["keep"] + placeholder("password"), text)


def _sub_url_signature(text: str) -> str:
    return _URL_SIGNATURE.sub(lambda match: match["keep"] + placeholder("signature"), text)


def _sub_cli_flags(text: str) -> str:
    return _CLI_FLAG.sub(lambda match: match["keep"] + placeholder(_flag_kind(match)), text)


def _flag_kind(match: Match) -> str:
    word = match["word"].lower()
    if word.startswith("pass"):
        return "password"
    if word in ("token", "secret"):
        return word
    return "api_key" if word.startswith("api") else "secret"


# --- Secret-named keys -----------------------------------------------------------------------

# A key is secret when it *ends* with one of these words, so names about a secret (token_path,
# password_file, secretName, password_env) survive. The lookbehinds keep "bypass", "oauth",
# "existingSecret" and "pageToken" out.
_KEY_WORDS = (
    r"(?:passw(?:or)?d|passphrase"
    r"|(?<![A-Za-z0-9])(?:pass|pwd|auth)"
    r"|(?<!existing)(?<!existing[_.\-])secret"
    r"|(?<!page)(?<!page[_.\-])token"
    r"|(?:api|access|secret|private|signing|encryption|master|account|app|auth|client|storage"
    r"|shared|webhook|license|service|session|consumer|subscription|functions?)[_.\-]?key"
    r"|credentials?|private[_.\-]?key[_.\-]?id)"
)
_KEY = r"[A-Za-z0-9_.\-]*?" + _KEY_WORDS
_VALUE_QUOTED = (
    r"\"(?P<dq>(?:[^\"\\\r\n]++|\\.)*+)\"?"
    r"|'(?P<sq>(?:[^'\r\n]++|'')*+)'?"
)
# A whole line "key: value" / "KEY=value" (YAML, .env, pretty JSON): the value runs to the end of
# the line, or over the indented lines of a YAML block scalar ("key: |").
_KV_LINE = re.compile(
    r"(?im)^(?P<ws>[ \t]*+)(?P<dash>-[ \t]++)?(?:export[ \t]++)?(?P<q>[\"']?)"
    rf"(?P<key>{_KEY})(?P=q)[ \t]*+[:=][ \t]*+"
    + _NOT_REDACTED
    + r"(?!\{)(?:"
    + _VALUE_QUOTED
    + r"|(?P<block>[|>][\-+0-9]*+[ \t]*+(?:\#[^\r\n]*+)?(?=\r?\n|$)"
    r"(?:\r?\n(?:[ \t]*+(?=\r?\n)|(?(dash)(?P=ws)[ \t]{3,}+|(?P=ws)[ \t]++)[^\r\n]*+))*+)"
    r"|(?P<plain>[^\r\n]++))"
)
# "key=value" / "key: value" inside a line (log lines, query strings, connection strings,
# one-line JSON, escaped JSON); an unquoted value stops at whitespace, a quote, ",", ";" or "&".
_KV_INLINE = re.compile(
    r"(?i)(?<![A-Za-z0-9_.\-\]])"
    rf"(?P<key>{_KEY})(?P<sep>\\?[\"']?[ \t]*+(?::=|=>|[:=])[ \t]*+)"
    + _NOT_REDACTED
    + r"(?!\{|[0-9]++[ \t]bytes(?![A-Za-z0-9]))(?:\\\"(?P<edq>[^\"\\\r\n]*+)|"
    + _VALUE_QUOTED
    + r"|(?P<plain>[^\s\"'`,;&]++))"
)
_KV_XML = re.compile(
    rf"(?i)<(?P<key>[A-Za-z0-9_.:\-]*?{_KEY_WORDS})>"
    + _NOT_REDACTED
    + r"(?P<plain>[^<\r\n]++)</(?P=key)>"
)
# A Kubernetes / compose env entry: name: DB_PASSWORD, then value: on the next line (or JSON).
_ENV_PAIR_YAML = re.compile(
    r"(?i)" + _BEFORE + r"name:[ \t]*+(?P<q>[\"']?)"
    rf"(?P<key>{_KEY})(?P=q)[ \t]*+\r?\n[ \t]*+value:[ \t]*+"
    + _NOT_REDACTED
    + r"(?!\{)(?:"
    + _VALUE_QUOTED
    + r"|(?P<plain>[^\r\n]++))"
)
_ENV_PAIR_JSON = re.compile(
    rf"(?i)\"name\"[ \t]*+:[ \t]*+\"(?P<key>{_KEY})\"[ \t]*+,[ \t\r\n]*+"
    r"\"value\"[ \t]*+:[ \t]*+\"" + _NOT_REDACTED + r"(?P<dq>(?:[^\"\\\r\n]++|\\.)*+)\"?"
)
# Values that are not secrets whatever their key: flags, empty markers, masks, references to a
# variable or a template, file paths, "kubectl describe secret" sizes.
_NOT_A_SECRET = re.compile(
    r"(?i)true|false|null|none|nil|yes|no|on|off|enabled|disabled|required|optional|~|\*+"
    r"|<[a-z _\-]*>|\$\{[A-Za-z_][A-Za-z0-9_]*\}|\{\{[^{}]*\}\}|[0-9]+ bytes"
    r"|(?:~|\.{1,2})?/[A-Za-z0-9_.\-]+/[A-Za-z0-9_./\-]*"
)
_CLOSERS = ")]}>"
_VALUE_GROUPS = ("edq", "dq", "sq", "block", "plain")


def _key_kind(key: str) -> str:
    name = key.lower().replace("_", "").replace("-", "").replace(".", "")
    if name.endswith("s") and not name.endswith("ss"):
        name = name[:-1]  # a plural names the same kind ("tokens"); "pass" is not one
    if "secretaccesskey" in name or (name.startswith("aws") and name.endswith("key")):
        return "aws_secret_key"
    # Header names (structures only: in text their own rule names the credential's scheme).
    if name.endswith("authorization"):
        return "authorization"
    if name.endswith("cookie"):
        return "cookie"
    if name.endswith(("session", "sessionid", "sessid")):
        return "session"
    if name.endswith(("password", "passwd", "passphrase", "pass", "pwd")):
        return "password"
    if name.endswith("token"):
        return "token"
    if name.endswith("apikey"):
        return "api_key"
    if name.endswith("privatekey"):
        return "private_key"
    if name.endswith("privatekeyid"):
        return "private_key_id"
    return "secret"


def _replace_key_value(match: Match) -> str:
    groups = match.re.groupindex
    group = next(name for name in _VALUE_GROUPS if name in groups and match.start(name) >= 0)
    start, end = match.span(group)
    value = match[group]
    if group in ("block", "plain"):
        value = value.rstrip()
        # Rejecting here is safe: such a value, taken whole, holds no secret to find later.
        if _NOT_A_SECRET.fullmatch(value):
            return match.group(0)
        if group == "plain" and match.re is not _KV_LINE:
            value = value.rstrip(_CLOSERS)  # "f(password=x)": the parenthesis is not the secret
        end = start + len(value)
    if not value or _NOT_A_SECRET.fullmatch(value) or is_placeholder(value):
        return match.group(0)
    whole, base = match.group(0), match.start()
    return whole[: start - base] + placeholder(_key_kind(match["key"])) + whole[end - base :]


def _sub_key_values(text: str) -> str:
    for pattern in (_ENV_PAIR_YAML, _ENV_PAIR_JSON, _KV_LINE, _KV_INLINE, _KV_XML):
        text = pattern.sub(_replace_key_value, text)
    return text


# --- Standalone random strings ---------------------------------------------------------------

# A run of base64 / base64url characters, whole: 32 or more, with at most two "=" of padding.
_MIN_RUN = 32
_RUN = re.compile(r"(?<![A-Za-z0-9+/_\-\]])[A-Za-z0-9+/_\-]{32,}+={0,2}(?![A-Za-z0-9+/=_\-\[])")
# What is left of PEM blocks once private keys are placeholders: certificates and public keys.
# Their base64 is random-looking DER, public by design, so the standalone rule skips it.
_PUBLIC_PEM = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]{1,40})-----(?:[^\-]++|-(?!----))*+-----END (?P=label)-----"
)
_MIN_BITS_PER_CHAR = 3.5
_MIN_CASE_SWITCHES = 0.4
_MIN_PRINTABLE = 0.9
_CHAR_CLASS = {
    **dict.fromkeys(string.ascii_uppercase, 0),
    **dict.fromkeys(string.ascii_lowercase, 1),
    **dict.fromkeys(string.digits, 2),
}


def _bits_per_char(text: str) -> float:
    size = len(text)
    return -sum(count / size * math.log2(count / size) for count in Counter(text).values())


def _case_switches(text: str) -> float:
    """How often the next letter or digit changes class (upper, lower, digit), from 0 to 1."""
    classes = [_CHAR_CLASS[char] for char in text if char in _CHAR_CLASS]
    changes = sum(1 for before, after in itertools.pairwise(classes) if before != after)
    return changes / max(len(classes) - 1, 1)


def _encodes_text(run: str) -> bool:
    """Whether the run is base64 of (mostly printable) text: encoded data, not a key."""
    body = run.rstrip("=")
    alphabet = b"-_" if ("-" in body or "_" in body) else None
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=alphabet, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    shown = sum(1 for char in decoded if char.isprintable() or char in "\t\r\n")
    return shown >= _MIN_PRINTABLE * max(len(decoded), 1)


def _looks_random(run: str) -> bool:
    """Whether a long run of token characters is a key rather than a name, path or encoding."""
    body = run.rstrip("=")
    # An absolute path; an SSH public key blob (its wire format starts with a 32-bit length).
    if body.startswith(("/", "AAAA")):
        return False
    present = {_CHAR_CLASS[char] for char in body if char in _CHAR_CLASS}
    if len(present) < 3:  # hex (SHAs, digests, ids), words, upper-case constants
        return False
    return (
        _bits_per_char(body) >= _MIN_BITS_PER_CHAR
        and _case_switches(body) >= _MIN_CASE_SWITCHES
        and not _encodes_text(body)
    )


def _replace_run(match: Match) -> str:
    run = match.group(0)
    return placeholder("high_entropy") if _looks_random(run) else run


def _sub_random_strings(text: str) -> str:
    if "-----BEGIN" not in text:
        return _RUN.sub(_replace_run, text)
    out: list[str] = []
    last = 0
    for block in _PUBLIC_PEM.finditer(text):
        out.append(_RUN.sub(_replace_run, text[last : block.start()]))
        out.append(block.group(0))
        last = block.end()
    out.append(_RUN.sub(_replace_run, text[last:]))
    return "".join(out)


# --- Kubernetes Secret manifests ------------------------------------------------------------

_SECRET_DATA = "k8s_secret_data"
_DATA_KEYS = ("data", "stringData")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_YAML_HINT = re.compile(r"kind[\"']?[ \t]*+:[ \t]*+[\"']?Secret(?![A-Za-z0-9])")
_JSON_HINT = re.compile(r"\"kind\"[ \t\r\n]*+:[ \t\r\n]*+\"Secret\"")
_EMPTY_VALUES = frozenset({"", '""', "''", "{}", "null", "~"})


@dataclass(slots=True)
class _Span:
    start: int
    end: int
    lead: str = ""  # text to put before the placeholder (a space after a bare "key:")


def _apply_spans(text: str, spans: list[_Span], kind: str) -> str:
    if not spans:
        return text
    out: list[str] = []
    last = 0
    for span in sorted(spans, key=lambda item: item.start):
        value = text[span.start : span.end].strip()
        if span.start < last or value in _EMPTY_VALUES or is_placeholder(value):
            continue
        out.append(text[last : span.start])
        out.append(span.lead + placeholder(kind))
        last = span.end
    out.append(text[last:])
    return "".join(out)


@dataclass(slots=True)
class _YamlFrame:
    """One YAML mapping: its keys' column, its kind, the data values it would hide."""

    col: int
    kind: str | None = None
    spans: list[_Span] = field(default_factory=list)
    data_col: int | None = None  # column of an open "data:" / "stringData:" key
    entry_col: int | None = None  # column of that map's entries
    entry: _Span | None = None  # the entry whose (multi-line) value is being read


_YAML_DASHES = re.compile(r"(?:-(?:[ \t]++|$))*+")
_YAML_KEY = re.compile(
    r"(?:\"(?P<dq>[^\"\n]*)\"|'(?P<sq>[^'\n]*)'|(?P<plain>[^:\n]*+)):(?:[ \t]+|$)"
)


def _yaml_key(rest: str) -> tuple[str, int] | None:
    """The key of a "key: value" line (its indentation removed), and where its value starts."""
    match = _YAML_KEY.match(rest)
    if match is None:
        return None
    key = match["dq"] if match["dq"] is not None else match["sq"]
    if key is None:
        key = match["plain"].rstrip()
        if not key or key[0] in "#{[|>&*!%@`,-":
            return None
    return key, match.end()


def _yaml_value(value: str) -> str:
    value = value.split(" #", 1)[0].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return value


def _redact_secret_yaml(text: str) -> str:
    """Hide every value under data/stringData of YAML mappings whose kind is Secret."""
    spans: list[_Span] = []
    frames: list[_YamlFrame] = []

    def close(frame: _YamlFrame) -> None:
        if frame.kind == "Secret":
            spans.extend(frame.spans)

    pos = 0
    for line in text.split("\n"):  # "\n" only, as the patterns see lines (not str.splitlines)
        start = pos
        pos += len(line) + 1
        body = line.rstrip()
        rest = body.lstrip(" ")
        indent = len(body) - len(rest)
        if not rest or rest.startswith("#"):
            continue
        if indent == 0 and rest[:3] in ("---", "...") and rest[3:4] in ("", " ", "\t"):
            while frames:
                close(frames.pop())
            continue
        top = frames[-1] if frames else None
        if top is not None and top.data_col is not None:
            if indent > top.data_col:
                _yaml_data_line(top, rest, start + indent, start + len(body), indent)
                continue
            top.data_col = top.entry_col = None
            top.entry = None
        dash_run = _YAML_DASHES.match(rest)  # "- - key: v": one pass, not one slice per dash
        dashes = dash_run.end() if dash_run else 0
        col, dash, rest = indent + dashes, dashes > 0, rest[dashes:]
        limit = indent if dash else col
        while frames and frames[-1].col > limit:
            close(frames.pop())
        parsed = _yaml_key(rest) if rest else None
        if parsed is None:
            continue
        if not frames or frames[-1].col != col:
            frames.append(_YamlFrame(col=col))
        frame = frames[-1]
        key, value_at = parsed
        value = rest[value_at:]
        if key == "kind":
            frame.kind = _yaml_value(value)
        elif key in _DATA_KEYS:
            if _yaml_value(value) == "":
                frame.data_col = col
            elif value.lstrip().startswith("{"):
                frame.spans.append(_Span(start + col + value_at, start + len(body)))
    while frames:
        close(frames.pop())
    return _apply_spans(text, spans, _SECRET_DATA)


def _yaml_data_line(frame: _YamlFrame, rest: str, at: int, line_end: int, indent: int) -> None:
    """One line inside a Secret's data map: a new entry, or more of the current entry's value."""
    if frame.entry_col is None:
        frame.entry_col = indent
    if frame.entry is not None and indent > frame.entry_col:
        frame.entry.end = line_end  # a block scalar's content, or a folded plain scalar
        return
    parsed = _yaml_key(rest)
    if parsed is None:
        if frame.entry is not None:
            frame.entry.end = line_end
        return
    value_at = at + parsed[1]
    if value_at >= line_end:  # "key:" with its value on the following lines
        frame.entry = _Span(line_end, line_end, lead=" ")
    else:
        frame.entry = _Span(value_at, line_end)
    frame.spans.append(frame.entry)


# A string (its closing quote optional: an unterminated string ends with its line, so every
# attempt matches and the scan always moves forward) or a bracket.
_JSON_TOKEN = re.compile(r"\"(?P<s>(?:[^\"\\\r\n]++|\\.)*+)(?P<end>\"?)|(?P<open>[{\[])|[}\]]")
_JSON_COLON = re.compile(r"[ \t\r\n]*+:")


def _redact_secret_json(text: str) -> str:
    """Hide the data/stringData values (and last-applied copy) of JSON objects of kind Secret."""
    spans: list[_Span] = []
    # The open objects and arrays, innermost last, as parallel lists of plain values (a million
    # nested brackets would otherwise mean a million objects for the garbage collector to walk):
    # its key in the parent, whether it is an object, its kind, the key awaiting a value, and the
    # values it would hide if it, or the nearest enclosing object with a kind, is a Secret.
    keys: list[str | None] = []
    objects: list[bool] = []
    kinds: list[str | None] = []
    pending: list[str | None] = []
    hidden: list[list[_Span] | None] = []

    def close() -> None:
        keys.pop()
        objects.pop()
        kind, values = kinds.pop(), hidden.pop()
        pending.pop()
        if not values:
            return
        if kind is not None:  # the object a kind describes decides for everything it holds
            if kind == "Secret":
                spans.extend(values)
        elif hidden:
            # Hand the values up; the smaller list goes into the larger, so a value is copied
            # O(log n) times however deep the nesting, not once per level.
            parent = hidden[-1]
            if parent is None or len(parent) < len(values):
                parent, values = values, parent or []
                hidden[-1] = parent
            parent.extend(values)

    for token in _JSON_TOKEN.finditer(text):
        content = token["s"]
        if content is not None:
            if not objects or not objects[-1]:
                continue
            if token["end"] and _JSON_COLON.match(text, token.end()):
                pending[-1] = content
                continue
            key, pending[-1] = pending[-1], None
            if key == "kind":
                kinds[-1] = content
            elif keys[-1] in _DATA_KEYS or key == _LAST_APPLIED:
                values = hidden[-1]
                if values is None:
                    values = hidden[-1] = []
                values.append(_Span(token.start("s"), token.end("s")))
        elif token["open"]:
            key = None
            if pending:
                key, pending[-1] = pending[-1], None
            keys.append(key)
            objects.append(token["open"] == "{")
            kinds.append(None)
            pending.append(None)
            hidden.append(None)
        elif keys:
            close()
    while keys:
        close()
    return _apply_spans(text, spans, _SECRET_DATA)


def _sub_manifests(text: str) -> str:
    if _YAML_HINT.search(text):
        text = _redact_secret_yaml(text)
    if _JSON_HINT.search(text):
        text = _redact_secret_json(text)
    return text


# --- The pipeline ---------------------------------------------------------------------------


def _sub_pem_blocks(text: str) -> str:
    text = _PEM_BLOCK.sub(placeholder("private_key"), text)
    return _PEM_TRUNCATED.sub(placeholder("private_key"), text)


def _sub_b64_pem(text: str) -> str:
    return _B64_PEM.sub(placeholder("private_key"), text)


class _Probe:
    """A text as the step tests see it: the text, and its lower case when it is all ASCII."""

    __slots__ = ("lowered", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        # IGNORECASE also folds a few non-ASCII letters onto ASCII ones (long s, dotless i, the
        # Kelvin sign) that str.lower() keeps apart: such text asks the regex engine.
        self.lowered = text.lower() if text.isascii() else None


_Test = Callable[[_Probe], bool]


def _contains(*needles: str) -> _Test:
    """A test true of every text holding one of these literal strings."""
    if len(needles) == 1:
        needle = needles[0]
        return lambda probe: needle in probe.text
    return lambda probe: any(map(probe.text.__contains__, needles))


def _mentions(*words: str) -> _Test:
    """A test true of every text holding one of these words in any case, as (?i) patterns see it."""
    lowered = tuple(word.lower() for word in words)
    search = re.compile("|".join(re.escape(word) for word in words), re.IGNORECASE).search

    def test(probe: _Probe) -> bool:
        if probe.lowered is not None:
            return any(map(probe.lowered.__contains__, lowered))
        return search(probe.text) is not None

    return test


# Every alternative of _KEY_WORDS holds one of these words.
_KEY_WORD_PARTS = _mentions("pass", "pwd", "auth", "secret", "token", "key", "credential")
_SEPARATOR = _contains("=", ":", "<")


def _may_hold_secret_key(probe: _Probe) -> bool:
    # Every key=value pattern holds a separator and a _KEY_WORDS match, and each of those holds
    # one of _KEY_WORD_PARTS: a text without both cannot match any of them.
    return _SEPARATOR(probe) and _KEY_WORD_PARTS(probe)


@dataclass(frozen=True, slots=True)
class _Step:
    """One substitution, and a quick test that is true of every text it could change."""

    could_change: _Test
    apply: _Rule


# Most text holds no secret, and most patterns need a literal that most text lacks ("://",
# "eyJ", "AKIA", a key word): each step first asks for its literal with `in` (a C scan), so
# text without secrets costs a few substring tests instead of ~30 regex scans, some of which
# retry a lazy key prefix at every position. Each test is a necessary condition of its
# patterns, so the result is exactly the unguarded pipeline's (tests/core/test_redact_steps.py).
_STEPS: tuple[_Step, ...] = (
    _Step(_contains("Secret"), _sub_manifests),
    _Step(_contains("client-key-data"), _sub_kubeconfig),
    _Step(_contains("-----BEGIN "), _sub_pem_blocks),
    _Step(_contains(_b64_prefix("-----BEGIN ")), _sub_b64_pem),
    _Step(_contains("AKIA", "ASIA"), _sub_aws),
    _Step(_contains("eyJ"), _sub_jwt),
    _Step(_contains(*_TOKEN_PREFIXES), _sub_prefixed_tokens),
    _Step(lambda probe: len(probe.text) >= _TELEGRAM_MIN and ":" in probe.text, _sub_telegram),
    _Step(_contains("hooks.slack.com/", "discord"), _sub_webhooks),
    _Step(_contains("Q~"), _sub_azure),
    _Step(_mentions("authorization", "cookie"), _sub_auth_headers),
    _Step(_mentions("bearer"), _sub_bearer),
    _Step(_contains("://"), _sub_url_credentials),
    _Step(_contains("-u"), _sub_cli_user),
    _Step(_mentions("sig"), _sub_url_signature),
    _Step(_contains("mysql", "mariadb", "redis-cli", "sshpass"), _sub_tool_passwords),
    _Step(_contains("--"), _sub_cli_flags),
    _Step(_may_hold_secret_key, _sub_key_values),
    _Step(lambda probe: len(probe.text) >= _MIN_RUN, _sub_random_strings),
)


# A rule can change what an earlier rule sees (a redacted value took a stray bracket with it, and
# the JSON around it now parses as a Secret), so the rules run again until nothing changes. Text
# without secrets takes one pass, text with secrets usually two; the cap bounds contrived input.
_MAX_PASSES = 4


# Texts found to hold no secret, remembered (oldest forgotten first) because the same ones
# come back: label values, annotations and log fields repeat across alerts, redeliveries and
# log lines. Only clean texts are kept, so no secret lives longer in memory for it.
_CLEAN_TEXTS: dict[str, None] = {}
_CLEAN_TEXTS_MAX = 32_768
_CLEAN_TEXT_MAX_CHARS = 512


def redact(text: str) -> str:
    """The text with every recognised secret replaced by ``[REDACTED:<kind>]``.

    Linear in the length of the text, idempotent, and byte-for-byte identity on text that holds
    no secret.
    """
    if text in _CLEAN_TEXTS:
        return text
    original = text
    for _ in range(_MAX_PASSES):
        redacted = _redact_once(text)
        if redacted == text:
            break
        text = redacted
    if text == original and len(text) <= _CLEAN_TEXT_MAX_CHARS:
        _remember_clean(text)
    return text


def _remember_clean(text: str) -> None:
    _CLEAN_TEXTS[text] = None
    if len(_CLEAN_TEXTS) > _CLEAN_TEXTS_MAX:
        # Threads (log handlers) may race here: losing one entry of a cache is harmless.
        with contextlib.suppress(KeyError, RuntimeError, StopIteration):
            del _CLEAN_TEXTS[next(iter(_CLEAN_TEXTS))]


def _redact_once(text: str) -> str:
    probe = _Probe(text)
    for step in _STEPS:
        if step.could_change(probe):
            changed = step.apply(text)
            if changed != text:
                text = changed
                probe = _Probe(text)
    return text


# --- Structures -----------------------------------------------------------------------------

# The words `redact` recognises in "key=value" text, plus what only a structure names whole: the
# credential headers (text has its own rule for "Authorization: ..." and "Cookie: ..."), session
# ids (session cookies and headers: sessionid, JSESSIONID, PHPSESSID, X-Session-Id) and plurals
# (a list of tokens is as secret as one). Anchored at the end, so only what a key *ends* with
# counts: "token_path" and "password_file" are about a secret, not one.
_SECRET_KEY = re.compile(
    r"(?:"
    + _KEY_WORDS
    + r"|authorization|cookie|(?<![A-Za-z0-9])session|sess(?:ion)?[_.\-]?id"
    + r")s?\Z",
    re.IGNORECASE,
)


# Cached: the log pipeline asks about the same few field names on every line.
@functools.lru_cache(maxsize=4096)
def is_secret_key(key: str) -> bool:
    """Whether the value under this key (a field, header or setting name) is a secret."""
    return _SECRET_KEY.search(key) is not None


def _hides_something(value: Any) -> bool:
    # None and booleans are absence and flags, an empty string or container holds nothing:
    # shown as they are, they tell the reader the secret is unset. Anything else is hidden.
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, str | Mapping | list | tuple):
        return len(value) > 0
    return True


def redact_structure(value: Any, key: str = "", *, mask: str | None = None) -> Any:
    """A JSON-like value made safe to show: values under secret keys hidden, strings redacted."""
    # `key` is the key `value` sits under; mappings and lists are walked (tuples become lists).
    # A hidden value becomes the placeholder of its key's kind, or `mask` when one is given.
    if key and is_secret_key(key) and _hides_something(value):
        return mask if mask is not None else placeholder(_key_kind(key))
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {name: redact_structure(item, str(name), mask=mask) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_structure(item, key, mask=mask) for item in value]
    return value
