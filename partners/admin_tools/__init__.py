"""The admin kit every app builds on: audited and scoped model admins (`audited`), state
transitions as data (`transitions`), badges and filters (`widgets`)."""

from .audited import (
    SECRET_FIELDS,
    AuditedAdmin,
    ReadOnlyMixin,
    RegionScopedAdmin,
    ScopedChoicesMixin,
    info_name,
    spreadsheet_cell,
    spreadsheet_safe,
)
from .transitions import ReasonForm, Transition, TransitionForm, TransitionsMixin, form_errors
from .widgets import YesNoFilter, badge

__all__ = [
    "SECRET_FIELDS",
    "AuditedAdmin",
    "ReadOnlyMixin",
    "ReasonForm",
    "RegionScopedAdmin",
    "ScopedChoicesMixin",
    "Transition",
    "TransitionForm",
    "TransitionsMixin",
    "YesNoFilter",
    "badge",
    "form_errors",
    "info_name",
    "spreadsheet_cell",
    "spreadsheet_safe",
]
