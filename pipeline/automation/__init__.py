"""Unattended operation: the landing sensor and the daily schedule that start runs of `refresh` by themselves."""
