"""Operators of the hypernets plugin: each reference beside its fast backends (same signature)."""
