ARG PYTHON=3.12
FROM python:${PYTHON}-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN --mount=type=cache,target=/root/.cache/pip pip install -r requirements.txt

FROM base AS lint
RUN --mount=type=cache,target=/root/.cache/pip pip install ruff
COPY . .
RUN ruff check .

FROM base AS test
COPY requirements-dev.txt .
RUN pip install --no-cache-dir -r requirements-dev.txt
COPY . .
RUN pytest -q

FROM base AS debug
COPY . .
USER root
CMD ["python", "-m", "debugpy", "--listen", "0.0.0.0:5678", "-m", "app"]

FROM base AS prod
COPY --from=test /app/app ./app
RUN useradd --uid 10001 app
USER 10001
CMD ["python", "-m", "app"]
