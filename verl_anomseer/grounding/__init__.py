"""Grounding: token encoders (``encoders``), the optimal-transport score (``ot``) and the reward term
(``reward_term.grounding_score``). A domain package: it imports no verl."""
