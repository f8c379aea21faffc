"""``pb:secrets``: encrypted secrets of the host's environment."""

from . import _bindings
from .errors import call


def get(name: str) -> str | None:
    """The secret's value; None when it is not set."""
    return call(_bindings.module("secrets").get, name)
