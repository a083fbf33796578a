"""The monarl command line."""

from monarl.cli.app import app, main

__all__ = ["app", "main"]
