"""HL7 v2 (2.3 to 2.5.1) over MLLP: messages in, original-mode acknowledgements out."""
