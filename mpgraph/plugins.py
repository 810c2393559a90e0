"""Registering and listing plugins at run time (``mg.plugins``)."""
from __future__ import annotations

from .registry import plugin_manager, register, unregister

__all__ = ["plugin_manager", "register", "unregister"]
