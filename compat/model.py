"""botocore's S3 service model, the spec every operation name and wire shape is checked against."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from urllib.parse import parse_qsl

import botocore
import botocore.session
from botocore import xform_name


@dataclass(frozen=True)
class ModelOperation:
    """One operation as botocore's model defines it: its name and its HTTP request line."""

    name: str
    method: str
    request_uri: str  # "/{Bucket}/{Key+}?tagging"
    deprecated: bool
    required_query: frozenset[str] = frozenset()  # query parameters the input shape requires
    required_headers: frozenset[str] = frozenset()  # headers the input shape requires

    @property
    def snake_name(self) -> str:
        """boto3's method name (`list_objects_v2`)."""
        return xform_name(self.name)

    @property
    def path(self) -> str:
        return self.request_uri.partition("?")[0]

    @property
    def fixed_query(self) -> dict[str, str]:
        """The sub-resource query the request URI fixes: {"tagging": ""}, {"list-type": "2"}."""
        return dict(parse_qsl(self.request_uri.partition("?")[2], keep_blank_values=True))

    @property
    def query_keys(self) -> frozenset[str]:
        return frozenset(self.fixed_query)

    def same_request_as(self, other: ModelOperation) -> bool:
        """Whether the two are indistinguishable on the wire by method, path and sub-resource."""
        return (self.method, self.path, self.query_keys) == (other.method, other.path, other.query_keys)


def botocore_version() -> str:
    return botocore.__version__


@functools.cache
def operations() -> dict[str, ModelOperation]:
    """Every S3 operation in the installed botocore's model, by AWS name."""
    model = botocore.session.get_session().get_service_model("s3")
    found: dict[str, ModelOperation] = {}
    for name in model.operation_names:
        op = model.operation_model(name)
        query: set[str] = set()
        headers: set[str] = set()
        shape = op.input_shape
        for member_name in shape.required_members if shape is not None else []:
            member = shape.members[member_name]
            location = member.serialization.get("location")
            wire_name = member.serialization.get("name", member_name)
            if location == "querystring":
                query.add(wire_name)
            elif location == "header":
                headers.add(wire_name)
        found[name] = ModelOperation(
            name=name,
            method=op.http["method"],
            request_uri=op.http["requestUri"],
            deprecated=bool(op.deprecated),
            required_query=frozenset(query),
            required_headers=frozenset(headers),
        )
    return found
