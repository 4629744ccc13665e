# A template stage: images built FROM it copy and install the app.
FROM python:3.12-slim AS template
WORKDIR /app
ONBUILD COPY requirements.txt .
ONBUILD RUN pip install --no-cache-dir -r requirements.txt
ONBUILD COPY . .
MAINTAINER platform-team <platform@example.com>
LABEL org.opencontainers.image.source="https://example.com/repo" \
      org.opencontainers.image.description="python app template"

FROM template
RUN useradd --uid 10001 app
USER app
STOPSIGNAL SIGINT
CMD ["python", "-m", "app"]
