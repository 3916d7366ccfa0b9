"""Tests of the scheduler: schedules, legality, bounds and lowering."""
