# syntax=docker/dockerfile:1
# The KPI service: built in one stage, run as a non-root user in a slim one.
# Build: docker build -t kpi-service .   Run: see docker-compose.yml and docs/operations.md.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/kpi
# Dependencies first: they change less often than the code, so their layer is reused.
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/kpi/bin/pip install --upgrade pip && /opt/kpi/bin/pip install .

FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/kpi/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    KPI_ENV=production \
    KPI_LOG_FORMAT=json \
    KPI_MIGRATIONS_DIR=/app/migrations \
    KPI_DATA_DIR=/app/data
RUN groupadd --system --gid 10001 kpi \
    && useradd --system --uid 10001 --gid kpi --home-dir /app --shell /usr/sbin/nologin kpi \
    && mkdir -p /app/data && chown kpi:kpi /app/data
WORKDIR /app
COPY --from=build /opt/kpi /opt/kpi
COPY alembic.ini ./
COPY migrations ./migrations
USER 10001:10001
EXPOSE 8000
# Alive, not ready: a database outage must not get every replica restarted (see /readyz).
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
# `serve` applies the migrations (replicas take turns on a lock), then serves; SIGTERM
# drains requests in flight and releases running calculations for another replica.
CMD ["kpi-service", "serve", "--host", "0.0.0.0", "--port", "8000"]
