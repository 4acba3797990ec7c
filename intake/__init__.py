"""Intake: questionnaires, the shipped instruments, scoring, candidacy rules, decisions, patient links."""
