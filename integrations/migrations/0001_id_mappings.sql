-- Portal user <-> WHMCS client <-> Salesforce Account, as the original portal kept it.
CREATE TABLE id_mappings (
    user_id          TEXT        PRIMARY KEY,
    whmcs_client_id  INTEGER     NOT NULL UNIQUE,
    sf_account_id    TEXT        UNIQUE,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
