"""The machine API under /api/ (config.urls): its routes come from the NinjaAPI, in this
app's namespace, so `reverse("ipp:deployment-check")` and `reverse("ipp:usage")` name them."""

from .api import api

app_name = "ipp"

# No trailing slashes: the contracts are POST /api/ipp/deployment-check and POST
# /api/usage, and a pattern that matches as sent is never redirected by APPEND_SLASH.
urlpatterns, _, _ = api.urls
