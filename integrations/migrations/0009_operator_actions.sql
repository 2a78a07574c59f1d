-- What operators change by hand, and what a bulk retry has done.

-- One row per change of id_mappings made with `portalctl mappings add | remove`: who, when,
-- and the row before and after (NULL when there was none).
CREATE TABLE id_mapping_audit (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor       TEXT        NOT NULL,
    action      TEXT        NOT NULL CHECK (action IN ('add', 'remove')),
    reason      TEXT,
    before      JSONB,
    after       JSONB
);

-- One row per `portalctl order retry --failed ...` run with its filters (`selection`). Its id
-- is the event id every retry of the batch carries, so a workflow takes it once: a rerun of
-- the same command after the CLI was killed continues the unfinished batch and retries no
-- order twice.
CREATE TABLE order_retry_batches (
    id           UUID        PRIMARY KEY DEFAULT gen_random_uuid(),
    selection    TEXT        NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at  TIMESTAMPTZ
);
CREATE INDEX order_retry_batches_unfinished ON order_retry_batches (selection, started_at)
    WHERE finished_at IS NULL;
