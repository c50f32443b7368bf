"""cisgram: learn the cis-regulatory code from DNA sequence."""

__version__ = "0.1.0"
