"""How the schema executes: plain fields answered without graphql-core's
per-field machinery.

A page of 500 clicks is about 4,500 fields, most of them an attribute read and
a scalar's serializer. graphql-core gives each one a resolve-info object, a
resolver call through strawberry's field, awaitable checks and the generic
value completion. For a field strawberry itself calls basic (no resolver, no
extensions), `execute_field` below reads the attribute and serializes it
directly. Anything else, and any value that would be an error (a null in a
non-null field, a value the scalar refuses), takes graphql-core's own path,
so errors are raised and located exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from graphql import GraphQLNonNull, GraphQLSchema, is_leaf_type, is_object_type
from graphql.pyutils import Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

_PLAIN = "graphapi-plain-field"


class PlainField(NamedTuple):
    resolve: Callable[[Any, str], Any]
    name: str
    serialize: Callable[[Any], Any]
    non_null: bool


def mark_plain_fields(schema: GraphQLSchema) -> None:
    """Tag every basic leaf field of `schema` with what answering it takes."""
    for named in schema.type_map.values():
        if not is_object_type(named) or named.name.startswith("__"):
            continue
        for field_def in named.fields.values():
            field = field_def.extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
            # strawberry marks the resolver of a field it calls basic.
            if field is None or not getattr(field_def.resolve, "_is_default", False):
                continue
            kind = field_def.type
            non_null = isinstance(kind, GraphQLNonNull)
            if non_null:
                kind = kind.of_type
            if is_leaf_type(kind):
                field_def.extensions[_PLAIN] = PlainField(
                    field.default_resolver, field.python_name, kind.coerce_output_value, non_null
                )


class ExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def execute_field(self, parent_type, source, field_details_list, path, position_context):
        field_def = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
        plain = field_def.extensions.get(_PLAIN) if field_def is not None else None
        middleware = self.middleware_manager
        if plain is not None and not (middleware and middleware.middlewares):
            try:
                value = plain.resolve(source, plain.name)
                if value is None:
                    if not plain.non_null:
                        return None
                else:
                    serialized = plain.serialize(value)
                    if serialized is not None and serialized is not Undefined:
                        return serialized
            except Exception:
                pass  # graphql-core's path, below, raises it again and locates it
        return super().execute_field(parent_type, source, field_details_list, path, position_context)
