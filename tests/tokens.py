"""API tokens for tests, issued the way the application issues them (accounts.tokens), and
the API rate limits' counts, which live in Redis and so outlast a test's transaction."""

import redis
from django.conf import settings
from django.core.cache import cache

from config.throttling import RATE_KEY_PREFIX


def api_token(user) -> str:
    """A new API token for `user`: what `Authorization: Token <token>` carries."""
    from accounts import tokens
    from accounts.models import ApiToken

    _, secret = tokens.token_issue(user=user, actor=None, source=ApiToken.Source.COMMAND)
    return secret


def forget_rate_limits() -> None:
    """Every request counted by the API rate limits is forgotten (all addresses and users).
    Only these keys: the same Redis database holds the Celery queues."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        keys = list(client.scan_iter(match=cache.make_key(RATE_KEY_PREFIX + "*"), count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
