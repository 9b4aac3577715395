"""The kde operators: ``kde.kernel_sum`` (reference, blocked CPU backend, fused Triton backend)."""
