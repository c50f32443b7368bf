"""Data: from measured signal and sequence to the matrices the models learn from.

- :mod:`cisgram.data.access` — access probability (IceQream's AP, fitted on training regions
  only), log CPM, sequence covariates (GC, dinucleotides), quantile scaling to [0, 10] and
  differential targets (dAP between two conditions on distal regions).
- :mod:`cisgram.data.dataset` — building, writing and reading the regions x conditions dataset.

Import from the submodules; this package holds no code.
"""
