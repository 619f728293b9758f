import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("esr1watch")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="esr1watch.ping")
def ping(value: str = "pong") -> str:
    """Round-trip check used by the readiness tests and operators."""
    return value
