"""The kernels plugin's operators: one module per operator (the reference; fast backends beside it)."""
