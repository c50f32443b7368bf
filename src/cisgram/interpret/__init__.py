"""Explaining sequence models: attribution maps, in-silico mutagenesis and motif discovery."""
