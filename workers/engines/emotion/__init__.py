"""Learned second opinions on the voice: dimensional speech-emotion models (arousal,
dominance, valence), stored beside the interpretable prosody scores and never mixed into them."""
