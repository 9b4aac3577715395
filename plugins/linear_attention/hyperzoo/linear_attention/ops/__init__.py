"""linear_attention's operators: ``linear``, ``nala``, ``hamming``, ``angular``, ``favor`` (references) and the fused
Triton backends of ``linear`` and ``nala`` (``linear_triton.py``)."""
