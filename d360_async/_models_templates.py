"""Models for reading message templates: every field Meta documents."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import attrs

from ._base import RawResponse
from ._models_messages import Paging

__all__ = [
    "CarouselCard",
    "HeaderFormat",
    "LimitedTimeOffer",
    "MessageTemplate",
    "MessageTemplateButton",
    "MessageTemplateComponent",
    "MessageTemplatePage",
    "NamedParameterExample",
    "OtpType",
    "ParameterFormat",
    "QualityScore",
    "SupportedApp",
    "TemplateButtonType",
    "TemplateCategory",
    "TemplateComponentType",
    "TemplateExample",
    "TemplateQualityScore",
    "TemplateStatus",
]


class TemplateStatus(StrEnum):
    """Review status of a message template (Meta's values)."""

    APPROVED = "APPROVED"
    IN_APPEAL = "IN_APPEAL"
    PENDING = "PENDING"
    REJECTED = "REJECTED"
    PENDING_DELETION = "PENDING_DELETION"
    DELETED = "DELETED"
    DISABLED = "DISABLED"
    PAUSED = "PAUSED"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"


class TemplateCategory(StrEnum):
    """Category of a message template (MM Lite sends only ``MARKETING``)."""

    MARKETING = "MARKETING"
    UTILITY = "UTILITY"
    AUTHENTICATION = "AUTHENTICATION"


class TemplateComponentType(StrEnum):
    """Kind of a component in a *stored* template (uppercase on the wire)."""

    HEADER = "HEADER"
    BODY = "BODY"
    FOOTER = "FOOTER"
    BUTTONS = "BUTTONS"
    CAROUSEL = "CAROUSEL"
    LIMITED_TIME_OFFER = "LIMITED_TIME_OFFER"


class HeaderFormat(StrEnum):
    """Format of a stored template's header."""

    TEXT = "TEXT"
    IMAGE = "IMAGE"
    VIDEO = "VIDEO"
    DOCUMENT = "DOCUMENT"
    LOCATION = "LOCATION"


class TemplateButtonType(StrEnum):
    """Kind of a stored template's button."""

    QUICK_REPLY = "QUICK_REPLY"
    URL = "URL"
    PHONE_NUMBER = "PHONE_NUMBER"
    COPY_CODE = "COPY_CODE"
    OTP = "OTP"
    FLOW = "FLOW"
    CATALOG = "CATALOG"
    MPM = "MPM"
    SPM = "SPM"


class ParameterFormat(StrEnum):
    """How a template's placeholders are written: ``{{1}}`` or ``{{first_name}}``."""

    POSITIONAL = "POSITIONAL"
    NAMED = "NAMED"


class QualityScore(StrEnum):
    """A template's quality rating (``UNKNOWN`` until WhatsApp has feedback)."""

    GREEN = "GREEN"
    YELLOW = "YELLOW"
    RED = "RED"
    UNKNOWN = "UNKNOWN"


class OtpType(StrEnum):
    """Kind of an authentication template's ``OTP`` button."""

    COPY_CODE = "COPY_CODE"
    ONE_TAP = "ONE_TAP"
    ZERO_TAP = "ZERO_TAP"


@attrs.frozen(kw_only=True)
class SupportedApp:
    """An Android app an ``OTP`` button can hand a one-time password to.

    Example:
        >>> SupportedApp(package_name="com.example.shop", signature_hash="K8a").package_name
        'com.example.shop'
    """

    package_name: str | None = None
    signature_hash: str | None = None


@attrs.frozen(kw_only=True)
class MessageTemplateButton:
    """A button of a stored template (spec: ``GetTemplateButton``, with Meta's other fields).

    ``example`` holds the sample values of a dynamic URL or a copy-code button; ``flow_*`` and
    ``navigate_screen`` belong to ``FLOW`` buttons; ``otp_type``, ``autofill_text``,
    ``supported_apps`` (and the older single ``package_name``/``signature_hash``) to ``OTP``
    buttons of authentication templates.

    Example:
        >>> MessageTemplateButton(type=TemplateButtonType.URL, text="Shop").text
        'Shop'
    """

    type: TemplateButtonType | str | None = None
    text: str | None = None
    url: str | None = None
    phone_number: str | None = None
    example: Sequence[str] = ()
    flow_id: str | None = None
    flow_name: str | None = None
    flow_json: str | None = None
    flow_action: str | None = None
    navigate_screen: str | None = None
    otp_type: OtpType | str | None = None
    autofill_text: str | None = None
    package_name: str | None = None
    signature_hash: str | None = None
    zero_tap_terms_accepted: bool | None = None
    supported_apps: Sequence[SupportedApp] = ()


@attrs.frozen(kw_only=True)
class NamedParameterExample:
    """The sample value of one named parameter (``{{first_name}}`` → ``"Ada"``).

    Example:
        >>> NamedParameterExample(param_name="first_name", example="Ada").example
        'Ada'
    """

    param_name: str | None = None
    example: str | None = None


@attrs.frozen(kw_only=True)
class TemplateExample:
    """Sample values Meta reviewed a component with.

    Positional templates use ``header_text`` (one value per placeholder) and ``body_text``
    (one list of values per sample); named ones ``header_text_named_params`` and
    ``body_text_named_params``; media headers ``header_handle``.

    Example:
        >>> TemplateExample(body_text=[["Ada", "20%"]]).body_text[0][1]
        '20%'
    """

    header_text: Sequence[str] = ()
    header_text_named_params: Sequence[NamedParameterExample] = ()
    header_handle: Sequence[str] = ()
    body_text: Sequence[Sequence[str]] = ()
    body_text_named_params: Sequence[NamedParameterExample] = ()


@attrs.frozen(kw_only=True)
class LimitedTimeOffer:
    """The offer of a ``LIMITED_TIME_OFFER`` component.

    Example:
        >>> LimitedTimeOffer(text="Ends soon", has_expiration=True).has_expiration
        True
    """

    text: str | None = None
    has_expiration: bool | None = None


@attrs.frozen(kw_only=True)
class MessageTemplateComponent:
    """A component of a stored template (spec: ``GetTemplateComponent``, with Meta's other
    fields: ``example``, carousel ``cards``, ``limited_time_offer``).

    Example:
        >>> MessageTemplateComponent(type=TemplateComponentType.BODY, text="Hi {{1}}").text
        'Hi {{1}}'
    """

    type: TemplateComponentType | str | None = None
    format: HeaderFormat | str | None = None
    text: str | None = None
    example: TemplateExample | None = None
    buttons: Sequence[MessageTemplateButton] = ()
    cards: Sequence[CarouselCard] = ()
    limited_time_offer: LimitedTimeOffer | None = None
    add_security_recommendation: bool | None = None
    code_expiration_minutes: int | None = None


@attrs.frozen(kw_only=True)
class CarouselCard:
    """One card of a ``CAROUSEL`` component: a header, a body and buttons of its own.

    Example:
        >>> card = CarouselCard(components=[MessageTemplateComponent(type="BODY", text="Coat")])
        >>> card.components[0].text
        'Coat'
    """

    components: Sequence[MessageTemplateComponent] = ()


@attrs.frozen(kw_only=True)
class TemplateQualityScore:
    """A template's quality rating and when it was given (Unix seconds).

    Example:
        >>> TemplateQualityScore(score=QualityScore.GREEN).score
        <QualityScore.GREEN: 'GREEN'>
    """

    score: QualityScore | str | None = None
    date: int | None = None
    reasons: Sequence[str] = ()


@attrs.frozen(kw_only=True)
class MessageTemplate(RawResponse):
    """A stored message template (spec: ``GetMessageTemplateResponse``, with every field Meta
    returns besides: ``parameter_format``, ``quality_score``, ``rejected_reason``, ...).

    Example:
        >>> t = MessageTemplate(
        ...     name="promo",
        ...     status=TemplateStatus.APPROVED,
        ...     components=[MessageTemplateComponent(type="BODY", text="Hi {{1}}, {{2}} off")],
        ... )
        >>> t.body_placeholder_count
        2
    """

    id: str | None = None
    name: str | None = None
    language: str | None = None
    status: TemplateStatus | str | None = None
    category: TemplateCategory | str | None = None
    components: Sequence[MessageTemplateComponent] = ()
    parameter_format: ParameterFormat | str | None = None
    quality_score: TemplateQualityScore | None = None
    rejected_reason: str | None = None
    previous_category: TemplateCategory | str | None = None
    correct_category: TemplateCategory | str | None = None
    sub_category: str | None = None
    message_send_ttl_seconds: int | None = None
    cta_url_link_tracking_opted_out: bool | None = None
    library_template_name: str | None = None

    @property
    def body_placeholders(self) -> tuple[str, ...]:
        """The BODY's placeholders in order of first use: ``("1", "2")`` for a positional
        template, ``("first_name", "points")`` for a named one."""
        from ._template_fit import TemplateFit

        return TemplateFit.of(self).body

    @property
    def header_placeholders(self) -> tuple[str, ...]:
        """The placeholders of a TEXT header (empty for media headers and without a header)."""
        from ._template_fit import TemplateFit

        return TemplateFit.of(self).header or ()

    @property
    def body_placeholder_count(self) -> int:
        """How many distinct placeholders the BODY has, ``{{1}}`` or ``{{name}}`` (0 without
        a body)."""
        return len(self.body_placeholders)


@attrs.frozen(kw_only=True)
class MessageTemplatePage(RawResponse):
    """One page of templates (spec: ``GetMessageTemplatesResponse``).

    Example:
        >>> MessageTemplatePage(data=[MessageTemplate(name="promo")]).data[0].name
        'promo'
    """

    data: Sequence[MessageTemplate] = ()
    paging: Paging | None = None
