"""Synthetic sessions with planted, documented effects, their clinic-style exports and the committed sample."""
