"""Turning typed text into the toy's tokens.

A real model splits text into sub-word tokens; here a token is a whole word
(or a multi-word vocabulary entry such as "ice hockey"), because the lesson
is about "Michael" and "Jordan" as single features. Matching ignores case
and extra spaces, so "  michael   JORDAN " is the same input as
"Michael Jordan"; the vocabulary's spelling is what comes back.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_CHARS = 200
MAX_WORDS = 8
EMPTY_MESSAGE = "Type a name, for example Michael Jordan."
# Punctuation people type around names ("Jordan?", "(Michael)") but that is
# never part of one; apostrophes and hyphens stay (O'Neal, Abdul-Jabbar).
_STRIP = '.,;:!?"()[]{}<>`*_'


class ParseError(ValueError):
    """Input the toy cannot read; the message is meant for the reader."""


def _vocab_names(vocab: object) -> list[str]:
    if vocab is None:
        from toycore.model import default_embedding

        return default_embedding().names
    names = getattr(vocab, "names", vocab)
    return list(names)  # type: ignore[call-overload]


def split_words(text: str) -> list[str]:
    """Strip, collapse whitespace, drop surrounding punctuation; enforce limits."""
    if not isinstance(text, str):
        raise ParseError(EMPTY_MESSAGE)
    collapsed = " ".join(text.split())
    if len(collapsed) > MAX_CHARS:
        raise ParseError(
            f"That is too long ({len(collapsed)} characters): "
            f"type a name of at most {MAX_WORDS} words."
        )
    words = [w.strip(_STRIP) for w in collapsed.split(" ")]
    words = [w for w in words if w]
    if not words:
        raise ParseError(EMPTY_MESSAGE)
    if len(words) > MAX_WORDS:
        raise ParseError(
            f"That is {len(words)} words: type a name of at most {MAX_WORDS} words, "
            "for example Michael Jordan."
        )
    return words


def tokenize(text: str, vocab: object = None) -> tuple[list[str], list[bool]]:
    """Tokens plus an "unknown" flag per token.

    Greedy longest match against the vocabulary, so multi-word entries like
    "ice hockey" become one token. Unknown words come back as typed.
    """
    names = _vocab_names(vocab)
    lookup = {n.casefold(): n for n in names}
    longest = max((len(n.split()) for n in names), default=1)
    words = split_words(text)
    tokens: list[str] = []
    unknown: list[bool] = []
    i = 0
    while i < len(words):
        for span in range(min(longest, len(words) - i), 0, -1):
            key = " ".join(words[i : i + span]).casefold()
            if key in lookup:
                tokens.append(lookup[key])
                unknown.append(False)
                i += span
                break
        else:
            tokens.append(words[i])
            unknown.append(True)
            i += 1
    return tokens, unknown


def parse_name(text: str, vocab: Iterable[str] | object = None) -> list[str]:
    """Tokens for a typed name, in the vocabulary's casing.

    Raises ParseError (a ValueError) with a reader-facing message for empty
    or absurdly long input (more than 200 characters or 8 words).
    `vocab` is an Embedding, a list of names, or None for the default.
    """
    return tokenize(text, vocab)[0]
