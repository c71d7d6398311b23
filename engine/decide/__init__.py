"""Searching the plan: set-ups × offers, judged by the rules and the checks, ordered by the objective."""
