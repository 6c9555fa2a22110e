"""Security: access contexts, permissions, passwords, tokens and the audit log."""
