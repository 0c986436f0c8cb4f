"""The HTTP API (FastAPI): ``create_app(data_dir)``; served by ``copmatch serve``."""

from copmatch.api.app import create_app

__all__ = ["create_app"]
