"""Personal data (phone numbers, names, parameter texts, user data) never shows in a model's
``repr``: a result printed or logged in a loop does not leak the customers it is about."""

from __future__ import annotations

import attrs

from d360_async import (
    ConversionEvent,
    Currency,
    DateTime,
    LocationMessage,
    MarketingMessageResponse,
    MediaObject,
    MessageBuilder,
    MessageContact,
    ParameterType,
    SendResult,
    SendStatus,
    TemplateParameter,
    UserData,
)
from d360_async._userdata import PreparedUserData

PHONE = "4915112345678"
NAME = "Jürgen Müller"
SECRETS = (PHONE, NAME, "juergen@example.com", "Musterstr", "10115", "19800101")


def assert_private(value: object) -> None:
    text = repr(value)
    for secret in SECRETS:
        assert secret not in text, (secret, text)


def test_a_built_message_hides_the_recipient_and_parameter_values() -> None:
    message = MessageBuilder(name="welcome_offer", language="en_US").build(PHONE, body=[NAME])
    assert_private(message)
    assert "welcome_offer" in repr(message)  # what it is stays visible


def test_parameters_hide_every_value() -> None:
    for parameter in (
        TemplateParameter(type=ParameterType.TEXT, text=NAME, parameter_name="first_name"),
        TemplateParameter(
            type=ParameterType.CURRENCY,
            currency=Currency(fallback_value=NAME, code="EUR", amount_1000=1),
        ),
        TemplateParameter(type=ParameterType.DATE_TIME, date_time=DateTime(fallback_value=NAME)),
        TemplateParameter(
            type=ParameterType.DOCUMENT, document=MediaObject(link=f"https://x/{PHONE}.pdf")
        ),
        TemplateParameter(
            type=ParameterType.LOCATION,
            location=LocationMessage(name=NAME, address="Musterstr 1, 10115"),
        ),
    ):
        assert_private(parameter)
        assert "first_name" in repr(parameter) or "type=" in repr(parameter)


def test_results_and_responses_hide_the_recipient() -> None:
    assert_private(SendResult(index=0, to=PHONE, status=SendStatus.SENT))
    assert_private(MessageContact(input="+" + PHONE, wa_id=PHONE))
    assert_private(MarketingMessageResponse(contacts=[MessageContact(input=PHONE, wa_id=PHONE)]))


def test_user_data_hides_personal_values() -> None:
    personal = {
        field.name: NAME
        for field in attrs.fields(UserData)
        if field.name not in ("page_id", "ig_account_id", "whatsapp_business_account_id")
    }
    user_data = UserData(**personal)
    assert_private(user_data)
    assert_private(ConversionEvent(event_name="Lead", event_time=1767312000, user_data=user_data))
    assert_private(PreparedUserData(user_data={"em": ["juergen@example.com"]}, dropped=()))
