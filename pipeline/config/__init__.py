"""Configuration: the funnel registry, environment settings and the typed configuration files."""
