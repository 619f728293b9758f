from functools import wraps

from django.contrib.auth.decorators import login_required

from accounts.roles import require


def role_required(action: str):
    """Signed-in users whose role allows `action` (accounts.roles); others get 403."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            require(request.user, action)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
