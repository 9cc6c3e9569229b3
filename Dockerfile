# One image for every service of docker-compose.yml: the worker, beat, Flower, the one-shot
# `handles db upgrade`, and the sandbox. Build: docker build -t alma-handles .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Install the package (not editable) from a throw-away copy of the source.
COPY . /src
RUN pip install /src \
    && rm -rf /src

# The services run from /app: flowerconfig.py is read from the working directory by
# `celery -A workers.app flower`, and var/ (SQLite fallback, embedded broker, exports) lives here.
WORKDIR /app
COPY flowerconfig.py /app/flowerconfig.py
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin handles \
    && mkdir -p /app/var \
    && chown -R handles:handles /app/var
USER handles
VOLUME ["/app/var"]

# 5555: Flower; 8780: the sandbox. Neither is published by the image itself.
EXPOSE 5555 8780

CMD ["celery", "-A", "workers.app", "worker", "--loglevel=INFO"]
