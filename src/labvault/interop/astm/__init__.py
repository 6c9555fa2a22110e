"""ASTM E1381 / E1394 (CLSI LIS1-A, LIS2-A2), how most analyzers talk to a LIS: frames on the line
(framing.py), records in the messages (records.py). Pure: no socket, no database, no service."""
