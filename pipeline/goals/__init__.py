"""Goals: targets back-calculated from targets.yml and the business calendar that paces the open month."""
