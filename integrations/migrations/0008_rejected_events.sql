-- Platform Events the bridge could not use (no or invalid OrderId__c, an undecodable
-- payload): parked here instead of living only in a log line (`portalctl events rejected`).
-- The replay id is kept as the transport gave it: CometD's is a whole number (stored as its
-- decimal digits), the Pub/Sub API's opaque bytes. The payload is the event's JSON, or the
-- bytes as received when they could not be decoded.
CREATE TABLE rejected_events (
    id           BIGSERIAL   PRIMARY KEY,
    transport    TEXT        NOT NULL,
    channel      TEXT        NOT NULL,
    replay_id    BYTEA       NOT NULL,
    event_uuid   TEXT,
    payload      BYTEA       NOT NULL,
    reason       TEXT        NOT NULL,
    rejected_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (transport, channel, replay_id)
);
CREATE INDEX rejected_events_rejected_at ON rejected_events (rejected_at);
