from django.db import models


class LicenseKind(models.TextChoices):
    DL = "DL", "Demo license"
    IL = "IL", "Internal license"
    TL = "TL", "Trial license"


class Hosting(models.TextChoices):
    SHARED_CLOUD = "shared_cloud", "Shared cloud"
    DEDICATED_CLOUD = "dedicated_cloud", "Dedicated cloud"
    ON_PREMISES = "on_premises", "On-premises"


class ProductionUse(models.TextChoices):
    NO = "no", "No"
    INTERNAL = "internal", "Yes, internal only"
