"""The local engine: offline, deterministic and free. Sentiment with VADER, facts from the inbox's definitions
and built-in recognizers (phone numbers with libphonenumber, emails, names), intents and urgency from keyword
rules, and notes composed from the structured memory."""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from accounts.errors import ServiceError
from contacts.addresses import written_as_phone
from memory.definitions import DATE_SETTINGS, KIND_CLEANERS, Definition
from memory.kinds import address_search
from memory.patterns import PatternTimeout, pattern_search
from memory.selectors import Recall

from ..answers import free_text_value
from ..language import detect_language
from . import rules
from .base import Analysis, Decision, ExtractedFact, HandoffDraft, NoteDraft, TurnContext

# Words VADER's general lexicon does not know but customers of small businesses use when things go wrong.
# Scores are on VADER's -4..4 scale.
DOMAIN_LEXICON = {
    "flooding": -2.5,
    "flooded": -2.5,
    "leaking": -1.8,
    "leak": -1.5,
    "broken": -2.0,
    "overcharged": -2.5,
    "refund": -0.8,
    "outage": -2.2,
    "down": -0.6,
    "late": -1.2,
    "never": -0.8,
    "waiting": -0.8,
    "cancel": -1.2,
    "unacceptable": -3.0,
    "ridiculous": -2.5,
    "nobody": -1.2,
    "again": -0.4,
    "fixed": 1.8,
    "resolved": 1.6,
    # What goes wrong with software and devices, which VADER does not know.
    "crash": -1.8,
    "crashes": -1.8,
    "crashed": -1.8,
    "crashing": -1.8,
    "freezes": -1.5,
    "frozen": -1.2,
    "error": -1.2,
    "errors": -1.2,
    "fails": -1.5,
    "failed": -1.5,
    "failing": -1.5,
    "bug": -1.2,
    "stuck": -1.2,
    # Politeness, assent and request words, which VADER reads as warmth: in a service request they carry no mood.
    "please": 0.0,
    "accept": 0.0,
    "want": 0.0,
    "ok": 0.0,
    "okay": 0.0,
    "sure": 0.0,
    "yes": 0.0,
    "yeah": 0.0,
    "like": 0.0,  # "I would like to book", not affection
    "pass": 0.0,  # "we'll pass for now": a decline, not a mood
    "interested": 0.0,
    # The vocabulary of the transaction itself, which VADER scores as feeling: "pay by transfer", "policy number",
    # "credit card", "interest rate", "support team", "please help", "customer care", "free quote".
    "pay": 0.0,
    "number": 0.0,
    "credit": 0.0,
    "interest": 0.0,
    "support": 0.0,
    "help": 0.0,
    "care": 0.0,
    "free": 0.0,
}
# Greetings and sign-offs, left out when scoring a text sentence by sentence.
# Kinds read from what follows a definition's label (dates are found anywhere in the message).
KIND_READERS: dict[str, Any] = {kind: KIND_CLEANERS[kind] for kind in ("number", "money", "address")}
# Languages the lexicon scores ("" = undetermined: a short message is read as the account's usual English).
SCORED_LANGUAGES = {"", "en"}
PLEASANTRIES = {"hi", "hello", "hey", "thanks", "thank you", "thx", "cheers", "regards", "best", "bye", "ok", "okay"}

INTENT_PATTERNS = {
    # Asking to talk to a person, not "can someone come tomorrow" (a visit) or "call me on ..." (a number).
    "asks_for_human": (
        r"\b(human|real person|actual (person|human)|live (agent|person)|a person|an agent|representative|"
        r"(your|a|the) (manager|supervisor|boss)|somebody (useful|competent|real)|someone (useful|competent|real)|"
        r"(speak|talk|chat) (to|with) (a |an |the |your |some)?"
        r"(person|human|agent|one|body|representative|manager|staff|team|someone|somebody)|"
        # es / fr
        r"(hablar|habla) con (una persona|alguien|un humano|un agente|el encargado|un responsable)|persona real|"
        r"parler (à|a|avec) (quelqu'un|quelqu\u2019un|une personne|un humain|un conseiller|un responsable)|"
        r"un (vrai )?conseiller|un être humain)\b"
    ),
    # A danger to people or property: a person now, whatever else is going on.
    "safety": (
        r"\b(smell(s|ing)? (of )?gas|gas (smell|leak)|smoke|smoking outlet|sparks?|sparking|carbon monoxide|"
        r"co alarm|co detector|burning smell|smell(s|ing)? (of )?burning|on fire|fire alarm|electric(al)? shock|"
        r"flood(ing|ed)?|(water|it)('?s| is) (pouring|gushing|pour(ing)? (in|through|out))|burst (pipe|main)|"
        r"pipe (has )?burst|water everywhere|"
        r"olor a gas|fuga de gas|humo|odeur de gaz|fuite de gaz|fumée|étincelles?)\b"
    ),
    # Legal, bank or public threats: a person, and carefully.
    "threat": (
        r"\b(lawyer|attorney|solicitor|sue|suing|lawsuit|legal action|small claims|chargeback|charge back|"
        r"dispute (the|this) (charge|payment)|my bank|report (you|this) to|better business bureau|bbb|"
        r"trading standards|consumer protection|(bad|1-star|one star|negative) review|abogado|demanda|"
        r"avocat|plainte|litige)\b"
    ),
    # Waiting too long is a complaint even in calm words.
    "long_wait": (
        r"\b(still (waiting|no|nothing|nobody|no one|haven'?t|has not|hasn'?t|not)|heard nothing|"
        r"(haven'?t|have not|never) heard (back|anything)|"
        r"waiting (for|since) (\w+ ){0,2}(days|weeks|months|hours)|"
        r"after (\w+ ){0,2}(days|weeks|months)|"
        r"(days|weeks|months) (and|with) no|no one (has )?(replied|answered|got back|called)|"
        r"nobody (has )?(replied|answered|got back|called)|(asked|told you|wrote) (this )?(twice|three times|again)|"
        r"still not (here|arrived|fixed|resolved)|never (came|arrived|showed( up)?|turned up|got back|called( back)?)|"
        r"todavía (espero|no)|toujours (pas|rien|en attente))\b"
    ),
    # A calm request to be called back is a next step for the team, not an escalation.
    "callback": (
        r"\b((call|ring|phone) me back|(can|could|would|will) (you|someone|somebody) (please )?(call|ring|phone) me|"
        r"give me a (call|ring)|call me when|(llámame|llamame)|rappelez[- ]moi)\b"
    ),
    "cancel": r"\b(cancel|unsubscribe|terminate|close my account|stop my)\b",
    # A polite no: nothing for a person to do, and not a bad mood.
    "decline": (
        r"\b((we'?ll|i'?ll|we will|i will) pass|no thanks|not (right )?now|maybe (later|next (year|time))|"
        r"not interested|(we'?ll|i'?ll|we will|i will) hold off|(we'?re|i'?m) all set|"
        r"no (nos|me) interesa|no (lo )?necesitamos|pas besoin|pas int[ée]ress[ée]s?)\b"
    ),
    # Emotional complaints go to a person; a money problem stated calmly is collected first (billing_issue).
    "complaint": r"\b(complain|complaint|unacceptable|ridiculous|terrible|worst|disappointed|outrageous|scam)\b",
    "billing_issue": r"\b(charged (me )?twice|double[- ]charged|overcharged|wrong (amount|charge)|refund)\b",
    "urgent": (
        r"\b(urgent|asap|emergency|immediately|flood(ing|ed)?|no (heat|water|power)|"
        r"(need|send|come|fix|help|get)\b[^.!?]{0,40}\bright now|"  # not "I can't find it right now"
        r"leak(ing|s)?(?! (a bit|a little|slightly|a tiny bit)))\b"
    ),
    "outage": r"\b(outage|is down|not working|stopped working|can'?t log ?in|offline)\b",
    "thanks": r"\b(thanks|thank you|appreciate it|great job)\b",
}
_INTENTS = {name: re.compile(pattern, re.IGNORECASE) for name, pattern in INTENT_PATTERNS.items()}


# "Not urgent", "no emergency": the customer says it is not.
_NOT_URGENT = re.compile(r"\b(not|no|nothing|isn'?t|no es|pas)\s+(an?\s+)?(urgent|emergency|urgente|urgence)\b", re.I)


def _intents(text: str) -> set[str]:
    found = {name for name, pattern in _INTENTS.items() if pattern.search(text)}
    if "urgent" in found and _NOT_URGENT.search(text) and not _INTENTS["urgent"].search(_NOT_URGENT.sub(" ", text)):
        found.discard("urgent")
    if _BARE_FOLLOW_UP.match(text):  # "??" on its own: the customer is still waiting for an answer
        found.add("long_wait")
    return found


# The customer-service layer over VADER. Complaints stated without emotional words still read negative: a long
# wait and a threat (their intents, above), and money that did not arrive or was taken twice, being asked again,
# something that does not work — in any language.
SERVICE_NEGATIVE_INTENTS = frozenset({"long_wait", "threat"})
_SERVICE_NEGATIVE = re.compile(
    r"\b(charged (me )?twice|double[- ]charged|overcharged|(refund|money|payment|deposit|order|parcel|package) "
    r"(has |still )?(not|never|hasn'?t|didn'?t) (arrived|come|come through|been (received|refunded|credited))|"
    r"(haven'?t|have not|didn'?t|did not|never) (received|got|gotten) (my|the|a) (refund|money|order|parcel|package)|"
    r"(asked|told you|said) (this |that )?(already|twice|before)|(again|for the (second|third) time)|"
    r"wrong (item|size|amount|charge)|not what i ordered|doesn'?t work|does not work|stopped working|"
    r"never (came|arrived|showed( up)?|called( back)?|got back|turned up)|still isn'?t|dispute|"
    r"no funciona|no enciende|no arranca|fuga|roto|averiad[oa]|sin agua|sin calefacci[oó]n|"
    r"fuite|en panne|ne marche pas|ne fonctionne pas|cass[ée]|pas d'eau chaude|pas de chauffage)\b",
    re.IGNORECASE,
)
# A problem report: something that does not work, a noise, a symptom, a promise not kept. A customer reporting one
# is having a bad time even in calm words ("the toilet is clogged", "the furnace keeps shutting off").
_PROBLEM = re.compile(
    r"\b((won'?t|will not|doesn'?t|does not|isn'?t|is not|aren'?t|are not|can'?t|cannot|didn'?t|did not)\s+"
    r"(\w+\s+)?(work|working|start|turn on|heat|heating|drain|flush|stop|show|load|open|close|light|ignite|spin|"
    r"pump|respond|connect|come on|cool|fit)|"
    r"keeps? (going out|shutting (off|down)|turning off|losing|dropping|tripping|leaking|running|beeping|"
    r"breaking|failing|crashing|freezing|stopping|cutting out|asking)|"
    r"bang(s|ing)|rattl(e|es|ing)|hiss(es|ing)|humm?(s|ing)|grind(s|ing)|squeal(s|ing)|clank(s|ing)|"
    r"buzz(es|ing)|noisy|(loud|strange|weird) nois(e|es)|"
    r"clogged|blocked|backing up|backed up|overflow(s|ing|ed)?|(screen|display) is blank|is dead|lukewarm|"
    r"blowing cold|cold air|no hot water|not heating|dripp?(s|ing)|tripp(ed|ing)|cracked|damaged|jammed|"
    r"faulty|error code|"
    r"(was|were) supposed to|(higher|more) than (the |your |you )?(quote|quoted|estimate)|"
    r"(keeps?|kept) asking|asking (me )?the same|"
    r"(isn'?t|is not|hasn'?t|has not|haven'?t|have not) (here|arrived|come|shown up|turned up)|"
    # es / fr
    r"ruido|gotea|atascad[oa]s?|no calienta|cobrad[oa]s? dos veces|cobraron dos veces|"
    r"bruit|fuit|goutte|bouch[ée]e?s?|bloqu[ée]e?s?|(pr[ée]lev[ée]|d[ée]bit[ée]|factur[ée])e?s? deux fois)\b",
    re.IGNORECASE,
)
# ... unless the customer plays it down: "drips a little, no hurry" is a note for the team, not a bad mood.
_DOWNPLAYED = re.compile(
    r"\b(a (little|bit|tiny bit)|slight(ly)?|minor|no (rush|hurry)|not urgent|nothing urgent|"
    r"when(ever)? you (can|get a chance)|sin prisa|no es urgente|pas urgent|rien d'urgent)\b",
    re.IGNORECASE,
)
# In Spanish and French (no lexicon here), something that does not happen is how a problem is reported: a
# negated verb reads mildly negative; polite refusals and reassurances ("no, gracias", "pas de souci") do not.
_NEGATED_VERB = re.compile(
    r"\bno\s+(?!gracias\b|es\b|hay\s+(?:prisa|problema)\b|se\s+preocupe|importa\b|pasa\s+nada|problem|"
    r"(?:nos\s+|me\s+)?(?:necesit|quier|interes|hace\s+falta))"  # a polite "we don't need it" is a decline
    r"(?:se\s+|me\s+|lo\s+|la\s+|le\s+)?[a-záéíóúñ]{3,}|"
    r"\b(?:ne|n['\u2019])\s*(?:me\s+|se\s+|s['\u2019])?[a-zàâçéèêëîïôûù]{3,}\s+(?:pas|plus|jamais)\b"
    r"(?!\s+(?:de\s+(?:souci|probl[eè]me)|besoin|int[ée]ress))",
    re.IGNORECASE,
)
# ... and plain delight reads positive (a bare thank-you stays neutral, as in English).
_PLEASED = re.compile(
    r"\b(perfect[oa]s?|genial|excelentes?|estupend[oa]s?|maravillos[oa]s?|encantad[oa]s?|muy content[oa]s?|"
    r"parfait|g[ée]nial|excellent|formidable|ravie?|tr[eè]s content(e)?|super)\b",
    re.IGNORECASE,
)
PLEASED_SCORE = 0.5
_BARE_FOLLOW_UP = re.compile(r"^\s*(\?{2,}|(hello|anyone|any (update|news))\s*\?{2,})\s*$", re.IGNORECASE)
# A contrast: what comes after it is what the customer means ("love the app, but the export crashes").
_CONTRAST = re.compile(r"\s*(?:,\s*)?\b(?:but|however|though|although|yet|pero|sin embargo|mais|cependant)\b\s*",
                       re.IGNORECASE)  # fmt: skip
# "Thanks, we'll pass" / "Hi, ..." : a courtesy before the words that carry the mood.
_LEADING_COURTESY = re.compile(
    r"^\s*(hi|hello|hey|thanks|thank you|thx|ok|okay|cheers|great|perfect|sounds good|fine|alright|cool)\s*[,!.:-]+\s*",
    re.IGNORECASE,
)
_TRAILING_COURTESY = re.compile(r"[\s,;.-]+(thanks|thank you|thx|cheers|please)[\s.!]*$", re.IGNORECASE)
# An email's salutation line ("Hi Sam,") and everything from the sign-off on carry no mood.
_SALUTATION = re.compile(
    r"^\s*(hi|hello|hey|dear|good (morning|afternoon|evening)|hola|bonjour)\b[^\n]{0,40}\n", re.IGNORECASE
)
# Idioms whose words VADER scores on their own: "as well" (also), "pretty much".
_IDIOMS = re.compile(r"\b(as well|pretty much|well as)\b", re.IGNORECASE)
SERVICE_NEGATIVE_FLOOR = -0.4
SAFETY_FLOOR = -0.6
_SENTENCES = re.compile(r"(?<=[.!?])\s+")
_CLAUSE_END = re.compile(r"(?<=\w)[.;!?](?:\s|$)|\s+(?:and|but|because|so)\s+|\n")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_DATE_CUE = re.compile(
    r"\b(\d{1,4}[/.-]\d{1,2}([/.-]\d{2,4})?|today|tonight|tomorrow|yesterday|next \w+|this \w+day|"
    r"(mon|tues|wednes|thurs|fri|satur|sun)day|jan(uary)?|feb(ruary)?|mar(ch)?|apr(il)?|"
    r"may \d{1,2}|\d{1,2}(st|nd|rd|th)? may|june?|july?|"
    r"aug(ust)?|sep(t(ember)?)?|oct(ober)?|nov(ember)?|dec(ember)?|in \d+ (days?|weeks?))\b",
    re.IGNORECASE,
)
# "Rosa", "Lucía", "Émile", "O'Neil"; not "PN-" or "INV"
_NAME_WORD = r"[A-ZÀ-ÖØ-Þ][a-zß-öø-ÿ'][a-zA-Zß-öø-ÿÀ-ÖØ-Þ'-]*"
_NAME_CUES = re.compile(
    r"\b(?i:my name is|my name's|name is|this is|i am|i'm|it's|name:|me llamo|mi nombre es|soy|"
    r"je m['\u2019]appelle|mon nom est|je suis)\s+"
    rf"({_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}})"
)
_GREETINGS = {"Hi", "Hello", "Hey", "Dear", "Hola", "Bonjour", "Salut", "Morning", "Good", "Thanks", "Thank"}
# A sign-off, then the name on its own line or after the comma at the very end: "Thanks,\nRosa Diaz",
# "Best regards,\nRosa", "... cheers, Rosa". (An email signature starts with the same line.)
_SIGN_OFF = re.compile(
    r"(?i:thanks|thank you|many thanks|best|best regards|kind regards|warm regards|regards|cheers|sincerely|"
    r"saludos|gracias|un saludo|cordialement|merci|bien à vous)[,.!]?[ \t]*(?:\r?\n[ \t]*|[ \t]+-?[ \t]*)"
    rf"({_NAME_WORD}(?:[ \t]+{_NAME_WORD}){{0,2}})[ \t]*[.!]?[ \t]*(?:\r?\n|$)"
)
# "Derek Olsen here, ...", "Hi, Grace Liu here.": a name introducing the writer.
_HERE_NAME = re.compile(rf"(?:^|[,.!;:]\s*)({_NAME_WORD}(?:[ \t]+{_NAME_WORD}){{0,2}})[ \t]+here\b")
# "Rosa Diaz, 312 555 0188, ..." : a capitalized name leading a comma-separated list of details.
_LEADING_NAME = re.compile(rf"^\s*({_NAME_WORD}(?:\s+{_NAME_WORD}){{1,2}})\s*,")
_NOT_NAMES = {
    "Hi",
    "Hello",
    "Thanks",
    "Thank",
    "Yes",
    "No",
    "Please",
    "Sorry",
    "Ok",
    "Okay",
    "Hey",
    "Good",
    "Not",
    "Very",
    "So",
    "Just",
    "Really",
    "Here",
    "Still",
    "Having",
    "Looking",
    "Trying",
    "Calling",
    "Writing",
    "Texting",
    "The",
    "A",
    # days and months: "it's Thursday", "this is March"
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "January",
    "February",
    "March",
    "April",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "Today",
    "Tomorrow",
}
# For a definition without a pattern: "<label words> [is|:|#|number] TOKEN", e.g. "policy number is PN-123".
_TOKEN = r"([A-Z0-9][A-Z0-9-]{2,40})"  # noqa: S105 - an identifier pattern, not a secret


# A number in a text is a phone only when it is written as one on its own: not glued to letters or a code
# (INV-2024-000123, a tracking code), not part of an IP address or a decimal, not an amount.
_CURRENCY = re.compile(r"[$€£¥]\s*$|\b(?:usd|eur|gbp|dollars?|euros?|pounds?)\b", re.IGNORECASE)
_REFERENCE_BEFORE = re.compile(
    r"\b(?:invoice|inv|order|ref|reference|tracking|case|ticket|account|acct|policy|confirmation|serial|"
    r"sku|iban|card|ip)\b[\s#:.no-]*$",
    re.IGNORECASE,
)


def _phone(text: str, region: str) -> str | None:
    """The first number in the text that is written as a phone (every candidate is tried, so a reference's
    digits never hide the real phone after it), as E.164."""
    for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
        before, after = text[: match.start], text[match.end :]
        if before[-1:].isalnum() or before[-1:] in {"-", "_", "/", "#", ".", "@"}:
            continue
        if after[:1].isalnum() or after[:1] == "@" or (after[:1] in {".", "-", "/"} and after[1:2].isalnum()):
            continue
        if not written_as_phone(match.raw_string) or sum(c.isdigit() for c in match.raw_string) < 7:
            continue
        if _CURRENCY.search(before[-6:]) or _CURRENCY.match(after.strip()[:8]):
            continue
        if _REFERENCE_BEFORE.search(before[-30:]):
            continue
        return str(phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164))
    return None


class LocalEngine:
    name = "local/1"

    @cached_property
    def _vader(self) -> SentimentIntensityAnalyzer:
        analyzer = SentimentIntensityAnalyzer()
        analyzer.lexicon.update(DOMAIN_LEXICON)
        return analyzer

    def sentiment(self, text: str, *, intents: set[str] | None = None, language: str | None = None) -> float:
        """A support team's reading of the customer's mood: VADER per clause, with the customer-service layer.

        * Sentences are scored one by one, leaving out greetings and sign-offs ("Hi!", "Thanks.").
        * Within a sentence, what follows a contrast counts most ("love the app, but the export crashes").
        * Several sentences: the most negative clause pulls the mean halfway to it (one angry sentence among
          polite ones is not averaged away).
        * Complaints without emotional words (money not arrived, charged twice, a long wait, asked again, a
          bare "??", threats) read at least mildly negative; politeness and assent are neutral (lexicon)."""
        if intents is None:
            intents = _intents(text)
        if language is None:
            language = detect_language(text)
        if language not in SCORED_LANGUAGES:
            # VADER's lexicon is English: in another language its score would be a guess. Neutral, unless the
            # customer-service layer (complaints, threats, safety, long waits: es and fr patterns too) says
            # otherwise.
            problem = _NEGATED_VERB.search(text) is not None  # "el calentador no enciende", "ça ne marche plus"
            pleased = not problem and _PLEASED.search(text) is not None  # "todo perfecto", "c'est parfait"
            return self._service_floor(
                text, intents, SERVICE_NEGATIVE_FLOOR if problem else PLEASED_SCORE if pleased else 0.0
            )
        mood = self._mood_text(text)
        sentences = [s for s in _SENTENCES.split(mood.strip()) if s.strip()]
        substantive = [s for s in sentences if s.strip(" .!?,").lower() not in PLEASANTRIES] or sentences or [mood]
        scores = [self._clause_score(s) for s in substantive]
        score = sum(scores) / len(scores)
        low = min(scores)
        if len(scores) > 1 and low < score:
            score = (score + low) / 2
        return self._service_floor(text, intents, score)

    @classmethod
    def _mood_text(cls, text: str) -> str:
        """The words that carry the customer's mood: without an email's salutation line, its sign-off and
        signature, the customer's own name ("Grace", "Joy" are words VADER scores) and idioms ("as well")."""
        body = _SALUTATION.sub("", text, count=1)
        sign_off = _SIGN_OFF.search(body)
        if sign_off is not None and body[: sign_off.start()].strip():
            body = body[: sign_off.start()]
        name = cls._name(text)
        if name:
            body = body.replace(name, " ")
        body = _IDIOMS.sub(" ", body)
        return body if body.strip(" ,.!\n") else text

    @staticmethod
    def _service_floor(text: str, intents: set[str], score: float) -> float:
        serious = bool(
            intents & SERVICE_NEGATIVE_INTENTS or _SERVICE_NEGATIVE.search(text) or _BARE_FOLLOW_UP.match(text)
        )
        downplayed = _DOWNPLAYED.search(text) is not None and not intents & {"complaint", "safety"}
        if serious or (_PROBLEM.search(text) and not downplayed):
            score = min(score, SERVICE_NEGATIVE_FLOOR)
        elif downplayed and score < 0:  # a problem played down is a note for the team, not a mood
            score = 0.0
        if "decline" in intents and not serious:  # a polite no: neither warm nor upset
            score = 0.0
        if "safety" in intents:
            score = min(score, SAFETY_FLOOR)
        return round(score, 4)

    def _clause_score(self, sentence: str) -> float:
        rest = _TRAILING_COURTESY.sub("", _LEADING_COURTESY.sub("", sentence, count=1), count=1)
        sentence = rest if rest.strip(" ,.!?") else sentence
        parts = [p for p in _CONTRAST.split(sentence) if p and p.strip(" ,.")]
        if len(parts) < 2:
            return float(self._vader.polarity_scores(sentence)["compound"])
        before = self._vader.polarity_scores(" ".join(parts[:-1]))["compound"]
        after = self._vader.polarity_scores(parts[-1])["compound"]
        return float(0.25 * before + 0.75 * after)

    def analyze(self, text: str, *, definitions: dict[str, Definition], region: str) -> Analysis:
        intents = _intents(text)
        language = detect_language(text)
        score = self.sentiment(text, intents=intents, language=language)
        timed_out: list[str] = []
        facts = self._facts(text, definitions, region, timed_out)
        # a polite decline is never urgent ("not interested right now"); a hazard always is
        urgent_cues = {"outage", "safety"} if "decline" in intents else {"urgent", "outage", "safety"}
        urgent = bool(intents & urgent_cues) or score <= -0.6
        return Analysis(
            sentiment=score,
            facts=facts,
            intents=intents,
            urgent=urgent,
            engine=self.name,
            timed_out=timed_out,
            language=language,
        )

    def _facts(
        self, text: str, definitions: dict[str, Definition], region: str, timed_out: list[str]
    ) -> list[ExtractedFact]:
        found: list[ExtractedFact] = []
        if "phone" in definitions:
            phone = _phone(text, region)
            if phone:
                found.append(ExtractedFact("phone", phone, 0.9))
        if "email" in definitions:
            for candidate in _EMAIL.finditer(text):
                try:
                    email = validate_email(candidate.group(0), check_deliverability=False).normalized
                except EmailNotValidError:
                    continue
                found.append(ExtractedFact("email", str(email), 0.95))
                break
        if "name" in definitions:
            name = self._name(text)
            if name:
                found.append(ExtractedFact("name", name, 0.75))
        for key, definition in definitions.items():
            if definition.builtin:
                continue
            if definition.value_type == "date":
                day = self._date(text)
                if day:
                    found.append(ExtractedFact(key, day, 0.8))
                continue
            if definition.value_type in {*KIND_READERS, "phone", "email"} and not definition.pattern:
                value = self._kind_value(text, definition, region)
                if value:
                    found.append(ExtractedFact(key, value, 0.75))
                continue
            try:
                value = self._defined(text, definition)
            except PatternTimeout:
                timed_out.append(key)
                continue
            if value:
                found.append(ExtractedFact(key, value, 0.85 if definition.pattern else 0.6))
        return found

    @staticmethod
    def _kind_value(text: str, definition: Definition, region: str) -> str | None:
        """A number, an amount, an address, a phone or an email given for this definition: what follows its label
        ("budget is $1,250", "service address: 42 Elm St, Springfield, IL"), read by the kind's parser."""
        label = r"\W+".join(re.escape(word) for word in re.findall(r"\w+", definition.label.lower()))
        match = re.search(rf"\b{label}\b\W*(?:is|was|:|=|of|would be|will be)?\s*(.+)", text, flags=re.IGNORECASE)
        if match is None:
            # an address needs no label: a whole street address in the message is the one this inbox asks for
            return address_search(text) if definition.value_type == "address" else None
        rest = (
            _CLAUSE_END.split(match.group(1), maxsplit=1)[0] if definition.value_type != "address" else match.group(1)
        )
        try:
            if definition.value_type == "phone":  # the first number written as a phone, not a reference beside it
                return _phone(rest, region)
            if definition.value_type == "email":
                email = _EMAIL.search(rest)
                return KIND_CLEANERS["email"](email.group(0), definition.label, region) if email else None
            return str(KIND_READERS[definition.value_type](rest.strip(), definition.label, region))
        except ServiceError:
            return None

    @staticmethod
    def _name(text: str) -> str | None:
        """The customer's own name: from a self-introduction (en/es/fr), a sign-off ("Thanks,\nRosa") or a
        leading "Rosa Diaz, <details>". A greeting to someone else ("Hi Dana,") is never it."""
        for pattern in (_NAME_CUES, _SIGN_OFF, _HERE_NAME, _LEADING_NAME):
            for match in pattern.finditer(text):
                if pattern is _LEADING_NAME and match.group(1).split()[0] in _GREETINGS:
                    continue  # "Hi Dana," addresses a person of the team
                words = [w for w in match.group(1).split() if w not in _NOT_NAMES]
                if words and words[0][0].isupper():
                    return " ".join(words)
        return None

    @staticmethod
    def _date(text: str) -> str | None:
        """The first date the text names, as YYYY-MM-DD (dateparser's search; relative dates from today).
        Only texts with a date-like word or number are searched: the search is the costly part of an analysis."""
        if not _DATE_CUE.search(text):
            return None
        from dateparser.search import search_dates

        found = search_dates(text, languages=["en"], settings=DATE_SETTINGS)  # type: ignore[arg-type]
        for phrase, when in found or []:
            if _DATE_CUE.search(phrase) and len(phrase.strip()) > 2:
                return str(when.date().isoformat())
        return None

    @staticmethod
    def _defined(text: str, definition: Definition) -> str | None:
        if definition.pattern:  # the admin's pattern, under a time budget (PatternTimeout when it runs out)
            match = pattern_search(rf"(?<![\w-])(?:{definition.pattern})(?![\w-])", text)
            return match.group(0) if match else None
        names = {definition.label.lower(), definition.key.replace("_", " ").lower()}
        for name in sorted(names, key=len, reverse=True):
            label = r"\W+".join(re.escape(word) for word in re.findall(r"\w+", name))
            if not label:
                continue
            # "<label> is <free text>": what follows, to the end of the clause ("make and model is Navien NPE-240A")
            said = re.search(rf"\b{label}\s*(?:is|was|:|=|would be|will be)\s+(.+)", text, flags=re.IGNORECASE)
            if said is not None:
                clause = _CLAUSE_END.split(said.group(1), maxsplit=1)[0]
                value = free_text_value(re.split(r",\s", clause, maxsplit=1)[0])  # "Trane XR13, installed 2009"
                if value:
                    return value
            match = re.search(rf"\b{label}\W*(?:#|number|no\.?)?\W*{_TOKEN}", text, flags=re.IGNORECASE)
            if match is not None:
                return match.group(1)
        return None

    def compose_note(self, memory: Recall) -> NoteDraft:
        """The note from what memory holds: the customer's need (their first words in this conversation), where
        it stands, what is known and missing, and the next step."""
        conversation = memory.current_conversation
        inbound = _customer_messages(memory)
        need = _shorten(inbound[0].body) if inbound else ""
        if len(inbound) > 1:
            need = f"{need} Latest: {_shorten(inbound[-1].body)}"
        known = ", ".join(
            f"{memory.definitions[f.key].label if f.key in memory.definitions else f.key}: {f.value}"
            for f in memory.facts
        )
        trend = memory.conversation_sentiment
        mood = f"; customer seems {trend.label}" if trend.label else ""
        if trend.urgent:
            mood += " and frustrated (urgent)"
        state = conversation.get_status_display() if conversation is not None else "No conversation"
        owner = "AI agent" if conversation is not None and conversation.handled_by == "ai" else "a person"
        status = f"{state}, handled by {owner}{mood}." + (f" Known: {known}." if known else "")
        missing = [memory.definitions[key].label for key in memory.missing if key in memory.definitions]
        if conversation is not None and conversation.status == "escalated":
            # handed to the team: the AI's handover words were not an answer
            next_step = "A person owes the customer the next reply" + (
                f"; still needed: {', '.join(missing)}." if missing else "."
            )
        elif any(_INTENTS["callback"].search(m.body or "") for m in inbound):
            next_step = "Call the customer back" + (f"; first ask for: {', '.join(missing)}." if missing else ".")
        elif missing:
            next_step = f"Ask for: {', '.join(missing)}."
        elif conversation is not None and conversation.status == "waiting":
            next_step = "Wait for the customer's answer; follow up if there is none."
        else:
            next_step = "Answer the customer and confirm the next step with them."
        return NoteDraft(
            engine=self.name,
            need=need,
            status=status,
            next_step=next_step,
            open_questions=[f"What is the {m.lower()}?" for m in missing],
        )

    def compose_handoff(self, memory: Recall, *, reason: str) -> HandoffDraft:
        """A few sentences a person reads before answering: who, what they need, what the AI collected and how
        the customer feels; then the next step."""
        words = [m for m in _customer_messages(memory) if m.body.strip()]
        who = memory.contact.name or "The customer"
        channels = sorted({m.get_channel_display() for m in words})
        parts = [f"{who} wrote" + (f" on {' and '.join(channels)}" if channels else "") + "."]
        if words:
            parts.append(f"Need: {_shorten(words[0].body, 200)}")
            if len(words) > 1:
                parts.append(f"Latest: {_shorten(words[-1].body, 160)}")
        known = [
            f"{memory.definitions[f.key].label if f.key in memory.definitions else f.key} {f.value}"
            for f in memory.facts
        ]
        if known:
            parts.append(f"Known: {'; '.join(known)}.")
        missing = [memory.definitions[k].label for k in memory.missing if k in memory.definitions]
        if missing:
            parts.append(f"Still missing: {', '.join(missing)}.")
        trend = memory.conversation_sentiment
        if trend.label:
            parts.append(f"Mood: {trend.label}{' and frustrated' if trend.urgent else ''}.")
        parts.append(f"Handed off because: {reason}")
        if missing:
            next_step = f"Ask for what is still missing ({', '.join(missing)}), then help the customer."
        elif trend.urgent or reason.startswith("The customer's issue is urgent"):
            next_step = "Call the customer now; everything needed is in the facts."
        else:
            next_step = "Reply to the customer's last message; the details are in the facts."
        return HandoffDraft(summary=" ".join(parts), next_step=next_step, engine=self.name)

    def decide(self, turn: TurnContext) -> Decision:
        return rules.decide(
            memory=turn.memory,
            conversation=turn.conversation,
            analysis=turn.analysis,
            settings=turn.settings,
            text=turn.text,
            knowledge=turn.knowledge,
            at=turn.at,
        )


def _customer_messages(memory: Recall) -> list[Any]:
    """What the customer wrote in the current conversation, oldest first."""
    conversation = memory.current_conversation
    if conversation is None:
        return []
    return [
        m
        for m in memory.history
        if m.conversation_id == conversation.pk and m.direction == "in" and m.kind == "message"
    ]


def _shorten(text: str, limit: int = 240) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
