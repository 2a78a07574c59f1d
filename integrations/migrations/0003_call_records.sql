-- Monthly call (talk) and SMS detail records, imported from the MVNO's SFTP files.
-- A month is replaced as a whole, in one transaction (see integrations/call_records/loader.py);
-- the portal reads one account's month, hence the (account, month) indexes.
CREATE TABLE call_records_talk (
    month            CHAR(6)     NOT NULL,
    account          TEXT        NOT NULL,
    started_at       TIMESTAMPTZ NOT NULL,
    counterpart      TEXT        NOT NULL,
    duration_seconds INTEGER     NOT NULL CHECK (duration_seconds >= 0),
    direction        TEXT        NOT NULL CHECK (direction IN ('outgoing', 'incoming')),
    call_type        TEXT        NOT NULL,
    charge_yen       INTEGER     NOT NULL CHECK (charge_yen >= 0)
);
CREATE INDEX call_records_talk_account_month ON call_records_talk (account, month, started_at);
CREATE INDEX call_records_talk_month ON call_records_talk (month);

CREATE TABLE call_records_sms (
    month       CHAR(6)     NOT NULL,
    account     TEXT        NOT NULL,
    sent_at     TIMESTAMPTZ NOT NULL,
    counterpart TEXT        NOT NULL,
    direction   TEXT        NOT NULL CHECK (direction IN ('outgoing', 'incoming')),
    sms_type    TEXT        NOT NULL,
    charge_yen  INTEGER     NOT NULL CHECK (charge_yen >= 0)
);
CREATE INDEX call_records_sms_account_month ON call_records_sms (account, month, sent_at);
CREATE INDEX call_records_sms_month ON call_records_sms (month);

-- One row per successful import of one file; the latest row per (kind, month) is current.
CREATE TABLE call_record_imports (
    id               BIGSERIAL   PRIMARY KEY,
    kind             TEXT        NOT NULL CHECK (kind IN ('talk', 'sms')),
    month            CHAR(6)     NOT NULL,
    file             TEXT        NOT NULL,
    size_bytes       BIGINT      NOT NULL,
    sha256           TEXT        NOT NULL,
    rows             BIGINT      NOT NULL,
    duration_seconds DOUBLE PRECISION NOT NULL,
    imported_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX call_record_imports_kind_month ON call_record_imports (kind, month, imported_at);

-- What the portal shows: one account's calls and SMS of one month, in time order.
CREATE VIEW account_monthly_records AS
    SELECT month, account, 'talk' AS kind, started_at AS occurred_at, counterpart, direction,
           call_type AS detail, duration_seconds, charge_yen
      FROM call_records_talk
    UNION ALL
    SELECT month, account, 'sms' AS kind, sent_at AS occurred_at, counterpart, direction,
           sms_type AS detail, NULL::INTEGER AS duration_seconds, charge_yen
      FROM call_records_sms;
