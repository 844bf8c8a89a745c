"""Message templates: the model, placeholders (positional or named) and the seeded catalogue."""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Iterable
from typing import Any

import attrs

#: Template statuses Meta reports (the emulator accepts any of them).
STATUSES = frozenset(
    {
        "APPROVED",
        "IN_APPEAL",
        "PENDING",
        "REJECTED",
        "PENDING_DELETION",
        "DELETED",
        "DISABLED",
        "PAUSED",
        "LIMIT_EXCEEDED",
    }
)
CATEGORIES = frozenset({"MARKETING", "UTILITY", "AUTHENTICATION"})
PARAMETER_FORMATS = frozenset({"POSITIONAL", "NAMED"})


class TemplateError(ValueError):
    """A template field the emulator cannot accept.

    Attributes:
        field: The field at fault (``status``, ``category``, ``components``, ...).

    Example:
        >>> TemplateError("category", "unknown category 'SPAM'").field
        'category'
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_NAMED = re.compile(r"[a-z][a-z0-9_]*")
_FIRST_ID = 1_024_000_000_000_001


@functools.lru_cache(maxsize=4096)  # every send of a template parses the same texts
def placeholders(text: str) -> tuple[str, ...]:
    """The distinct ``{{1}}``/``{{name}}`` placeholders of ``text``, in order of first use.

    Example:
        >>> placeholders("Hi {{1}}, {{2}} off until {{3}}; {{1}}!")
        ('1', '2', '3')
    """
    return tuple(dict.fromkeys(_PLACEHOLDER.findall(text)))


def count_placeholders(text: str) -> int:
    """Number of distinct ``{{1}}``/``{{name}}`` placeholders in ``text``.

    Example:
        >>> count_placeholders("Hi {{1}}, {{2}} off until {{3}}; {{1}}!")
        3
    """
    return len(placeholders(text))


@attrs.define(eq=False)
class Template:
    """One template in one language, as the emulator stores it.

    Attributes:
        id: Meta's numeric template id, as a string.
        name: Template name (shared by its translations).
        language: Language code such as ``en_US``.
        status: ``APPROVED``, ``PAUSED``, ``REJECTED``, ``PENDING``, ``DISABLED``, ...
        category: ``MARKETING``, ``UTILITY`` or ``AUTHENTICATION``.
        components: Meta-style components (``HEADER``, ``BODY``, ``FOOTER``, ``BUTTONS``).
        parameter_format: ``POSITIONAL`` (``{{1}}``) or ``NAMED`` (``{{first_name}}``).

    Example:
        >>> t = Template("1", "promo", "en_US", "APPROVED", "MARKETING",
        ...              [{"type": "BODY", "text": "Hi {{1}}"}])
        >>> (t.body_text, t.body_params)
        ('Hi {{1}}', 1)
    """

    id: str
    name: str
    language: str
    status: str
    category: str
    components: list[dict[str, Any]]
    parameter_format: str = "POSITIONAL"

    @property
    def named(self) -> bool:
        """Whether sends fill the placeholders by ``parameter_name``."""
        return self.parameter_format == "NAMED"

    @property
    def body_text(self) -> str:
        """The BODY component's text ("" when there is none)."""
        for component in self.components:
            if component.get("type") == "BODY":
                return str(component.get("text", ""))
        return ""

    @property
    def header_text(self) -> str | None:
        """The text of a TEXT header; None without one (or with a media header)."""
        for component in self.components:
            if component.get("type") == "HEADER" and component.get("format", "TEXT") == "TEXT":
                return str(component.get("text", ""))
        return None

    @property
    def body_params(self) -> int:
        """How many body parameters a send must carry."""
        return count_placeholders(self.body_text)

    def to_json(self) -> dict[str, Any]:
        """The template as the API returns it."""
        return {
            "name": self.name,
            "parameter_format": self.parameter_format,
            "components": copy.deepcopy(self.components),
            "language": self.language,
            "status": self.status,
            "category": self.category,
            "id": self.id,
        }


def body(text: str, *examples: str) -> dict[str, Any]:
    """A BODY component, with Meta's ``example`` when placeholders are present."""
    component: dict[str, Any] = {"type": "BODY", "text": text}
    if examples:
        component["example"] = {"body_text": [list(examples)]}
    return component


def named_body(text: str, **examples: str) -> dict[str, Any]:
    """A BODY component with named placeholders and their examples, as Meta returns it."""
    named = [{"param_name": name, "example": value} for name, value in examples.items()]
    return {"type": "BODY", "text": text, "example": {"body_text_named_params": named}}


def _named_header(text: str, **examples: str) -> dict[str, Any]:
    named = [{"param_name": name, "example": value} for name, value in examples.items()]
    return {
        "type": "HEADER",
        "format": "TEXT",
        "text": text,
        "example": {"header_text_named_params": named},
    }


def _image_header(url: str) -> dict[str, Any]:
    return {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": [url]}}


def _buttons(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"type": "BUTTONS", "buttons": list(buttons)}


def _footer(text: str) -> dict[str, Any]:
    return {"type": "FOOTER", "text": text}


_SHOP = "https://shop.example.com"
_MEDIA = "https://scontent.whatsapp.net/v/t61.29466-34/emulator"

# (name, language, status, category, components); a template whose placeholders are names
# (``{{first_name}}``) is NAMED, the others POSITIONAL.
_SEED: tuple[tuple[str, str, str, str, list[dict[str, Any]]], ...] = (
    (
        "summer_sale",
        "en_US",
        "APPROVED",
        "MARKETING",
        [
            _image_header(f"{_MEDIA}/summer.jpg"),
            body(
                "Hi {{1}}, our summer sale is on: {{2}} off everything until {{3}}.",
                "Alex",
                "20%",
                "Sunday",
            ),
            _footer("Reply STOP to unsubscribe"),
            _buttons(
                {"type": "URL", "text": "Shop now", "url": f"{_SHOP}/sale/{{{{1}}}}"},
                {"type": "QUICK_REPLY", "text": "Not interested"},
            ),
        ],
    ),
    (
        "summer_sale",
        "de",
        "APPROVED",
        "MARKETING",
        [
            _image_header(f"{_MEDIA}/sommer.jpg"),
            body(
                "Hallo {{1}}, unser Sommerschlussverkauf läuft: {{2}} Rabatt bis {{3}}.",
                "Alex",
                "20 %",
                "Sonntag",
            ),
            _footer("Antworte STOP zum Abmelden"),
            _buttons({"type": "URL", "text": "Jetzt kaufen", "url": f"{_SHOP}/de/{{{{1}}}}"}),
        ],
    ),
    (
        "summer_sale",
        "es",
        "APPROVED",
        "MARKETING",
        [
            _image_header(f"{_MEDIA}/verano.jpg"),
            body(
                "Hola {{1}}, rebajas de verano: {{2}} de descuento hasta el {{3}}.",
                "Alex",
                "20 %",
                "domingo",
            ),
        ],
    ),
    (
        "welcome_offer",
        "en_US",
        "APPROVED",
        "MARKETING",
        [
            {"type": "HEADER", "format": "TEXT", "text": "Welcome!"},
            body("Thanks for joining, {{1}}! Here is 10% off your first order.", "Sam"),
            _buttons({"type": "COPY_CODE", "text": "Copy code"}),
        ],
    ),
    (
        "weekly_digest",
        "en_GB",
        "APPROVED",
        "MARKETING",
        [
            body("This week's picks are in. Tap below to browse the new collection."),
            _buttons(
                {"type": "URL", "text": "Browse", "url": f"{_SHOP}/new"},
                {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+4930123456"},
            ),
        ],
    ),
    (
        "cart_reminder",
        "en_US",
        "APPROVED",
        "MARKETING",
        [
            {
                "type": "HEADER",
                "format": "VIDEO",
                "example": {"header_handle": [f"{_MEDIA}/cart.mp4"]},
            },
            body("{{1}}, you left {{2}} in your cart.", "Kim", "2 items"),
            _buttons({"type": "URL", "text": "Checkout", "url": f"{_SHOP}/cart"}),
        ],
    ),
    (
        "loyalty_points",
        "fr",
        "APPROVED",
        "MARKETING",
        [body("Bonjour {{1}}, vous avez {{2}} points fidélité.", "Camille", "120")],
    ),
    (
        "black_friday",
        "en_US",
        "PAUSED",
        "MARKETING",
        [
            _image_header(f"{_MEDIA}/bf.jpg"),
            body("Black Friday: {{1}} off for {{2}} hours only!", "50%", "24"),
        ],
    ),
    (
        "old_promo",
        "en_US",
        "DISABLED",
        "MARKETING",
        [body("Our old promo is back, {{1}}.", "Jo")],
    ),
    (
        "flash_deal",
        "pt_BR",
        "REJECTED",
        "MARKETING",
        [body("Oferta relâmpago para {{1}}!", "Ana")],
    ),
    (
        "new_arrivals",
        "en_US",
        "PENDING",
        "MARKETING",
        [
            {
                "type": "HEADER",
                "format": "DOCUMENT",
                "example": {"header_handle": [f"{_MEDIA}/catalog.pdf"]},
            },
            body("New arrivals for {{1}}: see the catalogue attached.", "Lee"),
        ],
    ),
    (
        "order_update",
        "en_US",
        "APPROVED",
        "UTILITY",
        [body("Your order {{1}} has shipped.", "#1234")],
    ),
    (
        "vip_reminder",
        "en_US",
        "APPROVED",
        "MARKETING",
        [
            _named_header("A gift for {{first_name}}", first_name="Ada"),
            named_body(
                "Hi {{first_name}}, your {{reward}} is waiting. Claim it before {{expiry}}!",
                first_name="Ada",
                reward="free shipping",
                expiry="31 December",
            ),
            _footer("Reply STOP to opt out"),
            _buttons({"type": "URL", "text": "Claim", "url": f"{_SHOP}/vip"}),
        ],
    ),
)


class TemplateStore:
    """The templates of one emulated WABA, in id order.

    Example:
        >>> store = TemplateStore(seed=True)
        >>> store.find("summer_sale", "de").status
        'APPROVED'
    """

    def __init__(self, *, seed: bool = True, extra: Iterable[Template] = ()) -> None:
        self._next_id = _FIRST_ID
        self.by_id: dict[str, Template] = {}
        self.by_key: dict[tuple[str, str], Template] = {}
        if seed:
            for name, language, status, category, components in _SEED:
                self.add(name, language, status=status, category=category, components=components)
        for template in extra:
            if not template.id.isdigit():
                raise ValueError(f"template id must be digits, got {template.id!r}")
            self._insert(template)

    def _insert(self, template: Template) -> None:
        key = (template.name, template.language)
        if key in self.by_key:
            raise ValueError(f"template {template.name!r} already exists in {template.language}")
        if template.id in self.by_id:
            raise ValueError(f"template id {template.id} already exists")
        self.by_id[template.id] = template
        self.by_key[key] = template

    def add(
        self,
        name: str,
        language: str,
        *,
        status: str = "APPROVED",
        category: str = "MARKETING",
        components: list[dict[str, Any]] | None = None,
        body_text: str | None = None,
        template_id: str | None = None,
        parameter_format: str | None = None,
    ) -> Template:
        """Add a template; ``body_text`` is a shortcut for a single BODY component.

        ``parameter_format`` (``POSITIONAL`` or ``NAMED``) defaults to what the placeholders
        are: names make the template NAMED. Named placeholders must be lower-case names.

        Raises:
            TemplateError: A value cannot be used (naming the field).
        """
        _check_fields(status=status, category=category, components=components, body_text=body_text)
        if components is None:
            components = [body(body_text if body_text is not None else "Hello!")]
        if template_id is not None and not template_id.isdigit():
            raise ValueError(f"template_id must be digits, got {template_id!r}")
        if template_id is None:
            while str(self._next_id) in self.by_id:
                self._next_id += 1
            template_id = str(self._next_id)
            self._next_id += 1
        template = Template(
            template_id, name, language, status, category, copy.deepcopy(components)
        )
        template.parameter_format = _parameter_format(template, parameter_format)
        self._insert(template)
        return template

    def find(self, name: str, language: str) -> Template | None:
        """The template with that name and language, if any."""
        return self.by_key.get((name, language))

    def get(self, name: str, language: str) -> Template:
        """Like :meth:`find`, raising ``KeyError`` when absent."""
        template = self.by_key.get((name, language))
        if template is None:
            raise KeyError(f"no template {name!r} in {language!r}")
        return template

    def set_status(self, name: str, language: str, status: str) -> Template:
        """Change a template's status; raises ``KeyError``/``ValueError``."""
        return self.update(name, language, status=status)

    def update(
        self,
        name: str,
        language: str,
        *,
        status: str | None = None,
        category: str | None = None,
        components: list[dict[str, Any]] | None = None,
        body_text: str | None = None,
        parameter_format: str | None = None,
    ) -> Template:
        """Change every given field of an existing template, or none of them.

        ``body_text`` replaces the text of the BODY component (and drops its now stale
        ``example``), keeping the header, footer and buttons; ``components`` replaces them all.
        ``parameter_format`` is that of the new placeholders unless given.

        Raises:
            KeyError: No such template.
            TemplateError: A value cannot be applied (nothing was changed).

        Example:
            >>> store = TemplateStore(seed=True)
            >>> t = store.update("order_update", "en_US", category="MARKETING", body_text="{{1}}!")
            >>> (t.category, t.body_text)
            ('MARKETING', '{{1}}!')
        """
        _check_fields(status=status, category=category, components=components, body_text=body_text)
        template = self.get(name, language)
        changed = attrs.evolve(template)
        if components is not None:
            changed.components = copy.deepcopy(components)
        if body_text is not None:
            changed.components = _with_body(template.components, body_text)
        if components is not None or body_text is not None or parameter_format is not None:
            changed.parameter_format = _parameter_format(changed, parameter_format)
        template.status = status or template.status
        template.category = category or template.category
        template.components = changed.components
        template.parameter_format = changed.parameter_format
        return template

    def remove(self, name: str, language: str) -> Template:
        """Delete a template; raises ``KeyError`` when absent."""
        template = self.get(name, language)
        del self.by_key[(name, language)]
        del self.by_id[template.id]
        return template

    def ordered(self) -> list[Template]:
        """All templates sorted by id (the listing order)."""
        return sorted(self.by_id.values(), key=lambda t: int(t.id))


def _check_fields(
    *,
    status: str | None,
    category: str | None,
    components: list[dict[str, Any]] | None,
    body_text: str | None,
) -> None:
    """Raises :class:`TemplateError` naming the first field that cannot be applied."""
    if status is not None and status not in STATUSES:
        raise TemplateError(
            "status", f"unknown template status {status!r}; expected one of {sorted(STATUSES)}"
        )
    if category is not None and category not in CATEGORIES:
        raise TemplateError(
            "category", f"unknown category {category!r}; expected one of {sorted(CATEGORIES)}"
        )
    if components is not None and body_text is not None:
        raise TemplateError("body_text", "give components or body_text, not both")
    if components is not None and not (
        isinstance(components, list)
        and all(isinstance(c, dict) and isinstance(c.get("type"), str) for c in components)
    ):
        raise TemplateError("components", 'components must be a list of {"type": ..., ...}')


def _with_body(components: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """``components`` with the BODY's text replaced (a BODY is added after the header)."""
    new_body = {"type": "BODY", "text": text}
    result = [new_body if c.get("type") == "BODY" else copy.deepcopy(c) for c in components]
    if not any(c is new_body for c in result):
        result.insert(1 if result and result[0].get("type") == "HEADER" else 0, new_body)
    return result


def _parameter_format(template: Template, given: str | None) -> str:
    names = placeholders(template.body_text) + placeholders(template.header_text or "")
    if given is None:
        return "POSITIONAL" if all(n.isdigit() for n in names) else "NAMED"
    if given not in PARAMETER_FORMATS:
        raise TemplateError(
            "parameter_format", f"unknown parameter_format {given!r}; expected POSITIONAL or NAMED"
        )
    if given == "NAMED":
        for name in names:
            if not _NAMED.fullmatch(name):
                raise TemplateError(
                    "parameter_format",
                    f"parameter_format NAMED: placeholder {{{{{name}}}}} must be a lower-case "
                    "name (letters, digits, _)",
                )
    return given
