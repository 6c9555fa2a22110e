"""Channels by which data enters and leaves a lab: analyzers, hospital systems, doctors' software."""
