"""copmatch: expert matching and knowledge brokering for communities of practice."""

from copmatch.community import Community
from copmatch.errors import CopmatchError
from copmatch.services.experts import Evidence, Expert, ExpertQuery
from copmatch.settings import Settings

__all__ = ["Community", "CopmatchError", "Evidence", "Expert", "ExpertQuery", "Settings"]
__version__ = "0.1.0"
