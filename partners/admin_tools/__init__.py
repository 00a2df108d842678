"""The admin kit every app builds on: audited and scoped model admins (`audited`), state
transitions as data (`transitions`), badges and filters (`widgets`)."""

from .audited import (
    SECRET_FIELDS,
    AuditedAdmin,
    NeverDeletedMixin,
    ReadOnlyMixin,
    RegionScopedAdmin,
    ScopedChoicesMixin,
    info_name,
    spreadsheet_cell,
    spreadsheet_safe,
)
from .transitions import (
    ReasonForm,
    Transition,
    TransitionForm,
    TransitionsMixin,
    count_of,
    form_errors,
    said,
)
from .widgets import YesNoFilter, badge

__all__ = [
    "SECRET_FIELDS",
    "AuditedAdmin",
    "NeverDeletedMixin",
    "ReadOnlyMixin",
    "ReasonForm",
    "RegionScopedAdmin",
    "ScopedChoicesMixin",
    "Transition",
    "TransitionForm",
    "TransitionsMixin",
    "YesNoFilter",
    "badge",
    "count_of",
    "form_errors",
    "info_name",
    "said",
    "spreadsheet_cell",
    "spreadsheet_safe",
]
