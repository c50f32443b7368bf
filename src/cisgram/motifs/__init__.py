"""Motifs: position weight matrices and what is done with them.

- :mod:`cisgram.motifs.pwm` — :class:`~cisgram.motifs.pwm.Motif` and
  :class:`~cisgram.motifs.pwm.MotifSet`; reading and writing MEME motif files; JASPAR releases
  offline through pyjaspar; :func:`~cisgram.motifs.pwm.load_motifs`, the one entry point.
- :mod:`cisgram.motifs.scan` — the scanning engine: per-region best score and hit count, FIMO-exact
  hits and p-values, on CPU (numba) or GPU (torch).
- :mod:`cisgram.motifs.features` — per-region motif features in one call: IceQream energies (and
  per-bin energies, normalisation to [0, 10]), GET's summed hit scores.

Import from the submodules; this package holds no code.
"""
