"""The laboratory workflow: orders, specimens, results, validation and reports."""
