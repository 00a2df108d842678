"""Who is told about what: the lifecycle mails of a license, one function per event.

| event                                   | to                                                   |
| request approved / refused              | the requester                                        |
| license expired / cancelled             | `People.follows_expiry`: both partner contacts and   |
|                                         | the channel manager (a trial: its architect and the  |
|                                         | partner's technical contact)                         |
| extension granted / refused             | the extension's requester; a grant, both contacts too|
| active again (renewed on-premises,      | the technical contact, on-premises only (a new       |
| reactivated, extended)                  | license file is ready on the portal)                 |

Each function takes plain values, the license's `People` (`selectors.people_of`, read for a
whole nightly batch in a few queries) and what the event says, and returns its `Mail`; its
`rows()` are the Notification rows to write, one per recipient, as plain values. A service
writes them with `notifications.queue_many` in the transaction of the change and delivers
them once it commits; the nightly run writes a batch's with `ctx.queue_mail`.

The key names the event: `<kind>:<license>:<what makes it one (its date, the extension's
id)>:<recipient lower-cased>`, so the same kind of event on another day is another mail,
and a replay of one event (a night run twice, a call refused the second time) is not. What
a mail says is in its params (dates as ISO strings, reasons): it tells the event as it
was, even when the license has moved on by the time the mail goes out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta

from partners import bulk_sql

from .choices import Hosting, NotificationKind
from .models import Notification
from .selectors import People, unique

# Notification.key's length: an address too long to fit is named by its digest instead.
KEY_LENGTH = Notification._meta.get_field("key").max_length


@dataclass(frozen=True)
class Mail:
    """One event's mail: its kind (also its template, templates/mail/<kind>.*), what
    makes the event one, its recipients and what it says."""

    kind: str
    people: People
    event: str
    recipients: list[str]
    params: dict = field(default_factory=dict)

    @property
    def template(self) -> str:
        return str(self.kind)

    def rows(self) -> list[bulk_sql.Values]:
        """Its Notification rows, one per recipient, as plain values for `queue_many`."""
        return [
            bulk_sql.Values(
                kind=self.kind,
                license_id=self.people.license_id,
                partner_id=self.people.partner_id,
                region_id=self.people.region_id,
                recipient=recipient,
                template=self.template,
                params=self.params,
                key=key(self.kind, self.people.license_id, self.event, recipient),
            )
            for recipient in self.recipients
        ]


def key(kind: str, license_id: int, event: str, recipient: str) -> str:
    """`<kind>:<license>:<event>:<recipient lower-cased>`; an address that would make it
    longer than the column is replaced by its digest (still one key per recipient)."""
    found = f"{kind}:{license_id}:{event}:{recipient.lower()}"
    if len(found) <= KEY_LENGTH:
        return found
    digest = hashlib.sha256(recipient.lower().encode()).hexdigest()
    return f"{kind}:{license_id}:{event}:sha256-{digest}"


def iso(day: date | None) -> str:
    return day.isoformat() if day else ""


# --- The request -------------------------------------------------------------------------


def request_approved(people: People, *, decided_on: date, provisioning_due_on: date | None) -> Mail:
    """The requester: the license is approved and provisioned by the deadline."""
    return Mail(
        NotificationKind.REQUEST_APPROVED,
        people,
        iso(decided_on),
        unique([people.requester]),
        {"decided_on": iso(decided_on), "provisioning_due_on": iso(provisioning_due_on)},
    )


def request_refused(people: People, *, decided_on: date, reason: str) -> Mail:
    """The requester, with the licensing team's reason."""
    return Mail(
        NotificationKind.REQUEST_REFUSED,
        people,
        iso(decided_on),
        unique([people.requester]),
        {"decided_on": iso(decided_on), "reason": reason},
    )


# --- Expired, cancelled ------------------------------------------------------------------


def expired(people: People, *, expired_on: date, reason: str) -> Mail:
    """No publishing from `expired_on`; cancelled (applications offline) at the end of the
    policy's grace period unless it is active again before."""
    cancels_on = expired_on + timedelta(days=people.grace_days)
    return Mail(
        NotificationKind.EXPIRED,
        people,
        iso(expired_on),
        people.follows_expiry,
        {"expired_on": iso(expired_on), "cancels_on": iso(cancels_on), "reason": reason},
    )


def cancelled(people: People, *, cancelled_on: date, reason: str) -> Mail:
    """Cancelled, by the licensing team or at the end of the grace period, and why."""
    return Mail(
        NotificationKind.CANCELLED,
        people,
        iso(cancelled_on),
        people.follows_expiry,
        {"cancelled_on": iso(cancelled_on), "reason": reason},
    )


# --- Extensions --------------------------------------------------------------------------


def extension_granted(
    people: People, *, extension_id: int, requester: str, until: date, reason: str
) -> Mail:
    """Whoever asked for the extension and both partner contacts: the new end date."""
    return Mail(
        NotificationKind.EXTENSION_GRANTED,
        people,
        str(extension_id),
        unique([requester, *people.contacts]),
        {"extension_id": extension_id, "ends_on": iso(until), "reason": reason},
    )


def extension_refused(
    people: People, *, extension_id: int, requester: str, requested_until: date, reason: str
) -> Mail:
    """Whoever asked for the extension, with the licensing team's reason."""
    return Mail(
        NotificationKind.EXTENSION_REFUSED,
        people,
        str(extension_id),
        unique([requester]),
        {
            "extension_id": extension_id,
            "requested_until": iso(requested_until),
            "reason": reason,
        },
    )


def request_closed(people: People, ext) -> Mail | None:
    """A waiting extension request ended with its cancelled license (`ext`, refused with
    the reason "license cancelled"; None: there was none): whoever asked is told, as of
    any refusal."""
    if ext is None:
        return None
    return extension_refused(
        people,
        extension_id=ext.pk,
        requester=ext.requested_by.email,
        requested_until=ext.requested_until,
        reason=ext.refusal_reason,
    )


# --- Active again ------------------------------------------------------------------------

RENEWED = "renewed"
REACTIVATED = "reactivated"
EXTENDED = "extended"


def active_again(people: People, *, ends_on: date, why: str) -> Mail:
    """Renewed, reactivated or extended to `ends_on`: an on-premises license needs a new
    license file, and its technical contact gets it from the portal. A cloud license has
    no file to install: nobody."""
    on_premises = people.hosting == Hosting.ON_PREMISES
    return Mail(
        NotificationKind.ACTIVE_AGAIN,
        people,
        iso(ends_on),
        unique([people.technical]) if on_premises else [],
        {"ends_on": iso(ends_on), "why": why},
    )


# Why a license file changed without the license being active again: the active-again
# mail with its own event, so each change is one mail and a replay of it none.
SLOT_REGISTERED = "slot_registered"
SLOT_RELEASED = "slot_released"
UPGRADED = "upgraded"


def file_ready(people: People, *, event: str, ends_on: date | None, why: str, **said) -> Mail:
    """A slot registered or released, a platform upgrade recorded: what the license file
    says changed, and the technical contact of an on-premises license gets the new file
    from the portal. `event` names the change (the environment's history row, the release)."""
    on_premises = people.hosting == Hosting.ON_PREMISES
    return Mail(
        NotificationKind.ACTIVE_AGAIN,
        people,
        f"{why}-{event}",
        unique([people.technical]) if on_premises else [],
        {"ends_on": iso(ends_on), "why": why, **said},
    )


def code_reissued(people: People, *, sequence: int) -> Mail:
    """The technical contact: the license's new activation code. The code is not in the
    params (they show in the admin): the mail reads it from the license when it is sent."""
    return Mail(
        NotificationKind.CODE_REISSUED,
        people,
        str(sequence),
        unique([people.technical]),
        {"sequence": sequence},
    )


def rows(*mails: Mail) -> list[bulk_sql.Values]:
    """The rows of several mails, for one `queue_many`."""
    return [row for mail in mails for row in mail.rows()]


# --- Compliance ----------------------------------------------------------------------------


def incident_opened(
    people: People,
    *,
    incident_id: int,
    kind: str,
    opened_on: date,
    notes: str,
    team_mailbox: str,
) -> Mail:
    """A compliance incident the desk opened (the nightly usage check): the partner's
    channel manager and the licensing team's mailbox. The partner is out of good standing
    until the licensing team resolves it."""
    return Mail(
        NotificationKind.INCIDENT_OPENED,
        people,
        str(incident_id),
        unique([people.channel_manager, team_mailbox]),
        {"incident_id": incident_id, "kind": kind, "opened_on": iso(opened_on), "notes": notes},
    )
