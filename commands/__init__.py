"""Typer sub-apps, one module per noun; installed as ``resv_cli.commands``."""
