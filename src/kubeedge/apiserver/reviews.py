"""Create-only review kinds, answered from the request and never stored.

`kubectl auth can-i` posts a SelfSubjectAccessReview (`--list` a SelfSubjectRulesReview),
`kubectl auth whoami` a SelfSubjectReview; components post SubjectAccessReview and
TokenReview. Each answer is the request object with its `status` filled in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from kubeedge.api import errors
from kubeedge.api.registry import ResourceType
from kubeedge.apiserver.authz.types import RequestAttributes, UserInfo
from kubeedge.apiserver.handlers import decode_body, json_response, media_type
from kubeedge.apiserver.request import RequestInfo

if TYPE_CHECKING:
    from kubeedge.apiserver.server import APIServer


def _user_dict(user: UserInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"username": user.name, "groups": list(user.groups)}
    if user.uid:
        out["uid"] = user.uid
    if user.extra:
        out["extra"] = {k: list(v) for k, v in user.extra.items()}
    return out


def _attributes(user: UserInfo, spec: dict[str, Any]) -> RequestAttributes:
    resource = spec.get("resourceAttributes")
    if isinstance(resource, dict):
        return RequestAttributes(
            user=user,
            verb=str(resource.get("verb") or ""),
            api_group=str(resource.get("group") or ""),
            resource=str(resource.get("resource") or ""),
            subresource=str(resource.get("subresource") or ""),
            namespace=str(resource.get("namespace") or ""),
            name=str(resource.get("name") or ""),
            api_version=str(resource.get("version") or ""),
        )
    non_resource = spec.get("nonResourceAttributes")
    if isinstance(non_resource, dict):
        return RequestAttributes(
            user=user, verb=str(non_resource.get("verb") or ""), resource_request=False,
            path=str(non_resource.get("path") or ""),
        )
    raise errors.invalid("SelfSubjectAccessReview", "", [errors.Cause(
        "spec.resourceAttributes",
        "Invalid value: \"null\": exactly one of nonResourceAttributes or "
        "resourceAttributes must be specified", "FieldValueInvalid")],
        "authorization.k8s.io")


def _strings(spec: dict[str, Any], key: str) -> tuple[str, ...]:
    value = spec.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise errors.bad_request(f"spec.{key} must be a list of strings")
    return tuple(value)


def _extra(spec: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    value = spec.get("extra") or {}
    if not isinstance(value, dict):
        raise errors.bad_request("spec.extra must be a map of string lists")
    out: dict[str, tuple[str, ...]] = {}
    for key, values in value.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise errors.bad_request(f"spec.extra[{key}] must be a list of strings")
        out[str(key)] = tuple(values)
    return out


async def serve(server: APIServer, request: web.Request, info: RequestInfo,
                rt: ResourceType, user: UserInfo) -> web.StreamResponse:
    if info.verb != "create":
        raise errors.method_not_allowed(
            f"the server does not allow this method on the requested resource "
            f"({info.verb} {rt.qualified})"
        )
    body = decode_body(await request.read(), media_type(request), rt.kind)
    if not isinstance(body, dict):
        raise errors.bad_request(f"the request body must be a {rt.kind} object")
    spec = body.get("spec") or {}
    if not isinstance(spec, dict):
        raise errors.bad_request("spec must be an object")
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise errors.bad_request("metadata must be an object")
    result: dict[str, Any] = {
        "kind": rt.kind, "apiVersion": rt.group_version,
        "metadata": {"creationTimestamp": None, **metadata},
    }
    if rt.kind == "SelfSubjectAccessReview":
        decision = server.authorizer.authorize(_attributes(user, spec))
        result["spec"] = spec
        result["status"] = {"allowed": decision.allowed, "reason": decision.reason}
        if decision.denied:
            result["status"]["denied"] = True
    elif rt.kind == "SubjectAccessReview":
        subject = UserInfo(str(spec.get("user") or ""), _strings(spec, "groups"),
                           str(spec.get("uid") or ""), _extra(spec))
        decision = server.authorizer.authorize(_attributes(subject, spec))
        result["spec"] = spec
        result["status"] = {"allowed": decision.allowed, "reason": decision.reason}
    elif rt.kind == "SelfSubjectRulesReview":
        namespace = str(spec.get("namespace") or "")
        review = server.rbac.rules_for(user, namespace)
        result["spec"] = spec
        result["status"] = review.to_status()
    elif rt.kind == "SelfSubjectReview":
        result["status"] = {"userInfo": _user_dict(user)}
    elif rt.kind == "TokenReview":
        token = str(spec.get("token") or "")
        found = None
        for authenticator in server.authenticator.token_authenticators:
            found = await authenticator(token)
            if found is not None:
                break
        result["spec"] = spec
        result["status"] = (
            {"authenticated": True, "user": _user_dict(found)} if found else
            {"authenticated": False, "error": "invalid bearer token"}
        )
    else:
        raise errors.not_found(rt.plural, "", rt.group)
    return json_response(result, status=201)
