"""Model definitions for the shipped checkpoints (one module per model).

Weights are never downloaded: each model is built here and loaded from ``datasets/models`` through
:mod:`xaihealth.checkpoints`, after its sha256 has been verified.
"""
