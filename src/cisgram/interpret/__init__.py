"""Explaining trained models, compute only (no files, no runs): in-silico mutagenesis (:mod:`.ism`),
attribution maps (:mod:`.attribution`), motif discovery (:mod:`.discovery`), GET's Jacobians
(:mod:`.jacobian`) and its motif interactions, causal graphs and enhancer scores
(:mod:`.interactions`)."""
