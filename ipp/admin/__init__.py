"""The IPP admin, one module per concern; importing the package registers them."""

from . import applications, permissions, tokens

__all__ = ["applications", "permissions", "tokens"]
