from __future__ import annotations

from django import forms

from .models import PlatformRelease


class PortalRegistrationForm(forms.Form):
    activation_code = forms.CharField(
        max_length=40,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "XXXX-XXXX-XXXX-XXXX"}),
    )
    registration_id = forms.CharField(
        label="Infrastructure identifier",
        max_length=64,
        strip=True,
        help_text="The identifier your platform installation shows in its configuration tool.",
    )
    # A CharField with a select: an unknown release is the service's to explain, and only
    # after a valid code (a ChoiceField would answer first, whatever the code).
    platform_version = forms.CharField(
        label="Platform release installed", max_length=30, widget=forms.Select
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        releases = PlatformRelease.objects.order_by("-released_on")
        latest = PlatformRelease.latest_stable()
        self.fields["platform_version"].widget.choices = [
            (r.version, f"{r}{' — latest stable' if latest and r.pk == latest.pk else ''}")
            for r in releases
        ]
        if latest:
            self.fields["platform_version"].initial = latest.version


class ReturningPartnerForm(forms.Form):
    """A returning partner: the activation code and the identifier it registered."""

    activation_code = forms.CharField(
        max_length=40,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "XXXX-XXXX-XXXX-XXXX"}),
    )
    registration_id = forms.CharField(
        label="Infrastructure identifier",
        max_length=64,
        strip=True,
        help_text="The identifier your infrastructure was registered with.",
    )


class EnvironmentSerialForm(forms.Form):
    """A platform server's serial for one environment slot (the service checks both)."""

    environment_name = forms.CharField(max_length=50, widget=forms.HiddenInput)
    serial_number = forms.CharField(
        label="Server serial number",
        max_length=64,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
