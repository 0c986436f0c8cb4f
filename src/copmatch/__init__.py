"""copmatch: expert matching and knowledge brokering for communities of practice."""

from .community import Community
from .errors import CopmatchError
from .experts import Evidence, Expert, ExpertQuery
from .settings import Settings

__all__ = ["Community", "CopmatchError", "Evidence", "Expert", "ExpertQuery", "Settings"]
__version__ = "0.1.0"
