"""Cryptography core: AEAD wrapper, field encryption, blind indexes, key providers."""
