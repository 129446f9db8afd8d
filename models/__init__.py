"""Model weights on disk: real downloads (``avatar models download``), the manifest-checked pull
(``avatar models pull``) and tiny random models (``avatar models tiny``)."""
