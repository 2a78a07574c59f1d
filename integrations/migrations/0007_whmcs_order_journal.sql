-- One row per Salesforce Order whose WHMCS AddOrder was sent: lets a retried attempt, or a
-- manual retry days later, tell "never sent / refused" from "sent, outcome unknown" from
-- "created, this is its WHMCS order".
CREATE TABLE whmcs_order_journal (
    sf_order_id     TEXT        PRIMARY KEY,
    client_id       INTEGER     NOT NULL,
    state           TEXT        NOT NULL CHECK (state IN ('sent', 'not_applied', 'done')),
    sent_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    whmcs_order_id  INTEGER,
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CHECK ((state = 'done') = (whmcs_order_id IS NOT NULL))
);
