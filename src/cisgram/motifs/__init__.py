"""Motifs: position weight matrices and what is done with them.

- :mod:`cisgram.motifs.pwm` — :class:`~cisgram.motifs.pwm.Motif` and
  :class:`~cisgram.motifs.pwm.MotifSet`; reading and writing MEME motif files; JASPAR releases
  offline through pyjaspar; :func:`~cisgram.motifs.pwm.load_motifs`, the one entry point.

Import from the submodules; this package holds no code.
"""
