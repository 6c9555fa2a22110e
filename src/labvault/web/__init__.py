"""Web layer: the JSON API. Never builds SQL, never decrypts: it calls services."""
