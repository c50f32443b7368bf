"""Rendering: self-contained HTML pages and the figures in them, drawn from the typed results the
workflows return (:mod:`cisgram.results`). :mod:`.html` builds pages, :mod:`.plots` every figure,
and one module per family renders its report; nothing here computes, scans or reads run files."""
