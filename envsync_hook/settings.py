"""Settings: one immutable value, built once in ``main`` (from options and config files)."""

from __future__ import annotations

from fnmatch import fnmatchcase

from envsync_hook.findings import RULES_BY_CODE, RULES_BY_SLUG
from envsync_hook.lean import NamedTuple
from envsync_hook.secrets import DEFAULT_SECRET_PATTERNS


class Settings(NamedTuple):
    #: (slug or code, severity) overrides; "off" disables a rule
    severities: tuple[tuple[str, str], ...] = ()
    #: key patterns (fnmatch, case-sensitive) never reported
    ignore: tuple[str, ...] = ()
    secret_patterns: tuple[str, ...] = DEFAULT_SECRET_PATTERNS
    show_values: bool = False
    fail_on: str = "error"
    keep_stale: bool = False
    prune: bool = False
    take_template: tuple[str, ...] = ()
    #: keys (fnmatch) that fix fills with fresh random values (``--generate-secrets``)
    generate_secrets: tuple[str, ...] = ()

    def severity_of(self, code: str) -> str:
        slug = RULES_BY_CODE[code].slug
        for name, sev in self.severities:
            if name in (code, slug):
                return sev
        return RULES_BY_CODE[code].severity

    def ignored(self, key: str) -> bool:
        return any(fnmatchcase(key, pat) for pat in self.ignore)

    def takes_template(self, key: str) -> bool:
        return any(fnmatchcase(key, pat) for pat in self.take_template)


def known_rule(name: str) -> bool:
    return name in RULES_BY_CODE or name in RULES_BY_SLUG
