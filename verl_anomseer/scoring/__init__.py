"""Scoring: parse model answers, point + affiliation localization metrics, the verl reward function. No verl."""
