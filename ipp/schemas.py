"""The API's bodies as schemas: what the OpenAPI document publishes and what a request body is
validated against once it has passed the hygiene checks (partners.hygiene).

The schemas check shapes and types only (a string, a whole number, a date); the rules
(figures not negative, a day within the last 30, ISO country codes adding up) live in the
services (`licensing.services.record_usage`), which name the field they refuse.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from ninja import Schema
from pydantic import ConfigDict, Field, StrictInt, StrictStr, ValidationError, field_validator

# The longest application key or registration id the log's columns hold.
MAX_FIELD_LENGTH = 64

Identifier = Annotated[StrictStr, Field(min_length=1, max_length=MAX_FIELD_LENGTH)]
Count = Annotated[StrictInt, Field(ge=0, description="A whole number, 0 or more.")]


class DeploymentQuestion(Schema):
    """May this application be deployed to this infrastructure? Other fields are ignored."""

    application: Identifier = Field(description="The application's key (a UUID).")
    target: Identifier = Field(
        description="The registration id of the infrastructure deployed to: the token's own."
    )

    @field_validator("application", "target")
    @classmethod
    def not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class Decision(Schema):
    allowed: bool
    reason: str = Field(description="Why, in words a person can act on.")


class Error(Schema):
    """A refusal of the whole request: its body, its token, its method or its rate."""

    error: str


class FieldErrors(Schema):
    """A refusal of some fields of the body: the messages of each field refused."""

    errors: dict[str, list[str]] = Field(
        description='By field name, e.g. {"disk_gb": ["A number of GB from 0 ..."]}.'
    )


class UsageIn(Schema):
    """One day's use of the infrastructure the token belongs to (the body names none).

    A second report for the same day replaces the first. Any other field is refused, the
    infrastructure's name or id included: the token decides which infrastructure reports.
    """

    model_config = ConfigDict(extra="forbid")

    reported_on: date = Field(
        description="The day reported (YYYY-MM-DD, UTC): today or up to 30 days before."
    )
    application_objects: Count
    disk_gb: Decimal = Field(
        description="Disk used, in GB, 0 or more, at most 2 decimals.", examples=[6.25]
    )
    internal_users: Count
    external_users: Count
    internal_users_by_country: dict[str, StrictInt] | None = Field(
        default=None,
        description=(
            "Internal users by ISO 3166 alpha-2 country code; the counts add up to at most "
            "internal_users."
        ),
        examples=[{"PT": 30, "ES": 10}],
    )

    @field_validator("reported_on", mode="before")
    @classmethod
    def iso_day(cls, value: Any) -> Any:
        # Lax dates would take a number as a Unix time: only a YYYY-MM-DD string is a day.
        if not isinstance(value, str):
            raise ValueError("A date (YYYY-MM-DD) is expected.")
        return value

    @field_validator("disk_gb", mode="before")
    @classmethod
    def disk_number(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("A number of GB is expected.")
        return value


class UsageOut(Schema):
    """The report as stored."""

    id: int
    infrastructure: str = Field(description="The registration id of the token's infrastructure.")
    reported_on: date
    application_objects: int
    disk_gb: Decimal
    internal_users: int
    external_users: int
    internal_users_by_country: dict[str, int]
    received_at: datetime


NAMES_INFRASTRUCTURE = "The token decides the infrastructure: leave it out of the body."
UNKNOWN_FIELD = "Unknown field."
INFRASTRUCTURE_FIELDS = {"infrastructure", "infrastructure_id", "registration_id", "target"}


def field_errors(error: ValidationError) -> dict[str, list[str]]:
    """A pydantic error as `{field: [messages]}`, the field being the body's top-level name
    (the whole body: "body")."""
    found: dict[str, list[str]] = {}
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "body"
        if problem["type"] == "extra_forbidden":
            message = NAMES_INFRASTRUCTURE if name in INFRASTRUCTURE_FIELDS else UNKNOWN_FIELD
        elif problem["type"] == "missing":
            message = "This field is required."
        else:
            message = problem["msg"].removeprefix("Value error, ")
            if len(problem["loc"]) > 1:
                message = f"{str(problem['loc'][1])[:16]}: {message}"
        found.setdefault(name[:64], []).append(message)
    return found
