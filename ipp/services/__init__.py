"""Intellectual Property Protection: the one place each IPP rule lives.

The deployment-check API, the admin and the demo data call these functions. Each write
takes the acting user `by` (roles are checked here), judges every rule on the day `on`
(default: today, UTC) and raises `ValidationError` with a message a user can act on,
changing nothing, when it refuses.

One module per stage; this package re-exports the names SPEC gives them, so callers write
`ipp.services.check_deployment`:
- `decisions`: may an application be deployed on an infrastructure, and the check's log;
- `permissions`: deployment permissions asked for, consented to, granted, refused, revoked;
- `tokens`: the API tokens of infrastructures.
Which license lets a target receive deployments is read in `ipp.selectors`.
"""

from .common import *  # noqa: F403
from .decisions import *  # noqa: F403
from .permissions import *  # noqa: F403
from .tokens import *  # noqa: F403
