"""Model families: the biophysical IceQream-style model (:mod:`.iq`), its motif pipeline
(:mod:`.distill`), the simple baselines (:mod:`.baselines`), and their common on-disk state
(:mod:`.state`)."""
