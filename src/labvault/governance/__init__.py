"""Data governance: breach response (and, later, exports, retention, patient rights)."""
