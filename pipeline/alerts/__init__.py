"""Alerts: goal-miss notifications to on-call staff, and run failures."""
