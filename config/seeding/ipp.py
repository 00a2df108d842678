"""Scale IPP data: applications on some registered infrastructures, a few deployment
permissions towards live trials, and a log of deployment checks."""

from __future__ import annotations

from datetime import timedelta

from ipp.models import Application, DeploymentCheck, DeploymentPermission
from partners.models import Contact

from .context import BATCH, PREFIX, Seeding, stamp
from .licenses import Provisioned


def seed_ipp(run: Seeding, made: list[Provisioned]) -> None:
    registered = [row for row in made if row.registration_id]
    trials = [row for row in made if row.registration_id and row.live_trial]
    apps = seed_applications(run, registered)
    seed_permissions(run, apps, registered, trials)
    seed_checks(run, apps, registered)


def seed_applications(run: Seeding, registered: list[Provisioned]) -> list[Application]:
    """One to three applications on a tenth of the registered infrastructures."""
    apps = []
    for row in registered:
        if run.rng.random() < 0.1:
            apps += [
                Application(name=f"Scale App {k}", developed_in_id=row.infrastructure_id)
                for k in range(1, run.rng.randint(1, 3) + 1)
            ]
    return run.insert(Application, apps, "IPP applications")


def seed_permissions(
    run: Seeding, apps: list[Application], registered: list[Provisioned], trials: list
) -> None:
    """A fifth of the applications asked to deploy to a live trial's infrastructure, in
    every state, consent recorded by the channel manager (most of the time)."""
    rng, t = run.rng, run.t
    contacts = dict(
        Contact.objects.filter(
            role="technical", partner__name__startswith=f"{PREFIX} "
        ).values_list("partner_id", "pk")
    )
    owner = {row.infrastructure_id: row.partner for row in registered}
    permissions, links = [], []
    for app in apps:
        if not trials or rng.random() > 0.2:
            continue
        target = rng.choice(trials).infrastructure_id
        if target == app.developed_in_id:
            continue
        partner = owner[app.developed_in_id]
        state = rng.choice(["requested", "granted", "granted", "refused", "revoked"])
        consented = state != "requested" or rng.random() < 0.5
        permission = DeploymentPermission(
            source_id=app.developed_in_id,
            target_id=target,
            requested_by=partner.region.manager,
            requested_on=t - timedelta(days=rng.randint(1, 90)),
            consent_by_id=contacts.get(partner.pk) if consented else None,
            consent_at=stamp(t - timedelta(days=1)) if consented else None,
            consent_recorded_by=partner.region.manager if consented else None,
            state=state,
            decided_by=run.user if state != "requested" else None,
            decided_at=stamp(t) if state != "requested" else None,
        )
        permissions.append(permission)
        links.append(app.pk)
    permissions = run.insert(DeploymentPermission, permissions, "deployment permissions")
    through = DeploymentPermission.applications.through
    through.objects.bulk_create(
        [
            through(deploymentpermission_id=p.pk, application_id=a)
            for p, a in zip(permissions, links, strict=True)
        ],
        batch_size=BATCH,
    )


def seed_checks(run: Seeding, apps: list[Application], registered: list[Provisioned]) -> None:
    """Up to three deployment checks per application: home always allowed, elsewhere
    sometimes."""
    rng = run.rng
    registration_ids = {row.infrastructure_id: row.registration_id for row in registered}
    checks = []
    for app in apps:
        for _ in range(rng.randint(0, 3)):
            target = rng.choice(registered).infrastructure_id
            allowed = target == app.developed_in_id or rng.random() < 0.3
            checks.append(
                DeploymentCheck(
                    application_id=app.pk,
                    application_key=str(app.key),
                    target_id=target,
                    target_registration_id=registration_ids[target],
                    allowed=allowed,
                    reason="scale data",
                    caller="api token (scale data)",
                    status_code=200,
                )
            )
    run.insert(DeploymentCheck, checks, "deployment checks")
