"""What can go wrong talking to an API server, as exceptions callers can branch on.

Owns `APIError` (the server answered with a `v1.Status` failure, specs/k8s-api.md §3
Errors) and `APIConnectionError` (the server could not be reached after the retries).
Must never guess a reason the server did not send, beyond the HTTP code's standard one
when the body is not a Status (a proxy's HTML page, a bare 404).
"""

from __future__ import annotations

from typing import Any

__all__ = ["APIConnectionError", "APIError"]

# kube-apiserver's reasons for codes that come without a Status body
# (apimachinery's `reasonForCode`).
_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class APIError(Exception):
    """The API server refused or failed a request; carries its `Status`."""

    def __init__(
        self,
        status: dict[str, Any],
        *,
        method: str = "",
        path: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = int(status.get("code") or 0)
        self.reason = str(status.get("reason") or _REASONS.get(self.code, "Unknown"))
        self.message = str(status.get("message") or "")
        self.details: dict[str, Any] = status.get("details") or {}
        self.method = method
        self.path = path
        self.headers = headers or {}
        super().__init__(self.message)

    @classmethod
    def from_response(
        cls,
        code: int,
        body: Any,
        *,
        method: str = "",
        path: str = "",
        headers: dict[str, str] | None = None,
    ) -> APIError:
        if isinstance(body, dict) and body.get("kind") == "Status":
            status = dict(body)
            status.setdefault("code", code)
        else:
            text = body if isinstance(body, str) else ""
            status = {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "code": code,
                "reason": _REASONS.get(code, "Unknown"),
                "message": text.strip()[:500] or f"the server responded with HTTP {code}",
            }
        return cls(status, method=method, path=path, headers=headers)

    def __str__(self) -> str:
        # kubectl's form: `Error from server (NotFound): pods "x" not found`.
        return f"({self.reason}) {self.message}"

    def __repr__(self) -> str:
        return f"APIError(code={self.code}, reason={self.reason!r}, message={self.message!r})"

    @property
    def is_not_found(self) -> bool:
        return self.code == 404

    @property
    def is_already_exists(self) -> bool:
        return self.code == 409 and self.reason == "AlreadyExists"

    @property
    def is_conflict(self) -> bool:
        """A stale resourceVersion or a failed precondition: re-read and retry."""
        return self.code == 409 and self.reason != "AlreadyExists"

    @property
    def is_expired(self) -> bool:
        """410 Gone: a compacted watch revision or an expired continue token; relist."""
        return self.code == 410 or self.reason in ("Expired", "Gone")

    @property
    def is_invalid(self) -> bool:
        return self.code == 422

    @property
    def is_bad_request(self) -> bool:
        return self.code == 400

    @property
    def is_unauthorized(self) -> bool:
        return self.code == 401

    @property
    def is_forbidden(self) -> bool:
        return self.code == 403

    @property
    def is_method_not_allowed(self) -> bool:
        return self.code == 405

    @property
    def is_unsupported_media_type(self) -> bool:
        return self.code == 415

    @property
    def is_too_many_requests(self) -> bool:
        return self.code == 429

    @property
    def is_server_timeout(self) -> bool:
        return self.code == 504 or self.reason in ("Timeout", "ServerTimeout")

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked us to wait (Retry-After, or details.retryAfterSeconds)."""
        raw = self.headers.get("Retry-After") or self.details.get("retryAfterSeconds")
        try:
            return float(raw) if raw is not None else None
        except (TypeError, ValueError):
            return None


class APIConnectionError(ConnectionError):
    """The API server could not be reached (refused, reset, TLS failure, timeout)."""

    def __init__(self, server: str, method: str, path: str, cause: BaseException) -> None:
        self.server = server
        self.method = method
        self.path = path
        self.cause = cause
        super().__init__(
            f"{method} {server}{path}: cannot reach the API server: {type(cause).__name__}: {cause}"
        )
