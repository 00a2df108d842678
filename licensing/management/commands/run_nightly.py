from datetime import date

from django.core.management.base import BaseCommand, CommandError

from licensing import services


class Command(BaseCommand):
    help = (
        "Run every nightly check for a day (default: today, UTC) and print what it did: "
        "renewals, expiries, cancellations, reminders, late provisioning, upgrade report."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", help="the day to run for, YYYY-MM-DD (default: today)")

    def handle(self, *args, **options):
        day = None
        if options["date"]:
            try:
                day = date.fromisoformat(options["date"])
            except ValueError:
                raise CommandError(
                    f"--date {options['date']!r} is not a YYYY-MM-DD date."
                ) from None
        counts = services.run_nightly(today=day, progress=lambda m: self.stdout.write(f"  {m}"))
        if counts.get("skipped"):
            raise CommandError("Another nightly run for that day is in progress: nothing done.")
        summary = ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in sorted(counts.items()))
        self.stdout.write(
            self.style.SUCCESS(f"nightly run for {day or 'today'}: {summary or 'nothing due'}")
        )
