FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system app && useradd --system --gid app --home /app app
WORKDIR /app

# The whole tree, less what .dockerignore leaves out (tests, benchmarks, local data), so a
# new app reaches the image without anyone editing this file.
COPY . .
RUN pip install .
# Hashed, compressed static files for WhiteNoise; the key only lives for this step.
RUN SECRET_KEY=collectstatic-only DATABASE_URL=postgres://x@localhost/x \
    STATIC_ROOT=/app/staticfiles python manage.py collectstatic --noinput

USER app
ENV STATIC_ROOT=/app/staticfiles PORT=8000
EXPOSE 8000
CMD ["sh", "-c", "gunicorn config.wsgi:application --bind 0.0.0.0:${PORT} --workers 3 --threads 4 --access-logfile -"]
