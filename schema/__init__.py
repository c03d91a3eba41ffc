"""The GraphQL schema (the contract's `schema.graphql`), one module per area.

The SDL is exported to schema/schema.graphql by `graphapi export-schema`; a test
fails when the file and the code drift apart.
"""

from __future__ import annotations

from pathlib import Path

import strawberry
from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import MaskErrors, MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.tools import merge_types
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from schema.campaign import CampaignQuery
from schema.click import ClickQuery
from schema.conversion import ConversionQuery
from schema.cost import QueryCostLimiter
from schema.errors import should_mask
from schema.execution import ExecutionContext, mark_plain_fields
from schema.mutations.campaigns import CampaignMutation
from schema.mutations.conversions import ConversionMutation
from schema.mutations.rules import RuleMutation
from schema.postback import PostbackQuery
from schema.report import ReportQuery
from schema.rule import RuleQuery
from schema.scalars import SCALARS
from schema.subscription import Subscription

# Limits on what one request may ask; rejected while validating, before any resolver runs.
MAX_DEPTH = 12
MAX_ALIASES = 50
MAX_TOKENS = 5_000
# Fields a query may ask for, as schema.cost estimates them: a page of 500
# campaigns with their figures is about 13,000, a 500-click page with every
# field about 20,000.
MAX_COST = 50_000
SDL_PATH = Path(__file__).with_name("schema.graphql")
SUBSCRIPTIONS_OVER_WEBSOCKET = "subscriptions are served over WebSocket (graphql-transport-ws) on /graphql, not over HTTP"

Query = merge_types(
    "Query", (CampaignQuery, ClickQuery, ConversionQuery, ReportQuery, PostbackQuery, RuleQuery)
)
Mutation = merge_types("Mutation", (CampaignMutation, RuleMutation, ConversionMutation))


class Schema(strawberry.Schema):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, execution_context_class=ExecutionContext, **kwargs)
        mark_plain_fields(self._schema)

    async def execute(self, *args, allowed_operation_types=None, **kwargs) -> ExecutionResult:
        # HTTP's one answer per request: a subscription would answer with its
        # event stream unread ("Unexpected error."). WebSockets run every
        # operation through stream(), not here.
        allowed = set(allowed_operation_types or DEFAULT_ALLOWED_OPERATION_TYPES) - {OperationType.SUBSCRIPTION}
        try:
            return await super().execute(*args, allowed_operation_types=allowed, **kwargs)
        except InvalidOperationTypeError as error:
            if error.operation_type is not OperationType.SUBSCRIPTION:
                raise
            return ExecutionResult(data=None, errors=[GraphQLError(SUBSCRIPTIONS_OVER_WEBSOCKET)])

    def process_errors(self, errors, execution_context=None) -> None:
        # Logged in full: the unexpected ones. Mistakes in requests are the client's to read.
        super().process_errors([e for e in errors if should_mask(e)], execution_context)


class OperationNameRequired(SchemaExtension):
    """A document of several operations runs the one the request names: strawberry
    would run the first, where the GraphQL spec asks for an error."""

    def on_validate(self):
        context = self.execution_context
        operations = sum(isinstance(node, OperationDefinitionNode) for node in context.graphql_document.definitions)
        # strawberry keeps the request's operationName only in a private field.
        if operations > 1 and context._provided_operation_name is None:
            context.pre_execution_errors = [GraphQLError("an operationName is required: the document has several operations")]
        yield


schema = Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    config=StrawberryConfig(scalar_map=SCALARS),
    extensions=[
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        OperationNameRequired,
        lambda: QueryCostLimiter(max_cost=MAX_COST),
        lambda: MaskErrors(should_mask_error=should_mask),
    ],
)


def sdl() -> str:
    return schema.as_str() + "\n"


def export(path: Path = SDL_PATH) -> Path:
    path.write_text(sdl())
    return path
