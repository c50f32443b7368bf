"""Motifs: position weight matrices and what is done with them.

- :mod:`cisgram.motifs.pwm` — :class:`~cisgram.motifs.pwm.Motif` and
  :class:`~cisgram.motifs.pwm.MotifSet`; reading and writing MEME motif files; JASPAR releases
  offline through pyjaspar; :func:`~cisgram.motifs.pwm.load_motifs`, the one entry point.
- :mod:`cisgram.motifs.scan` — the scanning engine: per-region best score and hit count, FIMO-exact
  hits and p-values, on CPU (numba) or GPU (torch); its kernels in :mod:`cisgram.motifs.kernels`
  and the score <-> p-value mapping in :mod:`cisgram.motifs.pvalues`.
- :mod:`cisgram.motifs.features` — per-region motif features in one call: IceQream energies (and
  per-bin energies, normalisation to [0, 10]), GET's summed hit scores.
- :mod:`cisgram.motifs.compare` — TOMTOM (memelite): the nearest database motifs.

Import from the submodules; this package holds no code.
"""
