"""How the schema executes: plain fields answered without graphql-core's
per-field machinery.

A page of 500 clicks is about 4,500 fields, most of them an attribute read and
a scalar's serializer. graphql-core gives each one a resolve-info object, a
resolver call through strawberry's field, awaitable checks and the generic
value completion. For a field strawberry itself calls basic (no resolver, no
extensions), `execute_field` below reads the attribute and serializes it
directly, or, for an object (an edge's node), goes straight to its subfields.
Anything else, and any value that would be an error (a null in a non-null
field, a value the scalar refuses), takes graphql-core's own path, so errors
are raised and located exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from graphql import GraphQLNonNull, GraphQLObjectType, GraphQLSchema, is_leaf_type, is_object_type
from graphql.pyutils import Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter

_PLAIN = "graphapi-plain-field"


class PlainField(NamedTuple):
    resolve: Callable[[Any, str], Any]
    name: str
    non_null: bool
    # A leaf's serializer, or the object type whose subfields answer it.
    serialize: Callable[[Any], Any] | None
    object_type: GraphQLObjectType | None


def mark_plain_fields(schema: GraphQLSchema) -> None:
    """Tag every basic leaf or object field of `schema` with what answering it takes."""
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
                plain = PlainField(field.default_resolver, field.python_name, non_null, kind.coerce_output_value, None)
            elif is_object_type(kind) and kind.is_type_of is None:
                plain = PlainField(field.default_resolver, field.python_name, non_null, None, kind)
            else:
                continue
            field_def.extensions[_PLAIN] = plain


class ExecutionContext(StrawberryGraphQLCoreExecutionContext):
    def execute_field(self, parent_type, source, field_details_list, path, position_context):
        field_def = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
        plain = field_def.extensions.get(_PLAIN) if field_def is not None else None
        middleware = self.middleware_manager
        if plain is not None and not (middleware and middleware.middlewares):
            try:
                value = plain.resolve(source, plain.name)
            except Exception:
                value = Undefined  # graphql-core's path, below, raises it again and locates it
            if value is None:
                if not plain.non_null:
                    return None
            elif value is Undefined or isinstance(value, Exception):
                pass
            elif plain.object_type is not None:
                return self._complete_object(plain.object_type, field_def.type, field_details_list, path, value,
                                             position_context)  # fmt: skip
            else:
                try:
                    serialized = plain.serialize(value)
                    if serialized is not None and serialized is not Undefined:
                        return serialized
                except Exception:
                    pass
        return super().execute_field(parent_type, source, field_details_list, path, position_context)

    def complete_value(self, return_type, field_details_list, info, path, result, position_context):
        # An object (a list's item, an edge): what graphql-core's complete_value
        # comes to for it, without the checks on the way.
        kind = return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type
        if (
            isinstance(kind, GraphQLObjectType) and kind.is_type_of is None
            and result is not None and result is not Undefined and not isinstance(result, Exception)
        ):  # fmt: skip
            return self.collect_and_execute_subfields(kind, field_details_list, path, result, position_context)
        return super().complete_value(return_type, field_details_list, info, path, result, position_context)

    def _complete_object(self, object_type, return_type, field_details_list, path, value, position_context):
        """What graphql-core's execute_field and complete_value do for an object
        value, from executing its subfields on."""
        try:
            completed = self.collect_and_execute_subfields(object_type, field_details_list, path, value, position_context)
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
        if self.is_awaitable(completed):
            return self._await_completed(completed, return_type, field_details_list, path)
        return completed

    async def _await_completed(self, completed, return_type, field_details_list, path):
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
