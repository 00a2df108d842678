"""The forms that ask for a license: each offers only what its user may ask for (the kinds
`services.kinds_requested_by` allows, an architect's own approved opportunities), and the
service's own checks put their errors on it."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from partners.choices import OpportunityStatus
from partners.models import Opportunity

from .. import services
from ..choices import Hosting, LicenseKind
from ..models import License


def trial_opportunities(user):
    """What an architect's trial is asked for: approved opportunities assigned to them."""
    return Opportunity.objects.filter(
        status=OpportunityStatus.APPROVED, solution_architect=user
    ).select_related("partner")


class LicenseRequestForm(forms.ModelForm):
    """Asking for a license: the service's own checks put their errors on this form."""

    kind = forms.ChoiceField(choices=LicenseKind.choices)
    hosting = forms.ChoiceField(
        choices=[("", "Policy default"), *Hosting.choices],
        required=False,
        help_text="Demo: shared cloud, or the one on-premises DL. Internal: on-premises. "
        "Trial: dedicated cloud or on-premises.",
    )

    class Meta:
        model = License
        fields = ["partner", "kind", "hosting", "opportunity"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        user = getattr(self, "user", None)
        kinds = services.kinds_requested_by(user) if user is not None else ()
        if kinds:
            self.fields["kind"].choices = [c for c in LicenseKind.choices if c[0] in kinds]
        if "partner" not in self.fields and "opportunity" in self.fields:
            # A solution architect's trial: the opportunity names the partner.
            self.fields["kind"].initial = LicenseKind.TL
            self.fields["opportunity"] = forms.ModelChoiceField(
                queryset=trial_opportunities(user),
                help_text="An approved opportunity assigned to you; the partner is its partner.",
            )

    def clean(self):
        data = super().clean()
        if "partner" not in self.fields and data.get("opportunity"):
            data["partner"] = data["opportunity"].partner
        if self.errors:
            return data
        try:
            services.validate_request(
                partner=data["partner"],
                kind=data["kind"],
                by=self.user,
                hosting=data.get("hosting") or None,
                opportunity=data.get("opportunity"),
            )
        except ValidationError as error:
            raise ValidationError(error.messages) from None
        return data
