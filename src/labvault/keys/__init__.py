"""Per-laboratory key sets: creation, loading, rotation, re-encryption and crypto-shredding."""
