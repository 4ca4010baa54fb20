"""Runs of the pipeline's jobs as processes: recovering from runs whose process died, and stopping one cleanly."""
