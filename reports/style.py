"""Look of the report: headless matplotlib settings, French number formatting, the synthetic-data mention."""

from __future__ import annotations

import csv
import math
import re
import textwrap
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import matplotlib

from ess.rounding import round_estimate

matplotlib.use("Agg")  # headless: the report runs on servers and in tests

SYNTHETIC_MENTION = "DONNÉES SYNTHÉTIQUES — ne pas diffuser"
SUPPRESSED = "s"  # INSEE's sign for a cell under statistical confidentiality
UNAVAILABLE = "n.d."  # not available (e.g. employment of past years)
A4_PORTRAIT = (8.27, 11.69)
NBSP = "\u00a0"  # thousands separator (DejaVu Sans has it; keeps "12 345" on one line)
COLORS = {"ess": "#2a7f62", "secondary": "#8fbfa8", "range": "#1b4d3e", "suppressed": "#9a9a9a",
          "hors_ess": "#b0b7c3"}
FAMILY_COLORS = {"associations": "#2a7f62", "cooperatives": "#d98c1f", "mutuelles": "#3b6fb6",
                 "fondations": "#a8488f", "autres_organismes": "#7a7a3a", "societes_commerciales_ess": "#c0504d",
                 "ess": "#1b1b1b"}
RC = {
    "pdf.fonttype": 42,  # embed TrueType: accents, €, « » render and the text stays searchable
    "ps.fonttype": 42,
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "ess",
    "hatch.linewidth": 0.6,
}
LABELS_CSV = Path(__file__).with_name("libelles.csv")


def apply() -> None:
    matplotlib.rcParams.update(RC)


@lru_cache(maxsize=1)
def _labels() -> dict[tuple[str, str], str]:
    with LABELS_CSV.open(encoding="utf-8") as fh:
        return {(r["dimension"], r["code"]): r["libelle"] for r in csv.DictReader(fh)}


def label(dimension: str, code) -> str:
    """French label of a code (reports/libelles.csv), else the code itself."""
    return _labels().get((dimension, str(code)), str(code))


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_number(value, decimals: int = 0) -> str:
    """12345.6 -> '12 346' (French: non-breaking space for thousands, comma for decimals)."""
    if _missing(value):
        return UNAVAILABLE
    text = f"{value:,.{decimals}f}"
    return text.replace(",", NBSP).replace(".", ",")


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most `width` characters (textwrap), French guillemets kept with their words: the spaces inside
    « » become non-breaking, so no line starts with « » » or ends with « « »."""
    return textwrap.wrap(text.replace("« ", "«" + NBSP).replace(" »", NBSP + "»"), width)


# French words written « oe » in files without the ligature (INSEE's labels are ASCII-minded: « Coeur »), and
# only those: « oe » is two letters in « coexister », « Noé », « moelle ».
_OE_WORDS = re.compile(r"\b\w*oe\w*\b", re.IGNORECASE)
_OE_STEMS = {"coeur", "coeurs", "choeur", "choeurs", "soeur", "soeurs", "voeu", "voeux", "noeud", "noeuds", "boeuf",
             "boeufs", "oeil", "oeuf", "oeufs", "oeuvre", "oeuvres", "manoeuvre", "manoeuvres", "moeurs"}


def _oe(match: re.Match) -> str:
    word = match.group(0)
    if word.lower() not in _OE_STEMS:
        return word
    at = word.lower().index("oe")
    lig = "Œ" if word[at].isupper() else "œ"
    return word[:at] + lig + word[at + 2:]


def display_label(name: str) -> str:
    """A place's name as printed: French typography only (« Coeur » → « Cœur »), never its words; the data files keep
    the source's spelling."""
    return _OE_WORDS.sub(_oe, str(name))


# Shorter forms of a long label, tried in order only when it does not fit its room (fit_label): generic rules on the
# words of French territorial names, never a place's name.
ABBREVIATIONS = (
    (re.compile(r"\bCommunauté de communes\b", re.IGNORECASE), "CC"),
    (re.compile(r"\bCommunauté d'agglomération\b", re.IGNORECASE), "CA"),
    (re.compile(r"\bCommunauté urbaine\b", re.IGNORECASE), "CU"),
    (re.compile(r"\bSainte(?=[- ])"), "Ste"),
    (re.compile(r"\bSaint(?=[- ])"), "St"),
)


def text_width(text: str, size: float) -> float:
    """Width in points of one line of text in the report's font at `size` points (no renderer needed)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    width, _, _ = TextToPath().get_text_width_height_descent(text, FontProperties(family=RC["font.family"],
                                                                                  size=size), ismath=False)
    return float(width)


def fit_label(text: str, room: float, size: float) -> str:
    """A label for a room `room` points wide at `size` points: as it is when it fits on one line, else shortened by
    ABBREVIATIONS (one rule after the other, until it fits), else the shortest form wrapped on as many lines as
    needed (by words, each line within the room)."""
    text = str(text)
    if text_width(text, size) <= room:
        return text
    for pattern, short in ABBREVIATIONS:
        text = pattern.sub(short, text)
        if text_width(text, size) <= room:
            return text
    lines: list[str] = []
    for word in text.split(" "):
        if lines and text_width(lines[-1] + " " + word, size) <= room:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)


def fmt_estimate(value) -> str:
    """An estimated headcount as people read it: rounded like the run's summary (ess.rounding), « 38 200 »."""
    if _missing(value):
        return UNAVAILABLE
    return fmt_number(round_estimate(value))


def fmt_percent(ratio, decimals: int = 1) -> str:
    if _missing(ratio):
        return UNAVAILABLE
    return fmt_number(100 * ratio, decimals) + NBSP + "%"


MONTHS = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.")


MONTH_NAMES = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
               "novembre", "décembre")


def fmt_day(day) -> str:
    """A date in words: « 30 novembre 2026 », « 1er mars 2026 »."""
    return f"{'1er' if day.day == 1 else day.day} {MONTH_NAMES[day.month - 1]} {day.year}"


def fmt_month(day) -> str:
    """A date as its month, French abbreviation: « oct. 2026 »."""
    return f"{MONTHS[day.month - 1]} {day.year}"


def signed_pct(ratio: float) -> str:
    """A change as a signed percentage: « +5,5 % », « −2,0 % »."""
    text = fmt_percent(ratio, 1)
    return ("+" + text) if ratio > 0 else text.replace("-", "−")


def fmt_secret(status) -> str:
    """« s » with its reason, e.g. 's — fréquence (moins de 3 établissements)'."""
    return f"{SUPPRESSED} — {label('secret', status)}"


def stamp(fig, synthetic: bool) -> None:
    """The synthetic-data mention on a figure: a red banner at the top and a faint diagonal watermark."""
    if not synthetic:
        return
    fig.text(0.5, 0.992, SYNTHETIC_MENTION, ha="center", va="top", fontsize=11, fontweight="bold", color="white",
             bbox={"boxstyle": "square,pad=0.3", "facecolor": "#c0392b", "edgecolor": "none"}, gid="synthetic")
    fig.text(0.5, 0.5, SYNTHETIC_MENTION, ha="center", va="center", rotation=35, fontsize=30, color="#c0392b",
             alpha=0.12, zorder=0, gid="synthetic_watermark")


def no_ligatures(fig) -> None:
    """Turn off ligatures ('ff', 'fi') in every text of a figure: with them the PDF stores a glyph that maps to no
    character, so « diffuser » could not be searched or copied from the PDF."""
    from matplotlib.table import Table
    from matplotlib.text import Text

    texts = list(fig.findobj(Text))
    for table in fig.findobj(Table):  # table cells keep their text outside the artist tree
        texts += [cell.get_text() for cell in table.get_celld().values()]
    for text in texts:
        text.set_fontfeatures(["-liga"])


def footer(fig, text: str, page: int | None = None) -> None:
    fig.text(0.06, 0.012, "\n".join(wrap(text, 118)), fontsize=8, color="#555555", ha="left",
             va="bottom", linespacing=1.2)
    if page is not None:
        fig.text(0.965, 0.015, str(page), fontsize=8, color="#555555", ha="right", va="bottom")


def title(ax, text: str) -> None:
    """A bold title starting at the figure's left margin (not the axes'), so that a long French title beside wide
    category labels is not clipped at the right edge."""
    pos = ax.get_position()
    ax.set_title(text, loc="left", fontweight="bold", x=(0.02 - pos.x0) / pos.width)


class _NoLigatures:
    """Stands for the text of a line drawn without its Text (see pdf_without_ligatures)."""

    @staticmethod
    def get_fontfeatures():
        return ["-liga"]

    @staticmethod
    def get_language():
        return None


@contextmanager
def pdf_without_ligatures():
    """While writing our PDF, every line of text is drawn without ligatures. no_ligatures() sets the font feature on
    each Text, but matplotlib hands it to the PDF renderer only for one-line texts (Text.draw passes mtext=None for
    each line of a multi-line text), so « fichier » or « effectifs » in a wrapped note would not be searchable."""
    from matplotlib.backends import backend_pdf

    original = backend_pdf.RendererPdf.draw_text

    def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        return original(self, gc, x, y, s, prop, angle, ismath, mtext if mtext is not None else _NoLigatures)

    backend_pdf.RendererPdf.draw_text = draw_text
    try:
        yield
    finally:
        backend_pdf.RendererPdf.draw_text = original
