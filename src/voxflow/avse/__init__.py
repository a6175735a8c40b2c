"""Audio-visual speech enhancement (MHCA-AVCRN)."""
