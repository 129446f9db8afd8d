"""``avatar eval``: quality measured on the user's own recordings and voices, with their real
weights (character error rate, speaker similarity, real-time factor)."""
