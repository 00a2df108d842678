"""The desk's logs, read-only: the mail outbox, portal attempts, nightly runs."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from rangefilter.filters import DateRangeFilterBuilder, DateTimeRangeFilterBuilder

from partners.admin_tools import AuditedAdmin, ReadOnlyMixin, RegionScopedAdmin, badge, count_of
from partners.scoping import is_licensing_team

from .. import delivery, outbox
from ..choices import Delivery
from ..models import NightlyRun, Notification, RegistrationAttempt


class DeliveryFilter(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request, model_admin):
        return Delivery.choices

    def queryset(self, request, queryset):
        if self.value() == Delivery.PENDING:
            return queryset.filter(sent_at__isnull=True, failed_at__isnull=True)
        if self.value() == Delivery.SENT:
            return queryset.filter(sent_at__isnull=False)
        if self.value() == Delivery.FAILED:
            return queryset.filter(sent_at__isnull=True, failed_at__isnull=False)
        return queryset


@admin.register(Notification)
class NotificationAdmin(ReadOnlyMixin, RegionScopedAdmin):
    """The outbox: every mail, pending, sent or failed; failed ones can be sent again."""

    region_path = "partner__region"
    architect_path = "license__opportunity__solution_architect"
    # Where the mail is comes first: on a narrow screen the list still answers "sent?".
    list_display = [
        "delivery_badge",
        "kind",
        "recipient",
        "subject",
        "license",
        "partner",
        "created_at",
        "attempts",
    ]
    list_select_related = ["license__policy", "partner"]
    list_filter = [
        DeliveryFilter,
        "kind",
        ("created_at", DateTimeRangeFilterBuilder()),
    ]
    search_fields = ["recipient", "subject", "key", "partner__name"]
    actions = ["send_again"]
    show_full_result_count = False

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not is_licensing_team(request.user):
            actions.pop("send_again", None)
        return actions

    @admin.action(description="Send again")
    def send_again(self, request, queryset):
        if not is_licensing_team(request.user):
            raise PermissionDenied
        count = outbox.send_again(queryset, by=request.user)
        delivery.after_commit()
        self.message_user(
            request,
            f"{count_of(count, 'failed mail')} back in the outbox: they are sent in a moment.",
            messages.SUCCESS if count else messages.WARNING,
        )

    @admin.display(description="delivery", ordering="sent_at")
    def delivery_badge(self, notification: Notification) -> str:
        if notification.sent_at:
            return badge("sent", "ok", f"{notification.sent_at:%Y-%m-%d %H:%M}")
        if notification.failed_at:
            return badge("failed", "danger", notification.last_error)
        title = notification.last_error or "not tried yet"
        return badge("pending", "warn" if notification.attempts else "info", title)


@admin.register(RegistrationAttempt)
class RegistrationAttemptAdmin(ReadOnlyMixin, AuditedAdmin):
    list_display = ["at", "outcome", "client_ip", "registration_id", "license", "detail"]
    list_select_related = ["license__policy"]
    list_filter = ["outcome", ("at", DateTimeRangeFilterBuilder())]
    search_fields = ["client_ip", "registration_id"]
    show_full_result_count = False


@admin.register(NightlyRun)
class NightlyRunAdmin(ReadOnlyMixin, AuditedAdmin):
    list_display = ["day", "part", "status_badge", "started_at", "took", "summary"]
    list_filter = ["status", ("day", DateRangeFilterBuilder())]
    date_hierarchy = "day"
    show_full_result_count = False

    @admin.display(description="status", ordering="status")
    def status_badge(self, run: NightlyRun) -> str:
        tone = {"finished": "ok", "running": "info", "failed": "danger", "skipped": "muted"}
        return badge(run.get_status_display(), tone[run.status], run.error)

    @admin.display(description="duration")
    def took(self, run: NightlyRun) -> str:
        return f"{run.duration.total_seconds():.1f} s" if run.duration else "—"

    @admin.display(description="what it did")
    def summary(self, run: NightlyRun) -> str:
        done = {k: v for k, v in run.counts.items() if v}
        return ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in done.items()) or "nothing due"
