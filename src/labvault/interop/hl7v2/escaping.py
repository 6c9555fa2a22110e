"""Free text in a field labvault writes (an acknowledgement, an outbound result): HL7's escape
sequences for its delimiters, and no segment break."""

from __future__ import annotations


def escape(text: str) -> str:
    out = text.replace("\\", "\\E\\")
    for char, code in (("|", "\\F\\"), ("^", "\\S\\"), ("~", "\\R\\"), ("&", "\\T\\")):
        out = out.replace(char, code)
    return out.replace("\r", " ").replace("\n", " ")
