"""Streaming sentence chunker for (Chinese) LLM replies on their way to text-to-speech.

The LLM streams its reply as arbitrary text deltas. :class:`SentenceChunker` cuts that stream into
fragments which are synthesised one by one, so the first audio plays long before the reply ends.

Why the rules are what they are:

* **Early first audio.** The first fragment is short: it ends at the first split point once it
  holds ``first_min`` speakable units, or is forced at ``first_max``. Later fragments may be longer
  (``min_chars``..``max_chars``), which gives the TTS engine more context and smoother prosody.
* **Natural pauses.** Split points are after ``。！？；，、：…`` and newlines, and after ASCII
  ``. ! ? ; , :``. A strong terminator (``。！？``, ASCII ``! ?``, a sentence-final ``.``, newline)
  is where a speaker pauses anyway, so it may end a fragment at only ``STRONG_MIN`` (2) units; weak
  punctuation (``，、；：…``, ``,;:``, ``...``) below the minimum does not cut. Closing quotes and
  brackets (``」』）”``...), further punctuation and whitespace right after the split point stay with
  the fragment they close; opening quotes before a forced cut go with the next fragment.
* **Never break numbers or English.** ASCII ``.,:;!?`` followed directly by a letter, digit or a
  connector such as ``/`` is not a split point ("3.14", "1,000", "12:30", "Node.js", "https://"),
  nor is the dot closing a dotted abbreviation ("e.g.", "U.S."). Forced cuts are only ever placed
  before the *start* of a speakable unit, so they cannot fall inside a word, a number or a
  base-plus-combining-mark sequence.
* **A number keeps its unit.** A forced cut that would fall between a number (digits, or
  Chinese numerals such as 二十五) and the character after it (its unit or measure word:
  ``314｜平方公分``, ``二十五｜度``) moves back before the number, when the fragment it ends still
  holds its minimum; the number then opens the next fragment with its unit.
* **Nothing silent.** A fragment is only emitted once the text after it contains a speakable unit,
  so no fragment is punctuation/whitespace only -- except when the whole input has no speakable
  character, which then comes back from :meth:`SentenceChunker.flush` as a single fragment.

Length rule (see :func:`count_speakable`): every CJK character (ideographs, kana, hangul, i.e. any
letter/digit at or above U+2E80 except fullwidth ASCII) counts 1. A *word* counts 1: a run of
letters/digits of the other scripts (ASCII, Latin, Greek, Cyrillic, fullwidth ASCII), where runs
joined by at most 3 connector characters (``. , : / - _ ' @ & + # % = ? ~``) are one word, so
"3.14", "1,000", "12:30", "2024-03-15", "Node.js" and "https://a.b" each count 1. Whitespace,
punctuation, symbols, emoji and combining marks count 0.

Streaming guarantees: ``"".join(fragments) == "".join(deltas)`` exactly; fragments are non-empty
and in order; the result does not depend on how the text was cut into deltas. Each character is
examined exactly once, with one character of lookahead (the last character of a delta waits for
the next delta or :meth:`~SentenceChunker.flush`), so the work is amortised O(n).
"""

from __future__ import annotations

import unicodedata

STRONG_MIN = 2  # a strong terminator may end a fragment holding at least this many units
_STRONG = frozenset("。！？｡\n")
_WEAK = frozenset("，、；：…‥﹐﹑﹔﹕")
_ASCII_STRONG = frozenset(".!?")
_ASCII_WEAK = frozenset(",;:")
_CONNECTORS = frozenset(".,:/-_'@&+#%=?~")
_MAX_JOIN_GAP = 3
_CLOSERS = frozenset("」』）》〉】〕］｝”’)]}'")  # ASCII '"' handled by quote parity
_OPENERS = frozenset("「『（《〈【〔［｛“‘([{")
_NONE, _WORD, _GAP = 0, 1, 2
_CJK_NUMERALS = frozenset("〇零一二三四五六七八九十百千萬億兩")


def _is_word_char(c: str) -> bool:
    """Letter/digit of a space-separated script (these form multi-character words)."""
    return c.isalnum() and (c < "\u2e80" or "\uff10" <= c <= "\uff5a")


def _is_attached(c: str) -> bool:
    """Combining marks, ZWJ, variation selectors, emoji skin tones: glued to the previous char."""
    return unicodedata.category(c)[0] == "M" or c == "\u200d" or "\U0001f3fb" <= c <= "\U0001f3ff"


class _Units:
    """Tells, character by character and without lookahead, where a speakable unit starts."""

    __slots__ = ("_state", "_gap")

    def __init__(self) -> None:
        self._state, self._gap = _NONE, 0

    def step(self, c: str) -> bool:
        if _is_word_char(c):
            starts = self._state == _NONE
            self._state, self._gap = _WORD, 0
            return starts
        if _is_attached(c):
            if self._state != _WORD:
                self._state = _NONE
            return False
        if c in _CONNECTORS and self._state != _NONE and self._gap < _MAX_JOIN_GAP:
            self._state, self._gap = _GAP, self._gap + 1
            return False
        self._state = _NONE
        return c.isalnum()  # a CJK character is a unit on its own


def count_speakable(text: str) -> int:
    """Number of speakable units in ``text`` (the length rule described in the module docstring)."""
    units = _Units()
    return sum(units.step(c) for c in text)


class SentenceChunker:
    """Incrementally cuts a streamed reply into TTS-sized fragments (see the module docstring)."""

    def __init__(
        self, *, first_min: int = 6, first_max: int = 10, min_chars: int = 10, max_chars: int = 15
    ) -> None:
        if not (1 <= first_min <= first_max and 1 <= min_chars <= max_chars):
            raise ValueError("need 1 <= first_min <= first_max and 1 <= min_chars <= max_chars")
        self.first_min, self.first_max = first_min, first_max
        self.min_chars, self.max_chars = min_chars, max_chars
        self._reset()

    def _reset(self) -> None:
        self._buf: list[str] = []  # unemitted text; _buf[0] is stream position _base
        self._base = 0
        self._start = 0  # stream position where the current fragment starts
        self._pos = 0  # stream position of the next character to examine
        self._count = 0  # speakable units in the current fragment
        self._cut: int | None = None  # pending cut: the fragment ends here once a unit follows
        self._run_open = False  # still extending the pending cut over closers/whitespace
        self._first = True
        self._units = _Units()
        self._prev1 = self._prev2 = ""  # the two characters before _pos
        self._in_dquote = False  # parity of ASCII '"' seen so far

    def feed(self, delta: str) -> list[str]:
        """Add a delta; return the fragments it completed (possibly none)."""
        self._buf.extend(delta)
        out: list[str] = []
        end = self._base + len(self._buf)
        while self._pos + 1 < end:  # keep one character of lookahead
            self._step(self._buf[self._pos - self._base], self._buf[self._pos + 1 - self._base], out)
        if 2 * (self._start - self._base) > len(self._buf):  # amortised O(1) compaction
            del self._buf[: self._start - self._base]
            self._base = self._start
        return out

    def flush(self) -> list[str]:
        """End of stream: return the remaining tail (possibly none) and reset for a new stream."""
        out: list[str] = []
        end = self._base + len(self._buf)
        while self._pos < end:
            nxt = self._buf[self._pos + 1 - self._base] if self._pos + 1 < end else None
            self._step(self._buf[self._pos - self._base], nxt, out)
        if self._start < end:  # a pending cut with a silent remainder is merged here
            out.append(self._take(end))
        self._reset()
        return out

    def _step(self, c: str, nxt: str | None, out: list[str]) -> None:
        i = self._pos
        starts = self._units.step(c)
        strong = self._split_kind(c, nxt)
        if self._cut is not None and self._run_open:
            self._run_open = (
                strong is not None
                or c.isspace()
                or c in _CLOSERS
                or (c == '"' and self._in_dquote)
                or _is_attached(c)
            )
            if self._run_open:
                self._cut = i + 1
        if starts:
            if self._cut is not None:  # the pending fragment is now known to be followed by speech
                out.append(self._take(self._cut))
            elif self._count >= (self.first_max if self._first else self.max_chars):
                cut = self._forced_cut(i)
                carried = count_speakable("".join(self._buf[cut - self._base : i - self._base]))
                out.append(self._take(cut))
                self._count = carried  # a number moved to this fragment with its unit
            self._count += 1
        elif strong is not None and self._cut is None:
            low = self.first_min if self._first else self.min_chars
            if self._count >= (min(STRONG_MIN, low) if strong else low):
                self._cut, self._run_open = i + 1, True
        self._prev2, self._prev1 = self._prev1, c
        if c == '"':
            self._in_dquote = not self._in_dquote
        self._pos = i + 1

    def _split_kind(self, c: str, nxt: str | None) -> bool | None:
        """None: not a split point; True: strong terminator; False: weak punctuation."""
        if c in _STRONG:
            return True
        if c in _WEAK:
            return False
        if c not in _ASCII_STRONG and c not in _ASCII_WEAK:
            return None
        if nxt is not None and (_is_word_char(nxt) or nxt in _CONNECTORS):
            return None  # inside a number, a file name, a URL, ...
        if c == "." and self._prev2 == "." and self._prev1.isascii() and self._prev1.isalpha():
            return None  # the final dot of "e.g.", "U.S."
        if c == "." and self._prev1 == ".":
            return False  # ASCII ellipsis "..." is weak, like "…"
        return c in _ASCII_STRONG

    def _forced_cut(self, i: int) -> int:
        """Cut before the unit starting at ``i`` (or before the number it follows), leaving
        opening quotes/brackets to the next fragment."""
        cut = self._number_start(i)
        if cut is None:
            cut = i
        while cut > self._start and self._buf[cut - 1 - self._base] in _OPENERS:
            cut -= 1
        return cut

    def _number_start(self, i: int) -> int | None:
        """Where the number right before ``i`` starts (spaces between allowed), if cutting
        there leaves the fragment its minimum; None otherwise."""
        def at(k: int) -> str:
            return self._buf[k - self._base]

        end = i
        while end > self._start and at(end - 1).isspace():
            end -= 1
        start = end
        while start > self._start and (
            at(start - 1).isdigit() or at(start - 1) in _CJK_NUMERALS
            or (at(start - 1) in _CONNECTORS and start - 2 >= self._start and at(start - 2).isdigit())
        ):
            start -= 1
        if start == end or start == self._start:
            return None  # no number, or the fragment is all number
        before = at(start - 1)
        joined = before in _CONNECTORS and start - 2 >= self._start and _is_word_char(at(start - 2))
        if _is_word_char(before) or joined:
            return None  # digits ending a word or a token ("mp3", "v1.2"): not a number's start
        kept = count_speakable("".join(self._buf[self._start - self._base : start - self._base]))
        return start if kept >= (self.first_min if self._first else self.min_chars) else None

    def _take(self, cut: int) -> str:
        fragment = "".join(self._buf[self._start - self._base : cut - self._base])
        self._start, self._count, self._cut, self._run_open, self._first = cut, 0, None, False, False
        return fragment


def split_text(text: str, **kwargs: int) -> list[str]:
    """Chunk a whole text at once (same fragments as streaming it in any pieces)."""
    chunker = SentenceChunker(**kwargs)
    return chunker.feed(text) + chunker.flush()
