import pytest

from config.celery import ping


@pytest.mark.worker
def test_real_worker_runs_a_task_through_redis(celery_worker_process):
    result = ping.delay("round-trip")
    assert result.get(timeout=30) == "round-trip"
    assert celery_worker_process.poll() is None
