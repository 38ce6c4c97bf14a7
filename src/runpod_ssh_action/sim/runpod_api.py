"""RunPod's GraphQL API (``POST /graphql``) over the stand-in's cloud.

Every query is parsed and validated against ``runpod.graphql`` with graphql-core
and executed by the resolvers below, so a misspelt field fails here as it would at
RunPod. HTTP behaviour follows the real service: a wrong or missing key is HTTP 401
with the plain text "Unauthorized"; business errors are HTTP 200 with ``errors[]``;
malformed or invalid queries are HTTP 400.

Keys: the account key may do everything. Each pod has its own key (as
``RUNPOD_API_KEY`` inside the pod) that may read, stop and terminate that pod only;
anything else it asks for is answered HTTP 200 with the error "Unauthorized" on that
field. A pod's key stops working (HTTP 401) once the pod is terminated.

The operation of a request, used for faults and the record, is its first root field
("pod" for an aliased multi-pod query).

The schema follows the cloud's switches: with spot taken out of the API, its mutations
and price fields are gone and graphql-core itself refuses a request that names them,
answered the way RunPod's Apollo server does (HTTP 400, ``extensions.code:
GRAPHQL_VALIDATION_FAILED``, graphql-js's double-quoted names; e.g. a live probe in
artokun/comfyui-mcp#2016 got 'Field "allowedCudaVersions" is not defined by type
"PodResumeInput".', and runpod/runpod-plugins-official#56 an HTTP 400 for an input
field the type lacks).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any, TypeVar

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    StringValueNode,
    build_schema,
    execute_sync,
    parse,
    validate,
)
from graphql.language import DocumentNode, ValueNode
from graphql.utilities import get_operation_ast

from .cloud import (
    NO_INSTANCES,
    SUPPLY_CONSTRAINT_MESSAGE,
    UNAUTHORIZED,
    Cloud,
    CloudError,
    NoRoomError,
    parse_time,
)
from .ratelimit import KeyRateLimit
from .server import Request, Response, retry_after_header

INVALID_OPERATION = "invalid"

F = TypeVar("F", bound=Callable[..., Any])


# What leaves the schema with spot (RunPod, April 2026: "is being removed").
SPOT_MUTATIONS = ("podRentInterruptable", "podBidResume")
SPOT_INPUTS = ("PodRentInterruptableInput", "PodBidResumeInput")
SPOT_FIELDS = {
    "GpuType": ("secureSpotPrice", "communitySpotPrice"),
    "LowestPrice": ("minimumBidPrice",),
}


def load_schema(*, spot: bool = True, spot_terminate_after: bool = True) -> GraphQLSchema:
    """The stand-in's schema; ``spot`` False drops spot from it, ``spot_terminate_after``
    False drops ``terminateAfter`` from the spot create input."""
    sdl = resources.files(__package__).joinpath("runpod.graphql").read_text()
    schema = build_schema(sdl)
    # A freshly built schema is this call's own, so its field maps may be pruned.
    if not spot:
        mutation = schema.mutation_type
        assert mutation is not None
        for name in SPOT_MUTATIONS:
            del mutation.fields[name]
        for name in SPOT_INPUTS:
            del schema.type_map[name]
        for type_name, fields in SPOT_FIELDS.items():
            owner = schema.type_map[type_name]
            assert isinstance(owner, GraphQLObjectType)
            for name in fields:
                del owner.fields[name]
    elif not spot_terminate_after:
        spot_input = schema.type_map["PodRentInterruptableInput"]
        assert isinstance(spot_input, GraphQLInputObjectType)
        del spot_input.fields["terminateAfter"]
    date_time = schema.type_map["DateTime"]
    assert isinstance(date_time, GraphQLScalarType)
    # The SDL only names the scalar; without these any literal would pass as a date.
    # build_schema takes no scalar implementations, so they are set on its result.
    date_time.parse_value = _date_time_value  # type: ignore[method-assign]
    date_time.parse_literal = _date_time_literal  # type: ignore[method-assign,assignment]
    return schema


def _date_time_value(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("DateTime must be an ISO 8601 string")
    try:
        parse_time(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an ISO 8601 date-time") from None
    return value


def _date_time_literal(node: ValueNode, _variables: Any = None) -> str:
    if not isinstance(node, StringValueNode):
        raise TypeError("DateTime must be an ISO 8601 string")
    return _date_time_value(node.value)


@dataclass
class Context:
    principal: str
    pod_ids: list[str] = field(default_factory=list)

    @property
    def own_pod(self) -> str | None:
        return self.principal.removeprefix("pod:") if self.principal.startswith("pod:") else None


def _resolver(method: F) -> F:
    """Turn a ``CloudError`` into the GraphQL error RunPod would send."""

    @functools.wraps(method)
    def wrapper(self: Root, info: GraphQLResolveInfo, **kwargs: Any) -> Any:
        try:
            return method(self, info, **kwargs)
        except CloudError as error:
            raise GraphQLError(str(error), extensions=error.extensions or None) from None
        except GraphQLError:
            raise
        except Exception as error:
            self.on_error(error)
            raise

    return wrapper  # type: ignore[return-value]


def _forbidden() -> GraphQLError:
    return GraphQLError(UNAUTHORIZED, extensions={"code": "FORBIDDEN"})


class Root:
    """The root value: one method per root field of Query and Mutation."""

    def __init__(self, cloud: Cloud, on_error: Callable[[BaseException], None]):
        self.cloud = cloud
        self.on_error = on_error

    @staticmethod
    def _context(info: GraphQLResolveInfo) -> Context:
        context = info.context
        assert isinstance(context, Context)
        return context

    def _account_only(self, info: GraphQLResolveInfo) -> Context:
        context = self._context(info)
        if context.principal != "account":
            raise _forbidden()
        return context

    def _may_touch(self, info: GraphQLResolveInfo, pod_id: str) -> Context:
        context = self._context(info)
        if context.own_pod is not None and context.own_pod != pod_id:
            raise _forbidden()
        context.pod_ids.append(pod_id)
        return context

    @_resolver
    def myself(self, info: GraphQLResolveInfo) -> dict[str, Any]:
        context = self._account_only(info)
        pods = self.cloud.live()
        context.pod_ids.extend(p.id for p in pods)
        return {
            "id": "user_standin",
            "email": "standin@example.invalid",
            "pubKey": "",
            "pods": [self.cloud.pod_view(p) for p in pods],
            "networkVolumes": [],
            "clientBalance": 100.0,
            "currentSpendPerHr": sum(p.cost_per_hr for p in pods if p.holds_gpus),
            "spendLimit": 80,
            "notifyPodsStale": True,
            "notifyPodsGeneral": True,
            "notifyLowBalance": True,
        }

    @_resolver
    def dataCenters(self, info: GraphQLResolveInfo) -> list[dict[str, Any]]:  # noqa: N802
        self._account_only(info)
        return self.cloud.data_center_views()

    @_resolver
    def pod(self, info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any] | None:
        self._may_touch(info, input["podId"])
        pod = self.cloud.get(input["podId"])
        return self.cloud.pod_view(pod) if pod else None

    @_resolver
    def gpuTypes(  # noqa: N802 - GraphQL field name
        self, info: GraphQLResolveInfo, input: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        self._account_only(info)
        ids: list[str] | None = None
        if input:
            if input.get("id") is not None:
                ids = [input["id"]]
            elif input.get("ids") is not None:
                ids = [i for i in input["ids"] if i is not None]
        return self.cloud.gpu_type_views(ids)

    def _create(
        self, info: GraphQLResolveInfo, inputs: dict[str, Any], spot: bool
    ) -> dict[str, Any] | None:
        context = self._account_only(info)
        try:
            pod = self.cloud.create(inputs, spot=spot, operation=info.field_name)
        except NoRoomError:
            answer = self.cloud.no_capacity_answer
            if answer == "null":
                return None
            if answer == "supply_constraint":
                raise GraphQLError(
                    SUPPLY_CONSTRAINT_MESSAGE, extensions={"code": "SUPPLY_CONSTRAINT"}
                ) from None
            raise
        context.pod_ids.append(pod.id)
        return self.cloud.pod_view(pod)

    @_resolver
    def podRentInterruptable(  # noqa: N802 - GraphQL field name
        self, info: GraphQLResolveInfo, input: dict[str, Any]
    ) -> dict[str, Any] | None:
        return self._create(info, input, spot=True)

    @_resolver
    def podFindAndDeployOnDemand(  # noqa: N802 - GraphQL field name
        self, info: GraphQLResolveInfo, input: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        return self._create(info, input or {}, spot=False)

    @_resolver
    def deployCpuPod(  # noqa: N802 - GraphQL field name
        self, info: GraphQLResolveInfo, input: dict[str, Any]
    ) -> None:
        # The stand-in sells GPUs only: a CPU pod finds no room, in RunPod's words.
        self._account_only(info)
        raise CloudError(NO_INSTANCES)

    @_resolver
    def podResume(  # noqa: N802 - GraphQL field name
        self, info: GraphQLResolveInfo, input: dict[str, Any]
    ) -> dict[str, Any]:
        self._account_only(info).pod_ids.append(input["podId"])
        return self.cloud.pod_view(self.cloud.resume(input["podId"], input.get("gpuCount")))

    @_resolver
    def podBidResume(  # noqa: N802 - GraphQL field name
        self, info: GraphQLResolveInfo, input: dict[str, Any]
    ) -> dict[str, Any]:
        self._account_only(info).pod_ids.append(input["podId"])
        pod = self.cloud.bid_resume(
            input["podId"], float(input["bidPerGpu"]), input.get("gpuCount")
        )
        return self.cloud.pod_view(pod)

    @_resolver
    def podStop(  # noqa: N802 - GraphQL field name
        self, info: GraphQLResolveInfo, input: dict[str, Any]
    ) -> dict[str, Any]:
        self._may_touch(info, input["podId"])
        return self.cloud.pod_view(self.cloud.stop(input["podId"]))

    @_resolver
    def podTerminate(  # noqa: N802 - GraphQL field name
        self, info: GraphQLResolveInfo, input: dict[str, Any]
    ) -> None:
        self._may_touch(info, input["podId"])
        self.cloud.terminate(input["podId"])


# graphql-core quotes names 'so', graphql-js (RunPod's server) "so".
_QUOTED_NAME = re.compile(r"'(\$?[_A-Za-z][_0-9A-Za-z]*[!\]]*)'")


def _js_formatted(error: GraphQLError) -> dict[str, Any]:
    formatted = dict(error.formatted)
    formatted["message"] = _QUOTED_NAME.sub(r'"\1"', error.message)
    return formatted


def _error(status: int, message: str, code: str) -> Response:
    return Response.json(status, {"errors": [{"message": message, "extensions": {"code": code}}]})


@dataclass(frozen=True)
class _Parsed:
    document: DocumentNode
    operation: OperationDefinitionNode
    variables: dict[str, Any] | None
    operation_name: str | None


class RunPodApp:
    def __init__(
        self,
        cloud: Cloud,
        *,
        on_error: Callable[[BaseException], None],
        rate_limit: KeyRateLimit | None = None,
    ):
        self.cloud = cloud
        self._schemas = {
            (spot, terminate_after): load_schema(spot=spot, spot_terminate_after=terminate_after)
            for spot in (True, False)
            for terminate_after in (True, False)
        }
        self.root = Root(cloud, on_error)
        self.rate_limit = rate_limit

    @property
    def schema(self) -> GraphQLSchema:
        """The schema as the cloud's switches have it now."""
        return self._schemas[(self.cloud.spot_in_schema, self.cloud.spot_terminate_after)]

    def classify(self, request: Request) -> tuple[str, str]:
        try:
            parsed = self._parse(request)
        except (ValueError, GraphQLError):
            return "runpod", INVALID_OPERATION
        for selection in parsed.operation.selection_set.selections:
            if isinstance(selection, FieldNode):
                return "runpod", selection.name.value
        return "runpod", INVALID_OPERATION

    @staticmethod
    def _parse(request: Request) -> _Parsed:
        payload = json.loads(request.body or b"null")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            raise ValueError("the body must be a JSON object with a 'query' string")
        variables = payload.get("variables")
        if variables is not None and not isinstance(variables, dict):
            raise ValueError("'variables' must be a JSON object")
        name = payload.get("operationName")
        document = parse(payload["query"])
        operation = get_operation_ast(document, name)
        if operation is None:
            raise ValueError("the document names no operation to run (check operationName)")
        return _Parsed(document, operation, variables, name)

    @staticmethod
    def api_key(request: Request) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        # The official SDK of old, and RunPod's docs, pass the key as a query parameter.
        return (request.query.get("api_key") or [""])[0]

    def handle(self, request: Request) -> Response:
        if request.path != "/graphql":
            return Response.text(404, "Not Found")
        if request.method != "POST":
            return Response.text(405, "Method Not Allowed", {"Allow": "POST"})
        key = self.api_key(request)
        principal = self.cloud.principal(key)
        if principal is None:
            return Response.text(401, "Unauthorized")
        if self.rate_limit is not None:
            wait = self.rate_limit.admit(key)
            if wait is not None:
                refused = Response.json(
                    429,
                    {
                        "errors": [
                            {
                                "message": "Rate limit exceeded",
                                "extensions": {"code": "RATE_LIMITED"},
                            }
                        ]
                    },
                    {"Retry-After": retry_after_header(wait)},
                )
                # The key was known, so the refusal is recorded as that principal's:
                # a record that counts one client's requests must see its 429s too.
                return replace(refused, principal=principal)
        answer = self._answer(request, principal)
        return Response(answer.status, answer.headers, answer.body, answer.pod_ids, principal)

    def _answer(self, request: Request, principal: str) -> Response:
        try:
            parsed = self._parse(request)
        except GraphQLError as error:
            return _error(400, error.message, "GRAPHQL_PARSE_FAILED")
        except ValueError as error:
            return _error(400, str(error), "BAD_REQUEST")
        schema = self.schema
        problems = validate(schema, parsed.document)
        if problems:
            return Response.json(
                400,
                {
                    "errors": [
                        {**_js_formatted(p), "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}
                        for p in problems
                    ]
                },
            )
        context = Context(principal)
        result = execute_sync(
            schema,
            parsed.document,
            root_value=self.root,
            context_value=context,
            variable_values=parsed.variables,
            operation_name=parsed.operation_name,
        )
        pod_ids = tuple(dict.fromkeys(context.pod_ids))
        if result.data is None and result.errors:
            # Only variables that do not fit their types leave no data at all:
            # every root field here is nullable.
            body = {
                "errors": [
                    {**_js_formatted(e), "extensions": {"code": "BAD_USER_INPUT"}}
                    for e in result.errors
                ]
            }
            return Response.json(400, body, {})
        return Response(
            200,
            {"Content-Type": "application/json"},
            json.dumps(result.formatted).encode(),
            pod_ids,
        )
