"""Workflows: one module per command. Each reads files, writes its run directory or outputs
(through :mod:`.rundir` for run directories) and returns a typed result from :mod:`cisgram.results`;
none builds HTML (the renderers in :mod:`cisgram.report` draw the results)."""
