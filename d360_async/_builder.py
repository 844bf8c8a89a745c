"""Build template messages from per-recipient values, without hand-writing components."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime

import attrs

from ._errors import ValidationError
from ._models_messages import (
    ButtonSubType,
    ComponentType,
    Currency,
    DateTime,
    LanguageObject,
    LocationMessage,
    MarketingMessageRequest,
    MediaObject,
    ParameterType,
    TemplateComponent,
    TemplateObject,
    TemplateParameter,
)

__all__ = ["MessageBuilder", "document", "image", "parameter", "video"]

#: A value for one placeholder: text, a number, a date, or a ready parameter.
ParamValue = str | int | float | date | Currency | DateTime | LocationMessage | TemplateParameter
#: Values of a component: in placeholder order (``{{1}}``, ``{{2}}``), or by placeholder name.
ParamValues = Sequence[ParamValue] | Mapping[str, ParamValue]

#: What Meta allows in a placeholder name: lower-case letters, digits, underscores.
_NAME = re.compile(r"[a-z0-9_]+")


def _media(ref: str) -> MediaObject:
    return MediaObject(link=ref) if "://" in ref else MediaObject(id=ref)


def image(ref: str) -> TemplateParameter:
    """A header image from a URL or an uploaded media id."""
    return TemplateParameter(type=ParameterType.IMAGE, image=_media(ref))


def video(ref: str) -> TemplateParameter:
    """A header video from a URL or an uploaded media id."""
    return TemplateParameter(type=ParameterType.VIDEO, video=_media(ref))


def document(ref: str) -> TemplateParameter:
    """A header document from a URL or an uploaded media id."""
    return TemplateParameter(type=ParameterType.DOCUMENT, document=_media(ref))


def parameter(value: ParamValue, name: str | None = None) -> TemplateParameter:
    """One template parameter from a plain value, for the placeholder ``name`` if given.

    ``str``/numbers become text, ``Currency``/``DateTime`` their own types, a ``date`` a
    date-time with an ISO fallback, a ``LocationMessage`` a location. ``name`` is the
    ``parameter_name`` of a template with named parameters (``{{first_name}}``).

    Example:
        >>> parameter(Currency(fallback_value="$5", code="USD", amount_1000=5000)).type
        <ParameterType.CURRENCY: 'currency'>
        >>> parameter("Ada", name="first_name").parameter_name
        'first_name'

    Raises:
        ValidationError: An unsupported value, or a name Meta does not allow.
    """
    if name is not None:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ValidationError(
                "parameter_name",
                f"{name!r:.40} is not a placeholder name (lower-case letters, digits, _)",
            )
        return attrs.evolve(parameter(value), parameter_name=name)
    if isinstance(value, TemplateParameter):
        return value
    if isinstance(value, Currency):
        return TemplateParameter(type=ParameterType.CURRENCY, currency=value)
    if isinstance(value, DateTime):
        return TemplateParameter(type=ParameterType.DATE_TIME, date_time=value)
    if isinstance(value, LocationMessage):
        return TemplateParameter(type=ParameterType.LOCATION, location=value)
    if isinstance(value, (date, datetime)):
        return TemplateParameter(
            type=ParameterType.DATE_TIME, date_time=DateTime(fallback_value=value.isoformat())
        )
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValidationError("parameter", f"unsupported value of type {type(value).__name__}")
    return TemplateParameter(type=ParameterType.TEXT, text=str(value))


def _parameters(values: ParamValues) -> list[TemplateParameter]:
    if isinstance(values, Mapping):
        return [parameter(value, name) for name, value in values.items()]
    return [parameter(value) for value in values]


@attrs.frozen(kw_only=True)
class MessageBuilder:
    """Messages of one template, filled per recipient.

    Args:
        name: Template name.
        language: Template language code.
        header: A header parameter shared by every message (``image(url)``, a text value).
        policy: ``template.language.policy`` (``"deterministic"``), or None.
        message_send_ttl_seconds: How long MM Lite may try to deliver.

    Example:
        >>> promo = MessageBuilder(name="spring_sale", language="en", header=image("https://x/y.png"))
        >>> msg = promo.build("4915112345678", body=["Ada", "20%"], url_buttons={0: "ada"})
        >>> [c.type.value for c in msg.template.components or ()]
        ['header', 'body', 'button']

        A template with named parameters (``{{first_name}}``) takes its values by name:

        >>> points = MessageBuilder(name="points_reminder", language="en_US")
        >>> msg = points.build("4915112345678", body={"first_name": "Ada", "points": 120})
        >>> [(p.parameter_name, p.text) for p in msg.template.components[0].parameters]
        [('first_name', 'Ada'), ('points', '120')]
    """

    name: str
    language: str
    header: ParamValue | Mapping[str, ParamValue] | None = None
    policy: str | None = None
    message_send_ttl_seconds: int | None = None

    def build(
        self,
        to: str,
        *,
        body: ParamValues = (),
        header: ParamValue | Mapping[str, ParamValue] | None = None,
        url_buttons: Mapping[int, str] | None = None,
    ) -> MarketingMessageRequest:
        """The message for one recipient.

        Args:
            to: The recipient's number with country code.
            body: Values of the body placeholders: a sequence for ``{{1}}``, ``{{2}}``, ... in
                order, or a mapping ``{"first_name": "Ada"}`` for named placeholders.
            header: This recipient's header (overrides the shared one); for a text header
                with a named placeholder, a mapping of one name to its value.
            url_buttons: Button index → the dynamic suffix of that URL button. (Quick-reply
                payloads are not in the spec's parameter types; pass a dict message for them.)

        Raises:
            ValidationError: A value of an unsupported type, a bad placeholder name, or a
                header mapping that does not hold exactly one value.
        """
        components: list[TemplateComponent] = []
        head = header if header is not None else self.header
        if head is not None:
            if isinstance(head, Mapping) and len(head) != 1:
                raise ValidationError("header", "a header mapping holds exactly one named value")
            heads = _parameters(head) if isinstance(head, Mapping) else [parameter(head)]
            components.append(TemplateComponent(type=ComponentType.HEADER, parameters=heads))
        if body:
            components.append(
                TemplateComponent(type=ComponentType.BODY, parameters=_parameters(body))
            )
        for index, suffix in sorted((url_buttons or {}).items()):
            components.append(
                TemplateComponent(
                    type=ComponentType.BUTTON,
                    sub_type=ButtonSubType.URL,
                    index=index,
                    parameters=[TemplateParameter(type=ParameterType.TEXT, text=suffix)],
                )
            )
        return MarketingMessageRequest(
            to=to,
            template=TemplateObject(
                name=self.name,
                language=LanguageObject(code=self.language, policy=self.policy),
                components=components or None,
            ),
            message_send_ttl_seconds=self.message_send_ttl_seconds,
        )
