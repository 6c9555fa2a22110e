"""Reports, cumulative history and tube labels: HTML (for the web UI) and deterministic PDF renderers."""
