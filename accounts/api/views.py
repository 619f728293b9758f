from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import lockout, mfa

SIGN_IN_REFUSED = "Unable to sign in with the details given."
OTP_MISSING = "Enter the current six-digit code from your authenticator app."
OTP_REFUSED = "That code was not accepted. Enter the code your authenticator app shows now."
OTP_NOT_SET_UP = (
    "Two-step sign-in is not set up for this account. Sign in on the web to set it up, "
    "then ask for a token again."
)


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    otp = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=16,
        help_text="The current code from the user's authenticator app; required when the "
        "server requires two-step sign-in (MFA_REQUIRED).",
    )


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()


class TokenErrorSerializer(serializers.Serializer):
    non_field_errors = serializers.ListField(child=serializers.CharField(), required=False)
    otp = serializers.ListField(child=serializers.CharField(), required=False)


class TokenObtainView(APIView):
    """Exchange a username and password (and, when two-step sign-in is required, the
    current code from the authenticator app) for an API token (`Authorization: Token <token>`).

    Failed attempts count towards the sign-in lockout shared with the web pages."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: TokenResponseSerializer,
            400: TokenErrorSerializer,
            429: TokenErrorSerializer,
        },
    )
    def post(self, request):
        data = TokenRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        username = data.validated_data["username"]
        # The Django request, so axes sees the address and its lockout flag reaches AxesMiddleware.
        http_request = request._request
        user = authenticate(
            http_request, username=username, password=data.validated_data["password"]
        )
        if getattr(http_request, "axes_locked_out", False):
            return self._refuse({"non_field_errors": [lockout.lockout_message()]}, locked=True)
        if user is None or not user.is_active:
            return self._refuse({"non_field_errors": [SIGN_IN_REFUSED]})
        if mfa.mfa_required():
            if not mfa.has_authenticator(user):
                return self._refuse({"otp": [OTP_NOT_SET_UP]})
            code = data.validated_data.get("otp", "")
            if not code:
                return self._refuse({"otp": [OTP_MISSING]})
            if mfa.verify_authenticator_code(user=user, code=code) is None:
                locked = lockout.failure_record(http_request, username=username)
                if locked:
                    return self._refuse(
                        {"non_field_errors": [lockout.lockout_message()]}, locked=True
                    )
                return self._refuse({"otp": [OTP_REFUSED]})
        lockout.failures_clear(http_request, username=username)
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

    @staticmethod
    def _refuse(errors: dict, *, locked: bool = False) -> Response:
        return Response(
            errors,
            status=status.HTTP_429_TOO_MANY_REQUESTS if locked else status.HTTP_400_BAD_REQUEST,
        )
