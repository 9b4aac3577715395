"""Core's own operators: the pattern every plugin follows (reference module + ``<name>_triton.py`` beside it)."""
