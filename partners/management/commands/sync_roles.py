from django.apps import apps
from django.core.management.base import BaseCommand

from partners.roles import ROLES, sync_groups


class Command(BaseCommand):
    help = "Create the role Groups and reset their permissions to partners/roles.py."

    def handle(self, *args, **options):
        sync_groups(apps)
        self.stdout.write(self.style.SUCCESS(f"groups in sync: {', '.join(ROLES)}"))
