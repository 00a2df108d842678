"""Development settings with the mail going to `tests.licensing.stalling_mail` (for a
`run_nightly` subprocess started by a test)."""

from config.settings.local import *  # noqa: F403

EMAIL_BACKEND = "tests.licensing.stalling_mail.StallingBackend"
