"""API plumbing shared by every app: error shape and schema helpers."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """Turn domain validation errors raised by services into 400s with field errors."""
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "error_dict"):
            detail = {field: [str(m) for m in msgs] for field, msgs in exc.message_dict.items()}
            if "__all__" in detail:
                detail["non_field_errors"] = detail.pop("__all__")
        else:
            detail = {"non_field_errors": list(exc.messages)}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, IntegrityError):
        # A race lost to a database constraint: report it, never a 500.
        return Response(
            {
                "non_field_errors": [
                    "This conflicts with a change saved at the same time. Reload and try again."
                ]
            },
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)
