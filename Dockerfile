# syntax=docker/dockerfile:1
# Two images from one file; docker-compose.yml builds both:
#   app        (the default: the last stage) `portalctl` and what production runs, installed
#              from the project's wheel: worker, bridge, codec server, schedules. No emulator,
#              no demo stack, no Temporal dev-server binary.
#   emulators  app + the Salesforce, WHMCS, Freebit and SFTP emulators and the `demo` extra,
#              for compose's `emulators` profile. Never deploy it.
#
#   docker build -t portal-workflows .
#   docker build --target emulators -t portal-workflows-emulators .

ARG PYTHON_IMAGE=python:3.11-slim

# The project's wheel (without emulators/ and starters/demo/, see pyproject.toml) and the
# wheels of everything it and its `demo` extra need. Only bind-mounted by the stages below,
# so none of it lands in an image.
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --wheel-dir /wheels '.[demo]'

# The wheel without extras. pip writes the bytecode at install (PYTHONDONTWRITEBYTECODE only
# stops the interpreter doing it at run time): workers need it, see docs/deployment.md.
# /emulators is the mount point of the emulators' volume (their CA and keys, read-only for
# the app services), owned by the user so the emulators container can write it.
FROM ${PYTHON_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LOG_FORMAT=json
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels portal-workflows \
    && useradd --create-home --uid 10001 portal \
    && mkdir -p /app/secrets /emulators \
    && chown portal /emulators
WORKDIR /app

# The emulators are not in the wheel: their packages are copied next to the installed ones.
FROM base AS emulators
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,source=emulators,target=/tmp/demo/emulators \
    --mount=type=bind,source=starters/demo,target=/tmp/demo/starters/demo \
    pip install --no-index --find-links /wheels 'portal-workflows[demo]' \
    && site="$(python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
    && cp -r /tmp/demo/emulators "$site/emulators" \
    && cp -r /tmp/demo/starters/demo "$site/starters/demo" \
    && python -m compileall -q "$site/emulators" "$site/starters/demo" \
    && portalctl emulators --help > /dev/null
USER portal
CMD ["portalctl", "emulators", "--host", "0.0.0.0", "--work-dir", "/emulators"]

FROM base AS app
USER portal
CMD ["portalctl", "--help"]
