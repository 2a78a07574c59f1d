"""Settings from the environment, one class per component, named as in the seed runbooks.

Each process loads only the settings it needs (`load(WhmcsSettings)`), so `portalctl order
status` does not demand WHMCS credentials. A missing or malformed value raises
`ConfigurationError` whose message is one line naming the environment variable.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    BeforeValidator,
    Field,
    SecretBytes,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contracts.durations import Duration
from contracts.provisioning import ProvisionPolicy
from contracts.records import RecordsPolicy
from contracts.rotation import RotationPolicy
from contracts.sim import SimAccountPolicy


class ConfigurationError(Exception):
    """A setting is missing or malformed; the message is one line naming it."""


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


class LoggingSettings(_Settings):
    model_config = SettingsConfigDict(env_prefix="LOG_")

    format: LogFormat = LogFormat.CONSOLE
    level: str = "INFO"


class TemporalSettings(_Settings):
    """The base task queue. How to reach Temporal is Temporal's own client configuration
    (`integrations.temporal.client_config`: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, ...)."""

    model_config = SettingsConfigDict(env_prefix="TEMPORAL_")

    task_queue: str = "portal"


AES_KEY_SIZES = (16, 24, 32)


def _encryption_keys(value: Any) -> Any:
    """`id:base64,id:base64` -> {id: key bytes}; key values are never echoed in errors."""
    if not isinstance(value, str):
        return value
    keys: dict[str, SecretBytes] = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        key_id, separator, encoded = entry.partition(":")
        if not separator or not key_id.strip():
            raise ValueError("each entry must be KEY_ID:BASE64_KEY")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except ValueError:
            raise ValueError(f"key {key_id.strip()!r} is not valid base64") from None
        if len(key) not in AES_KEY_SIZES:
            raise ValueError(f"key {key_id.strip()!r} must be 16, 24 or 32 bytes, not {len(key)}")
        keys[key_id.strip()] = SecretBytes(key)
    return keys


class PayloadEncryptionSettings(_Settings):
    """AES-GCM encryption of workflow payloads (TEMPORAL_PAYLOAD_ENCRYPTION_*), off by default.

    KEYS holds every key that may still be needed to decrypt history, as
    `KEY_ID:BASE64_KEY,...`; new payloads are encrypted with the key named by KEY_ID. KEYS
    without KEY_ID decrypts only (encryption being turned off).
    """

    model_config = SettingsConfigDict(env_prefix="TEMPORAL_PAYLOAD_ENCRYPTION_")

    key_id: str | None = None
    keys: Annotated[dict[str, SecretBytes], NoDecode, BeforeValidator(_encryption_keys)] = {}

    @model_validator(mode="after")
    def _current_key_is_known(self) -> PayloadEncryptionSettings:
        if self.key_id is not None and self.key_id not in self.keys:
            raise ValueError(
                f"TEMPORAL_PAYLOAD_ENCRYPTION_KEY_ID {self.key_id!r} is not one of "
                "TEMPORAL_PAYLOAD_ENCRYPTION_KEYS"
            )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.keys)


class CodecServerSettings(_Settings):
    """`portalctl codec-server`: decodes payloads for the Temporal UI (CODEC_SERVER_*)."""

    model_config = SettingsConfigDict(env_prefix="CODEC_SERVER_")

    host: str = "127.0.0.1"
    port: int = Field(default=8888, ge=1, le=65535)
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=["http://localhost:8233", "http://localhost:8080"],
        description="Temporal UI origins allowed to call the codec server (comma-separated)",
    )
    authorization: SecretStr | None = Field(
        default=None, description="required Authorization header value; unset: no check"
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value


class VendorRateLimitSettings(_Settings):
    """Calls per second to each vendor, across all workers and processes, shared through Redis
    (`integrations.vendor_rate_limit`); unset: no limit, and no Redis call for it."""

    salesforce: float | None = Field(
        default=None, gt=0, validation_alias="SF_RATE_LIMIT_PER_SECOND"
    )
    whmcs: float | None = Field(default=None, gt=0, validation_alias="WHMCS_RATE_LIMIT_PER_SECOND")
    freebit: float | None = Field(
        default=None, gt=0, validation_alias="FREEBIT_RATE_LIMIT_PER_SECOND"
    )


class DatabaseSettings(_Settings):
    url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/postgres", validation_alias="DATABASE_URL"
    )
    pool_max_size: int = Field(default=10, ge=1, validation_alias="DATABASE_POOL_MAX_SIZE")


PRODUCTION_JWT_AUDIENCE = "https://login.salesforce.com"
SANDBOX_JWT_AUDIENCE = "https://test.salesforce.com"


def default_jwt_audience(login_url: str) -> str:
    """The JWT bearer assertion's `aud` for a login URL, when SF_AUDIENCE is not set.

    Salesforce accepts only https://login.salesforce.com, https://test.salesforce.com or an
    Experience Cloud site URL as the audience, whatever host the token is requested from
    ("OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration", Salesforce Help,
    https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_jwt_flow.htm). Sandboxes
    use test.salesforce.com: the generic sandbox login host, and a sandbox's My Domain login
    host in either of its two formats, MyDomainName--SandboxName.sandbox.my.salesforce.com
    (enhanced domains) or MyDomainName--SandboxName.my.salesforce.com ("Call Salesforce URLs
    Within a Package", which points to "My Domain URL Formats" in Salesforce Help,
    https://developer.salesforce.com/docs/platform/pkg2-dev/guide/packaging-instanceless-url.html).
    Everything else (login.salesforce.com, a production My Domain) is production.
    """
    host = (urlsplit(login_url).hostname or "").lower()
    my_domain_name = host.removesuffix(".my.salesforce.com").split(".")[0]
    sandbox = (
        host == "test.salesforce.com"
        or host.endswith(".sandbox.my.salesforce.com")
        or (host.endswith(".my.salesforce.com") and "--" in my_domain_name)
    )
    return SANDBOX_JWT_AUDIENCE if sandbox else PRODUCTION_JWT_AUDIENCE


class SalesforceSettings(_Settings):
    model_config = SettingsConfigDict(env_prefix="SF_")

    login_url: str = Field(
        default="https://login.salesforce.com",
        description="where the token is requested: login.salesforce.com, test.salesforce.com or "
        "the org's My Domain login URL",
    )
    audience: str | None = Field(
        default=None,
        description="the JWT assertion's aud: https://login.salesforce.com, "
        "https://test.salesforce.com or an Experience Cloud site URL; unset: derived from "
        "SF_LOGIN_URL (default_jwt_audience)",
    )
    client_id: str
    username: str
    private_key_path: Path | None = None
    private_key_base64: SecretStr | None = None
    certificate_path: Path | None = Field(
        default=None,
        description="the certificate of that key uploaded to the Connected App: the credential "
        "rotation then names the old certificate by its fingerprint",
    )
    api_version: str = "62.0"
    timeout: int = Field(default=10_000, ge=1, description="HTTP timeout in milliseconds")
    ca_bundle: Path | None = Field(default=None, description="extra CA file to trust")
    pubsub_endpoint: str = Field(
        default="api.pubsub.salesforce.com:7443",
        pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$",
        description="host:port of the Pub/Sub API (gRPC over TLS, trusting SF_CA_BUNDLE when "
        "set); api.deu.pubsub.salesforce.com:7443 for Hyperforce Germany",
    )

    @field_validator("audience")
    @classmethod
    def _audience_is_a_site(cls, value: str | None) -> str | None:
        if not value:
            return None  # SF_AUDIENCE= (empty) is unset
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname or parts.query:
            raise ValueError(
                "must be https://login.salesforce.com, https://test.salesforce.com or an "
                "Experience Cloud site URL"
            )
        return value

    @model_validator(mode="after")
    def _one_private_key_source(self) -> SalesforceSettings:
        if self.private_key_path is None and self.private_key_base64 is None:
            raise ValueError("set SF_PRIVATE_KEY_PATH or SF_PRIVATE_KEY_BASE64")
        return self

    @property
    def jwt_audience(self) -> str:
        """SF_AUDIENCE without a trailing slash, or the default for SF_LOGIN_URL."""
        if self.audience is not None:
            return self.audience.rstrip("/")
        return default_jwt_audience(self.login_url)

    def private_key_pem(self) -> bytes:
        if self.private_key_base64 is not None:
            return base64.b64decode(self.private_key_base64.get_secret_value())
        assert self.private_key_path is not None
        return self.private_key_path.read_bytes()


class FreebitSettings(_Settings):
    model_config = SettingsConfigDict(env_prefix="FREEBIT_")

    base_url: str
    oem_id: str
    oem_key: SecretStr
    timeout: int = Field(default=30_000, ge=1, description="HTTP timeout in milliseconds")
    quota_code: str = Field(
        default="PASI_TOPUP", min_length=1, description="quotaCode sent with quota top-ups"
    )
    # What the client assumes of Freebit's behaviour, which no public spec states: each one is
    # a setting whose default is the safe assumption (docs/runbook-external-dependencies.md,
    # Freebit: "What the client assumes of Freebit").
    token_ttl: Duration = Field(
        default=timedelta(minutes=50),
        gt=timedelta(0),
        description="how long a cached authKey is reused: at most the lifetime Freebit gives it",
    )
    auth_key_rejected_codes: Annotated[list[str], NoDecode] = Field(
        default=["211"],
        min_length=1,
        description="resultCodes meaning the authKey expired or is invalid: log in again once",
    )
    account_locked_codes: Annotated[list[str], NoDecode] = Field(
        default=["240"],
        min_length=1,
        description="resultCodes meaning the account is locked or busy: transient, try later",
    )
    login_invalidates_older_keys: bool = Field(
        default=True,
        description="an authOem login makes the authKeys issued before it invalid",
    )
    probe_account: str | None = Field(
        default=None,
        pattern=r"^0[0-9]{9,10}$",
        description="a SIM the health check reads (getDetail); unset: a number that is no SIM",
    )
    # Paths below FREEBIT_BASE_URL; Freebit publishes no spec, so each one can be overridden.
    path_auth: str = "/authOem/"
    path_account_detail: str = "/mvno/getDetail/"
    path_traffic_info: str = "/mvno/getTrafficInfo/"
    path_add_quota: str = "/master/addSpec/"
    path_plan_change: str = "/mvno/changePlan/"
    path_voice_options: str = "/mvno/talkoption/changeOrder/"
    path_contract_line: str = "/mvno/contractline/change/"
    path_cancel: str = "/master/cnclAcnt/"

    @field_validator("auth_key_rejected_codes", "account_locked_codes", mode="before")
    @classmethod
    def _comma_separated_codes(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [code.strip() for code in value.split(",") if code.strip()]
        return value

    @field_validator("auth_key_rejected_codes", "account_locked_codes")
    @classmethod
    def _not_success(cls, codes: list[str]) -> list[str]:
        if "100" in codes:
            raise ValueError("100 is Freebit's success code, not a refusal")
        return codes

    @model_validator(mode="after")
    def _codes_mean_one_thing(self) -> FreebitSettings:
        both = sorted(set(self.auth_key_rejected_codes) & set(self.account_locked_codes))
        if both:
            raise ValueError(
                f"resultCode(s) {', '.join(both)} in both FREEBIT_AUTH_KEY_REJECTED_CODES and "
                "FREEBIT_ACCOUNT_LOCKED_CODES"
            )
        return self


class ReplayMode(StrEnum):
    LATEST = "LATEST"
    ALL = "ALL"


class EventTransport(StrEnum):
    """How the bridge receives Platform Events."""

    PUBSUB = "pubsub"
    """Salesforce's Pub/Sub API (gRPC, Avro, flow control): recommended for new work."""
    COMETD = "cometd"
    """The Streaming API (CometD long polling), as the seed system subscribed."""


class PlatformEventSettings(_Settings):
    """The Platform Event subscription of the bridge (seed names: SF_EVENTS_*)."""

    model_config = SettingsConfigDict(env_prefix="SF_")

    events_enabled: bool = False
    provision_event_channel: str = "/event/OrderProvisionRequested__e"
    events_replay: ReplayMode = ReplayMode.LATEST
    events_transport: EventTransport = EventTransport.PUBSUB
    pubsub_batch_size: int = Field(
        default=100,
        ge=1,
        le=100,
        description="events asked of the Pub/Sub API at a time (its maximum is 100); the next "
        "batch is asked for once Temporal acknowledged these",
    )


class RedisSettings(_Settings):
    url: str = Field(default="redis://127.0.0.1:6379/0", validation_alias="REDIS_URL")


class BridgeLeaseSettings(_Settings):
    """The bridges' leader lease in Redis: one of them subscribes, the others stand by.

    A standby takes over at most TTL + RENEW_INTERVAL after the leader stopped renewing."""

    model_config = SettingsConfigDict(env_prefix="BRIDGE_LEASE_")

    ttl: Duration = Field(default=timedelta(seconds=10), gt=timedelta(0))
    renew_interval: Duration = Field(default=timedelta(seconds=2), gt=timedelta(0))

    @model_validator(mode="after")
    def _renewed_well_within_ttl(self) -> BridgeLeaseSettings:
        if self.renew_interval * 3 > self.ttl:
            raise ValueError(
                f"BRIDGE_LEASE_RENEW_INTERVAL ({self.renew_interval}) must be at most a third "
                f"of BRIDGE_LEASE_TTL ({self.ttl}): two missed renewals must not lose the lease"
            )
        return self


class OrderMarker(StrEnum):
    """How a retry finds the WHMCS order an earlier, timed-out AddOrder may have created."""

    NOTES = "notes"
    """`sfOrderId=<Order Id>` in the order's notes, read back with GetOrders (documented in
    its response); that AddOrder stores `notes` is not documented for WHMCS 8: `portalctl
    preflight --with-test-order` proves it on the installation."""
    NONE = "none"
    """No marker: a retry after an ambiguous AddOrder fails as "outcome unknown"."""


class WhmcsSettings(_Settings):
    model_config = SettingsConfigDict(env_prefix="WHMCS_")

    api_url: str
    api_identifier: SecretStr
    api_secret: SecretStr
    access_key: SecretStr | None = Field(
        default=None,
        description="`$api_access_key` of WHMCS's configuration.php, sent as `accesskey` with "
        "every call: bypasses the API IP allow list; unset: the workers' addresses must be on it",
    )
    customer_number_field_id: str | None = None
    payment_method: str = "mailin"
    timeout: int = Field(default=10_000, ge=1, description="HTTP timeout in milliseconds")
    order_marker: OrderMarker = OrderMarker.NOTES
    order_settle_time: Duration = Field(
        default=timedelta(minutes=5),
        description="after this, an AddOrder that timed out has finished on the WHMCS host",
    )

    @field_validator("access_key")
    @classmethod
    def _access_key_characters(cls, value: SecretStr | None) -> SecretStr | None:
        """An API access key contains letters, numbers and ! @ # $ % . ( ) * [ ] - _ only
        ("Access Control", https://developers.whmcs.com/api/access-control/)."""
        key = value.get_secret_value() if value is not None else ""
        if not key:
            return None  # set but empty: no access key, as when unset
        if not all((c.isascii() and c.isalnum()) or c in "!@#$%.()*[]-_" for c in key):
            raise ValueError("may contain letters, numbers and ! @ # $ % . ( ) * [ ] - _ only")
        return value


class SftpSettings(_Settings):
    """The MVNO's SFTP host with the monthly call and SMS detail files (key auth only)."""

    model_config = SettingsConfigDict(env_prefix="SFTP_")

    host: str
    port: int = Field(default=22, ge=1, le=65535)
    username: str
    private_key_path: Path
    known_hosts_path: Path = Field(
        default=Path("~/.ssh/known_hosts").expanduser(),
        description="host keys the server must match; unknown or changed keys are refused",
    )
    timeout: Duration = Field(default=timedelta(seconds=30), description="connect/read timeout")
    remote_dir: str = Field(
        default=".",
        description="directory holding the detail files (relative: from the login directory)",
    )
    stable_for: Duration = Field(
        default=timedelta(seconds=60),
        ge=timedelta(0),
        description="a file is loaded only when its size and modification time are the same "
        "at two looks this far apart (it may still be uploading)",
    )
    prefetch_requests: int = Field(
        default=256, ge=1, description="concurrent 32 KiB read requests while downloading"
    )


class ProvisioningSettings(_Settings, ProvisionPolicy):
    """PROVISION_*: the worker reads them; each order reads them from it once, as it starts."""

    model_config = SettingsConfigDict(env_prefix="PROVISION_")


class SimAccountSettings(_Settings, SimAccountPolicy):
    """FREEBIT_OPERATION_GAP, FREEBIT_NETWORK_TYPE_DELAY, FREEBIT_MAX_ATTEMPTS and the plan
    codes a SIM may change to (FREEBIT_PLAN_CODES, comma-separated, required): the worker
    reads them; each SIM's workflow reads them from it once, as it starts."""

    model_config = SettingsConfigDict(env_prefix="FREEBIT_")

    plan_codes: Annotated[list[str], NoDecode, Field(min_length=1)]

    @field_validator("plan_codes", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [code.strip() for code in value.split(",") if code.strip()]
        return value


class RecordsSettings(_Settings, RecordsPolicy):
    """RECORDS_*: when the monthly detail files are looked for; read like PROVISION_*."""

    model_config = SettingsConfigDict(env_prefix="RECORDS_")


class RotationSettings(_Settings, RotationPolicy):
    """ROTATION_*: how rotations remind and probe; read like PROVISION_*."""

    model_config = SettingsConfigDict(env_prefix="ROTATION_")


class SecretsSettings(_Settings):
    """The secret store's master key (SECRETS_*): AES-256-GCM, the base64 of 32 bytes.

    Versions are encrypted under `master_key` and record `master_key_id`; the keys in
    `retired_master_keys` (`KEY_ID:BASE64_KEY,...`) still decrypt versions written under
    them, so the master key itself can be replaced.
    """

    model_config = SettingsConfigDict(env_prefix="SECRETS_")

    master_key: SecretStr
    master_key_id: str = Field(default="k1", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    retired_master_keys: Annotated[
        dict[str, SecretBytes], NoDecode, BeforeValidator(_encryption_keys)
    ] = {}
    refresh_interval: Duration = Field(
        default=timedelta(seconds=30),
        description="how long a client reuses the active credential before re-reading it",
    )

    @field_validator("master_key")
    @classmethod
    def _32_bytes_of_base64(cls, value: SecretStr) -> SecretStr:
        try:
            key = base64.b64decode(value.get_secret_value(), validate=True)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ValueError(
                "must be the base64 of 32 random bytes (python3 -c 'import os, base64; "
                "print(base64.b64encode(os.urandom(32)).decode())')"
            )
        return value

    def master_keys(self) -> dict[str, bytes]:
        """Key id -> key; the current key wins over a retired one with the same id."""
        keys = {key_id: key.get_secret_value() for key_id, key in self.retired_master_keys.items()}
        keys[self.master_key_id] = base64.b64decode(self.master_key.get_secret_value())
        return keys


class OpsSettings(_Settings):
    """The worker's and the bridge's /health and /metrics endpoint; a port of 0 turns it off."""

    host: str = Field(default="0.0.0.0", validation_alias="OPS_HTTP_HOST")
    worker_port: int = Field(default=9000, ge=0, le=65535, validation_alias="WORKER_HTTP_PORT")
    bridge_port: int = Field(default=9001, ge=0, le=65535, validation_alias="BRIDGE_HTTP_PORT")
    portal_environment: str = Field(
        default="development", validation_alias="PORTAL_ENVIRONMENT", description="in /health"
    )


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load(settings_class: type[SettingsT]) -> SettingsT:
    """Read one settings class from the environment or raise a one-line ConfigurationError."""
    try:
        return settings_class()
    except ValidationError as error:
        raise ConfigurationError(_describe(settings_class, error)) from None


def _describe(settings_class: type[BaseSettings], error: ValidationError) -> str:
    first = error.errors()[0]
    prefix = settings_class.model_config.get("env_prefix", "")
    if not first["loc"]:
        return f"configuration error: {first['msg'].removeprefix('Value error, ')}"
    location = str(first["loc"][0])
    fields_by_env_name = {
        field.validation_alias
        if isinstance(field.validation_alias, str)
        else f"{prefix}{name}".upper(): field
        for name, field in settings_class.model_fields.items()
    }
    setting = location if location in fields_by_env_name else f"{prefix}{location}".upper()
    field = fields_by_env_name[setting]
    if first["type"] == "missing":
        return f"configuration error: {setting} is required"
    shown = "" if "Secret" in str(field.annotation) else f" (got {first.get('input')!r})"
    message = first["msg"].removeprefix("Value error, ")
    return f"configuration error: {setting}: {message}{shown}"


class WorkerDeploymentSettings(_Settings):
    """Worker Versioning: the Worker Deployment the workers belong to and the build they run.

    Every release is a new build id; Temporal pins or upgrades each workflow by it
    (docs/deployment.md, "Releases: Worker Versioning"). `worker_build_id` unset: the package
    version plus the git commit when the code runs from a checkout (`0.1.0+abc1234`), computed
    by `workers.deployment.build_id`; an image sets it explicitly.
    """

    model_config = SettingsConfigDict(env_prefix="TEMPORAL_")

    deployment_name: str = Field(
        default="portal-workflows",
        description="Worker Deployment name: letters, digits, '-' and '_' (no '.' or ':')",
    )
    worker_build_id: str | None = Field(
        default=None,
        description="this build's id: letters, digits, '.', '+', '-', '_'; unset: computed",
    )

    @field_validator("deployment_name")
    @classmethod
    def _deployment_name(cls, value: str) -> str:
        if not _plain_name(value, punctuation="-_"):
            raise ValueError(
                "must be 1-255 letters, digits, '-' or '_' (Temporal joins it to the build id "
                "with '.' and ':')"
            )
        return value

    @field_validator("worker_build_id")
    @classmethod
    def _build_id(cls, value: str | None) -> str | None:
        if not value:
            return None  # set but empty (`${BUILD_ID:-}`): computed, as when unset
        if not _plain_name(value, punctuation="._+-"):
            raise ValueError("must be 1-255 letters, digits, '.', '+', '-' or '_'")
        return value


def _plain_name(value: str, *, punctuation: str) -> bool:
    """1-255 ASCII letters and digits, and `punctuation` after the first character."""
    rest = value[1:].translate(str.maketrans("", "", punctuation))
    return (
        0 < len(value) <= 255
        and value.isascii()
        and value[0].isalnum()
        and (not rest or rest.isalnum())
    )
