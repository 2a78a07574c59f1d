"""The credential kinds the secret store keeps, and the states a version goes through."""

from __future__ import annotations

from enum import StrEnum


class CredentialKind(StrEnum):
    SALESFORCE_JWT = "salesforce-jwt"
    """PEM RSA private key that signs the JWT bearer assertion."""
    WHMCS_API = "whmcs-api"
    """WHMCS API identifier and secret (JSON)."""
    FREEBIT_OEM = "freebit-oem"
    """Freebit OEM key (the OEM id is not secret and stays in FREEBIT_OEM_ID)."""
    SFTP_SSH = "sftp-ssh"
    """OpenSSH/PEM private key of the SFTP user."""


class VersionState(StrEnum):
    STAGED = "staged"
    """The candidate of a running rotation, not used by the clients."""
    ACTIVE = "active"
    """What the clients use; one per kind."""
    RETIRED = "retired"
    """Replaced by a newer active version (kept, encrypted, for an emergency rollback)."""
    DISCARDED = "discarded"
    """A staged version that was never promoted; its ciphertext is erased."""
