-- The latest health check result per integration (one row each), written by the HealthCheck
-- workflow and read by `/health` and `/metrics` in every process.
CREATE TABLE integration_health (
    integration     TEXT        PRIMARY KEY,
    status          TEXT        NOT NULL CHECK (status IN ('ok', 'warning', 'critical', 'down')),
    latency_ms      INTEGER     NOT NULL CHECK (latency_ms >= 0),
    checked_at      TIMESTAMPTZ NOT NULL,
    error           TEXT,
    api_usage_used  INTEGER,
    api_usage_limit INTEGER,
    changed_at      TIMESTAMPTZ NOT NULL
);
