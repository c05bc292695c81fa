"""What a question asks, read once: its names and years, the outlets and articles it points
at, the kind of answer it wants, whether it compares or follows a change over time.

The retriever and the answerer both read one :class:`QuestionAnalysis`; nothing here knows the
index beyond the (outlet, author) pairs it is given.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache

from sinoqa.dates import MONTHS, WEEKDAYS
from sinoqa.errors import InvalidQuestion
from sinoqa.schema import Answer
from sinoqa.wordlists import NOT_PERSON, TITLE_WORDS, words

_TEMPORAL = re.compile(
    r"\b(how (?:has|have|did|do|does)\b.*\b(?:chang|evolv|shift|develop|progress)\w*"
    r"|over time|timeline|chronolog\w*|sequence of)\b",
    re.IGNORECASE,
)
# Questions whose answer draws on several articles (with _TEMPORAL).
_COMPARATIVE = re.compile(
    r"\b(?:compare[sd]?|comparison|differ\w*|both|each|first\b.*\bthen|and (?:then|later)"
    r"|(?:reports|articles|sources|outlets|accounts|analyses|columns))\b",
    re.IGNORECASE,
)
# Words that ask about the present: "this week", "the latest", "recently", "so far this
# year". Such a question is about the newest articles on its subject, so it is asked as of a
# day (today, or the newest article's day) when the user gave none.
_RECENT = re.compile(
    r"\b(?:this|last|past) (?:week(?:end)?|month|year)\b|\bso far\b|\b(?:the )?latest\b"
    r"|\brecent(?:ly)?\b|\bcurrent(?:ly)?\b|\bnow(?!-)\b|\bnowadays\b|\btoday\b"
    r"|\bthese days\b|\bat present\b",
    re.IGNORECASE,
)
_FOLLOW_UP = re.compile(
    r"^\s*(?:and|but|also|so|then|what about|how about)\b"
    r"|\b(?:it|its|they|them|their|this|that|these|those|he|she|him|his|her)\b",
    re.IGNORECASE,
)
# Requests to do something other than answer from the articles: refused before retrieval
# counts (and never passed on as instructions to an LLM).
_NOT_A_QUESTION = re.compile(
    r"^\s*(?:please\s+)?(?:ignore|disregard|forget|override)\b.*\b(?:instructions?|articles?|"
    r"documents?|sources?|context|passages?|rules?)\b"
    r"|\bsystem prompt\b|\byour (?:previous |initial )?instructions\b"
    r"|^\s*(?:please\s+)?(?:pretend|imagine you|act as|role-?play|you are now)\b"
    r"|^\s*(?:please\s+)?(?:write|compose|create|generate|make up)\s+(?:me\s+)?(?:a|an|some)?\s*"
    r"(?:poem|song|story|joke|limerick|haiku|rap|sonnet|tweet)s?\b"
    r"|\byour (?:own |personal )?(?:opinion|view|feelings?)\b|^\s*tell me a joke\b",
    re.IGNORECASE,
)
# Words that point at the source rather than at what it says ("the author of the E-IR
# piece"): not looked for in the passages.
_SOURCE_WORDS = re.compile(
    r"\b(?:authors?|writers?|columnists?|columns?|pieces?|op-eds?|essays?|commentary|editorials?"
    r"|articles?(?!\s+\d)|(?<!public )opinion)\b",  # not "Article 23", not "public opinion"
    re.IGNORECASE,
)
_AUTHOR_REFERENCE = re.compile(r"\b(?:author|writer|columnist)s?\b", re.IGNORECASE)
# A year followed by a word for an article (one word, such as the outlet, may come between).
_ARTICLE_WORD = (
    r"(?:reports?|articles?|pieces?|columns?|analys[ie]s|assessments?|outlooks?|"
    r"commentar(?:y|ies)|op-eds?|stor(?:y|ies)|coverage|editorials?|essays?|briefs?)"
)
_SEASON = r"(?:(?:early|mid|late|spring|summer|autumn|fall|winter)[- ])?"
# "the 2023 reports", "the 2021 SCMP column", "the 2021 and 2023 articles", "the
# autumn-2023 assessment", "articles published in 2023".
_YEAR_REFERENCE = re.compile(
    rf"\b{_SEASON}((?:19|20)\d\d)(?:\s+(?:and|or|&)\s+{_SEASON}((?:19|20)\d\d))?[- ]"
    rf"(?:[\w-]+ )?{_ARTICLE_WORD}\b"
    rf"|\b{_ARTICLE_WORD}\s+(?:published\s+|written\s+)?(?:in|from)\s+((?:19|20)\d\d)\b",
    re.IGNORECASE,
)
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")
# A name as a question writes it ("Xi Jinping", "South China Sea", "Sullivan-Wang Yi"), or a year.
_WORD = re.compile(r"\b(?:19|20)\d\d\b|[^\W\d_](?:[\w'’-]*[^\W_])?")

# -- the kind of answer wanted -------------------------------------------------------------

_ANSWER_KINDS = (
    (
        "person",
        re.compile(r"^\s*(?:and\s+)?who(?:m|se)?\b|\bwhich (?:person|people|official)", re.I),
    ),
    ("duration", re.compile(r"\bhow long\b", re.I)),
    (
        "number",
        re.compile(
            r"\bhow (?:many|much)\b|\bhow large\b|\bwhat (?:\w+ )?(?:number|amount|share|"
            r"percentage|rate)\b",
            re.I,
        ),
    ),
    (
        "date",
        re.compile(
            r"\bwhen\b|\b(?:what|which|exact) (?:date|year|month|day)\b|"
            r"\bon (?:exactly )?what date\b|\bin what year\b",
            re.I,
        ),
    ),
)
# "one" and "half" are left out: far more often a pronoun or "on the other half" than a count.
_NUMBER_WORDS = (
    r"two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
    r"forty|fifty|hundred|thousand|million|billion|trillion|dozens?"
)
_UNITS = r"(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centur(?:y|ies))"
#: The same as a regular-expression alternation (also read by sinoqa.views.compare).
MONTH_NAMES = "|".join(MONTHS)
_MONTHS = rf"{MONTH_NAMES}|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec"
_WEEKDAYS = "|".join(WEEKDAYS)
_YEAR_NUMBER = r"(?:1[89]|20)\d\d"
_KIND_PATTERNS = {
    # A bare year is a date, not an answer to "how many"; digits inside names ("G20",
    # "F-35", "COVID-19") and decades ("1990s") are not counts either.
    "number": re.compile(
        rf"\$?(?<![\w,.-])(?!{_YEAR_NUMBER}\b)(?![\d,.]*s\b)\d[\d,.]*%?"
        rf"|\b(?i:{_NUMBER_WORDS})\b"
    ),
    "duration": re.compile(
        rf"(?i:\b(?:\d[\d,.]*|{_NUMBER_WORDS}|one|an?|several|a few|many)[- ]{_UNITS}\b)"
        rf"|(?i:\bsince\b)\s+(?:{_YEAR_NUMBER}\b|(?:{_MONTHS})\b)"
        # "for much of 2021", "until the end of the year", "through 2025"
        rf"|(?i:\b(?:for|through|throughout)\s+(?:much|most|all|the rest|part)\s+of\s+"
        rf"(?:the\s+)?(?:{_YEAR_NUMBER}|year|decade|month|week)\b)"
        rf"|(?i:\b(?:until|till|through)\s+(?:the end of\s+)?(?:the\s+)?"
        rf"(?:{_YEAR_NUMBER}|year|decade|month|week)\b)"
    ),
    "date": re.compile(
        rf"\b{_YEAR_NUMBER}\b|\b(?:{_MONTHS})\.?(?=\s+\d|\s+{_YEAR_NUMBER})"
        rf"|(?:\b(?:in|on|since|by|until|from|early|late|last|next|this)\s+|\bmid-\s*)"
        rf"(?:{_MONTHS})\b"
        rf"|\b(?:{_WEEKDAYS})\b|(?i:\b(?:last|next|this) (?:week|month|year)\b)"
        r"|(?i:\b(?:spring|summer|autumn|winter)\b)"
    ),
}
#: The calendar's names are never part of a person's name: derived, not listed.
CALENDAR_WORDS = frozenset(word.casefold() for word in (*MONTHS, *WEEKDAYS))
CAPITALISED_RUN = re.compile(r"[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)*")


@lru_cache(maxsize=16)
def _not_person(listed: frozenset[str]) -> frozenset[str]:
    return listed | CALENDAR_WORDS


def person_names(text: str, known: Collection[str] = ()) -> set[str]:
    """People named in ``text``: two or more capitalised words that are not a place or a body
    ("Li Shangfu", not "South China Sea"), a name after a title ("President Xi"), or one word
    that opens or closes a name in ``known`` (names found nearby: "Xi" of "Xi Jinping",
    "Blinken" of "Antony Blinken"). The words never part of one and the titles are word
    lists (:mod:`sinoqa.wordlists`)."""
    excluded = _not_person(words(NOT_PERSON))
    titles = words(TITLE_WORDS)
    short = {form for name in known for form in _name_ends(name.casefold())}
    leading = excluded | titles
    short -= leading
    found: set[str] = set()
    for run in CAPITALISED_RUN.finditer(text):
        names = [re.sub(r"['’]s$", "", w).strip(".") for w in run.group().split()]
        if len(names) == 1 and names[0].casefold() in short:
            found.add(names[0])
            continue
        titled = [i for i, w in enumerate(names) if w.casefold() in titles]
        if titled:  # "President Xi"; "the Prime Minister" alone names nobody
            after = names[titled[-1] + 1 :]
            if after and after[0].casefold() not in excluded:
                found.add(" ".join(after))
            continue
        while names and (names[0].casefold() in leading or _acronym(names[0])):
            names = names[1:]
        if len(names) >= 2 and not any(w.casefold() in excluded for w in names):
            found.add(" ".join(names))
    return found


def _acronym(word: str) -> bool:
    """ "US", "EU", "NATO": a body or a place, never part of a person's name."""
    return len(word) >= 2 and word.isupper()


def _name_ends(name: str) -> set[str]:
    """The words a person is called by alone: the first and last of the name."""
    words = name.split()
    return {words[0], words[-1]} if words else set()


def answer_kind(question: str) -> str | None:
    """The kind of answer a question asks for ("person", "number", "date", "duration")."""
    for kind, pattern in _ANSWER_KINDS:
        if pattern.search(question):
            return kind
    return None


def answer_values(kind: str, text: str, known_people: Collection[str] = ()) -> set[str]:
    """The people, numbers, dates or durations (per ``kind``) that ``text`` mentions; a person
    may be named by one word of a name in ``known_people``."""
    if kind == "person":
        return {name.casefold() for name in person_names(text, known_people)}
    return {m.group().casefold().strip(".,") for m in _KIND_PATTERNS[kind].finditer(text)}


def has_new_answer(
    kind: str | None, sentence: str, question: str, known_people: Collection[str] = ()
) -> bool:
    """Whether the sentence holds a value of the asked kind that the question does not
    (``known_people``: full names found nearby, whose one-word forms count as people)."""
    if kind is None:
        return False
    asked = answer_values(kind, question, known_people)
    if kind == "person":  # "Antony Blinken" is the "Blinken" the question names
        asked |= {form for name in asked for form in _name_ends(name)}
        return any(
            value not in asked and not _name_ends(value) & asked
            for value in answer_values(kind, sentence, known_people)
        )
    return any(value not in asked for value in answer_values(kind, sentence, known_people))


# -- names, years and sources --------------------------------------------------------------


def question_names(question: str) -> list[str]:
    """Names as the question writes them, each once: runs of capitalised words ("Xi Jinping",
    "Sullivan-Wang Yi", "Beyoncé") past the start of a sentence, and years."""
    names: list[str] = []
    run: list[str] = []
    end = 0
    for index, match in enumerate(_WORD.finditer(question)):
        word, between = match.group(), question[end : match.start()]
        end = match.end()
        year = word[0].isdigit()
        opens_sentence = index == 0 or between.strip()[-1:] in {"?", "!"}
        capitalised = word[0].isupper() and not opens_sentence
        if capitalised and run and between == " " and not run[-1][0].isdigit():
            run.append(word)  # "Xi" + "Jinping"
            continue
        if run:
            names.append(" ".join(run))
        run = [word] if capitalised or year else []
    if run:
        names.append(" ".join(run))
    return list(dict.fromkeys(names))


def content_words(text: str) -> str:
    """``text`` less the words that point at the source ("author", "piece", "column")."""
    return _SOURCE_WORDS.sub(" ", text)


def unknown_candidates(question: str) -> list[str]:
    """Capitalised words past the question's first word: names the corpus should know."""
    words = re.findall(
        r"(?<!^)(?<![.?!]\s)\b[A-Z][A-Za-z]*(?:-[A-Z][A-Za-z]*)*\b", question.strip()
    )
    return list(dict.fromkeys(w for w in words if len(w) > 1))


#: A figure as written: "$345", "1,300", "2.5%" (one digit alone is left to callers).
FIGURE = r"\$?\d[\d,.]*\d%?"
_NUMBER = re.compile(rf"{FIGURE}|\b\d{{2,}}\b")


def premise_terms(question: str) -> list[str]:
    """What a question asserts that the articles should contain: the names it uses (capitalised
    words past its first) and its numbers and years ("$345 million", "1,300", "2019")."""
    numbers = [m.group().rstrip(".,") for m in _NUMBER.finditer(question)]
    return list(dict.fromkeys([*unknown_candidates(question), *numbers]))


def referenced_years(question: str) -> frozenset[int]:
    """Years the question uses to point at articles: "the 2023 reports", "the 2021 SCMP
    column", "the autumn-2023 assessment"."""
    return frozenset(
        int(year) for match in _YEAR_REFERENCE.finditer(question) for year in match.groups() if year
    )


def initialism(name: str) -> str:
    """First letters of a name's words: "E-International Relations" -> "EIR"."""
    return "".join(word[0] for word in re.findall(r"[A-Za-z]+", name)).upper()


@lru_cache(maxsize=4096)
def source_aliases(publisher: str | None, author: str | None) -> frozenset[str]:
    """How a question may name an article's source in words: the outlet, the author and the
    parts of their name (casefolded). Its initialism is matched apart, case-sensitively."""
    aliases: set[str] = set()
    for part in re.split(r",\s*|\s+via\s+", publisher or ""):
        part = re.sub(r"^(?:the|via)\s+", "", part.strip(), flags=re.I)
        if len(part) > 2:
            aliases.add(part.casefold())
    if author:
        aliases.add(author.casefold())
        aliases.update(word.casefold() for word in author.split() if len(word) > 3)
    return frozenset(aliases)


@lru_cache(maxsize=256)
def _question_words(question: str) -> tuple[frozenset[str], frozenset[str]]:
    """The question's words with punctuation squeezed out ("E-IR" -> "EIR", "FT's" -> "FT"),
    and, upper-cased, those that cannot be ordinary words ("scmp", "e-ir")."""
    tokens = [(w, re.sub(r"[^A-Za-z0-9]", "", re.sub(r"['’]s$", "", w))) for w in question.split()]
    squeezed = frozenset(bare for _, bare in tokens)
    spelled = frozenset(bare.upper() for word, bare in tokens if len(bare) > 3 or "-" in word)
    return squeezed, spelled


def names_source(question: str, publisher: str | None, author: str | None) -> bool:
    """Whether the question names this outlet or author ("according to the FT", "SCMP")."""
    squeezed, spelled = _question_words(question)
    # An initialism counts in capitals (the same letters in lower case may be a word) or, when
    # it cannot be a word, in any case ("scmp", "e-ir").
    short = initialism(publisher) if publisher else ""
    if len(short) > 1 and (short in squeezed or short in spelled):
        return True
    folded = question.casefold()
    words = {w.casefold() for w in squeezed}
    return any(
        alias in words or (" " in alias and re.search(rf"\b{re.escape(alias)}\b", folded))
        for alias in source_aliases(publisher, author)
    )


# -- the analysis --------------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionAnalysis:
    """Everything retrieval and answering read from the question's words."""

    text: str
    kind: str | None  # "person", "number", "date", "duration": the value the answer must hold
    names: tuple[str, ...]  # as written: "Xi Jinping", "Malta", "2023"
    years: frozenset[int]  # every year written
    article_years: frozenset[int]  # years used to point at articles ("the 2023 reports")
    outlets: tuple[str, ...]  # indexed outlets the question names, directly or by author
    temporal: bool  # "how did X change", "over time"
    comparative: bool  # compares, or asks about several reports
    about_author: bool  # "the author of ..."
    follow_up: bool  # reads as a follow-up ("and what about ...", "they", "it")
    not_a_question: bool  # an instruction, a request for a poem or an opinion
    recent: str | None  # the words that ask about the present ("this week", "the latest")
    content: str  # the question less the words that point at the source ("author", "piece")

    @property
    def spans_articles(self) -> bool:
        """Whether the answer should draw on several articles."""
        return self.temporal or self.comparative


def analyse(question: str, sources: Sequence[tuple[str, str | None]] = ()) -> QuestionAnalysis:
    """Read ``question`` once; ``sources`` are the indexed (outlet, author) pairs it may name."""
    outlets = sorted(
        {publisher for publisher, author in sources if names_source(question, publisher, author)}
    )
    return QuestionAnalysis(
        text=question,
        kind=answer_kind(question),
        names=tuple(question_names(question)),
        years=frozenset(int(y) for y in _YEAR.findall(question)),
        article_years=referenced_years(question),
        outlets=tuple(outlets),
        temporal=bool(_TEMPORAL.search(question)),
        comparative=bool(_COMPARATIVE.search(question)),
        about_author=bool(_AUTHOR_REFERENCE.search(question)),
        follow_up=bool(_FOLLOW_UP.search(question)) or len(re.findall(r"\w+", question)) <= 4,
        not_a_question=bool(_NOT_A_QUESTION.search(question)),
        recent=recent.group() if (recent := _RECENT.search(question)) else None,
        content=content_words(question),
    )


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def normalize_question(question: str, max_chars: int) -> tuple[str, list[str]]:
    """The question cleaned of control characters and truncated, with notices for the user."""
    if not isinstance(question, str):
        raise InvalidQuestion("The question must be text.")
    text = " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", question)).split())
    if not text:
        raise InvalidQuestion("The question is empty. Ask something about the articles.")
    notices = []
    if len(text) > max_chars:
        text = text[:max_chars].rsplit(" ", 1)[0] or text[:max_chars]
        notices.append(f"The question was truncated to its first {max_chars} characters.")
    return text, notices


def condense(question: str, history: Sequence[Answer]) -> str:
    """A retrieval query for a follow-up: it carries the previous question's terms.

    "And what did China demand?" after "Why was the defence chiefs' meeting refused?" has to
    find the passage the first question found, so both are searched together.
    """
    if not history:
        return question
    previous = history[-1].retrieval_query or history[-1].question
    return f"{question} {previous}" if analyse(question).follow_up else question
