"""The emulated vendors (Salesforce over TLS, WHMCS) running in this process, with the client
settings that reach them. Used by the tests and by the embedded demo."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr

from activities.policies import PolicyActivities
from contracts.provisioning import ProvisionPolicy
from contracts.records import RecordsPolicy
from contracts.rotation import RotationPolicy
from contracts.sim import SimAccountPolicy
from emulators.freebit import (
    API_PREFIX,
    DEFAULT_CREDENTIALS,
    DEFAULT_PLAN_CODES,
    FreebitEmulator,
    FreebitEmulatorControl,
)
from emulators.salesforce import SalesforceEmulator, SalesforceEmulatorControl
from emulators.server import EmulatorServer
from emulators.tls import ensure_tls_files
from emulators.whmcs import API_PATH, DEFAULT_CREDENTIAL, WhmcsEmulator, WhmcsEmulatorControl
from integrations.config import (
    PRODUCTION_JWT_AUDIENCE,
    DatabaseSettings,
    FreebitSettings,
    RedisSettings,
    SalesforceSettings,
    SecretsSettings,
    SftpSettings,
    WhmcsSettings,
)
from integrations.connections import IntegrationSettings
from integrations.salesforce.keys import generate_jwt_key_pair
from workers.dependencies import WorkerSettings

EMULATOR_ORDER_SETTLE_TIME = timedelta(0)
"""The WHMCS emulator has finished an AddOrder before it answers (or delays its answer)."""
CONSUMER_KEY = "portal-workflows-local-consumer-key"
INTEGRATION_USER = "integration@portal.example"


@dataclass(frozen=True)
class LocalVendors:
    salesforce: SalesforceEmulatorControl
    whmcs: WhmcsEmulatorControl
    freebit: FreebitEmulatorControl
    salesforce_settings: SalesforceSettings
    whmcs_settings: WhmcsSettings
    freebit_settings: FreebitSettings
    certificate_pem: bytes
    secrets_settings: SecretsSettings
    """The secret store's master key, kept in the work directory."""

    def integration_settings(
        self, database: DatabaseSettings, redis: RedisSettings, sftp: SftpSettings | None = None
    ) -> IntegrationSettings:
        return IntegrationSettings(
            salesforce=self.salesforce_settings,
            whmcs=self.whmcs_settings,
            freebit=self.freebit_settings,
            database=database,
            redis=redis,
            secrets=self.secrets_settings,
            sftp=sftp,
        )

    def worker_settings(
        self,
        database: DatabaseSettings,
        redis: RedisSettings,
        provisioning: ProvisionPolicy | None = None,
        sftp: SftpSettings | None = None,
    ) -> WorkerSettings:
        """The worker's settings: these emulators (and an SFTP host, if given), the default
        policies (the SIM plan codes: the ones the Freebit emulator knows)."""
        policies = PolicyActivities(
            provisioning=provisioning or ProvisionPolicy(),
            sim_account=SimAccountPolicy(plan_codes=list(DEFAULT_PLAN_CODES)),
            records=RecordsPolicy(),
            rotation=RotationPolicy(),
        )
        return WorkerSettings(self.integration_settings(database, redis, sftp), policies)

    def environment(self) -> dict[str, str]:
        """The settings that point the production clients at these emulators."""
        salesforce, whmcs = self.salesforce_settings, self.whmcs_settings
        return {
            "SF_LOGIN_URL": salesforce.login_url,
            "SF_AUDIENCE": salesforce.jwt_audience,
            "SF_CLIENT_ID": salesforce.client_id,
            "SF_USERNAME": salesforce.username,
            "SF_PRIVATE_KEY_PATH": str(salesforce.private_key_path),
            "SF_CERTIFICATE_PATH": str(salesforce.certificate_path),
            "SF_CA_BUNDLE": str(salesforce.ca_bundle),
            "SF_PUBSUB_ENDPOINT": salesforce.pubsub_endpoint,
            "WHMCS_API_URL": whmcs.api_url,
            "WHMCS_API_IDENTIFIER": whmcs.api_identifier.get_secret_value(),
            "WHMCS_API_SECRET": whmcs.api_secret.get_secret_value(),
            "WHMCS_ORDER_SETTLE_TIME": f"{whmcs.order_settle_time.total_seconds()}s",
            "FREEBIT_BASE_URL": self.freebit_settings.base_url,
            "FREEBIT_OEM_ID": self.freebit_settings.oem_id,
            "FREEBIT_OEM_KEY": self.freebit_settings.oem_key.get_secret_value(),
            "FREEBIT_PLAN_CODES": ",".join(DEFAULT_PLAN_CODES),
            "SECRETS_MASTER_KEY": self.secrets_settings.master_key.get_secret_value(),
            "SECRETS_MASTER_KEY_ID": self.secrets_settings.master_key_id,
        }

    def reset(self) -> None:
        """Forget all data and faults; keep the Connected App trusting our JWT certificate."""
        self.salesforce.reset()
        self.whmcs.reset()
        self.freebit.reset()
        self._register_connected_app()

    def _register_connected_app(self) -> None:
        self.salesforce.register_connected_app(
            CONSUMER_KEY, INTEGRATION_USER, [self.certificate_pem]
        )


@contextmanager
def running_vendor_emulators(
    work_dir: Path,
    *,
    client_timeout_ms: int = 10_000,
    host: str = "127.0.0.1",
    salesforce_port: int = 0,
    salesforce_pubsub_port: int = 0,
    whmcs_port: int = 0,
    freebit_port: int = 0,
) -> Iterator[LocalVendors]:
    """Start the emulators (port 0: a free one); the JWT key and TLS files live in `work_dir`.
    The Salesforce emulator serves the Pub/Sub API (gRPC, TLS) on `salesforce_pubsub_port`."""
    tls = ensure_tls_files(work_dir)
    key_pair = generate_jwt_key_pair(INTEGRATION_USER)
    key_path = work_dir / "salesforce-jwt.key"
    key_path.write_bytes(key_pair.private_key_pem)
    key_path.chmod(0o600)
    certificate_path = work_dir / "salesforce-jwt.crt"
    certificate_path.write_bytes(key_pair.certificate_pem)
    with ExitStack() as stack:
        salesforce = SalesforceEmulator(
            pubsub_tls=tls, pubsub_host=host, pubsub_port=salesforce_pubsub_port
        )
        salesforce_server = stack.enter_context(
            EmulatorServer(salesforce.asgi_app(), host=host, port=salesforce_port, tls=tls)
        )
        whmcs_server = stack.enter_context(
            EmulatorServer(WhmcsEmulator().asgi_app(), host=host, port=whmcs_port)
        )
        freebit_server = stack.enter_context(
            EmulatorServer(FreebitEmulator().asgi_app(), host=host, port=freebit_port)
        )
        vendors = LocalVendors(
            salesforce=SalesforceEmulatorControl(salesforce_server.url, ca_path=tls.ca_path),
            whmcs=WhmcsEmulatorControl(whmcs_server.url),
            freebit=FreebitEmulatorControl(freebit_server.url),
            salesforce_settings=SalesforceSettings(
                login_url=salesforce_server.url,
                # The emulator's own URL is no valid JWT audience, as a My Domain is not.
                audience=PRODUCTION_JWT_AUDIENCE,
                client_id=CONSUMER_KEY,
                username=INTEGRATION_USER,
                private_key_path=key_path,
                certificate_path=certificate_path,
                ca_bundle=tls.ca_path,
                timeout=client_timeout_ms,
                pubsub_endpoint=f"localhost:{salesforce.pubsub_port}",
            ),
            whmcs_settings=WhmcsSettings(
                api_url=f"{whmcs_server.url}{API_PATH}",
                api_identifier=SecretStr(DEFAULT_CREDENTIAL.identifier),
                api_secret=SecretStr(DEFAULT_CREDENTIAL.secret),
                timeout=client_timeout_ms,
                order_settle_time=EMULATOR_ORDER_SETTLE_TIME,
            ),
            freebit_settings=FreebitSettings(
                base_url=f"{freebit_server.url}{API_PREFIX}",
                oem_id=DEFAULT_CREDENTIALS.oem_id,
                oem_key=SecretStr(DEFAULT_CREDENTIALS.oem_keys[0]),
                timeout=client_timeout_ms,
            ),
            certificate_pem=key_pair.certificate_pem,
            secrets_settings=local_secrets_settings(work_dir),
        )
        for control in (vendors.salesforce, vendors.whmcs, vendors.freebit):
            stack.callback(control.close)
        vendors.reset()
        yield vendors


def local_secrets_settings(work_dir: Path) -> SecretsSettings:
    """A master key made once per work directory, so a restarted emulator setup still reads
    what the secret store holds."""
    key_path = work_dir / "secrets-master.key"
    if not key_path.exists():
        key_path.touch(mode=0o600)
        key_path.write_text(base64.b64encode(os.urandom(32)).decode())
    return SecretsSettings(master_key=SecretStr(key_path.read_text()), master_key_id="local")
