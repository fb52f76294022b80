"""Tasks: training, prediction and evaluation drivers (import torch lazily)."""
