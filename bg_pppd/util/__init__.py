"""Leaf helpers every layer may use: safe files, errors and exit statuses, program lookup."""
