"""Data: from measured signal and sequence to the matrices the models learn from.

- :mod:`cisgram.data.access` — access probability (IceQream's AP, fitted on training regions
  only), log CPM, sequence covariates (GC, dinucleotides), quantile scaling to [0, 10] and
  differential targets (dAP between two conditions on distal regions).
- :mod:`cisgram.data.dataset` — building, writing and reading the regions x conditions dataset.
- :mod:`cisgram.data.regionmotif` — region x motif matrices (max, count, energy, hit-score sums)
  from files to a parquet table or into a dataset: what ``cisgram scan`` runs.
- :mod:`cisgram.data.windows` — GC-matched background windows and one-hot windows cut from the
  genome on the fly (jitter, strand flips) for the sequence models.
- :mod:`cisgram.data.targets` — a dataset's peaks plus background windows with the targets
  of ``cisgram train cnn``.
- :mod:`cisgram.data.tfbind` — bound and unbound motif instances as oriented context windows
  (``cisgram tfbind``).
- :mod:`cisgram.data.simulate` — sequences with planted motifs (ground truth).

Import from the submodules; this package holds no code.
"""
