"""Natural width of LaTeX table cells in points, so tables can be split to fit a page before LaTeX sees them.

The widths are those of Computer Modern under ``\\usepackage[T1]{fontenc}`` in a 10 pt
article, measured once with pdfTeX's ``\\settowidth`` (TeX Live 2022); a test re-measures
sample cells with pdflatex when it is installed. Kerning is ignored (a fraction of a point).
"""

from __future__ import annotations

import re
import string

# Widths (pt at 10 pt) of ASCII 32..126 in the roman and the bold extended font (T1).
_ROMAN = (
    "3.333 2.777 4.999 8.331 4.999 8.331 7.776 2.777 3.888 3.888 4.999 7.776 2.777 3.333 2.777 4.999 4.999 4.999 "
    "4.999 4.999 4.999 4.999 4.999 4.999 4.999 4.999 2.777 2.777 7.776 7.776 7.776 4.721 7.776 7.498 7.082 7.220 "
    "7.637 6.804 6.526 7.845 7.498 3.610 5.138 7.776 6.248 9.164 7.498 7.776 6.804 7.776 7.359 5.554 7.220 7.498 "
    "7.498 10.275 7.498 7.498 6.110 2.777 4.999 2.777 6.110 7.776 2.777 4.999 5.554 4.443 5.554 4.443 3.055 4.999 "
    "5.554 2.777 3.055 5.276 2.777 8.331 5.554 4.999 5.554 5.276 3.916 3.943 3.888 5.554 5.276 7.220 5.276 5.276 "
    "4.443 4.999 2.777 4.999 6.110"
)
_BOLD = (
    "3.832 3.499 5.749 9.581 5.749 9.581 8.942 3.194 4.471 4.471 5.749 8.942 3.194 3.832 3.194 5.749 5.749 5.749 "
    "5.749 5.749 5.749 5.749 5.749 5.749 5.749 5.749 3.194 3.194 8.942 8.942 8.942 5.429 8.942 8.692 8.179 8.304 "
    "8.817 7.554 7.234 9.039 8.998 4.360 5.943 9.012 6.915 10.914 8.998 8.637 7.859 8.637 8.623 6.387 7.998 8.845 "
    "8.852 12.046 8.692 8.980 7.026 3.194 5.749 3.194 7.026 8.942 3.194 5.589 6.387 5.110 6.387 5.270 4.603 5.908 "
    "6.387 3.194 3.513 6.068 3.194 9.581 6.387 5.749 6.387 6.068 4.735 4.535 4.471 6.387 6.228 8.463 6.068 6.228 "
    "5.110 5.749 3.194 5.749 7.026"
)
# Math italic letters a-z, A-Z.
_MATH_LETTERS = (
    "5.286 4.292 4.328 5.205 4.656 5.972 5.128 5.762 3.445 4.690 5.521 3.181 8.780 6.002 4.847 5.031 4.823 4.789 "
    "4.688 3.611 5.725 5.206 7.428 5.715 5.262 5.090 7.500 8.087 7.862 8.557 7.958 7.819 7.862 9.125 5.181 6.507 "
    "9.208 6.806 10.792 9.125 7.906 7.809 7.906 7.670 6.708 7.233 7.918 8.056 10.833 9.069 8.028 7.542"
)

ROMAN = {chr(32 + k): float(w) for k, w in enumerate(_ROMAN.split())}
BOLD = {chr(32 + k): float(w) for k, w in enumerate(_BOLD.split())}
MATH = {c: float(w) for c, w in zip(string.ascii_letters, _MATH_LETTERS.split())}
MATH.update({d: 5.0 for d in string.digits})
MATH.update({".": 2.778, ",": 2.778, "(": 3.889, ")": 3.889, "[": 2.778, "]": 2.778})
# Math symbols by command or character, and how TeX spaces them between operands.
MATH_SYMBOLS = {
    r"\pm": 7.778,
    r"\mp": 7.778,
    r"\times": 7.778,
    "+": 7.778,
    "-": 7.778,
    r"\uparrow": 5.0,
    r"\downarrow": 5.0,
    r"\Delta": 8.333,
    r"\infty": 10.0,
    "<": 7.778,
    ">": 7.778,
    "=": 7.778,
    r"\geq": 7.778,
    r"\leq": 7.778,
    r"\approx": 7.778,
}
_RELATIONS = {"<", ">", "=", r"\geq", r"\leq", r"\approx"}  # \thickmuskip (5/18 em) either side
_BINARIES = {r"\pm", r"\mp", r"\times", "+", "-"}  # \medmuskip (4/18 em) either side
_THICK, _MED = 2.778, 2.222

# Font size commands and the factor they scale the 10 pt widths by (measured: optical sizes are not linear).
SIZES = {None: 1.0, "normalsize": 1.0, "small": 0.925, "footnotesize": 0.85, "scriptsize": 0.70}

# Text commands that print one character, by what they print.
_TEXT_COMMANDS = {
    r"\_": "_",
    r"\%": "%",
    r"\&": "&",
    r"\#": "#",
    r"\$": "$",
    r"\{": "{",
    r"\}": "}",
    r"\textbackslash": "\\",
    r"\textasciitilde": "~",
    r"\textasciicircum": "^",
}
# Commands that only restyle their argument (italic widths are within a few % of roman ones).
_STYLE_COMMANDS = {r"\emph", r"\textit", r"\textrm", r"\textnormal", r"\relax"}
# Anything not in the tables is taken as wide as an M, so an estimate errs towards splitting.
_UNKNOWN = 10.0
_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|--|[{}$]|.", re.DOTALL)


def text_width(text: str, size: str | None = None) -> float:
    """Natural width in points of one line of LaTeX text (a table cell or header).

    Parameters
    ----------
    text : str
        LaTeX as written into a cell: plain characters, escapes such as ``\\_``,
        ``\\textbf{...}`` and inline math with the symbols tables use (``$\\pm$``,
        ``$p < 0.001$``, arrows, ``\\Delta``, ``\\infty``).
    size : str, optional
        Font size command in force (``small``, ``footnotesize``); None for 10 pt.

    Returns
    -------
    float
        Width in pt. Unknown commands and characters count as 10 pt each.
    """
    if size not in SIZES:
        raise ValueError(f"unknown font size {size!r} (known: {', '.join(str(s) for s in SIZES if s)})")
    tokens = _TOKEN.findall(text)
    width = 0.0
    bold_depth: list[int] = []  # brace depth at which each open \textbf ends
    depth = 0
    math: list[str] | None = None
    pending_bold = False
    for tok in tokens:
        if math is not None:
            if tok == "$":
                width += _math_width(math)
                math = None
            else:
                math.append(tok)
            continue
        if tok == "$":
            math = []
        elif tok == r"\textbf":
            pending_bold = True
        elif tok == "{":
            depth += 1
            if pending_bold:
                bold_depth.append(depth)
                pending_bold = False
        elif tok == "}":
            if bold_depth and bold_depth[-1] == depth:
                bold_depth.pop()
            depth -= 1
        elif tok == "--":
            width += 4.999 * (1.15 if bold_depth else 1.0)
        elif tok in _STYLE_COMMANDS:
            continue
        elif tok in _TEXT_COMMANDS or tok.startswith("\\"):
            char = _TEXT_COMMANDS.get(tok)
            width += (BOLD if bold_depth else ROMAN).get(char, _UNKNOWN) if char else _UNKNOWN
        else:
            width += (BOLD if bold_depth else ROMAN).get(tok, _UNKNOWN)
    if math:
        width += _math_width(math)
    return width * SIZES[size]


def _math_width(tokens: list[str]) -> float:
    """Width of one inline formula: symbols plus TeX's spacing around relations and binary operators."""
    tokens = [t for t in tokens if not t.isspace()]
    width = 0.0
    for k, tok in enumerate(tokens):
        if tok in MATH_SYMBOLS:
            width += MATH_SYMBOLS[tok]
            between = 0 < k < len(tokens) - 1  # a leading or trailing operator is ordinary: no space
            if between and tok in _RELATIONS:
                width += 2 * _THICK
            elif between and tok in _BINARIES:
                width += 2 * _MED
        elif tok in "{}":
            continue
        else:
            width += MATH.get(tok, _UNKNOWN)
    return width
