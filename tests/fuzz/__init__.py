"""Whole-engine fuzzing: the seeded stress command and a hypothesis state machine over every command kind."""
