"""Contacts and attention maps out of ESM protein language models."""

__version__ = "0.1.0"
