"""Signing in and out of the API, and one's own tokens (accounts/tokens.py)."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.generics import get_object_or_404
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import lockout, mfa, tokens
from accounts.models import ApiToken
from accounts.permissions import RoleActionPermission
from accounts.roles import Action, is_system_account
from accounts.tokens import ApiTokenAuthentication
from config.throttling import SignInRateThrottle

SIGN_IN_REFUSED = "Unable to sign in with the details given."
OTP_MISSING = "Enter the current six-digit code from your authenticator app."
OTP_REFUSED = "That code was not accepted. Enter the code your authenticator app shows now."
OTP_NOT_SET_UP = (
    "Two-step sign-in is not set up for this account. Sign in on the web to set it up, "
    "then ask for a token again."
)
SYSTEM_ACCOUNT_TOKEN = (
    "This is a system account (interface): its token is issued by an administrator "
    "(python manage.py issue_token USERNAME), not by signing in."
)


# No account has a longer username; a longer one is refused before it reaches the lockout's
# records of failed attempts, whose username column is no wider than 255 characters.
USERNAME_MAX_LENGTH = 150


class TokenRequestSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=USERNAME_MAX_LENGTH)
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    otp = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=16,
        help_text="The current code from the user's authenticator app; required when the "
        "server requires two-step sign-in (MFA_REQUIRED).",
    )


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")
    expiry = serializers.DateTimeField(
        allow_null=True, help_text="When the token stops working (API_TOKEN_HOURS after now)."
    )


class TokenErrorSerializer(serializers.Serializer):
    non_field_errors = serializers.ListField(child=serializers.CharField(), required=False)
    otp = serializers.ListField(child=serializers.CharField(), required=False)


class TokenObtainView(APIView):
    """Exchange a username and password (and, when two-step sign-in is required, the
    current code from the authenticator app) for a new API token
    (`Authorization: Token <token>`), which expires after API_TOKEN_HOURS.

    Failed attempts count towards the sign-in lockout shared with the web pages, and the
    endpoint takes only a few attempts a minute from one address."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes = [SignInRateThrottle]

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
        if is_system_account(user):
            return self._refuse({"non_field_errors": [SYSTEM_ACCOUNT_TOKEN]})
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
        token, secret = tokens.token_issue(user=user, actor=user, source=ApiToken.Source.SIGN_IN)
        expiry = serializers.DateTimeField().to_representation(token.expiry)
        return Response({"token": secret, "expiry": expiry})

    @staticmethod
    def _refuse(errors: dict, *, locked: bool = False) -> Response:
        return Response(
            errors,
            status=status.HTTP_429_TOO_MANY_REQUESTS if locked else status.HTTP_400_BAD_REQUEST,
        )


class LogoutView(APIView):
    """Revoke the token this request is made with: from now on it is a 401."""

    authentication_classes = [ApiTokenAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        tokens.token_revoke(
            token=request.auth, actor=request.user, reason=tokens.REVOKED_BY_SIGN_OUT
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiTokenSerializer(serializers.ModelSerializer):
    current = serializers.SerializerMethodField(
        help_text="True for the token this request is made with."
    )

    class Meta:
        model = ApiToken
        fields = ["id", "created", "expiry", "last_used_at", "source", "current"]
        read_only_fields = fields

    def get_current(self, token) -> bool:
        return token.pk == getattr(self.context["request"].auth, "pk", None)


# One's own tokens are part of one's account: people's, not system accounts'.
OWN_TOKENS = {"GET": Action.WEB_SIGN_IN, "DELETE": Action.WEB_SIGN_IN}


class TokenListView(generics.ListAPIView):
    """The signed-in user's tokens that still work, newest first (never the tokens
    themselves: they are not stored)."""

    serializer_class = ApiTokenSerializer
    permission_classes = [RoleActionPermission]
    role_actions = OWN_TOKENS
    queryset = ApiToken.objects.none()  # for the schema; the user's own are below

    def get_queryset(self):
        return tokens.live_tokens(self.request.user)


class TokenDetailView(generics.GenericAPIView):
    """Revoke one of the signed-in user's tokens; anyone else's is a 404."""

    serializer_class = ApiTokenSerializer
    permission_classes = [RoleActionPermission]
    role_actions = OWN_TOKENS
    queryset = ApiToken.objects.none()  # for the schema; the user's own are below

    def get_queryset(self):
        return tokens.live_tokens(self.request.user)

    @extend_schema(responses={204: None})
    def delete(self, request, pk: str):
        token = get_object_or_404(self.get_queryset(), pk=pk)
        tokens.token_revoke(token=token, actor=request.user, reason=tokens.REVOKED_BY_USER)
        return Response(status=status.HTTP_204_NO_CONTENT)
