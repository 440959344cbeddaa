"""Imports every domain's ``tables`` module so that ``metadata`` knows every table.

Alembic's environment and the migration check read ``metadata`` from here; a new domain adds its
``tables`` import below.
"""

from cible.activities.abxt import tables as _abxt  # noqa: F401
from cible.activities.audiences import tables as _audiences  # noqa: F401
from cible.activities.environments import tables as _environments  # noqa: F401
from cible.activities.mboxes import tables as _mboxes  # noqa: F401
from cible.activities.offers import tables as _offers  # noqa: F401
from cible.activities.profileattrs import tables as _profileattrs  # noqa: F401
from cible.activities.properties import tables as _properties  # noqa: F401
from cible.artifacts import tables as _artifacts  # noqa: F401
from cible.delivery import tables as _delivery  # noqa: F401
from cible.dmp import tables as _dmp  # noqa: F401
from cible.dmp.transfers import tables as _dmp_transfers  # noqa: F401
from cible.events import tables as _events  # noqa: F401
from cible.jobs import tables as _jobs  # noqa: F401
from cible.profiles import tables as _profiles  # noqa: F401
from cible.recs import merchandising_tables as _recs_merchandising  # noqa: F401
from cible.recs import tables as _recs  # noqa: F401
from cible.reports import tables as _reports  # noqa: F401
from cible.store.base import Base
from cible.tenants import tables as _tenants  # noqa: F401
from cible.ui import tables as _ui  # noqa: F401

metadata = Base.metadata
