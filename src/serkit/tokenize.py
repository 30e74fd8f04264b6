"""Software-aware tokenizer and detokenizer with character offsets.

Models see the tokens of their training corpora (WikiSER, SoftNER/StackOverflow NER), so
raw text is split the way those corpora are: software names stay whole (``C++``, ``C#``,
``.NET``, ``Node.js``, ``x86-64``, ``802.11``, ``ATI/AMD``, ``GPU-kernel-based``, URLs,
paths, versions, ``time(NULL)``) while clitics and brackets come off (``ROCm's`` ->
``ROCm`` ``'s``; ``(HPC)`` -> ``(`` ``HPC`` ``)``; ``don't`` -> ``do`` ``n't``). Where
the corpora have a habit, we follow it even when it looks odd: ``etc .`` and ``Inc .``
split but ``e.g.``, ``U.S.``, ``vs.``, ``Dr.`` do not; a period before a comma or a
closing quote stays on its word (``Inc.,`` ``proxy."``); ``$20`` and ``80%`` stay whole
but ``6.5 %`` splits. ``round_trip_agreement`` measures how often this reproduces a
corpus (README: WikiSER test 97.6%, SoftNER-9 test 95.9%).

One compiled regular expression scans the text left to right, so tokenizing is linear
in the text length (no alternative rescans what a later one consumes); every token is a
slice of the input, hence ``text[t.start:t.end] == t.text`` always. Whitespace, control
characters and invisible format characters (bidi marks, zero-width space, BOM) separate
tokens and are never part of one; every other character is in exactly one token. CJK
ideographs and kana are one token each (no spaces to go by); emoji sequences stay whole.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from serkit.sentences import sentence_bounds
from serkit.tokens import Token

__all__ = [
    "ABBREVIATIONS",
    "Agreement",
    "detokenize",
    "round_trip_agreement",
    "sentences",
    "tokenize",
    "tokenize_arrays",
]


def _mark_class() -> str:
    """Combining marks (Unicode M*) as a regex class body: ``\\w`` leaves them out, yet they
    belong to the letter before them (decomposed accents, Devanagari vowel signs)."""
    ranges: list[list[int]] = []
    for lo, hi in ((0x300, 0x20000), (0xE0100, 0xE01F0)):
        for cp in range(lo, hi):
            if unicodedata.category(chr(cp))[0] == "M":
                if ranges and ranges[-1][1] == cp - 1:
                    ranges[-1][1] = cp
                else:
                    ranges.append([cp, cp])
    # Soft hyphen, ZWNJ and ZWJ also live inside words.
    body = "\u00ad\u200c\u200d"
    for a, b in ranges:
        body += re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
    return body


_MARKS = _mark_class()
# Separators besides \s: C0/C1 controls, zero-width space, bidi marks and
# embeddings/isolates, word joiner and invisible operators, BOM.
_SEP = r"\x00-\x1f\x7f-\x9f\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
_CJK = (
    r"\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    r"\U00020000-\U0003134f"
)
# A word character: \w without CJK, plus combining marks; _WRUN is ``_W+`` unrolled
# (one tight class loop; the alternation form is a third slower).
_L = rf"[^\W{_CJK}]"
_M = rf"[{_MARKS}]"
_W = rf"(?:{_L}|{_M})"
_WRUN = rf"(?:{_L}+(?:{_M}+{_L}*)*|{_M}+(?:{_L}+{_M}*)*)"
# Clitics split off the word before them (Penn Treebank, as both corpora do).
_CLITIC = r"(?:[sSmMdD]|ll|LL|re|RE|ve|VE)(?!\w)"
_APOS = "'\u2019"
# Inside a bracket group: anything but separators and the brackets themselves.
_NS = rf"\s{_SEP}"
# Characters that join two word runs into one token: Node.js, x86-64, ATI/AMD,
# C:\Program, std::vector, AT&T, C++11, user@host, 8×8, this->x, 2^N; an apostrophe
# only when no clitic follows (L'Etrange, but ROCm|'s, do|n't); a comma only inside
# numbers (19,850).
_CONN = (
    r"(?:->|[-.:/\\+&@|*^$×±\u2010\u2011\u2212])+"
    rf"|[{_APOS}](?!{_CLITIC}|(?<=[nN][{_APOS}])[tT](?!\w))"
    r"|(?<=\d),(?=\d)"
)
# Bracket groups glued to a word stay in it (SoftNER keeps code whole): foo(),
# time(NULL), pt[0], firebase.database().ref(x), [D]CONFIG.SYS.
_GROUP = rf"\([^{_NS}()]*\)|\[[^{_NS}\[\]]*\]"
# What may stick to a word's start when it begins a token: .NET, -86, --env, +xml,
# /usr, //x, ./run, ../../x, ~/.bashrc, \n, :init, @Entity, #1, $scope, $20, £5, −2, =OOo.
_PREFIX = r"(?:(?:\.\.?/|~/|/)+\.?|\\|--?|\+\+?|::?|\.|[@#$£€¥−×<>≈^=%])"
# "At a token start": after a separator, an opening bracket or quote, or nothing.
_START = rf"(?<![^\s(\[{{\"'`\u2018\u201c<{_SEP}])"
# What may stick to a word's end: C++, C#, C--, A*, x.*, Gamer'', 2021$, 16×, 90°,
# 17″, Xen®, users’, software- (then a space), /mlp/, and a period that a comma or a
# closing quote follows (Inc., / proxy." are how WikiSER writes them).
_SUFFIX = (
    r"(?:\+\+?|--|\#|(?:\.|::)?\*|'{2,}(?:s(?!\w))?|[$×°″′®™]|’(?!\w)"
    r"|[-/](?=[\s,]|\Z)|\.(?=[,\"'\u201d\u2019]))"
)
# A URL: anything but separators, <>, quotes and backticks, not ending in punctuation or a
# closer, unless that closes a bracket group of the URL (wiki/C_(language)); the group is
# atomic, so each character is read one way and the scan stays linear.
_UX = rf"{_NS}<>\"'`"
_UPAR = rf"\([^{_UX}()]*\)"
_URL = (
    r"(?:(?:https?|ftp|file|ssh|git)://|www\.)"
    rf"(?>{_UPAR}|[^{_UX}])*(?:{_UPAR}|[^{_UX}.,;:!?)\]}}])"
)
#: Abbreviations that keep their period, as both corpora write them. Others (etc, Inc,
#: Ltd, al, Bros...) are written ``etc .`` there, so they split like any word.
ABBREVIATIONS = frozenset(["Dr", "Mr", "Mrs", "Ms", "Prof", "Jr", "Sr", "St", "vs", "Vs"])
_ABBREV_LIST = "|".join(sorted(ABBREVIATIONS, key=len, reverse=True))

# Alternatives in priority order. ``plain`` and ``punct`` are fast paths for the bulk
# (a word followed by a space or closing punctuation; a comma or closing bracket): they
# only match where no later alternative could match anything longer. The groups do not
# capture (their names are comments) so that ``findall`` returns plain strings.
_RUNS = "|".join(re.escape(c) * 2 + "+" for c in '-.=+*/|!?~<>&:#_"')
_PATTERN = rf"""
    (?:{_L}+(?=[\s;)\]}}"!?{_SEP}]|,(?!\d)|\Z))                              # plain
  | [,)\]}}]                                                                # punct
  | {_URL}                                                                   # url
  | (?<!\w)(?:(?:[A-Za-z]\.){{2,}}|(?:{_ABBREV_LIST})\.)(?![\w-])            # abbr
  | [{_APOS}]{_CLITIC}|[nN][{_APOS}][tT](?!\w)                               # clitic
  | \d+%(?!\w)|%[A-Za-z_]\w*%                                               # percent
  | </?[A-Za-z][^{_NS}<>]*>                                                  # tag
  | (?:{_START}(?:{_PREFIX}|\$\([^{_NS}()]*\)(?={_W}|\.)))?                   # word
    (?:\[[^{_NS}\[\]]*\](?={_W}))?
    {_WRUN}(?:(?:{_CONN}){_WRUN}|{_GROUP})*{_SUFFIX}?
    (?!(?<=[nN])[{_APOS}][tT](?!\w))
  | \$\([^{_NS}()]*\)(?:\.{_WRUN}(?:{_GROUP})*)*                              # jq
  | (?<![\w])(?:[:;][-']?[()DPp]|=\))(?![\w()])                              # emoticon
  | ->|=>|<-|<=|>=|!=|:=|{_RUNS}                                             # op
  | [{_CJK}]{_M}*                                                            # cjk
  | [\U0001F1E6-\U0001F1FF]{{2}}                                              # emoji
  | [\U0001F000-\U0001FAFF\u2600-\u27bf\u2300-\u23ff\u2b00-\u2bff]
    (?:[\ufe0f\u20e3\U0001F3FB-\U0001F3FF]|\u200d[\U0001F000-\U0001FAFF\u2600-\u27bf])*
  | [^{_NS}]{_M}*                                                            # other
"""
# The scanner also swallows the separators before each token (group 1; the token is
# group 2): trying every alternative at every space costs more than the tokens themselves.
_SCAN_RE = re.compile(rf"([{_NS}]*+)({_PATTERN})", re.VERBOSE)
# Every separator character, to strip the text's tail in linear time: the scanner must
# never start inside trailing separators (each start would rescan all of them).
_SEP_RE = re.compile(rf"[{_NS}]")
_SEP_CHARS = "".join(filter(_SEP_RE.match, map(chr, range(0x3001)))) + "\ufeff"


@dataclass(frozen=True, slots=True)
class TokenArrays:
    """The tokens of a text as parallel lists, with no object per token: ``tokenize``'s
    ``Token`` list in columns, not another sentence shape (no tags, no sentences). It is
    what tagging needs on its hot path (models see ``words``; offsets matter only for
    entities and ``Sentence.meta["offsets"]``): ``serkit.tagger`` and the server's batching
    use it, and nothing of it leaves them."""

    words: list[str]
    starts: list[int]
    ends: list[int]
    #: the separators before each token (``text[ends[i - 1]:starts[i]]``; ``gaps[0]``
    #: is what precedes the first token): all that sentence splitting needs of the text.
    gaps: list[str]


def tokenize_arrays(text: str) -> TokenArrays:
    """``tokenize`` without ``Token`` objects: the same tokens and offsets, 3x faster.

    ``split`` on the scanner returns one flat list of strings, ``[between, separators,
    token] * n + [tail]``, with no match object or tuple per token (those also cost
    garbage-collector passes); running sums of their lengths are the offsets. The
    ``between`` parts are empty (the scanner has an alternative for any character), but
    should one not be, it still counts as a separator.
    """
    end = len(text.rstrip(_SEP_CHARS))
    parts = _SCAN_RE.split(text if end == len(text) else text[:end])
    pos = list(accumulate(map(len, parts)))
    gaps = parts[1::3]
    if any(parts[0::3]):
        gaps = list(map(operator.add, parts[0::3], gaps))
    return TokenArrays(parts[2::3], pos[1::3], pos[2::3], gaps)


def tokenize(text: str) -> list[Token]:
    """Tokens of ``text`` with character offsets (``text[t.start:t.end] == t.text``)."""
    a = tokenize_arrays(text)
    return list(map(Token, a.words, a.starts, a.ends))


def sentences(text: str) -> list[list[Token]]:
    """Sentences of ``text``, each a non-empty list of tokens with offsets into ``text``.

    Linear time; see ``serkit.sentences`` for the boundary rules.
    """
    a = tokenize_arrays(text)
    tokens = list(map(Token, a.words, a.starts, a.ends))
    return [tokens[lo:hi] for lo, hi in sentence_bounds(a.words, a.gaps)]


# --------------------------------------------------------------------------- detokenize

# Tokens written against the token before them ("word," "word." "(x)" "can't" "50%").
_ATTACH_LEFT_RE = re.compile(
    r"(?P<p>[.,;:!?])(?P=p)*|[!?]+"
    r"|[)\]}%\u3001\u3002\uff01\uff1f\uff0c\u060c\u061f\u0964\u06d4\u2026\u201d\u2019\u00bb]"
    rf"|''|[{_APOS}]{_CLITIC}|[nN][{_APOS}][tT]"
)
# Tokens written against the token after them ("(x" "[x" "“x" "¿Qué").
_ATTACH_RIGHT = frozenset(["(", "[", "{", "\u201c", "\u2018", "\u00ab", "\u00bf", "\u00a1", "``"])
# Quotes whose direction is known only by counting: they alternate open/close.
_QUOTES = frozenset(['"', "'", "`"])
_CLITIC_START = re.compile(_CLITIC)
_CJK_CHAR = re.compile(rf"[{_CJK}\u3000-\u303f\uff00-\uffef]")
_PUNCT_CHARS = frozenset(".,;:!?-=+*/|~<>&#_%")


def detokenize(tokens: Sequence[str]) -> str:
    """Text for ``tokens`` with ordinary spacing around punctuation, quotes, brackets
    and clitics, chosen so that ``tokenize`` gives the tokens back where it can.

    Straight quotes alternate opening/closing; a lone ``'`` after a word ending in ``s``
    is a possessive (``users'``); curly quotes say which side they hug. A token is never
    glued to a neighbour when that would merge two punctuation runs (``..`` ``.`` stays
    ``.. .``). Empty tokens are dropped.
    """
    toks = [t for t in tokens if t]
    out: list[str] = []
    is_open = dict.fromkeys(_QUOTES, False)
    glue_next = False
    prev = ""
    for i, tok in enumerate(toks):
        space = bool(out) and not glue_next
        glue_after = tok in _ATTACH_RIGHT
        if tok in _QUOTES:
            if is_open[tok]:
                space = False  # closing
                is_open[tok] = False
            elif tok == "'" and prev[-1:] in ("s", "S"):
                space = False  # possessive: users'
            else:
                is_open[tok] = True
                nxt = toks[i + 1] if i + 1 < len(toks) else ""
                # Hug the next word, unless the two would read as a clitic ('s, 'd).
                glue_after = _CLITIC_START.match(nxt) is None
        elif _ATTACH_LEFT_RE.fullmatch(tok) or (
            _CJK_CHAR.match(tok) and _CJK_CHAR.match(prev[-1:])
        ):
            space = False
        if not space and out and prev[-1:] == tok[:1] and tok[:1] in _PUNCT_CHARS:
            space = True  # ".." + "." must not become one "..." token
        if space:
            out.append(" ")
        out.append(tok)
        glue_next = glue_after
        prev = tok
    return "".join(out)


# --------------------------------------------------------------------------- agreement


@dataclass(slots=True)
class Agreement:
    """How many sentences survive ``tokenize(detokenize(tokens)) == tokens``."""

    agree: int = 0
    total: int = 0
    #: Up to ``keep`` disagreeing sentences: (corpus tokens, tokens after the round trip).
    failures: list[tuple[list[str], list[str]]] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return self.agree / self.total if self.total else 0.0


def round_trip_agreement(corpus: Iterable[Sequence[str]], keep: int = 0) -> Agreement:
    """Measure how closely the tokenizer follows a corpus's tokenization: each sentence
    is detokenized to text and tokenized again; it agrees when the tokens come back.
    """
    result = Agreement()
    for tokens in corpus:
        toks = list(tokens)
        again = [t.text for t in tokenize(detokenize(toks))]
        result.total += 1
        if again == toks:
            result.agree += 1
        elif len(result.failures) < keep:
            result.failures.append((toks, again))
    return result
