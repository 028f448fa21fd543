# The image both fly.toml process groups run: `web` (gunicorn) and `worker`
# (django-q2's qcluster). Runtime packages only: requirements.txt, not -dev.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=backoffice.settings.production \
    STATIC_ROOT=/app/staticfiles \
    PORT=8000

RUN useradd --create-home --uid 10001 app
WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .
# Hashed, compressed static files for WhiteNoise. collectstatic needs settings
# but neither a database nor real secrets.
RUN SECRET_KEY=collectstatic-only-not-a-secret ALLOWED_HOSTS=localhost \
    DATABASE_URL=postgres://build@localhost/build \
    python manage.py collectstatic --noinput

USER app
EXPOSE 8000
# Same command as fly.toml's `web` process and tests/test_production.py.
CMD ["gunicorn", "--config", "backoffice/gunicorn.conf.py", "backoffice.wsgi:application"]
