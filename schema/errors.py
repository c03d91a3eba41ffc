"""Which errors clients may read.

Unexpected exceptions are masked ("Unexpected error.") and logged in full by
strawberry; GraphQL's own errors (syntax, validation, limits) and `PublicError`
keep their message.
"""

from __future__ import annotations

from graphql import GraphQLError


class PublicError(ValueError):
    """A mistake in the request, explained to the client (bad cursor, page size, ...)."""


def should_mask(error: GraphQLError) -> bool:
    original = error.original_error
    # graphql-core wraps errors of input coercion in errors of its own.
    while isinstance(original, GraphQLError):
        original = original.original_error
    return original is not None and not isinstance(original, PublicError)
