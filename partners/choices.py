from django.db import models


class PartnerStatus(models.TextChoices):
    PROSPECTIVE = "prospective", "Prospective"
    ACTIVE = "active", "Active"
    FORMER = "former", "Former"


class ContactRole(models.TextChoices):
    FINANCIAL = "financial", "Financial"
    TECHNICAL = "technical", "Technical"


class RevokedBy(models.TextChoices):
    NOBODY = "", "—"
    PARTNER = "partner", "Partner"
    VENDOR = "vendor", "Vendor"


class IncidentKind(models.TextChoices):
    RESALE = "resale", "License resale"
    CUSTOMER_SPECIFIC_APP = "customer_specific_app", "Customer-specific application"
    EXTERNAL_ACCESS = "external_access", "Access by external users"
    ISV_OR_MSP_OFFERING = "isv_or_msp_offering", "ISV or MSP offering"
    USERS_OUTSIDE_COUNTRY = "users_outside_country", "Internal users outside the country"
    OVER_LIMIT = "over_limit", "Over the license limits"
    OTHER = "other", "Other"


class OpportunityStatus(models.TextChoices):
    REGISTERED = "registered", "Registered"
    ACCEPTED = "accepted", "Accepted"
    APPROVED = "approved", "Approved"
    WON = "won", "Won"
    LOST = "lost", "Lost"
