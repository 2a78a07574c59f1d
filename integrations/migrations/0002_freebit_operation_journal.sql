-- One row per SIM operation that reached the Freebit call: lets a retried attempt tell
-- "not sent / refused" from "sent, outcome unknown" from "done".
CREATE TABLE freebit_operation_journal (
    account     TEXT        NOT NULL,
    op_id       TEXT        NOT NULL,
    operation   TEXT        NOT NULL,
    state       TEXT        NOT NULL CHECK (state IN ('sent', 'not_applied', 'done')),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (account, op_id)
);
