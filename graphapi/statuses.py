"""Conversion statuses as partners write them, and the changes a status may make."""

from __future__ import annotations

from graphapi.models import ConversionStatus

APPROVED, PENDING, REJECTED = ConversionStatus.APPROVED, ConversionStatus.PENDING, ConversionStatus.REJECTED

# Networks' words for the three statuses (compared lower-case, with spaces and
# hyphens read as underscores). "lead" is a pending lead (Keitaro, Binom), not a sale.
SYNONYMS: dict[str, ConversionStatus] = {
    **dict.fromkeys(
        ("approved", "approve", "accepted", "confirmed", "sale", "paid", "success",
         "completed", "complete", "valid", "1"),
        APPROVED,
    ),
    **dict.fromkeys(
        ("pending", "hold", "on_hold", "lead", "waiting", "processing", "in_progress",
         "new", "0"),
        PENDING,
    ),
    **dict.fromkeys(
        ("rejected", "reject", "declined", "decline", "denied", "cancelled", "canceled",
         "cancel", "chargeback", "refund", "refunded", "reversed", "reversal", "fraud",
         "trash", "-1"),
        REJECTED,
    ),
}  # fmt: skip

# What a later postback may do to a recorded conversion. A pending conversion is
# decided either way; an approved one can be charged back; a rejected one can
# be approved after a dispute. Nothing goes back to pending: a late "pending"
# arriving after the decision is out of date and changes nothing.
TRANSITIONS: dict[ConversionStatus, frozenset[ConversionStatus]] = {
    PENDING: frozenset((APPROVED, REJECTED)),
    APPROVED: frozenset((REJECTED,)),
    REJECTED: frozenset((APPROVED,)),
}


def parse_status(raw: str) -> ConversionStatus | None:
    """The status a partner's word means, or None when it is not one we know."""
    word = raw.strip().lower()
    if not word.lstrip("-").isdigit():
        word = word.replace(" ", "_").replace("-", "_")
    return SYNONYMS.get(word)


def may_change(current: ConversionStatus, new: ConversionStatus) -> bool:
    return new in TRANSITIONS[current]
