"""normalize_message: mask the variable parts of a message so one symptom has one template."""

# One generic rule set, no per-source rules. A message is read as tokens: runs of the token
# characters (ASCII letters, digits, `_ . ~ + -`); everything else (white space, `:` `=` `/` `,`,
# quotes, brackets, non-ASCII) delimits them. All masking rules form one alternation (`_MASK`)
# applied in a single left-to-right pass, each with a comment saying why its part is variable;
# a second, cheap pass (`_MERGE`) joins adjacent placeholders; white space is collapsed last.
#
# Linear time: every rule starts at a token start (or right after a hyphen or a '?'), uses
# possessive quantifiers and scans at most its own token or delimiter run, so hostile input
# (1 MiB without a space, say) cannot cause catastrophic backtracking.
#
# Idempotent: a placeholder is made of delimiters, and no rule starts right after one or stops
# right before one, so masking the output again finds nothing new.

from __future__ import annotations

import re

PLACEHOLDER = "<*>"

# The characters of one token: ids join words and numbers with these (blk_-123, msra-sa-41,
# Package~31bf~amd64, 2kSOSP.log+7292).
_TOKEN = r"\w.~+-"
# The end of a token: a rule that masks a whole token must not stop inside it.
_END = rf"(?![{_TOKEN}<])"

# Kubernetes generated names (k8s.io/apimachinery/pkg/util/rand): a pod-template-hash is a
# decimal hash mapped through "bcdfghjklmnpqrstvwxz2456789", so only [4-9bcdf] occur; a random
# suffix is 5 characters of the whole alphabet and has no digit about a quarter of the time.
_RS_HASH = r"[4-9bcdf]{6,10}"
_POD_SUFFIX = r"[bcdfghjklmnpqrstvwxz2-9]{5}"
_GENERATED = rf"(?:{_RS_HASH}-{_POD_SUFFIX}|{_RS_HASH}|{_POD_SUFFIX}){_END}"

# Day and month names, abbreviated or in full (the endings after the first three letters; a
# mismatch such as "Monuary" is harmless, a longer word such as "Decrease" is not a date).
_DAY_OR_MONTH = r"(?<=Mon|Tue|Wed|Thu|Fri|Sat|Sun|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_NAME_END = r"(?:day|sday|nesday|rsday|urday|uary|ruary|ch|il|e|y|ust|t|tember|ober|ember)?"
_MONTH = rf"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec){_NAME_END}\.?"
_UNIT = (
    r"(?:[kKMGTPE]i?B?|B|bytes?|ns|us|µs|ms|s|secs?|seconds?|mins?|minutes?|h|hrs?|"
    r"hours?|days?)"
)

_MASK = re.compile(
    # Only where a token starts, or inside one right after a hyphen or a '?'.
    r"(?<![\w.~+])(?<!<\*>)(?=[^\s,;(\[\]{}*#|!&])"
    # Plain words (letters only, then white space or a delimiter that cannot join an id) are
    # text: this one check skips every rule for most tokens. Words that may start a
    # timestamp (Fri, Jun) or be hex (ffffffff) take the rules.
    r"(?!(?<![-?])(?=[a-zBCEGHIKLPQRUVXYZ])[a-fA-F]*+[g-zG-Z][A-Za-z]*+"
    r"(?:[\s,;)\]}>\"'=/|!?*&(\[{<]|\Z))"
    r"(?:"
    # --- Right after a hyphen or a '?'. ---
    r"(?<=[-?])(?:"
    # Generated Kubernetes names: the ReplicaSet hash and pod suffix of web-7d9f8c6b5d-x2kqz,
    # the suffix of DaemonSet/Job pod fluentd-x2kqz change with every rollout or restart;
    # the workload name before them does not and stays.
    rf"(?<=[a-z0-9]-)(?:{_RS_HASH}-{_POD_SUFFIX}"
    rf"|(?=[4-9]*+[bcdf])(?=[bcdf]*+[4-9]){_RS_HASH}"
    rf"|(?=[2-9]*+[b-z]){_POD_SUFFIX}){_END}"
    # Ordinals of numbered replicas (StatefulSet pod db-0, host msra-sa-41): one of many alike.
    rf"|(?<=[A-Za-z]-)\d++{_END}"
    # URL query strings: parameters vary per request; the path before them stays.
    r"|(?<=[\w/]\?)[^\s#\"'<>=?]*+=[^\s#\"'<>]*+"
    r")"
    # --- At a token start. ---
    r"|(?<!-)(?:"
    # Quoted single tokens (configmap "app-config", '0x00660011'): quoting marks a value. Quoted
    # text with spaces stays: it is usually a message or request line ("GET /x HTTP/1.1").
    r"\"[^\"\s<]*+\""
    r"|'[^'\s<]*+'(?![\w<])"
    # Absolute paths of two or more segments name one file, mount or request URL. (A URL's own
    # path follows its host, not a token start, and stays.)
    r"|/(?<!//)[\w.~%+@=,:-]++(?:/[\w.~%+@=,:-]*+)++"
    # Timestamps with day or month names ("Fri Jun 17 07:07:00 2005", "Jun 17, 2005 7:07"):
    # the words belong to the time, not to the message.
    rf"|[ADFJMNOSTW][a-z]{{2}}{_DAY_OR_MONTH}{_NAME_END}[.,]?\s++(?:{_MONTH}\s++)?"
    r"\d{1,2}(?:st|nd|rd|th)?,?\s++(?:\d{4}\s++)?"
    r"\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d++)?(?:\s++\d{4}\b)?"
    # Long hex ids without a decimal digit (ffffffff, deadbeefcafe), which the digit rule misses.
    rf"|[a-fA-F][a-fA-F]{{7,}}+{_END}"
    # E-mail addresses name a person or mailbox.
    r"|[\w.+-]++@[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)++"
    # IPv6 and MAC addresses, clock times: 3 to 8 colon-joined hex groups. (':' is a delimiter,
    # so the digit rule alone would leave letter-only groups such as 'fe80' behind.) At most 8
    # groups, so a failed try scans a bounded length even in a long chain of them.
    r"|(?=[0-9A-Fa-f]{0,4}:)(?:[0-9A-Fa-f]{1,4}|(?=::))(?::[0-9A-Fa-f]{0,4}){2,7}+"
    r"(?:[.,]\d++)?(?![\w:<]|\.\w)"
    # Sizes and durations written with a space ("5.2 KB", "<1 sec"): the unit belongs to the
    # number, and the same field is logged in varying units.
    rf"|(?:[<>](?<!\*>))?[-+]?\d++(?:\.\d++)?\s{_UNIT}(?![\w<])"
    # ... with the same size converted in parentheses ("2933 bytes (2.86 KB)").
    rf"(?:\s?\([<>]?\d++(?:\.\d++)?\s?{_UNIT}\))?"
    # Host names: lower-case DNS names of three or more labels, or of two before a port.
    # Lower case only, so Java-style class names (java.lang.OutOfMemoryError) stay.
    r"|[a-z0-9-]++(?:\.[a-z0-9-]++){2,}+(?![\w~+<-]|\.\w)"
    r"|[a-z0-9-]++(?:\.[a-z0-9-]++)++(?=:\d)"
    # A token containing a digit is a number, id, version, address, size or duration
    # (42, 0x1f, 1.5GB, 512Mi, 200ms, 10.0.3.4, blk_-123, 2024-01-02T03:04:05Z, a UUID);
    # generated Kubernetes names and numbered replicas are left to the hyphen rules above.
    rf"|(?![a-z0-9]++(?:-[a-z0-9]++)*?-(?:{_GENERATED}|<\*>))"
    rf"(?![A-Za-z]++(?:-[A-Za-z]++)*+-\d++{_END})"
    rf"(?:[<>](?<!\*>))?[A-Za-z_.~+-]*+\d[{_TOKEN}]*+"
    # An empty "( )" standing alone is a value slot left empty: the same field as "(host)".
    r"|(?<=\()(?<!\S\()(?=\))"
    r"))",
    re.ASCII,
)

# Adjacent placeholders are one value: "<*>:<*>" (host and port), "<*> <*>" (date and time,
# lists of varying length), "<*>/<*>" (ratios, paths). One pass merges maximal runs, so the
# result has none left and a second call finds nothing to merge.
_MERGE = re.compile(r"<\*>(?:[\s.:,/_~?&=+@#-]*+<\*>)++")


def normalize_message(text: str) -> str:
    """The message with numbers, ids, addresses and other variable parts replaced by <*>."""
    masked = _MASK.sub(PLACEHOLDER, text)
    if PLACEHOLDER in masked:
        masked = _MERGE.sub(PLACEHOLDER, masked)
    return " ".join(masked.split())
