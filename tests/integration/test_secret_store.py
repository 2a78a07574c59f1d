"""The secret store on the real PostgreSQL: encryption at rest, master keys, version states,
bootstrap, and the clients' cached view of the active version."""

from __future__ import annotations

import psycopg
import pytest
from pydantic import SecretStr

from contracts.rotation import CredentialKind, VersionState
from integrations.config import (
    ConfigurationError,
    DatabaseSettings,
    FreebitSettings,
    SecretsSettings,
    WhmcsSettings,
    load,
)
from integrations.secrets.bootstrap import SeedCredentials, bootstrap_secrets
from integrations.secrets.material import WhmcsApiKey
from integrations.secrets.provider import StoredCredential
from integrations.secrets.store import SecretStore, SecretStoreError
from tests.support.secret_store import (
    empty_secret_store,
    new_master_key,
    secrets_settings,
)

KIND = CredentialKind.FREEBIT_OEM
PLAINTEXT = b"oem-key-that-must-never-be-stored-in-clear-7f3a"


@pytest.fixture
def database(store_database: DatabaseSettings) -> DatabaseSettings:
    empty_secret_store(store_database)
    return store_database


def _store(database: DatabaseSettings, settings: SecretsSettings) -> SecretStore:
    return SecretStore.from_settings(database, settings)


def _table_dump(database: DatabaseSettings) -> bytes:
    with psycopg.connect(database.url) as connection:
        rows = connection.execute("SELECT t::text FROM secret_versions t").fetchall()
    return "\n".join(row[0] for row in rows).encode()


def test_values_are_encrypted_at_rest(database: DatabaseSettings) -> None:
    store = _store(database, secrets_settings())
    store.add_initial(KIND, PLAINTEXT, origin="test")

    dump = _table_dump(database)

    assert dump
    assert PLAINTEXT not in dump
    assert PLAINTEXT.hex().encode() not in dump
    assert store.active_credential(KIND).value == PLAINTEXT


def test_a_wrong_master_key_fails_clearly(database: DatabaseSettings) -> None:
    _store(database, secrets_settings()).add_initial(KIND, PLAINTEXT, origin="test")
    wrong = _store(database, secrets_settings())

    with pytest.raises(SecretStoreError) as refused:
        wrong.active_credential(KIND)
    with pytest.raises(ConfigurationError) as at_start:
        bootstrap_secrets(wrong, _freebit_seed())

    assert "SECRETS_MASTER_KEY is not the key it was written with" in refused.value.message
    assert "\n" not in str(at_start.value)
    assert "SECRETS_MASTER_KEY" in str(at_start.value)


def test_a_value_under_an_unknown_key_id_names_the_settings(database: DatabaseSettings) -> None:
    _store(database, secrets_settings(key_id="old")).add_initial(KIND, PLAINTEXT, origin="test")

    with pytest.raises(SecretStoreError) as refused:
        _store(database, secrets_settings(key_id="new")).active_credential(KIND)

    assert "'old'" in refused.value.message
    assert "SECRETS_RETIRED_MASTER_KEYS" in refused.value.message


def test_master_key_replacement_reencrypts_under_the_new_key(database: DatabaseSettings) -> None:
    old_key, new_key = new_master_key(), new_master_key()
    _store(database, secrets_settings(old_key, key_id="old")).add_initial(
        KIND, PLAINTEXT, origin="test"
    )
    during = _store(database, secrets_settings(new_key, key_id="new", retired={"old": old_key}))

    assert during.active_credential(KIND).value == PLAINTEXT
    assert during.reencrypt() == 1
    after = _store(database, secrets_settings(new_key, key_id="new"))
    assert after.active_credential(KIND).value == PLAINTEXT
    assert after.version(KIND, 1).master_key_id == "new"


def test_versions_move_from_staged_to_active_to_retired(database: DatabaseSettings) -> None:
    store = _store(database, secrets_settings())
    store.add_initial(KIND, b"first", origin="test")
    abandoned = store.stage(KIND, b"second", origin="test")
    candidate = store.stage(KIND, b"third", origin="test")

    assert store.version(KIND, abandoned.version).state is VersionState.DISCARDED
    with pytest.raises(SecretStoreError, match="discarded"):
        store.credential(KIND, abandoned.version)
    assert store.active_credential(KIND).value == b"first"

    promotion = store.promote(KIND, candidate.version)

    assert (promotion.active, promotion.retired) == (3, 1)
    assert store.promote(KIND, candidate.version).active == 3
    assert store.active_credential(KIND).value == b"third"
    assert [(v.version, v.state) for v in store.versions(KIND)] == [
        (3, VersionState.ACTIVE),
        (2, VersionState.DISCARDED),
        (1, VersionState.RETIRED),
    ]
    with pytest.raises(SecretStoreError, match="retired, not staged"):
        store.promote(KIND, 1)
    assert store.discard(KIND, 3) is False
    assert store.credential(KIND, 1).value == b"first"


def test_a_discarded_version_keeps_no_ciphertext(database: DatabaseSettings) -> None:
    store = _store(database, secrets_settings())
    staged = store.stage(KIND, PLAINTEXT, origin="test")

    assert store.discard(KIND, staged.version) is True

    with psycopg.connect(database.url) as connection:
        row = connection.execute("SELECT length(ciphertext) FROM secret_versions").fetchone()
    assert row == (0,)


def test_bootstrap_stores_the_seed_settings_once(database: DatabaseSettings) -> None:
    store = _store(database, secrets_settings())
    first = WhmcsSettings(
        api_url="https://whmcs.invalid/includes/api.php",
        api_identifier=SecretStr("identifier-1"),
        api_secret=SecretStr("secret-1"),
    )
    later = first.model_copy(update={"api_secret": SecretStr("secret-from-a-stale-env")})

    assert bootstrap_secrets(store, SeedCredentials(whmcs=first)) == [CredentialKind.WHMCS_API]
    assert bootstrap_secrets(store, SeedCredentials(whmcs=later)) == []

    stored = WhmcsApiKey.from_bytes(store.active_credential(CredentialKind.WHMCS_API).value)
    assert stored.secret.get_secret_value() == "secret-1"
    version = store.active_version(CredentialKind.WHMCS_API)
    assert version is not None
    assert version.origin == "bootstrap from WHMCS_API_IDENTIFIER/WHMCS_API_SECRET"


def test_a_client_source_rereads_after_its_interval_and_after_a_rejection(
    database: DatabaseSettings,
) -> None:
    store = _store(database, secrets_settings())
    store.add_initial(KIND, b"first", origin="test")
    now = [0.0]
    source = StoredCredential(store, KIND, refresh_interval=60, clock=lambda: now[0])
    used = source.current()
    store.promote(KIND, store.stage(KIND, b"second", origin="test").version)

    assert source.current().value == b"first"
    newer = source.after_rejection(used)
    assert newer is not None
    assert newer.value == b"second"
    assert source.after_rejection(newer) is None
    store.promote(KIND, store.stage(KIND, b"third", origin="test").version)
    now[0] += 61
    assert source.current().value == b"third"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "configuration error: SECRETS_MASTER_KEY is required"),
        ("not base64!", "configuration error: SECRETS_MASTER_KEY: must be the base64 of 32"),
        ("c2hvcnQ=", "configuration error: SECRETS_MASTER_KEY: must be the base64 of 32"),
    ],
)
def test_a_missing_or_malformed_master_key_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str | None, message: str
) -> None:
    if value is None:
        monkeypatch.delenv("SECRETS_MASTER_KEY", raising=False)
    else:
        monkeypatch.setenv("SECRETS_MASTER_KEY", value)

    with pytest.raises(ConfigurationError) as error:
        load(SecretsSettings)

    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def _freebit_seed() -> SeedCredentials:
    return SeedCredentials(
        freebit=FreebitSettings(
            base_url="https://freebit.invalid", oem_id="PASI", oem_key=SecretStr("unused")
        )
    )
