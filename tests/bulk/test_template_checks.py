"""``TemplateChecks.fits``, the hot path of a campaign's template check: a shape found to fit
is remembered; a shape that does not fit is never taken for one that does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from d360_async._bulk_templates import TemplateChecks
from d360_async._models_templates import MessageTemplate
from d360_async._template_fit import MessageShape, TemplateFit, misfit_shape

FIT = TemplateFit(named=False, body=("1", "2"), header=None)
NAMED = TemplateFit(named=True, body=("first", "code"), header=("city",))


async def nothing(name: str, language: str) -> MessageTemplate | None:
    return None


def checks() -> TemplateChecks:
    found = TemplateChecks(nothing)
    found._known[("promo", "en")] = FIT
    found._known[("named", "en")] = NAMED
    return found


names = st.one_of(st.none(), st.sampled_from(["first", "code", "city", "other"]))
shapes = st.builds(
    MessageShape,
    template=st.sampled_from([("promo", "en"), ("named", "en"), ("unknown", "en")]),
    header=st.lists(names, max_size=3).map(tuple),
    body=st.lists(names, max_size=3).map(tuple),
)


@settings(max_examples=50)
@given(st.lists(shapes, min_size=1, max_size=30))
def test_fits_answers_as_the_rule_does_however_often_asked(asked: list[MessageShape]) -> None:
    found = checks()
    for shape in asked * 2:  # each shape asked twice: the second answer may come from memory
        fit = found._known.get(shape.template)
        expected = isinstance(fit, TemplateFit) and misfit_shape(fit, shape) is None
        assert found.fits(shape) is expected


def test_a_misfit_after_a_fit_of_the_same_template_is_a_misfit() -> None:
    found = checks()
    assert found.fits(MessageShape(("promo", "en"), (), (None, None)))
    assert found.fits(MessageShape(("promo", "en"), (), (None, None)))
    assert not found.fits(MessageShape(("promo", "en"), (), (None,)))
    assert not found.fits(MessageShape(("unknown", "en"), (), (None, None)))
