"""Counts of active licenses and of partners not in good standing, kept by the database for
the dashboard (`licensing.tallies`)."""

from __future__ import annotations

from django.db import models


class LicenseTally(models.Model):
    """How many active licenses (or partners) of one region share a `measure` and a `day`,
    kept exact by PostgreSQL triggers on every statement that changes licenses, the
    opportunities of trials, infrastructures' registration, usage reports or partners
    (migrations 0025 and 0027), in the transaction of the change. Measures
    (`licensing.tallies`):

    - `ending:<kind>`: active licenses of that kind whose last day is `day`;
    - `awaiting`: active trials whose deal is won (`day` empty);
    - `reported`: active licenses on a registered infrastructure whose latest usage report
      is dated `day` (empty: it never reported);
    - `not_good`: partners not in good standing (their kept `standing_good`; migration 0027).

    Written by the database only; a count back to zero leaves no row, so the table holds a
    few rows per region and day of the year ahead, whatever the number of licenses. Not
    kept on SQLite, where the dashboard counts the rows themselves.
    """

    measure = models.CharField(max_length=20)
    region_id = models.IntegerField(null=True)
    day = models.DateField(null=True)
    n = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["measure", "region_id", "day"],
                nulls_distinct=False,
                name="license_tally_key",
            )
        ]
        # The chart's year of days, whatever the regions (the key starts with the region).
        indexes = [models.Index(fields=["day", "measure"], name="license_tally_day")]

    def __str__(self) -> str:
        return f"{self.measure} region {self.region_id} {self.day}: {self.n}"
