# One image for the worker, the starter CLI and the sandbox: `docker compose run worker python -m
# starter status` uses the same code and settings as the worker it inspects.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TRIBUTARY_HOME=/home/tributary/.tributary

RUN useradd --create-home --uid 10001 tributary
WORKDIR /app

# Dependencies only (from pyproject.toml), so a code change does not reinstall them; the code
# then runs from /app.
COPY pyproject.toml ./
RUN touch worker.py && pip install . && pip uninstall --yes tributary && rm worker.py

COPY worker.py ./
COPY infra ./infra
COPY store ./store
COPY connectors ./connectors
COPY activities ./activities
COPY workflows ./workflows
COPY starter ./starter
COPY sandbox ./sandbox

USER tributary
CMD ["python", "worker.py"]
