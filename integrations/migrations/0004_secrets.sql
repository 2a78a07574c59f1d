-- Versioned credentials of the four vendors (integrations/secrets/store.py).
-- Values are AES-256-GCM ciphertext under the master key named by master_key_id, with
-- "kind:version" as associated data, so a row cannot be copied onto another one. At most one
-- version per kind is active (what the clients use) and at most one is staged (the candidate
-- of a running rotation); a discarded version keeps no ciphertext.
CREATE TABLE secret_versions (
    kind            TEXT        NOT NULL
                    CHECK (kind IN ('salesforce-jwt', 'whmcs-api', 'freebit-oem', 'sftp-ssh')),
    version         INTEGER     NOT NULL CHECK (version > 0),
    state           TEXT        NOT NULL
                    CHECK (state IN ('staged', 'active', 'retired', 'discarded')),
    master_key_id   TEXT        NOT NULL,
    nonce           BYTEA       NOT NULL,
    ciphertext      BYTEA       NOT NULL,
    fingerprint     TEXT,
    public_material TEXT,
    origin          TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    activated_at    TIMESTAMPTZ,
    retired_at      TIMESTAMPTZ,
    PRIMARY KEY (kind, version)
);
CREATE UNIQUE INDEX secret_versions_one_active ON secret_versions (kind) WHERE state = 'active';
CREATE UNIQUE INDEX secret_versions_one_staged ON secret_versions (kind) WHERE state = 'staged';
