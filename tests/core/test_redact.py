"""Secret redaction: every kind of secret goes (typed), look-alikes stay byte for byte, linear time.

Every "secret" here is fabricated and assembled at runtime from parts, so no literal in this file
looks like a leaked credential to a secret scanner.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from awoooi.core.redact import (
    PLACEHOLDER,
    is_placeholder,
    is_secret_key,
    placeholder,
    redact,
    redact_structure,
)

URL_SAFE = string.ascii_letters + string.digits + "-_"
ALNUM = string.ascii_letters + string.digits
MiB = 1024 * 1024


def fill(pattern: str, length: int) -> str:
    """`pattern` repeated and cut to exactly `length` characters."""
    return (pattern * (length // len(pattern) + 1))[:length]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def b64url(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# --- Fabricated secrets ------------------------------------------------------------------------


def random_text(alphabet: str, size: int, seed: int) -> str:
    """`size` characters drawn from `alphabet` by a generator seeded with `seed`: random where a
    rule judges randomness (the standalone rule), the same on every run."""
    return "".join(random.Random(seed).choices(alphabet, k=size))


BASE64 = ALNUM + "+/"
HEX = "0123456789abcdef"
GCP_KEY_ID = random_text(HEX, 40, 16)

PRIVATE = "PRIV" + "ATE"
AWS_KEY_ID = "AK" + "IA" + fill("Q7ZT3MXW", 16)
AWS_KEY_ID_2 = "AS" + "IA" + fill("K2V9RB", 16)
AWS_SECRET = fill("wJ9rXk/Tn+Fm7Qp", 40)
AWS_SECRET_2 = fill("Hq2+Lm/Zx8Vc", 40)
AWS_SESSION = fill("IQoJb3JpZ2luX2Vj/Fab+", 180)
GITHUB_TOKEN = "gh" + "p_" + fill("aB3dE5fG7h", 36)
GITHUB_APP_TOKEN = "gh" + "s_" + fill("Zy9Xw8Vu7", 36)
GITHUB_PAT = "github" + "_pat_" + fill("11AB2CD3E_", 82)
SLACK_BOT = "xo" + "xb-" + fill("2", 12) + "-" + fill("3", 13) + "-" + fill("Ab3dEf", 24)
SLACK_USER = "xo" + "xp-" + fill("4", 12) + "-" + fill("5", 12) + "-" + fill("6", 13) + "-x7Yz"
SLACK_APP = "xa" + "pp-1-A0" + fill("B1C2", 9) + "-" + fill("4", 13) + "-" + fill("9f8e", 64)
SLACK_HOOK_PATH = "T0" + fill("ABC1", 8) + "/B0" + fill("DEF2", 8) + "/" + fill("q1W2e3R4", 24)
TELEGRAM = fill("8", 10) + ":" + "AA" + fill("Hx_9-kLm", 33)
OPENAI = "s" + "k-" + fill("T3BlbkFJ", 48)
OPENAI_PROJECT = "s" + "k-proj-" + fill("Ab_9-Cd8", 120)
ANTHROPIC = "s" + "k-ant-api03-" + fill("Zz8-Yy7_", 95)
HUGGINGFACE = "h" + "f_" + fill("QwErTyUi", 34)
STRIPE = "s" + "k_" + "live_" + fill("4eC39HqLyjW", 24)
STRIPE_PUBLISHABLE = "p" + "k_" + "live_" + fill("51HfPk", 24)
GCP_API_KEY = "AI" + "za" + fill("Sy_Bk-9Zq", 35)
AWOOOI_TOKEN = "aw" + "i_" + fill("Kx9_-Lm2", 43)
OPAQUE = fill("Op4queT0ken", 32)
OPAQUE_2 = fill("S3ss10nC00k", 40)
OPAQUE_3 = fill("Acc3ssT0k", 28)
SIGNING_SECRET = fill("8f14e45fceea167a", 32)
PASSWORD = "Fabricated-Pa55w0rd!"
PASSWORD_2 = "An0ther.Fake+Secret"
PASSWORD_3 = "Th1rd_Made_Up_pw"
PASSWORD_4 = "F0urth~Invented"
JWT = ".".join(
    (
        b64url(json.dumps({"alg": "RS256", "kid": "fabricated"})),
        b64url(json.dumps({"iss": "https://issuer.example", "sub": "system:serviceaccount:x"})),
        fill("SiGnAtUrE_-9", 86),
    )
)


def pem(label: str, marker: str, headers: str = "") -> str:
    """A fabricated PEM private key; its body lines are made of `marker`."""
    name = f"{label} {PRIVATE} KEY".strip()
    body = "\n".join(fill(marker + str(i), 64) for i in range(4)) + "\n" + fill(marker, 24) + "=="
    return f"-----BEGIN {name}-----\n{headers}{body}\n-----END {name}-----\n"


RSA_KEY = pem("RSA", "MIIEpAIBAAKCAQEArsa")
EC_KEY = pem("EC", "MHcCAQEEIEcurve")
OPENSSH_KEY = pem("OPENSSH", "b3BlbnNzaC1rZXktdjEopenssh")
PKCS8_KEY = pem("", "MIIEvQIBADANBgkqhkiGpkcs")
ENCRYPTED_KEY = pem("ENCRYPTED", "MIIFHDBOBgkqhkiG9w0enc")
LEGACY_ENCRYPTED_KEY = pem(
    "RSA", "legacyEncBody", headers="Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0A1B2C3D\n\n"
)


def key_body(key: str) -> str:
    """A line from the middle of a PEM key: it must never survive."""
    return key.splitlines()[2]


# --- Realistic contexts ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A realistic text: the secrets it holds, the kinds expected, the text that must stay."""

    name: str
    text: str
    secrets: tuple[str, ...]
    kinds: tuple[str, ...]
    survivors: tuple[str, ...] = ()


LOG_LINES = Case(
    "log lines",
    "\n".join(
        (
            "2024-05-01T12:34:56.789Z INFO http request_id=4f1c9e2a method=GET "
            f"path=/api/v1/incidents status=200 Authorization: Bearer {OPAQUE}",
            f"2024-05-01T12:34:57.001Z WARN worker retrying job 42 with token={AWOOOI_TOKEN}",
            f'level=error msg="login failed" user=alice password={PASSWORD} attempt=3',
            f"notify: POST https://api.telegram.org/bot{TELEGRAM}/sendMessage failed: 401",
            f"git: fetching https://x-access-token:{GITHUB_APP_TOKEN}@github.com/acme/deploy.git",
            f"slack: POST https://hooks.slack.com/services/{SLACK_HOOK_PATH} -> 404 no_service",
            f"llm: provider=openai key={OPENAI_PROJECT} model=gpt-4o-mini latency_ms=812",
            f"aws: AccessDenied for access key {AWS_KEY_ID} on s3://acme-backups",
            "gcp: GET https://maps.googleapis.com/maps/api/geocode/json?address=Berlin"
            f"&key={GCP_API_KEY}",
            f"http: response Set-Cookie: session={OPAQUE_2}; Path=/; HttpOnly",
            f"hf: downloading with HF_TOKEN={HUGGINGFACE} from huggingface.co",
            f"ci: {GITHUB_PAT} expires in 3 days",
        )
    ),
    (
        OPAQUE,
        AWOOOI_TOKEN,
        PASSWORD,
        TELEGRAM,
        GITHUB_APP_TOKEN,
        SLACK_HOOK_PATH,
        OPENAI_PROJECT,
        AWS_KEY_ID,
        GCP_API_KEY,
        OPAQUE_2,
        HUGGINGFACE,
        GITHUB_PAT,
    ),
    (
        "bearer",
        "awoooi_token",
        "password",
        "telegram_bot_token",
        "github_token",
        "slack_webhook",
        "openai_key",
        "aws_access_key",
        "gcp_key",
        "cookie",
        "huggingface_token",
    ),
    (
        "request_id=4f1c9e2a method=GET path=/api/v1/incidents status=200",
        "user=alice",
        "attempt=3",
        "https://api.telegram.org/bot",
        "/sendMessage failed: 401",
        "@github.com/acme/deploy.git",
        "https://hooks.slack.com/services/",
        "model=gpt-4o-mini latency_ms=812",
        "on s3://acme-backups",
        "address=Berlin&key=",
        "expires in 3 days",
    ),
)

SETTINGS_JSON = b64('{"feature": true}')
SECRET_MANIFEST_KUBECTL = f"""\
apiVersion: v1
data:
  password: {b64(PASSWORD)}
  tls.key: {b64(RSA_KEY)}
  username: {b64("fabricated-admin")}
kind: Secret
metadata:
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: |
      {{"apiVersion":"v1","data":{{"password":"{b64(PASSWORD_2)}"}},"kind":"Secret","metadata":{{"name":"db-credentials","namespace":"prod"}},"type":"Opaque"}}
  creationTimestamp: "2024-05-01T12:00:00Z"
  name: db-credentials
  namespace: prod
  resourceVersion: "81273"
  uid: 6f1c2b9e-4d3a-4b8e-9c71-0a2d3e4f5a6b
type: Opaque
---
apiVersion: v1
kind: Secret
metadata:
  name: app-config
type: Opaque
stringData:
  DATABASE_URL: postgresql://app:{PASSWORD_3}@db.prod.svc:5432/app
  config.yaml: |
    slack:
      channel: "#ops"
      signing: {SIGNING_SECRET}
    retries: 3
  webhook: "{OPAQUE}"
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-settings
data:
  ca.crt: {b64("-----BEGIN CERTIFICATE-----")}
  settings.json: {SETTINGS_JSON}
  LOG_LEVEL: info
"""

SECRET_MANIFEST = Case(
    "kind: Secret manifests (YAML)",
    SECRET_MANIFEST_KUBECTL,
    (
        b64(PASSWORD),
        b64(RSA_KEY)[:40],
        b64(RSA_KEY)[-40:],
        b64("fabricated-admin"),
        b64(PASSWORD_2),
        PASSWORD_3,
        SIGNING_SECRET,
        OPAQUE,
    ),
    ("k8s_secret_data",),
    (
        "name: db-credentials\n  namespace: prod",
        "uid: 6f1c2b9e-4d3a-4b8e-9c71-0a2d3e4f5a6b",
        "type: Opaque",
        '"kind":"Secret","metadata":{"name":"db-credentials","namespace":"prod"}',
        f"  ca.crt: {b64('-----BEGIN CERTIFICATE-----')}\n",
        f"  settings.json: {SETTINGS_JSON}\n",
        "  LOG_LEVEL: info\n",
    ),
)

SECRET_LIST_JSON = Case(
    "kind: Secret manifests (JSON list)",
    json.dumps(
        {
            "apiVersion": "v1",
            "items": [
                {
                    "apiVersion": "v1",
                    "data": {".dockerconfigjson": b64(json.dumps({"auths": {"x": OPAQUE}}))},
                    "kind": "Secret",
                    "metadata": {
                        "annotations": {
                            "kubectl.kubernetes.io/last-applied-configuration": json.dumps(
                                {"data": {"token": b64(OPAQUE_2)}, "kind": "Secret"}
                            )
                        },
                        "name": "registry",
                    },
                    "type": "kubernetes.io/dockerconfigjson",
                },
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {"name": "api"},
                    "stringData": {"api-token": OPAQUE_3, "note": "rotated weekly"},
                },
                {
                    "apiVersion": "v1",
                    "data": {"index.html": b64("<h1>hello</h1>")},
                    "kind": "ConfigMap",
                    "metadata": {"name": "site"},
                },
            ],
            "kind": "List",
        },
        indent=2,
    ),
    (
        b64(json.dumps({"auths": {"x": OPAQUE}})),
        b64(OPAQUE_2),
        OPAQUE_3,
        "rotated weekly",
    ),
    ("k8s_secret_data",),
    (
        '"name": "registry"',
        '"type": "kubernetes.io/dockerconfigjson"',
        f'"index.html": "{b64("<h1>hello</h1>")}"',
    ),
)

CA_DATA = b64("-----BEGIN CERTIFICATE-----\nMIIC5zCCAc+gAwIBAgIBADANBgkqhkiG9w0BAQsF\n")
CLIENT_CERT_DATA = b64("-----BEGIN CERTIFICATE-----\nMIIDITCCAgmgAwIBAgIIclientcert\n")
CLIENT_KEY_DATA = b64(RSA_KEY)
KUBECONFIG = Case(
    "kubeconfig",
    f"""\
apiVersion: v1
kind: Config
current-context: prod
clusters:
- cluster:
    certificate-authority-data: {CA_DATA}
    server: https://10.0.0.1:6443
  name: prod
contexts:
- context:
    cluster: prod
    user: admin
  name: prod
users:
- name: admin
  user:
    client-certificate-data: {CLIENT_CERT_DATA}
    client-key-data: {CLIENT_KEY_DATA}
- name: ci
  user:
    token: {OPAQUE}
- name: sa
  user:
    token: {JWT}
- name: legacy
  user:
    username: admin
    password: {PASSWORD}
- name: oidc
  user:
    auth-provider:
      name: oidc
      config:
        client-id: awoooi
        client-secret: {OPAQUE_2}
        id-token: {JWT}
        refresh-token: {OPAQUE_3}
        idp-issuer-url: https://issuer.example
""",
    (CLIENT_KEY_DATA, OPAQUE, JWT, PASSWORD, OPAQUE_2, OPAQUE_3),
    ("kubeconfig_key", "token", "jwt", "password", "secret"),
    (
        f"certificate-authority-data: {CA_DATA}\n",
        f"client-certificate-data: {CLIENT_CERT_DATA}\n",
        "server: https://10.0.0.1:6443",
        "client-id: awoooi",
        "username: admin",
        "idp-issuer-url: https://issuer.example",
    ),
)

DOTENV = Case(
    ".env file",
    f"""\
# awoooi settings (fabricated)
DATABASE_URL=postgres://awoooi:{PASSWORD}@db:5432/awoooi
SECRET_KEY={SIGNING_SECRET}
GITHUB_TOKEN={GITHUB_TOKEN}
AWS_ACCESS_KEY_ID={AWS_KEY_ID}
AWS_SECRET_ACCESS_KEY={AWS_SECRET}
SLACK_BOT_TOKEN={SLACK_BOT}
OPENAI_API_KEY={OPENAI}
ANTHROPIC_API_KEY={ANTHROPIC}
TELEGRAM_BOT_TOKEN={TELEGRAM}
STRIPE_SECRET_KEY={STRIPE}
export DB_PASSWORD='{PASSWORD_2}'
SMTP_PASSWORD="{PASSWORD_3}"
LOG_LEVEL=info
TOKEN_PATH=/var/run/secrets/awoooi/token
ADMIN_TOKEN_FILE=/srv/awoooi/admin-token
""",
    (
        PASSWORD,
        SIGNING_SECRET,
        GITHUB_TOKEN,
        AWS_KEY_ID,
        AWS_SECRET,
        SLACK_BOT,
        OPENAI,
        ANTHROPIC,
        TELEGRAM,
        STRIPE,
        PASSWORD_2,
        PASSWORD_3,
    ),
    (
        "password",
        "secret",
        "github_token",
        "aws_access_key",
        "aws_secret_key",
        "slack_token",
        "openai_key",
        "anthropic_key",
        "telegram_bot_token",
        "stripe_key",
    ),
    (
        "# awoooi settings (fabricated)\n",
        "@db:5432/awoooi\n",
        "LOG_LEVEL=info\n",
        "TOKEN_PATH=/var/run/secrets/awoooi/token\n",
        "ADMIN_TOKEN_FILE=/srv/awoooi/admin-token\n",
    ),
)

JSON_CONFIG = Case(
    "JSON config",
    json.dumps(
        {
            "database": {
                "host": "db.internal",
                "port": 5432,
                "user": "awoooi",
                "password": PASSWORD,
            },
            "redis_url": f"redis://:{PASSWORD_2}@redis.internal:6379/0",
            "slack": {
                "bot_token": SLACK_BOT,
                "user_token": SLACK_USER,
                "app_token": SLACK_APP,
                "signing_secret": SIGNING_SECRET,
            },
            "openai": {"api_key": OPENAI, "model": "gpt-4o"},
            "anthropic": {"apiKey": ANTHROPIC},
            "huggingface": {"token": HUGGINGFACE},
            "stripe": {"secret_key": STRIPE, "publishable_key": STRIPE_PUBLISHABLE},
            "github": {"app_id": 123456, "private_key": RSA_KEY},
            "log_level": "info",
            "token_path": "/var/run/secrets/awoooi/token",
        },
        indent=2,
    ),
    (
        PASSWORD,
        PASSWORD_2,
        SLACK_BOT,
        SLACK_USER,
        SLACK_APP,
        SIGNING_SECRET,
        OPENAI,
        ANTHROPIC,
        HUGGINGFACE,
        STRIPE,
        key_body(RSA_KEY),
    ),
    (
        "password",
        "slack_token",
        "secret",
        "openai_key",
        "anthropic_key",
        "huggingface_token",
        "stripe_key",
        "private_key",
    ),
    (
        '"host": "db.internal"',
        '"user": "awoooi"',
        "@redis.internal:6379/0",
        '"model": "gpt-4o"',
        f'"publishable_key": "{STRIPE_PUBLISHABLE}"',
        '"app_id": 123456',
        '"log_level": "info"',
        '"token_path": "/var/run/secrets/awoooi/token"',
    ),
)

CURL = Case(
    "curl command line",
    f"""curl -sS --fail -u ci-bot:{PASSWORD} \\
  -H "Authorization: Basic {b64("ci-bot:" + PASSWORD_2)}" \\
  -H 'X-Api-Key: {OPAQUE}' \\
  -H "Cookie: sid={OPAQUE_2}; theme=dark" \\
  --data '{{"username": "ci-bot", "password": "{PASSWORD_3}"}}' \\
  "https://api.example.com/v1/deploy?access_token={OPAQUE_3}&env=prod"
curl -H "Authorization: token {GITHUB_TOKEN}" https://api.github.com/user
awoooi login --server https://awoooi.internal --token {AWOOOI_TOKEN}
mysql --host db --user root --password {PASSWORD_4}
""",
    (
        PASSWORD,
        b64("ci-bot:" + PASSWORD_2),
        OPAQUE,
        OPAQUE_2,
        PASSWORD_3,
        OPAQUE_3,
        GITHUB_TOKEN,
        AWOOOI_TOKEN,
        PASSWORD_4,
    ),
    ("password", "basic_auth", "api_key", "cookie", "token", "github_token", "awoooi_token"),
    (
        "curl -sS --fail -u ci-bot:",
        '"username": "ci-bot"',
        "https://api.example.com/v1/deploy?access_token=",
        "&env=prod",
        "https://api.github.com/user",
        "--server https://awoooi.internal",
        "mysql --host db --user root --password ",
    ),
)

STACK_TRACE = Case(
    "stack trace with a DSN",
    f"""\
Traceback (most recent call last):
  File "/app/src/awoooi/core/jobs.py", line 212, in _run
    await handler(context)
  File "/app/src/awoooi/backup.py", line 48, in run
    engine = create_async_engine("postgresql+asyncpg://backup:{PASSWORD}@db.prod.svc:5432/awoooi")
  File "/venv/lib/python3.11/site-packages/asyncpg/connect_utils.py", line 1075, in _connect
    raise last_error
asyncpg.exceptions.InvalidPasswordError: password authentication failed for user "backup"

During handling of the above exception, another exception occurred:

sqlalchemy.exc.OperationalError: (psycopg.OperationalError) connection failed
DETAIL: dsn='host=db port=5432 dbname=awoooi user=backup password={PASSWORD_2} sslmode=require'
Connection string: Server=mssql;Database=awoooi;User Id=backup;Password={PASSWORD_3};Encrypt=True;
(Background on this error at: https://sqlalche.me/e/20/e3q8)
""",
    (PASSWORD, PASSWORD_2, PASSWORD_3),
    ("password",),
    (
        'File "/app/src/awoooi/backup.py", line 48, in run',
        "@db.prod.svc:5432/awoooi",
        'InvalidPasswordError: password authentication failed for user "backup"',
        "dbname=awoooi user=backup password=",
        " sslmode=require'",
        "Server=mssql;Database=awoooi;User Id=backup;Password=",
        ";Encrypt=True;",
        "https://sqlalche.me/e/20/e3q8",
    ),
)

ALERTMANAGER = Case(
    "Alertmanager webhook and rule annotations",
    json.dumps(
        {
            "version": "4",
            "status": "firing",
            "receiver": "awoooi",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {
                        "alertname": "BackupFailed",
                        "namespace": "prod",
                        "pod": "backup-7d9f8c6b5d-x2kqz",
                        "severity": "critical",
                    },
                    "annotations": {
                        "summary": "Nightly backup failed",
                        "description": "pg_dump to s3://acme-backups failed: could not connect to "
                        f"postgresql://backup:{PASSWORD}@db.prod.svc:5432/awoooi "
                        f"(aws_secret_access_key={AWS_SECRET})",
                        "runbook_url": "https://runbooks.acme.internal/backup",
                    },
                    "startsAt": "2024-05-01T02:00:00Z",
                    "fingerprint": "3f2c1ab9e8d7c6b5",
                }
            ],
        }
    )
    + f"""
groups:
- name: awoooi
  rules:
  - alert: SlackNotifierBroken
    expr: awoooi_notifications_failed_total{{channel="slack"}} > 0
    annotations:
      summary: Slack delivery failing
      description: 'chat.postMessage with token {SLACK_BOT} returned invalid_auth'
""",
    (PASSWORD, AWS_SECRET, SLACK_BOT),
    ("password", "aws_secret_key", "slack_token"),
    (
        '"pod": "backup-7d9f8c6b5d-x2kqz"',
        '"runbook_url": "https://runbooks.acme.internal/backup"',
        '"fingerprint": "3f2c1ab9e8d7c6b5"',
        '"startsAt": "2024-05-01T02:00:00Z"',
        'expr: awoooi_notifications_failed_total{channel="slack"} > 0',
        " returned invalid_auth'",
    ),
)

GCP_SERVICE_ACCOUNT = Case(
    "GCP service-account JSON",
    json.dumps(
        {
            "type": "service_account",
            "project_id": "acme-prod",
            "private_key_id": GCP_KEY_ID,
            "private_key": PKCS8_KEY,
            "client_email": "awoooi@acme-prod.iam.gserviceaccount.com",
            "client_id": fill("1", 21),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token",
        },
        indent=2,
    ),
    (key_body(PKCS8_KEY), GCP_KEY_ID),
    ("private_key", "private_key_id"),
    (
        '"private_key_id": "',
        '"client_email": "awoooi@acme-prod.iam.gserviceaccount.com"',
        '"token_uri": "https://oauth2.googleapis.com/token"',
    ),
)

AWS_FILES = Case(
    "AWS credentials file and CSV",
    f"""\
[default]
aws_access_key_id = {AWS_KEY_ID}
aws_secret_access_key = {AWS_SECRET}
aws_session_token = {AWS_SESSION}
region = eu-central-1

User name,Password,Access key ID,Secret access key,Console login link
ci-bot,,{AWS_KEY_ID_2},{AWS_SECRET_2},https://acme.signin.aws.amazon.com/console
""",
    (AWS_KEY_ID, AWS_SECRET, AWS_SESSION, AWS_KEY_ID_2, AWS_SECRET_2),
    ("aws_access_key", "aws_secret_key", "token"),
    (
        "region = eu-central-1",
        "User name,Password,Access key ID,Secret access key,Console login link\nci-bot,,",
        ",https://acme.signin.aws.amazon.com/console",
    ),
)

DIGEST = "sha256:" + fill("9b2f4e", 64)
POD_SPEC = Case(
    "Deployment env entries",
    f"""\
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
      - name: api
        image: ghcr.io/acme/api@{DIGEST}
        env:
        - name: DATABASE_PASSWORD
          value: {PASSWORD}
        - name: GRAFANA_API_TOKEN
          value: "{OPAQUE}"
        - name: LOG_LEVEL
          value: info
        - name: DB_PASSWORD_FILE
          value: /run/secrets/db-password
        - name: REDIS_PASSWORD
          valueFrom:
            secretKeyRef:
              name: redis
              key: password
""",
    (PASSWORD, OPAQUE),
    ("password", "token"),
    (
        f"image: ghcr.io/acme/api@{DIGEST}",
        "- name: LOG_LEVEL\n          value: info\n",
        "value: /run/secrets/db-password\n",
        "secretKeyRef:\n              name: redis\n              key: password\n",
    ),
)

PRIVATE_KEYS = Case(
    "PEM private keys",
    "\n".join(
        (
            "deploy key:",
            RSA_KEY,
            EC_KEY,
            OPENSSH_KEY,
            PKCS8_KEY,
            ENCRYPTED_KEY,
            LEGACY_ENCRYPTED_KEY,
            "escaped: " + json.dumps({"key": EC_KEY}),
            "truncated: " + RSA_KEY[:150],
            "after the keys",
        )
    ),
    (
        *(key_body(key) for key in (RSA_KEY, EC_KEY, OPENSSH_KEY, PKCS8_KEY, ENCRYPTED_KEY)),
        key_body(LEGACY_ENCRYPTED_KEY),
        RSA_KEY[60:140],
    ),
    ("private_key",),
    ("deploy key:\n", 'escaped: {"key": "', "truncated: ", "after the keys"),
)

OAUTH_RESPONSE = Case(
    "OAuth token response and headers",
    json.dumps(
        {
            "access_token": JWT,
            "token_type": "Bearer",
            "expires_in": 3600,
            "refresh_token": OPAQUE,
            "scope": "openid profile",
        }
    )
    + f"\nGET /apis HTTP/1.1\r\nAuthorization: Bearer {JWT}\r\nProxy-Authorization: Basic "
    + b64("proxy:" + PASSWORD)
    + "\r\nAccept: application/json\r\n",
    (JWT, OPAQUE, b64("proxy:" + PASSWORD)),
    ("jwt", "token", "basic_auth"),
    (
        '"token_type": "Bearer"',
        '"expires_in": 3600',
        '"scope": "openid profile"',
        "\r\nAccept: application/json\r\n",
    ),
)

# --- Cloud providers, databases and command lines ----------------------------------------------

AWS_SECRET_STANDALONE = random_text(BASE64, 40, 1)
SECRET_42 = random_text(BASE64, 42, 2)
API_KEY_URL_SAFE = random_text(URL_SAFE, 48, 3)
AZURE_ACCOUNT_KEY = random_text(BASE64, 86, 4) + "=="
AZURE_SAS_SIG = random_text(ALNUM, 40, 5) + "%2B" + random_text(ALNUM, 3, 6) + "%3D"
AZURE_BUS_KEY = random_text(BASE64, 43, 7) + "="
AZURE_CLIENT_SECRET = random_text(ALNUM, 3, 8) + "8Q" + "~" + random_text(ALNUM + "_.-", 34, 9)
AMZ_SIGNATURE = random_text(HEX, 64, 10)
GOOG_SIGNATURE = random_text(HEX, 512, 11)
GOOGLE_OAUTH = "ya" + "29." + random_text(URL_SAFE, 150, 12)
GOOGLE_REFRESH = "1/" + "/0" + random_text(URL_SAFE, 100, 13)
GCP_CLIENT_SECRET = "GOC" + "SPX-" + random_text(URL_SAFE, 28, 14)
DIGITALOCEAN = "do" + "p_v1_" + random_text(HEX, 64, 15)
MYSQL_PASSWORD = "My" + "P4ssw0rd"
PGP_KEY = (
    f"-----BEGIN PGP {PRIVATE} KEY BLOCK-----\nComment: fabricated\n\n"
    + "\n".join(fill(f"lQdGBGXpgp{i}", 64) for i in range(3))
    + f"\n=pGp4\n-----END PGP {PRIVATE} KEY BLOCK-----\n"
)
DSA_KEY = pem("DSA", "MIIBuwIBAAKBgQDdsa")

CLOUD_KEYS = Case(
    "cloud provider keys",
    "\n".join(
        (
            f"aws: AssumeRole returned {AWS_KEY_ID_2} for role/deployer",
            f"aws: rotated the secret access key to {AWS_SECRET_STANDALONE} for ci-bot",
            f"vault: leased {SECRET_42} (ttl 768h)",
            f"datadog: client configured with {API_KEY_URL_SAFE}, site=datadoghq.eu",
            "s3: GET https://acme-backups.s3.eu-central-1.amazonaws.com/db.tar.gz"
            f"?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={AWS_KEY_ID}%2F20240501%2F"
            "eu-central-1%2Fs3%2Faws4_request&X-Amz-Date=20240501T020000Z&X-Amz-Expires=3600"
            f"&X-Amz-SignedHeaders=host&X-Amz-Signature={AMZ_SIGNATURE} -> 403",
            f"gcloud: using access token {GOOGLE_OAUTH} for project acme-prod",
            f"gcloud: stored refresh token {GOOGLE_REFRESH} in the keyring",
            f"oauth: client awoooi-web secret {GCP_CLIENT_SECRET} registered",
            "gcs: GET https://storage.googleapis.com/acme-prod/db.tar.gz?X-Goog-Algorithm="
            "GOOG4-RSA-SHA256&X-Goog-Date=20240501T020000Z&X-Goog-Expires=900"
            f"&X-Goog-SignedHeaders=host&X-Goog-Signature={GOOG_SIGNATURE} -> 200",
            "azure: DefaultEndpointsProtocol=https;AccountName=acmeprod;"
            f"AccountKey={AZURE_ACCOUNT_KEY};EndpointSuffix=core.windows.net",
            "azure: GET https://acmeprod.blob.core.windows.net/backups/db.tar.gz?sv=2022-11-02"
            f"&ss=b&srt=o&sp=r&se=2024-05-02T00:00:00Z&spr=https&sig={AZURE_SAS_SIG} -> 403",
            "azure: Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=Root;"
            f"SharedAccessKey={AZURE_BUS_KEY}",
            "azure: az login --service-principal -u awoooi-sp "
            f"-p {AZURE_CLIENT_SECRET} --tenant acme",
            f"digitalocean: doctl auth init --access-token {DIGITALOCEAN} --context prod",
        )
    ),
    (
        AWS_KEY_ID_2,
        AWS_SECRET_STANDALONE,
        SECRET_42,
        API_KEY_URL_SAFE,
        AWS_KEY_ID,
        AMZ_SIGNATURE,
        GOOGLE_OAUTH,
        GOOGLE_REFRESH,
        GCP_CLIENT_SECRET,
        GOOG_SIGNATURE,
        AZURE_ACCOUNT_KEY,
        AZURE_SAS_SIG,
        AZURE_BUS_KEY,
        AZURE_CLIENT_SECRET,
        DIGITALOCEAN,
    ),
    (
        "aws_access_key",
        "high_entropy",
        "signature",
        "google_oauth_token",
        "google_refresh_token",
        "gcp_client_secret",
        "secret",
        "azure_client_secret",
        "digitalocean_token",
    ),
    (
        "aws: AssumeRole returned ",
        " for role/deployer",
        "aws: rotated the secret access key to ",
        " for ci-bot",
        "vault: leased ",
        " (ttl 768h)",
        ", site=datadoghq.eu",
        "s3: GET https://acme-backups.s3.eu-central-1.amazonaws.com/db.tar.gz"
        "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=",
        "%2F20240501%2Feu-central-1%2Fs3%2Faws4_request&X-Amz-Date=20240501T020000Z"
        "&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=",
        " -> 403",
        " for project acme-prod",
        " in the keyring",
        " registered",
        "&X-Goog-SignedHeaders=host&X-Goog-Signature=",
        "azure: DefaultEndpointsProtocol=https;AccountName=acmeprod;AccountKey=",
        ";EndpointSuffix=core.windows.net",
        "https://acmeprod.blob.core.windows.net/backups/db.tar.gz?sv=2022-11-02"
        "&ss=b&srt=o&sp=r&se=2024-05-02T00:00:00Z&spr=https&sig=",
        "Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=",
        "az login --service-principal -u awoooi-sp -p ",
        " --tenant acme",
        "doctl auth init --access-token ",
        " --context prod",
    ),
)

DATABASE_URLS = Case(
    "database URLs",
    "\n".join(
        (
            f"DSN postgres://awoooi:{PASSWORD}@db.prod.svc:5432/awoooi?sslmode=require",
            f"orders: mysql://root:{PASSWORD_2}@mysql.prod.svc:3306/shop failed",
            f"mongo: mongodb+srv://app:{PASSWORD_3}@cluster0.ab1cd.mongodb.net/orders"
            "?retryWrites=true&w=majority timed out",
            f"cache: redis://:{PASSWORD_4}@redis-master.prod.svc:6379/0 refused",
            f"queue: amqp://guest:{PASSWORD}@rabbitmq.prod.svc:5672/%2F closed",
        )
    ),
    (PASSWORD, PASSWORD_2, PASSWORD_3, PASSWORD_4),
    ("password",),
    (
        "DSN postgres://awoooi:",
        "@db.prod.svc:5432/awoooi?sslmode=require",
        "orders: mysql://root:",
        "@mysql.prod.svc:3306/shop failed",
        "mongo: mongodb+srv://app:",
        "@cluster0.ab1cd.mongodb.net/orders?retryWrites=true&w=majority timed out",
        "cache: redis://:",
        "@redis-master.prod.svc:6379/0 refused",
        "@rabbitmq.prod.svc:5672/%2F closed",
    ),
)

COMMAND_LINES = Case(
    "database and tool command lines",
    "\n".join(
        (
            f"restore: mysql -h db.prod.svc -u root -p{MYSQL_PASSWORD} shop < dump.sql",
            f"backup: mysqldump --single-transaction -uroot -p'{PASSWORD_2}' shop | gzip > a.gz",
            f"check: mariadb-admin -u root -p{PASSWORD_3} status",
            f"shell: mysql --user=root --password={PASSWORD_4} -e 'SHOW PROCESSLIST'",
            f"shell: mysql --user root --password {PASSWORD} -P 3306 -e 'SELECT 1'",
            f"backup: PGPASSWORD={PASSWORD_2} pg_dump -h db -U backup awoooi",
            f"backup: MYSQL_PWD={PASSWORD_3} mysqldump -h db shop",
            f"probe: redis-cli -h redis -a {PASSWORD_4} PING",
            f"deploy: sshpass -p {PASSWORD} ssh ops@bastion uptime",
            "mysql -h db -u app -p shop  # asks for the password",
        )
    ),
    (MYSQL_PASSWORD, PASSWORD, PASSWORD_2, PASSWORD_3, PASSWORD_4),
    ("password",),
    (
        "restore: mysql -h db.prod.svc -u root -p",
        " shop < dump.sql",
        "backup: mysqldump --single-transaction -uroot -p'",
        "' shop | gzip > a.gz",
        "check: mariadb-admin -u root -p",
        " status",
        "shell: mysql --user=root --password=",
        " -e 'SHOW PROCESSLIST'",
        " -P 3306 -e 'SELECT 1'",
        "backup: PGPASSWORD=",
        " pg_dump -h db -U backup awoooi",
        "backup: MYSQL_PWD=",
        " mysqldump -h db shop",
        "probe: redis-cli -h redis -a ",
        " PING",
        "deploy: sshpass -p ",
        " ssh ops@bastion uptime",
        "mysql -h db -u app -p shop  # asks for the password",
    ),
)

TOKENS_AND_KEYS = Case(
    "JWTs and private-key blocks",
    "\n".join(
        (
            f"kubectl --token={JWT} get pods",
            f'{{"id_token": "{JWT}", "user": "ops"}}',
            f"curl -H 'X-Service-Auth: {JWT}' https://api.internal/v1",
            "signing key:",
            PGP_KEY,
            DSA_KEY,
            "json: " + json.dumps({"ssh_key": OPENSSH_KEY, "ec": EC_KEY}),
            "end of keys",
        )
    ),
    (
        JWT,
        PGP_KEY.splitlines()[3],
        key_body(DSA_KEY),
        key_body(OPENSSH_KEY),
        key_body(EC_KEY),
    ),
    ("jwt", "private_key"),
    (
        "kubectl --token=",
        " get pods",
        '"user": "ops"',
        " https://api.internal/v1",
        "signing key:\n",
        'json: {"ssh_key": "',
        "end of keys",
    ),
)

CASES = (
    LOG_LINES,
    SECRET_MANIFEST,
    SECRET_LIST_JSON,
    KUBECONFIG,
    DOTENV,
    JSON_CONFIG,
    CURL,
    STACK_TRACE,
    ALERTMANAGER,
    GCP_SERVICE_ACCOUNT,
    AWS_FILES,
    POD_SPEC,
    PRIVATE_KEYS,
    OAUTH_RESPONSE,
    CLOUD_KEYS,
    DATABASE_URLS,
    COMMAND_LINES,
    TOKENS_AND_KEYS,
)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_secrets_in_realistic_text_are_replaced_by_typed_placeholders(case: Case) -> None:
    redacted = redact(case.text)
    for secret in case.secrets:
        assert secret in case.text  # the fixture really holds it
        assert secret not in redacted
    for kind in case.kinds:
        assert placeholder(kind) in redacted, kind
    for survivor in case.survivors:
        assert survivor in case.text
        assert survivor in redacted, survivor
    assert redact(redacted) == redacted


def test_secret_manifest_keeps_its_shape() -> None:
    redacted = redact(SECRET_MANIFEST_KUBECTL)
    lines = redacted.splitlines()
    assert "  password: [REDACTED:k8s_secret_data]" in lines
    assert "  tls.key: [REDACTED:k8s_secret_data]" in lines
    assert "  config.yaml: [REDACTED:k8s_secret_data]" in lines  # the whole block scalar
    assert "    retries: 3" not in lines
    assert "  webhook: [REDACTED:k8s_secret_data]" in lines
    assert '"data":{"password":"[REDACTED:k8s_secret_data]"}' in redacted
    assert redacted.count("---\n") == 2


def test_certificates_are_kept_private_keys_are_not() -> None:
    certificate = (
        "-----BEGIN CERTIFICATE-----\nMIIC5zCCAc+gAwIBAgIBADAN\n-----END CERTIFICATE-----\n"
    )
    public = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZI\n-----END PUBLIC KEY-----\n"
    text = certificate + public + RSA_KEY
    assert redact(text) == certificate + public + placeholder("private_key") + "\n"


def test_base64_private_key_is_caught_anywhere() -> None:
    text = f"values.yaml: tlsKey: {b64(EC_KEY)}\nother: {b64('-----BEGIN CERTIFICATE-----')}"
    redacted = redact(text)
    assert b64(EC_KEY)[:30] not in redacted
    assert placeholder("private_key") in redacted
    assert b64("-----BEGIN CERTIFICATE-----") in redacted


# --- One secret, many spellings ------------------------------------------------------------------

SECRET = fill("Zq3xV9", 24)


@pytest.mark.parametrize(
    ("template", "kind"),
    [
        ("password: {}", "password"),
        ("  passwd: {}", "password"),
        ("secret: {}", "secret"),
        ("token={}", "token"),
        ("api_key: {}", "api_key"),
        ("apiKey={}", "api_key"),
        ("client_secret={}", "secret"),
        ('{{"password": "{}"}}', "password"),
        ("{{'db_password': '{}', 'user': 'x'}}", "password"),
        ('log: {{\\"token\\":\\"{}\\"}}', "token"),
        ("FOO_PASSWORD={}", "password"),
        ("export DB_PASSWORD={}", "password"),
        ("x-auth-token: {}", "token"),
        ("access_token={}&state=1", "token"),
        ("AWS_SECRET_ACCESS_KEY={}", "aws_secret_key"),
        ("private_key = {}", "private_key"),
        ("credentials={}", "secret"),
        ("Pwd={};", "password"),
        ("redis.password = {}", "password"),
        ("<password>{}</password>", "password"),
        ("--password {}", "password"),
        ("--api-key={}", "api_key"),
        ("connect(password={})", "password"),
        ("password: |\n  {}\nnext: 1", "password"),
        ("Authorization: {}", "authorization"),
        ("Authorization: Bearer {}", "bearer"),
        ("authorization=Basic {}", "basic_auth"),
        ("cookie: session={}", "cookie"),
        ("https://user:{}@example.com/", "password"),
        ("smtp://me@example.com:{}@smtp.example.com", "password"),
        ("- name: SLACK_SIGNING_SECRET\n  value: {}", "secret"),
        ('{{"name": "DB_PASSWORD", "value": "{}"}}', "password"),
    ],
)
def test_key_value_spellings(template: str, kind: str) -> None:
    text = template.format(SECRET)
    redacted = redact(text)
    assert SECRET not in redacted
    assert placeholder(kind) in redacted
    assert redact(redacted) == redacted


def test_yaml_values_with_spaces_go_whole() -> None:
    assert redact("password: correct horse battery staple\nuser: bob\n") == (
        "password: [REDACTED:password]\nuser: bob\n"
    )


def test_inline_values_keep_their_delimiters() -> None:
    assert redact("host=db password=s3cr3t-pw dbname=x") == (
        "host=db password=[REDACTED:password] dbname=x"
    )
    assert redact("connect(password=s3cr3t-pw)") == "connect(password=[REDACTED:password])"
    assert redact('{"password": "s3cr3t-pw", "user": "bob"}') == (
        '{"password": "[REDACTED:password]", "user": "bob"}'
    )
    assert redact("?token=abc123def&page=2") == "?token=[REDACTED:token]&page=2"


def test_url_telegram_token_keeps_the_url() -> None:
    url = f"https://api.telegram.org/bot{TELEGRAM}/sendMessage?chat_id=42"
    assert (
        redact(url)
        == "https://api.telegram.org/bot[REDACTED:telegram_bot_token]/sendMessage?chat_id=42"
    )


# --- Look-alikes ---------------------------------------------------------------------------------

GIT_SHA = fill("3f2c1ab9e8d7c6b5a4f3", 40)
LOOK_ALIKES = (
    f"commit {GIT_SHA}",
    f"deployed {GIT_SHA[:7]} to prod (was {GIT_SHA[7:14]})",
    "request 6f1c2b9e-4d3a-4b8e-9c71-0a2d3e4f5a6b took 12ms",
    f"image: ghcr.io/acme/api@{DIGEST}",
    f"pulled {DIGEST} in 3.2s",
    "pod web-7d9f8c6b5d-x2kqz in namespace prod is CrashLoopBackOff",
    "2024-05-01T12:34:56.789Z 2024-05-01 12:34:56,789 12:34:56 [01/May/2024:12:34:56 +0000]",
    "connect 10.0.0.1:6443 from 192.168.1.20:51234 and [fe80::1]:8080 failed",
    "The quick brown fox jumps over the lazy dog. Nothing to see here!",
    "password reset failed for alice@example.com",
    "token expired, please log in again",
    "Password authentication failed; the bearer token is missing",
    "Bearer authentication required",
    'WWW-Authenticate: Bearer realm="kubernetes", error="invalid_token"',
    "Authorization header missing",
    "token_path=/var/run/secrets/awoooi/token password_file=/run/secrets/db",
    "password_env: DB_PASSWORD\ntoken_name: grafana\nsecret_count: 3\nadmin_token_file: /a/b",
    "tokenPath: /var/token\nsecretName: db-credentials\nexistingSecret: db-credentials",
    "nextPageToken: CiAKGjBpNDd2Nmp2Zml2cXRwYjBpOXA4\nmax_tokens: 512\ntokenizer: cl100k",
    "the public key is in the repo; ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPublicKeyOnly ops@ci",
    "key: password\nname: db-password\nsecretKeyRef:\n  name: db\n  key: token\n",
    'password: true\ntoken: null\nsecret: ~\nauth: none\napi_key: ${API_KEY}\npassword: ""',
    "password: '{{ .Values.db.password }}'\ntoken: <none>",
    "Name:         db-credentials\nType:  Opaque\n\nData\n====\n"
    "password:  16 bytes\ntoken:  1042 bytes",
    "GET /api/v1/tokens/{name} 200 awi_ short ghp_short sk-short xoxb-1 AKIA123 https://example.org/path",
    "https://user@example.com/path http://example.com:8080/x postgres://db:5432/app",
    "kind: ConfigMap\ndata:\n  app.json: eyJmZWF0dXJlIjp0cnVlfQ==\n"
    "  blob: QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n",
    'continue: eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6ODEyNzN9\nresourceVersion: "81273"',
    "-----BEGIN CERTIFICATE-----\nMIIC5zCCAc+gAwIBAgIBADAN\n-----END CERTIFICATE-----",
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZI\n-----END PUBLIC KEY-----",
    "client-certificate-data: " + CLIENT_CERT_DATA,
    "certificate-authority-data: " + CA_DATA,
    "bypass: true\ncompass: north\noauth: enabled\npassport: valid",
    "cannot open /etc/passwd for reading",
    "retry in 12:30; backoff=2s; attempt 1234567:42",
    '{"token_type": "Bearer", "expires_in": 3600, "scope": "read"}',
    # Long runs the standalone rule must leave: identities, encoded text, public keys, paths,
    # identifiers.
    "containerd://" + random_text(HEX, 64, 30),
    "sha512 " + random_text("0123456789ABCDEF", 128, 31),
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + random_text(BASE64, 43, 32) + " ops@ci",
    "-----BEGIN CERTIFICATE-----\n"
    + "\n".join(random_text(BASE64, 64, seed) for seed in (33, 34, 35))
    + "\n-----END CERTIFICATE-----",
    "settings: " + b64("ConfigMap data is encoded text, not a key: retries=3 timeout=30s"),
    "GET /apis/apps/v1/namespaces/Prod1/deployments/WebApp2/scale 200",
    "///subscriptions/0b5e1f2a-7c3d-4e8f-9a1b-2c3d4e5f6a7b/resourceGroups/mc_prod/providers/x",
    "DFSClient_NONMAPREDUCE_1537864556_1 TestStructuredMergeDiff_HPAv2ToV1Conversion",
    "Microsoft-Windows-PlatformUpdate-Win7-SRV08R2-Package-TopLevel installed",
    "KubernetesPodCrashLoopingAlertWithAVeryLongName2 fired",
    "",
)


@pytest.mark.parametrize("text", LOOK_ALIKES)
def test_look_alikes_survive_byte_for_byte(text: str) -> None:
    assert redact(text) == text


STANDALONE_SECRETS = {
    "aws secret key": random_text(BASE64, 40, 40),
    "42 characters": random_text(BASE64, 42, 41),
    "url-safe api key": random_text(URL_SAFE, 32, 42),
    "alphanumeric token": random_text(ALNUM, 64, 43),
    "azure storage key": random_text(BASE64, 86, 44) + "==",
}


@pytest.mark.parametrize("secret", STANDALONE_SECRETS.values(), ids=list(STANDALONE_SECRETS))
@pytest.mark.parametrize(
    "template", ["{}", "key {} rotated", "('{}')", '"{}",', "x={}&y=2", "[{}]", "{}\n"]
)
def test_standalone_random_strings_are_secrets(secret: str, template: str) -> None:
    text = template.format(secret)
    redacted = redact(text)
    assert redacted == template.format(placeholder("high_entropy"))


def test_standalone_rule_keeps_what_only_looks_random() -> None:
    # A base64 run of text is data (ConfigMap values, list continue tokens); the same length of
    # random bytes is a key.
    text_run = b64("the quick brown fox jumps over the lazy dog 12 times")
    assert redact(f"data {text_run}") == f"data {text_run}"
    key_run = base64.b64encode(random.Random(50).randbytes(39)).decode()
    assert redact(f"data {key_run}") == f"data {placeholder('high_entropy')}"
    # Too short, one case only, no digit: names and words, not keys.
    for kept in (random_text(BASE64, 31, 51), random_text(string.ascii_letters, 48, 52)):
        assert redact(kept) == kept


# --- Properties ----------------------------------------------------------------------------------

url_safe_secrets = st.text(alphabet=URL_SAFE, min_size=16, max_size=64)

# Each context embeds one secret drawn from `url_safe_secrets`.
KEYED_CONTEXTS: dict[str, Callable[[str], str]] = {
    "key=value": "at=1 password={} user=bob".format,
    "yaml": "db:\n  password: {}\n  user: bob\n".format,
    "json": '{{"client_secret": "{}", "user": "bob"}}'.format,
    "env": "FOO_API_TOKEN={}\nBAR=1\n".format,
    "query": "GET /cb?code=1&access_token={}&x=2".format,
    "header": "Authorization: Bearer {}\r\nAccept: */*".format,
    "bare bearer": "calling with Bearer {} now".format,
    "api key header": "X-Api-Key: {}".format,
    "url password": "postgresql://app:{}@db:5432/app".format,
    "connection string": "Server=db;User Id=sa;Password={};Encrypt=true".format,
    "curl user": "curl -u admin:{} https://x".format,
    "secret yaml": "apiVersion: v1\ndata:\n  anything: {}\nkind: Secret\n".format,
    "secret json": '{{"kind": "Secret", "data": {{"anything": "{}"}}}}'.format,
    "kubeconfig key": "users:\n- user:\n    client-key-data: {}\n".format,
    "kubeconfig token": "users:\n- user:\n    token: {}\n".format,
    "env entry": "env:\n- name: WEBHOOK_SECRET\n  value: {}\n".format,
    "xml": "<config><apiKey>{}</apiKey></config>".format,
}


@pytest.mark.parametrize("context", KEYED_CONTEXTS, ids=list(KEYED_CONTEXTS))
@given(secret=url_safe_secrets)
def test_random_secret_never_survives_its_context(context: str, secret: str) -> None:
    redacted = redact(KEYED_CONTEXTS[context](secret))
    assert secret not in PLACEHOLDER.sub("", redacted)
    assert PLACEHOLDER.search(redacted)


def _shaped(prefix: str, alphabet: str, size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=size, max_size=size + 24).map(prefix.__add__)


SHAPED_TOKENS: dict[str, st.SearchStrategy[str]] = {
    "awoooi": _shaped("aw" + "i_", URL_SAFE, 43),
    "github": _shaped("gh" + "p_", ALNUM, 36),
    "slack": _shaped("xo" + "xb-", ALNUM + "-", 40),
    "openai": _shaped("s" + "k-proj-", URL_SAFE, 40),
    "huggingface": _shaped("h" + "f_", ALNUM, 34),
    "gcp": _shaped("AI" + "za", URL_SAFE, 35).map(lambda token: token[:39]),
    "aws key id": _shaped("AK" + "IA", string.ascii_uppercase + string.digits, 16).map(
        lambda token: token[:20]
    ),
    "telegram": st.tuples(
        st.text(alphabet=string.digits, min_size=8, max_size=10),
        st.text(alphabet=URL_SAFE, min_size=35, max_size=35),
    ).map(":".join),
    "jwt": st.lists(url_safe_secrets, min_size=3, max_size=3).map(
        lambda parts: "eyJ" + ".".join(parts)
    ),
}


@pytest.mark.parametrize("shape", SHAPED_TOKENS, ids=list(SHAPED_TOKENS))
@given(data=st.data())
def test_random_shaped_token_never_survives(shape: str, data: st.DataObject) -> None:
    token = data.draw(SHAPED_TOKENS[shape])
    templates = ["{}", "see {} now", "(x: {}),", '"{}"', "https://api.example/v1/{}/x"]
    if shape == "telegram":
        templates.append("https://api.telegram.org/bot{}/getUpdates")
    template = data.draw(st.sampled_from(templates))
    redacted = redact(template.format(token))
    assert token not in redacted
    assert PLACEHOLDER.search(redacted)


any_context = st.one_of(
    *(url_safe_secrets.map(make) for make in KEYED_CONTEXTS.values()),
    *SHAPED_TOKENS.values(),
    st.sampled_from([case.text for case in CASES] + list(LOOK_ALIKES)),
    st.text(alphabet=URL_SAFE + " :=@/.\"'\n-[]{}", max_size=80),
    st.text(max_size=40),
)


@given(st.lists(any_context, max_size=6), st.sampled_from(["", " ", "\n", ", ", "=", ":", "/"]))
def test_redaction_is_idempotent(parts: list[str], separator: str) -> None:
    once = redact(separator.join(parts))
    assert redact(once) == once


@given(st.text())
def test_redaction_of_arbitrary_text_is_idempotent(text: str) -> None:
    once = redact(text)
    assert redact(once) == once


@given(st.text(alphabet=string.ascii_lowercase + string.digits + " .,!?()'\n\t"))
def test_text_without_secret_characters_is_unchanged(text: str) -> None:
    if "bearer" in text:  # "bearer" followed by a long word is a credential by design
        return
    assert redact(text) == text


@given(
    st.lists(
        st.one_of(
            st.uuids().map(str),
            st.text(alphabet="0123456789abcdef", min_size=7, max_size=40),
            st.text(alphabet="0123456789abcdef", min_size=64, max_size=64).map("sha256:".__add__),
            st.from_regex(r"[a-z]{3,10}-[0-9a-f]{10}-[a-z0-9]{5}", fullmatch=True),
            st.ip_addresses().map(str),
            st.datetimes().map(lambda moment: moment.isoformat()),
        ),
        max_size=8,
    )
)
def test_identifiers_survive(parts: list[str]) -> None:
    text = " ".join(parts)
    assert redact(text) == text


def test_placeholders_are_recognised() -> None:
    assert is_placeholder(placeholder("jwt"))
    assert not is_placeholder("[REDACTED]")
    assert redact(placeholder("password")) == placeholder("password")


# --- Hostile input: linear time ------------------------------------------------------------------
# No clock here: each input is 1 MiB, so a quadratic pattern would need ~10^12 steps and trip the
# suite's timeout; a linear pass takes about a second.


def _random(alphabet: str, size: int) -> str:
    generator = random.Random(20240501)
    return "".join(generator.choices(alphabet, k=size))


HOSTILE: dict[str, Callable[[], str]] = {
    "no spaces": lambda: fill("ab12", MiB),
    "url-safe run": lambda: _random(URL_SAFE, MiB),
    "long base64": lambda: _random(string.ascii_letters + string.digits + "+/", MiB) + "==",
    "a: pairs": lambda: fill("a:", MiB),
    "a= pairs": lambda: fill("a=", MiB),
    "password: repeated": lambda: fill("password:", MiB),
    "keyword soup": lambda: fill("passwordsecrettokenapikey_", MiB),
    "jwt starts": lambda: fill("eyJhbGciOi.", MiB),
    "token prefixes": lambda: fill("ghp_awi_sk-xoxb-AKIA", MiB),
    "pem begins without end": lambda: fill(f"-----BEGIN RSA {PRIVATE} KEY-----\nMIIE\n", MiB),
    "pem truncated": lambda: f"-----BEGIN {PRIVATE} KEY-----\n" + fill("A", MiB),
    "schemes without @": lambda: fill("s://u:p", MiB),
    "bearer bearer": lambda: fill("Bearer ", MiB),
    "escaped quotes": lambda: '{"kind": "Secret", "data": {' + fill('\\"', MiB),
    "json nesting": lambda: (
        '{"kind": "Secret", "x": ' + fill("[", MiB // 2) + fill('{"data": {"a": "b"}}', MiB // 2)
    ),
    "yaml secret data": lambda: "kind: Secret\ndata:\n" + fill("  a: b\n", MiB),
    "yaml dashes": lambda: "kind: Secret\n" + fill("- ", MiB),
    "yaml block scalar": lambda: "password: |\n" + fill("  x\n", MiB),
    "whitespace": lambda: fill(" \n\t", MiB),
    "telegram-ish": lambda: fill("1234567:", MiB),
    "certificate begins without end": lambda: fill("-----BEGIN CERTIFICATE-----\nMIIE\n", MiB),
    "mysql options": lambda: fill("mysql -u -p ", MiB),
    "mysql words": lambda: fill("mysqlx", MiB),
    "signature keys": lambda: fill("sig=", MiB),
    "azure secret shape": lambda: fill("a0Q~", MiB),
    "random base64 run": lambda: _random(BASE64, MiB),
}


@pytest.mark.parametrize("name", HOSTILE, ids=list(HOSTILE))
def test_hostile_input_is_redacted_in_linear_time(name: str) -> None:
    text = HOSTILE[name]()
    redacted = redact(text)
    assert isinstance(redacted, str)


def test_long_unbroken_text_comes_back_unchanged() -> None:
    blob = fill("ab12", MiB)
    assert redact(blob) == blob
    assert redact(fill("a:", MiB)) == fill("a:", MiB)
    assert redact(blob + " postgresql://u:s3cretpw@h/db") == (
        blob + " postgresql://u:[REDACTED:password]@h/db"
    )


def test_url_tokens_as_user_names_are_hidden_whole() -> None:
    github = "ghp_" + fill("aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5", 36)
    assert redact(f"https://{github}@github.com/acme/deploy.git") == (
        "https://[REDACTED:github_token]@github.com/acme/deploy.git"
    )
    deploy_token = "gldt-" + fill("x7Yz9Qw3Er5Ty", 20)
    assert redact(f"clone https://{deploy_token}@gitlab.example/ops/k8s.git") == (
        "clone https://[REDACTED:token]@gitlab.example/ops/k8s.git"
    )
    # Ordinary user names stay: they are not credentials.
    for url in ("ssh://git@github.com/acme/deploy.git", "https://deploy@git.example/x.git"):
        assert redact(url) == url


# --- Structures: secret keys and the walker ------------------------------------------------------

SECRET_KEYS = (
    # HTTP headers that carry a credential, as playbook steps and requests name them.
    "Authorization",
    "Proxy-Authorization",
    "Cookie",
    "Set-Cookie",
    "X-Api-Key",
    "X-Auth-Token",
    "Private-Token",
    "X-Vault-Token",
    "Ocp-Apim-Subscription-Key",
    "X-Functions-Key",
    "X-Session-Id",
    "session",
    "sessionid",
    "JSESSIONID",
    "PHPSESSID",
    # Log fields and settings.
    "password",
    "Password",
    "passwd",
    "db_pass",
    "pwd",
    "secret",
    "client_secret",
    "token",
    "admin_token",
    "tokens",
    "api_key",
    "api-key",
    "apiKey",
    "credential",
    "credentials",
    "private_key",
    "privateKey",
    "authorization",
    "cookie",
    "auth",
    "aws_secret_access_key",
    "webhook.secret",
)
NOT_SECRET_KEYS = (
    # Names about a secret: where it is, what it is called, how it starts, how many there are.
    "token_path",
    "password_file",
    "api_key_env",
    "secretName",
    "token_prefix",
    "token_count",
    "token_file",
    "password_env",
    "token_name",
    "existingSecret",
    "pageToken",
    "nextPageToken",
    "secretKeyRef",
    "sessionAffinity",
    # Look-alikes.
    "monkey",
    "turkey",
    "keyboard",
    "bypass",
    "compass",
    "passport",
    "possession",
    "oauth",
    "author",
    "key",
    "keys",
    "primary_key",
    "sort_keys",
    "X-Idempotency-Key",
    "Sec-WebSocket-Key",
    "user",
    "",
)


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)
    assert is_secret_key(key.upper())
    assert is_secret_key(key.lower())


@pytest.mark.parametrize("key", NOT_SECRET_KEYS)
def test_keys_about_secrets_and_look_alikes_are_not_secret(key: str) -> None:
    assert not is_secret_key(key)
    assert not is_secret_key(key.upper())


SECRET_WORDS = ("password", "passwd", "secret", "token", "api_key", "credentials", "private_key")
ABOUT_A_SECRET = ("path", "file", "env", "name", "prefix", "count", "ref", "id_hint")


@given(
    prefix=st.from_regex(r"[A-Za-z0-9]{0,12}", fullmatch=True),
    separator=st.sampled_from(["_", "-", "."]),
    word=st.sampled_from(SECRET_WORDS),
    about=st.sampled_from(ABOUT_A_SECRET),
    upper=st.booleans(),
)
def test_a_key_is_secret_by_what_it_ends_with(
    prefix: str, separator: str, word: str, about: str, upper: bool
) -> None:
    # Whatever comes first, a key ending with a secret word names a secret; one ending with what
    # is said about the secret does not. ("existing" and "page" name a secret's reference.)
    if prefix.lower().endswith(("existing", "page")):
        return
    key = f"{prefix}{separator}{word}" if prefix else word
    about_key = f"{key}{separator}{about}"
    if upper:
        key, about_key = key.upper(), about_key.upper()
    assert is_secret_key(key)
    assert not is_secret_key(about_key)


def test_named_keys_are_secret_in_text_too() -> None:
    # The words behind is_secret_key are the ones `redact` looks for before a value.
    for key, kind in (
        ("Ocp-Apim-Subscription-Key", "secret"),
        ("X-Functions-Key", "secret"),
        ("X-Api-Key", "api_key"),
    ):
        assert is_secret_key(key)
        assert redact(f"{key}: {OPAQUE}") == f"{key}: {placeholder(kind)}"
    for text in ("X-Idempotency-Key: 7f3a9c", "sort_keys=true", "primary_key: id"):
        assert redact(text) == text


def test_redact_structure_hides_secret_keys_and_redacts_strings() -> None:
    value = {
        "headers": {
            "Authorization": f"Bearer {OPAQUE}",
            "X-Api-Key": OPAQUE_3,
            "Set-Cookie": f"sid={OPAQUE_2}; HttpOnly",
            "Accept": "application/json",
        },
        "body": {
            "users": [{"name": "bob", "password": PASSWORD}, {"note": f"rotated {AWOOOI_TOKEN}"}],
            "count": 3,
            "ratio": 0.5,
            "dry_run": True,
            "missing": None,
        },
        "tokens": [OPAQUE, OPAQUE_2],
        "client_secret": {"value": SIGNING_SECRET},
        "pin": {"password": 123456},
        "token_path": "/var/run/secrets/token",
        "password_file": "/etc/app/password",
        "monkey": "banana",
        "dsn": f"postgresql://app:{PASSWORD_2}@db/app",
        "args": ("--flag", 7),
        7: "a non-string key",
    }
    assert redact_structure(value) == {
        "headers": {
            "Authorization": "[REDACTED:authorization]",
            "X-Api-Key": "[REDACTED:api_key]",
            "Set-Cookie": "[REDACTED:cookie]",
            "Accept": "application/json",
        },
        "body": {
            "users": [
                {"name": "bob", "password": "[REDACTED:password]"},
                {"note": "rotated [REDACTED:awoooi_token]"},
            ],
            "count": 3,
            "ratio": 0.5,
            "dry_run": True,
            "missing": None,
        },
        "tokens": "[REDACTED:token]",
        "client_secret": "[REDACTED:secret]",
        "pin": {"password": "[REDACTED:password]"},
        "token_path": "/var/run/secrets/token",
        "password_file": "/etc/app/password",
        "monkey": "banana",
        "dsn": "postgresql://app:[REDACTED:password]@db/app",
        "args": ["--flag", 7],
        7: "a non-string key",
    }


def test_redact_structure_keeps_what_hides_nothing() -> None:
    for empty in (None, "", True, False, [], {}):
        assert redact_structure({"token": empty}) == {"token": empty}
    assert redact_structure({"token": 0}) == {"token": "[REDACTED:token]"}
    assert redact_structure({"token": OPAQUE}, mask="[REDACTED]") == {"token": "[REDACTED]"}
    # The key a value sits under may be given for the value itself.
    assert redact_structure(OPAQUE, "Private-Token") == "[REDACTED:token]"
    assert redact_structure(OPAQUE, "note") == OPAQUE
    assert redact_structure([OPAQUE], "session") == "[REDACTED:session]"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from([f"Bearer {OPAQUE}", f"password={PASSWORD}", AWOOOI_TOKEN, JWT]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from([*SECRET_KEYS[:8], *NOT_SECRET_KEYS[:8], "data", "items"]) | st.text(),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


@given(json_values)
def test_redact_structure_is_idempotent_and_leaks_no_known_secret(value: object) -> None:
    once = redact_structure(value)
    assert redact_structure(once) == once
    for text in _strings(once):
        for secret in (OPAQUE, PASSWORD, AWOOOI_TOKEN, JWT):
            assert secret not in text


def test_secret_key_check_is_linear_on_hostile_keys() -> None:
    for key in (fill("passwordsecrettokenapikey_", MiB), fill("s", MiB), fill("-_.", MiB)):
        assert isinstance(is_secret_key(key), bool)
