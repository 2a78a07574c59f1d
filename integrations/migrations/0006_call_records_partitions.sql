-- Each month of call and SMS records becomes a partition of its own. An import fills a new
-- table with COPY, builds its index in bulk, and swaps it in for the month's old partition
-- (DETACH, DROP, ATTACH) in the same transaction (integrations/call_records/loader.py):
-- much faster than deleting and inserting a million indexed rows, and no dead rows left.
DROP VIEW account_monthly_records;
ALTER TABLE call_records_talk RENAME TO call_records_talk_unpartitioned;
ALTER TABLE call_records_sms RENAME TO call_records_sms_unpartitioned;
DROP INDEX call_records_talk_account_month, call_records_talk_month,
           call_records_sms_account_month, call_records_sms_month;

CREATE TABLE call_records_talk (
    month            CHAR(6)     NOT NULL,
    account          TEXT        NOT NULL,
    started_at       TIMESTAMPTZ NOT NULL,
    counterpart      TEXT        NOT NULL,
    duration_seconds INTEGER     NOT NULL CHECK (duration_seconds >= 0),
    direction        TEXT        NOT NULL CHECK (direction IN ('outgoing', 'incoming')),
    call_type        TEXT        NOT NULL,
    charge_yen       INTEGER     NOT NULL CHECK (charge_yen >= 0)
) PARTITION BY LIST (month);
CREATE INDEX call_records_talk_account_month ON call_records_talk (account, month, started_at);

CREATE TABLE call_records_sms (
    month       CHAR(6)     NOT NULL,
    account     TEXT        NOT NULL,
    sent_at     TIMESTAMPTZ NOT NULL,
    counterpart TEXT        NOT NULL,
    direction   TEXT        NOT NULL CHECK (direction IN ('outgoing', 'incoming')),
    sms_type    TEXT        NOT NULL,
    charge_yen  INTEGER     NOT NULL CHECK (charge_yen >= 0)
) PARTITION BY LIST (month);
CREATE INDEX call_records_sms_account_month ON call_records_sms (account, month, sent_at);

-- Partitions are named <table>_<YYYYMM>; move any records already imported into them.
DO $$
DECLARE
    kind_table TEXT;
    record_month TEXT;
BEGIN
    FOREACH kind_table IN ARRAY ARRAY['call_records_talk', 'call_records_sms'] LOOP
        FOR record_month IN
            EXECUTE format('SELECT DISTINCT month FROM %I', kind_table || '_unpartitioned')
        LOOP
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES IN (%L)',
                           kind_table || '_' || record_month, kind_table, record_month);
        END LOOP;
        EXECUTE format('INSERT INTO %I SELECT * FROM %I',
                       kind_table, kind_table || '_unpartitioned');
        EXECUTE format('DROP TABLE %I', kind_table || '_unpartitioned');
    END LOOP;
END
$$;

CREATE VIEW account_monthly_records AS
    SELECT month, account, 'talk' AS kind, started_at AS occurred_at, counterpart, direction,
           call_type AS detail, duration_seconds, charge_yen
      FROM call_records_talk
    UNION ALL
    SELECT month, account, 'sms' AS kind, sent_at AS occurred_at, counterpart, direction,
           sms_type AS detail, NULL::INTEGER AS duration_seconds, charge_yen
      FROM call_records_sms;
