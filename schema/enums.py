"""GraphQL enums: UPPER_CASE names over the models' lower-case values."""

from __future__ import annotations

import strawberry

from graphapi import models
from graphapi.report import Dimension

CampaignStatus = strawberry.enum(models.CampaignStatus, name="CampaignStatus")
CostModel = strawberry.enum(models.CostModel, name="CostModel")
ConversionStatus = strawberry.enum(models.ConversionStatus, name="ConversionStatus")
DeviceType = strawberry.enum(models.DeviceType, name="DeviceType")
PostbackOutcome = strawberry.enum(models.PostbackOutcome, name="PostbackOutcome")
RuleEventOutcome = strawberry.enum(models.RuleEventOutcome, name="RuleEventOutcome")
ReportDimension = strawberry.enum(Dimension, name="ReportDimension")
