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
- `portal`: registration of an on-premises infrastructure, a returning partner's license;
- `files`: the license file as the license is now, its serial and the log of handouts;
- `slots`: the servers registered in environment slots; `codes`: reissuing a code;
- `upgrades`: platform upgrades; `scheduled`: the nightly run's entry point;
- `usage`: what an infrastructure reports about its use (`record_usage`).
What a transition does to a license's fields is computed in `licensing.lifecycle`.
"""

from .codes import *  # noqa: F403
from .common import *  # noqa: F403
from .extensions import *  # noqa: F403
from .files import *  # noqa: F403
from .portal import *  # noqa: F403
from .provisioning import *  # noqa: F403
from .requests import *  # noqa: F403
from .scheduled import *  # noqa: F403
from .slots import *  # noqa: F403
from .upgrades import *  # noqa: F403
from .usage import *  # noqa: F403
