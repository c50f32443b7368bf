"""Rendering: HTML pages and figures from what the workflows return."""
