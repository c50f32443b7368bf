"""Data: from measured signal and sequence to the matrices the models learn from.

- :mod:`cisgram.data.access` — access probability (IceQream's AP, fitted on training regions
  only), log CPM, sequence covariates (GC, dinucleotides), quantile scaling to [0, 10] and
  differential targets (dAP between two conditions on distal regions).
- :mod:`cisgram.data.dataset` — building, writing and reading the regions x conditions dataset.
- :mod:`cisgram.data.regionmotif` — region x motif matrices (max, count, energy, hit-score sums)
  from files to a parquet table or into a dataset: what ``cisgram scan`` runs.

Import from the submodules; this package holds no code.
"""
