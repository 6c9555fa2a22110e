"""Analyzer quality control: control lots, QC results per instrument, Westgard rules, holds."""
