"""The license lifecycle: the one place each licensing rule lives.

Admin forms and actions, Celery tasks, commands and the portal call these functions; none
of them changes a license's state by itself. Each takes the acting user `by` (roles are
checked here), judges every rule on the day `on` (default: today, UTC) and raises
`ValidationError` with a message a user can act on, changing nothing, when it refuses.

One module per stage; this package re-exports the names SPEC gives them, so callers write
`licensing.services.approve`:
- `requests`: who may ask, eligibility, request, approve, refuse;
- `provisioning`: provision (infrastructure, environments, activation code), cancel;
- `extensions`: extensions and the conversion of a won trial;
- `portal`: registration of an on-premises infrastructure, the signed license file;
- `upgrades`: platform upgrades; `scheduled`: the nightly run's entry point.
What a transition does to a license's fields is computed in `licensing.lifecycle`.
"""

from .common import *  # noqa: F403
from .extensions import *  # noqa: F403
from .portal import *  # noqa: F403
from .provisioning import *  # noqa: F403
from .requests import *  # noqa: F403
from .scheduled import *  # noqa: F403
from .upgrades import *  # noqa: F403
