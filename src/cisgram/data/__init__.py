"""Data: from measured signal and sequence to the matrices the models learn from.

- :mod:`cisgram.data.access` — access probability (IceQream's AP, fitted on training regions
  only), log CPM and differential targets (dAP between two conditions on distal regions);
  :mod:`cisgram.data.covariates` — sequence covariates (GC, dinucleotides) and the [0, 10] scaling.
- :mod:`cisgram.data.dataset` — building, writing and reading the regions x conditions dataset
  (``cisgram prepare``).
- :mod:`cisgram.data.regionmotif` — region x motif matrices (max, count, energy, hit-score sums)
  from files to a parquet table or into a dataset: what ``cisgram scan`` runs.
- :mod:`cisgram.data.targets` — what the sequence models learn: a dataset's regions and targets
  with their sequences (IQ, baselines) or with GC-matched background windows (CNNs).
- :mod:`cisgram.data.windows` — GC-matched background windows and one-hot windows cut from the
  genome on the fly (jitter, strand flips) for the sequence models.
- :mod:`cisgram.data.get`, :mod:`cisgram.data.get_data`, :mod:`cisgram.data.get_windows` — GET's
  region-by-motif data, how ``cisgram get-data`` builds it, and the windows the transformer reads.
- :mod:`cisgram.data.tfbind`, :mod:`cisgram.data.tfbind_examples` — bound and unbound motif
  instances, and the negative sets and oriented context windows of ``cisgram tfbind``.
- :mod:`cisgram.data.variants` — reference and alternative windows of variants.
- :mod:`cisgram.data.profiles` — base-resolution windows (sequence and per-base counts from
  insertion bigWigs) around peak summits and background, with ChromBPNet's jitter, reverse
  complement and bias-model background.
- :mod:`cisgram.data.simulate` — sequences with planted motifs (ground truth).

Import from the submodules; this package holds no code.
"""
