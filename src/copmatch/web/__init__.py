"""The web pages (Jinja2, server-rendered) for members, brokers and admins.

Mounted on the API's app (``copmatch.api.app.create_app``) by ``mount_web``; the pages call
only ``Community`` (``request.app.state.community``) and never import the API or the CLI.
"""

from copmatch.web.app import mount_web, not_found_page, wants_page

__all__ = ["mount_web", "not_found_page", "wants_page"]
