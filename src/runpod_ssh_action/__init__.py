"""Rent RunPod GPU pods for GitHub Actions, reach them over SSH, and leave nothing behind."""

__version__ = "0.1.0"
