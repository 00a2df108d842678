"""The licensing portal: partner-facing pages outside the admin.

A customer enters the activation code from the onboarding mail and the identifier of the
on-premises infrastructure; the infrastructure is registered on that license and the
signed license file can be downloaded in the same browser session. A returning partner
enters the code with the identifier it registered and reaches the infrastructure's page:
the current license file, what changed since the last one, and the environment slots.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods

from partners import hygiene
from partners.throttle import Window, client_ip

from . import services
from .choices import AttemptOutcome, FileVia, Hosting, LicenseState
from .forms import EnvironmentSerialForm, PortalRegistrationForm, ReturningPartnerForm
from .models import License, PlatformRelease, RegistrationAttempt

logger = logging.getLogger(__name__)

SESSION_KEY = "portal_license_id"
# The code's sequence when the session was opened: a reissued code ends the session.
SEQUENCE_KEY = "portal_code_sequence"
THROTTLED = "Too many attempts from your network. Wait a few minutes and try again."

# Wrong activation codes per client address (behind the TLS proxy: the address it
# forwards, see client_ip), so codes cannot be found by trying many. A code is counted
# before it is tried and the count taken back when it was not a wrong one: concurrent tries
# from one client pass the limit at most `limit` times in all.
FAILURES = Window("portal:failures", "PORTAL_MAX_FAILURES", "PORTAL_FAILURE_WINDOW_SECONDS")


def _log(request, outcome: str, *, lic: License | None = None, registration_id="", detail=""):
    RegistrationAttempt.objects.create(
        client_ip=client_ip(request),
        outcome=outcome,
        license=lic,
        registration_id=registration_id[:64],
        detail=detail[:300],
    )
    # Never the activation code: only the outcome and where it came from.
    logger.info("portal %s from %s", outcome, client_ip(request))


def _add_errors(form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, messages in error.message_dict.items():
            form.add_error(field if field in form.fields else None, messages)
    else:
        form.add_error(None, error)


def _throttled(request, form):
    _log(request, AttemptOutcome.THROTTLED)
    form.add_error(None, THROTTLED)
    return render(request, "portal/register.html", {"form": form}, status=429)


@sensitive_variables("data")
@sensitive_post_parameters("activation_code")
@require_http_methods(["GET", "POST"])
def register(request):
    ip = client_ip(request)
    form = PortalRegistrationForm(request.POST or None)
    status = 200
    if request.method == "POST":
        # A throttled client is refused whatever it sends, a good code too: otherwise the
        # guessing would go on, with only the successes answered. Its window is its own
        # (per client address), so nobody else is locked out with it.
        if FAILURES.reached(ip):
            return _throttled(request, form)
        if form.is_valid():
            data = form.cleaned_data
            # Counted before the code is tried, and the count (this try included) decides.
            if not FAILURES.admit(ip):
                return _throttled(request, form)
            try:
                lic = services.register_infrastructure(
                    activation_code=data["activation_code"],
                    registration_id=data["registration_id"],
                    platform_version=data["platform_version"],
                )
            except services.InvalidActivationCode as error:
                _log(request, AttemptOutcome.REFUSED_CODE, registration_id=data["registration_id"])
                form.add_error(None, error)
                status = 400
            except ValidationError as error:
                FAILURES.release(ip)  # a good code: only wrong codes count
                _log(
                    request,
                    AttemptOutcome.REFUSED_INPUT,
                    registration_id=data["registration_id"],
                    detail="; ".join(error.messages),
                )
                _add_errors(form, error)
                status = 400
            else:
                FAILURES.release(ip)
                _log(
                    request,
                    AttemptOutcome.REGISTERED,
                    lic=lic,
                    registration_id=data["registration_id"],
                )
                _open_session(request, lic)
                return redirect("portal:registered")
        else:
            sent = request.POST.get("registration_id", "")
            _log(
                request,
                AttemptOutcome.REFUSED_INPUT,
                # As sent, unless the form refused it for a NUL that PostgreSQL would refuse.
                registration_id="" if hygiene.text_problem(sent) else sent,
                detail="; ".join(
                    f"{field}: {' '.join(errors)}"
                    for field, errors in form.errors.items()
                    if field != "activation_code"
                ),
            )
            status = 400
    return render(request, "portal/register.html", {"form": form}, status=status)


def _open_session(request, lic: License) -> None:
    request.session.cycle_key()
    request.session[SESSION_KEY] = lic.pk
    request.session[SEQUENCE_KEY] = lic.activation_code_sequence


def _session_license(request) -> License | None:
    """The session's license, checked again on every request: still active on-premises,
    and its code not reissued since the session was opened."""
    pk = request.session.get(SESSION_KEY)
    if not pk:
        return None
    return (
        License.objects.select_related("policy", "partner", "infrastructure__platform_release")
        .filter(
            pk=pk,
            state=LicenseState.ACTIVE,
            hosting=Hosting.ON_PREMISES,
            activation_code_sequence=request.session.get(SEQUENCE_KEY),
        )
        .first()
    )


@require_http_methods(["GET"])
def registered(request):
    lic = _session_license(request)
    if lic is None:
        return redirect("portal:register")
    latest = PlatformRelease.latest_stable()
    release = lic.infrastructure.platform_release
    return render(
        request,
        "portal/registered.html",
        {
            "license": lic,
            "infrastructure": lic.infrastructure,
            "latest": latest,
            "outdated": bool(latest and release and release.pk != latest.pk),
        },
    )


@require_http_methods(["GET"])
def download(request):
    lic = _session_license(request)
    if lic is None:
        return redirect("portal:register")
    try:
        data = services.issue_license_file(lic, via=FileVia.PORTAL)
    except ValidationError as error:
        return render(
            request, "portal/register.html", {"form": PortalRegistrationForm(), "error": error}, 409
        )
    _log(
        request,
        AttemptOutcome.DOWNLOADED,
        lic=lic,
        registration_id=lic.infrastructure.registration_id,
    )
    response = HttpResponse(data, content_type="application/json")
    response["Content-Disposition"] = (
        f'attachment; filename="license-{lic.policy.kind}-{lic.pk}.json"'
    )
    return response


# --- Returning partners ----------------------------------------------------------------------


def _returning_throttled(request, form):
    _log(request, AttemptOutcome.THROTTLED)
    form.add_error(None, THROTTLED)
    return render(request, "portal/returning.html", {"form": form}, status=429)


@sensitive_variables("data")
@sensitive_post_parameters("activation_code")
@require_http_methods(["GET", "POST"])
def returning(request):
    """The code and the identifier it registered open the infrastructure's page; a wrong
    pair is a wrong code: the same error, counted by the same throttle."""
    ip = client_ip(request)
    form = ReturningPartnerForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if FAILURES.reached(ip):
            return _returning_throttled(request, form)
        if form.is_valid():
            data = form.cleaned_data
            if not FAILURES.admit(ip):
                return _returning_throttled(request, form)
            try:
                lic = services.portal_license(
                    activation_code=data["activation_code"],
                    registration_id=data["registration_id"],
                )
            except services.InvalidActivationCode as error:
                _log(request, AttemptOutcome.REFUSED_CODE, registration_id=data["registration_id"])
                form.add_error(None, error)
                status = 400
            else:
                FAILURES.release(ip)
                _open_session(request, lic)
                return redirect("portal:infrastructure")
        else:
            sent = request.POST.get("registration_id", "")
            _log(
                request,
                AttemptOutcome.REFUSED_INPUT,
                registration_id="" if hygiene.text_problem(sent) else sent,
                detail="returning partner: incomplete form",
            )
            status = 400
    return render(request, "portal/returning.html", {"form": form}, status=status)


def _infrastructure_page(request, lic: License, *, forms=None, status=200):
    infra = lic.infrastructure
    slots = [name for name in lic.environment_names.split(",") if name]
    environments = {e.name: e for e in infra.environments.all()}
    forms = forms or {}
    latest = PlatformRelease.latest_stable()
    release = infra.platform_release
    context = {
        "license": lic,
        "infrastructure": infra,
        "changes": services.file_changes(lic),
        "slots": [
            {
                "name": name,
                "environment": environments.get(name),
                "form": forms.get(name)
                or EnvironmentSerialForm(initial={"environment_name": name}),
            }
            for name in slots
        ],
        "latest": latest,
        "outdated": bool(latest and release and release.pk != latest.pk),
        # A form for no slot of this license (an unknown name): its errors head the page.
        "errors": [
            message
            for name, form in forms.items()
            if name not in slots
            for errors in form.errors.values()
            for message in errors
        ],
    }
    return render(request, "portal/infrastructure.html", context, status=status)


@require_http_methods(["GET"])
def infrastructure(request):
    lic = _session_license(request)
    if lic is None:
        return redirect("portal:returning")
    return _infrastructure_page(request, lic)


@require_http_methods(["POST"])
def register_server(request):
    """Register a platform server's serial in one environment slot."""
    lic = _session_license(request)
    if lic is None:
        return redirect("portal:returning")
    form = EnvironmentSerialForm(request.POST)
    name = request.POST.get("environment_name", "")
    if form.is_valid():
        try:
            environment = services.register_slot(
                lic,
                environment_name=form.cleaned_data["environment_name"],
                serial_number=form.cleaned_data["serial_number"],
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            logger.info("portal: server registered in environment %s", environment.pk)
            return redirect("portal:infrastructure")
    _log(
        request,
        AttemptOutcome.REFUSED_INPUT,
        lic=lic,
        registration_id=lic.infrastructure.registration_id,
        detail="environment slot: "
        + "; ".join(" ".join(errors) for errors in form.errors.values()),
    )
    return _infrastructure_page(request, lic, forms={name: form}, status=400)
