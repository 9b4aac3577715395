"""Hypergraph operators: one module per operator (the reference, its equation in the docstring) and the
``*_csr`` backend beside each (same signature; sparse-CSR matrix products with a hand-written backward)."""
