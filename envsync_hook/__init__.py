"""envsync-hook: keep a .env in step with its .env.example across upgrades."""

from __future__ import annotations

__version__ = "0.1.0"

from envsync_hook.document import Binding, Document, DotenvSyntaxError, compose_values, parse

__all__ = [
    "Binding",
    "Document",
    "DotenvSyntaxError",
    "__version__",
    "compose_values",
    "parse",
]
