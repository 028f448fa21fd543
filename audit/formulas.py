"""Spreadsheet formula injection: a cell that starts with one of these characters
is run as a formula by Excel or LibreOffice. Exports put a single quote before
such text; imports take it off again, so an export can be imported back as is."""

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def unescape_formula(text: str) -> str:
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_TRIGGERS:
        return text[1:]
    return text
