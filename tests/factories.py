"""factory_boy factories: the smallest valid objects, with a partner in good standing by default."""

from datetime import date, timedelta

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from partners import models as pm

TODAY = date(2026, 11, 28)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@desk.example.com")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pw")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.set(Group.objects.filter(name__in=extracted))

    @classmethod
    def _after_postgeneration(cls, instance, create, results=None):
        # The password is set by a post-generation hook: save it (factory_boy no longer does).
        if create:
            instance.save()


class RegionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.Region
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"region-{n}")
    name = factory.LazyAttribute(lambda r: r.code.replace("-", " ").title())


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.Partner

    name = factory.Sequence(lambda n: f"Partner {n}")
    country = "PT"
    region = factory.SubFactory(RegionFactory)
    sales_authorized_on = TODAY - timedelta(days=100)


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.Contact

    partner = factory.SubFactory(PartnerFactory)
    role = "technical"
    name = factory.Sequence(lambda n: f"Contact {n}")
    email = factory.Sequence(lambda n: f"contact{n}@partner.example.com")


class TermFactory(factory.django.DjangoModelFactory):
    """A signed term with a confirmed fee covering TODAY."""

    class Meta:
        model = pm.PartnershipTerm

    partner = factory.SubFactory(PartnerFactory)
    starts_on = TODAY - timedelta(days=100)
    ends_on = factory.LazyAttribute(lambda t: t.starts_on + timedelta(days=364))
    signed_on = factory.LazyAttribute(lambda t: t.starts_on - timedelta(days=5))
    fee_amount = 5000
    fee_confirmed_on = factory.LazyAttribute(lambda t: t.starts_on)


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.ComplianceIncident

    partner = factory.SubFactory(PartnerFactory)
    kind = "resale"
    opened_on = TODAY - timedelta(days=10)


class OpportunityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = pm.Opportunity

    partner = factory.SubFactory(PartnerFactory)
    prospect_name = factory.Sequence(lambda n: f"Prospect {n}")
    prospect_country = "PT"
    registered_on = TODAY - timedelta(days=30)
    status = "approved"


class ReleaseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "licensing.PlatformRelease"
        django_get_or_create = ("version",)

    version = "11.30.0"
    released_on = TODAY - timedelta(days=60)
    is_stable = True


def partner_ready_for_licenses(**kwargs):
    """A partner in good standing with both contacts and a renewed contract (IL-eligible)."""
    partner = PartnerFactory(**kwargs)
    current = TermFactory(partner=partner)
    TermFactory(
        partner=partner,
        starts_on=current.starts_on - timedelta(days=365),
        ends_on=current.starts_on - timedelta(days=1),
    )
    ContactFactory(partner=partner, role="financial", email=f"cfo{partner.pk}@partner.example.com")
    ContactFactory(partner=partner, role="technical", email=f"cto{partner.pk}@partner.example.com")
    return partner


def make_license(partner, kind="DL", state="active", *, by, ends_on=None, due=None, **extra):
    """A license row in any state, without the services' rules: data to count and list."""
    from licensing.models import License, LicensePolicy

    policy = LicensePolicy.objects.get(kind=kind)
    return License.objects.create(
        policy=policy,
        partner=partner,
        licensee_name=partner.name,
        hosting=policy.default_hosting,
        state=state,
        requested_by=by,
        requested_on=TODAY - timedelta(days=20),
        provisioning_due_on=due,
        starts_on=TODAY - timedelta(days=30) if ends_on else None,
        ends_on=ends_on,
        **extra,
    )


LICENSE_STATES = ("requested", "approved", "active")


def provision_license(
    partner,
    *,
    requested_by,
    licensing_user,
    kind="DL",
    hosting=None,
    opportunity=None,
    on=TODAY,
    state="active",
):
    """A license as the product makes it: asked for by `requested_by`, then approved and
    provisioned by `licensing_user`, all through `licensing.services` on `on` (None: the
    services' today). Every rule the services check applies, so a cloud license needs a
    stable release (the `release` fixture). `state="requested"` or `"approved"` stops there.
    Returns the instance the last service returned."""
    from licensing import services

    if state not in LICENSE_STATES:
        raise ValueError(f"state must be one of {LICENSE_STATES}, not {state!r}")
    lic = services.request_license(
        partner=partner,
        kind=kind,
        hosting=hosting,
        opportunity=opportunity,
        by=requested_by,
        on=on,
    )
    if state == "requested":
        return lic
    lic = services.approve(lic, by=licensing_user, on=on)
    if state == "approved":
        return lic
    return services.provision(lic, by=licensing_user, on=on)
