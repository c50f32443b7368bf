"""Workflows: one module per command; files in, run directory out, never HTML."""
