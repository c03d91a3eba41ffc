"""What a query may cost: the fields it would answer, estimated before it runs.

Depth, aliases and page sizes bound each part of a query but not their
product: fifty aliases of a 500-click page, each click with its campaign's
figures and its conversions', are all within those limits and kept the event
loop, and with it every /click and /postback, busy for half a minute. The
estimate counts each field once per object it is asked of: a connection's
selection `first` times (its default page when `first` is not given), any
other list's LIST_ESTIMATE times. Introspection counts one a field at the top.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from graphql.execution import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension

# Items a list other than a connection is taken to hold (a campaign's offers,
# a click's conversions, a report's rows): a few, mostly.
LIST_ESTIMATE = 10


def _listed(field_type: Any) -> bool:
    if isinstance(field_type, GraphQLNonNull):
        field_type = field_type.of_type
    return isinstance(field_type, GraphQLList)


class _Estimate:
    def __init__(self, schema: GraphQLSchema, fragments: Mapping[str, FragmentDefinitionNode],
                 variables: Mapping[str, Any]) -> None:  # fmt: skip
        self.schema = schema
        self.fragments = fragments
        self.variables = variables

    def fields(self, selections: SelectionSetNode, parent: Any) -> Iterator[tuple[FieldNode, Any]]:
        """The fields of a selection set with the type each is asked of,
        fragments' included (their cycles are refused by validation, which runs before)."""
        for node in selections.selections:
            if isinstance(node, FieldNode):
                yield node, parent
                continue
            if isinstance(node, FragmentSpreadNode):
                node = self.fragments.get(node.name.value)
                if node is None:
                    continue
            condition = node.type_condition and self.schema.get_type(node.type_condition.name.value)
            yield from self.fields(node.selection_set, condition or parent)

    def cost(self, selections: SelectionSetNode | None, parent: Any) -> int:
        if selections is None:
            return 0
        total = 0
        for node, kind in self.fields(selections, parent):
            definition = getattr(kind, "fields", {}).get(node.name.value)
            if definition is None:  # introspection (__typename, __schema)
                total += 1
                continue
            below = self.cost(node.selection_set, get_named_type(definition.type))
            if "first" in definition.args:
                below *= self.first(node, definition.args["first"].default_value)
            # A connection's `edges` are its page, counted `first` times above.
            elif _listed(definition.type) and not kind.name.endswith("Connection"):
                below *= LIST_ESTIMATE
            total += 1 + below
        return total

    def first(self, node: FieldNode, default: Any) -> int:
        default = default if isinstance(default, int) else 1
        given: Any = default
        for argument in node.arguments or ():
            if argument.name.value == "first":
                value = argument.value
                if isinstance(value, VariableNode):
                    given = self.variables.get(value.name.value, default)
                elif isinstance(value, IntValueNode):
                    given = int(value.value)
        # Execution refuses a bad `first` itself; the estimate only needs a size.
        return given if isinstance(given, int) and given >= 0 else default


def estimated_cost(schema: GraphQLSchema, document: Any, operation_name: str | None,
                   variables: Mapping[str, Any] | None) -> int:  # fmt: skip
    operations = [node for node in document.definitions if isinstance(node, OperationDefinitionNode)]
    named = [op for op in operations if operation_name is None or (op.name and op.name.value == operation_name)]
    if not named:
        return 0  # graphql-core says which operation is missing
    operation = named[0]
    fragments = {node.name.value: node for node in document.definitions if isinstance(node, FragmentDefinitionNode)}
    root = schema.get_root_type(operation.operation)
    return _Estimate(schema, fragments, variables or {}).cost(operation.selection_set, root)


class QueryCostLimiter(SchemaExtension):
    """Refuses, before any resolver runs, an operation estimated above `max_cost`."""

    def __init__(self, max_cost: int) -> None:
        self.max_cost = max_cost

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        cost = estimated_cost(context.schema._schema, context.graphql_document, context.operation_name, context.variables)
        if cost > self.max_cost:
            # A result set before execution is what strawberry answers instead.
            context.result = GraphQLExecutionResult(data=None, errors=[GraphQLError(
                f"query too costly: it asks for about {cost:,} fields, more than the limit of {self.max_cost:,};"
                " ask for smaller pages (first) or fewer nested lists"
            )])  # fmt: skip
        yield
