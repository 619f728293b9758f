"""API plumbing shared by every app: error shape and schema helpers (rate limits:
config/throttling.py)."""

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import Conflict, RowError


def exception_handler(exc, context):
    """Turn domain validation errors raised by services into 400s with field errors."""
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(api_detail(exc))
    elif isinstance(exc, Conflict):
        return Response({"detail": exc.detail, **exc.body()}, status=status.HTTP_409_CONFLICT)
    elif isinstance(exc, IntegrityError):
        # A race lost to a database constraint: report it, never a 500.
        return Response(
            {
                api_settings.NON_FIELD_ERRORS_KEY: [
                    "This conflicts with a change saved at the same time. Reload and try again."
                ]
            },
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)


def api_detail(exc: DjangoValidationError) -> dict:
    """The body of a 400 for a write a service refused (the shape is config.errors'):
    `{field: [messages]}`, whole-input problems under `non_field_errors`, and a field's row
    errors nested the way DRF nests a list serializer's own, keyed by 0-based row index:
    `{"variants": {"1": {"protein_change": ["Cannot read ..."]}}}`."""
    non_field_key = api_settings.NON_FIELD_ERRORS_KEY
    if not hasattr(exc, "error_dict"):
        return {non_field_key: list(exc.messages)}
    detail: dict = {}
    whole: list[str] = []
    for field, errors in exc.error_dict.items():
        rows: dict[int, dict[str, list[str]]] = {}
        row_count = 0
        flat: list[str] = []
        for error in errors:
            if isinstance(error, RowError):
                row_key = non_field_key if error.field == NON_FIELD_ERRORS else error.field
                rows.setdefault(error.index, {}).setdefault(row_key, []).append(error.detail)
                row_count = max(row_count, error.row_count, error.index + 1)
            else:
                flat.extend(error.messages)
        if field == NON_FIELD_ERRORS:
            whole.extend(flat)
        elif not rows:
            detail[field] = flat
        elif api_settings.LIST_SERIALIZER_ERRORS_AS_DICT:
            detail[field] = rows
        else:  # DRF's list form: one entry per row, {} for a good one
            detail[field] = [rows.get(index, {}) for index in range(row_count)]
        if rows and flat:  # a service reports row errors or list errors, not both
            whole.extend(flat)
    if whole:
        detail[non_field_key] = whole
    return detail


class SlugRelatedField(serializers.SlugRelatedField):
    """DRF's, refusing a value with a NUL character as invalid (400). The lookup runs before
    any validator, and Postgres text cannot hold NUL: the query would fail (500)."""

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("invalid")
        return super().to_internal_value(data)


# --- OpenAPI: the error answers every operation can give --------------------------------------

ERROR_SCHEMAS = {
    "Error": {
        "type": "object",
        "description": "A refusal or a missing object, in words.",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    },
    "FieldErrors": {
        "type": "object",
        "description": (
            "Field name -> list of messages (nested objects for nested fields and list "
            "rows, keyed by row index); `non_field_errors` for the rest."
        ),
        "additionalProperties": {},
    },
}


def _error(description: str, component: str) -> dict:
    ref = {"$ref": f"#/components/schemas/{component}"}
    return {"description": description, "content": {"application/json": {"schema": ref}}}


def document_error_responses(result, generator, request, public):
    """drf-spectacular documents only the success answer; add the errors the API gives
    (config.api.exception_handler, DRF's authentication, permissions, pagination and rate
    limits), so a client that checks status codes against the schema knows them all. An
    answer an operation documents itself is left alone."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(ERROR_SCHEMAS)
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            params = operation.get("parameters", [])
            in_path = any(p.get("in") == "path" for p in params)
            query = {p["name"] for p in params if p.get("in") == "query"}
            errors = {}
            if "requestBody" in operation or query:
                errors["400"] = _error("Invalid input: the fields and what is wrong", "FieldErrors")
            if any(requirement for requirement in operation.get("security", [{}])):
                errors["401"] = _error("Not signed in, or the token is not valid", "Error")
                errors["403"] = _error("The user's role does not allow this", "Error")
            if in_path or "page" in query:
                errors["404"] = _error("No such object the user may see, or no such page", "Error")
            if method in ("post", "put", "patch"):
                errors["409"] = _error(
                    "Conflicts with a change saved at the same time", "FieldErrors"
                )
            errors["429"] = _error(
                "Too many requests: try again after Retry-After seconds", "Error"
            )
            responses = operation.setdefault("responses", {})
            for code, response in errors.items():
                responses.setdefault(code, response)
    return result
