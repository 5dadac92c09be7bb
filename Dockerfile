# One image for the web server and the Celery worker; runs as an unprivileged user.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2 \
    VISUAL_SEARCH_MODEL_CACHE=/app/.model-cache
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# Convert the encoder's network to TF Lite once, in the image: workers then read it and never import TensorFlow.
RUN python -c "from visual_search.encoders.efficientnet_lite import EfficientNetLiteEncoder as E; E().load()"
# The demo settings only need a database URL to import; nothing connects during collectstatic.
RUN DATABASE_URL=postgres://build@localhost/build python manage.py collectstatic --noinput \
    && useradd --system --no-create-home app \
    && mkdir -p /data/media \
    && chown app /data/media
USER app
EXPOSE 8000
# Threaded workers, body deadlines and per-worker encoder warm-up: config/gunicorn.conf.py.
CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"]
