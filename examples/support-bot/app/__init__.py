"""Acme Cloud Storage support bot."""

from app.bot import SupportBot

__all__ = ["SupportBot"]
