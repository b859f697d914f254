import pytest

from rag.ingest.dates import find_dates, most_precise, parse_date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("publié le 15 septembre 2021 par", "2021-09-15"),
        ("le 1er mai 2022", "2022-05-01"),
        ("10.11.2021 - 09:09", "2021-11-10"),
        ("on September 3, 2020", "2020-09-03"),
        ("date 2021-09 Le Secteur", "2021-09"),
        ("du 6 au 9 décembre 2017", "2017-12-09"),
    ],
)
def test_find_dates_reads_french_english_and_numeric_dates(text: str, expected: str) -> None:
    assert [iso for _, iso in find_dates(text)] == [expected]


def test_find_dates_ignores_impossible_dates() -> None:
    assert find_dates("le 31 février 2021 et le 45.13.2020") == []


def test_most_precise_prefers_a_day_to_a_month() -> None:
    assert most_precise(["2021-09", "2021-09-15"]) == "2021-09-15"
    assert most_precise([]) is None


def test_parse_date_accepts_days_and_months_only() -> None:
    assert parse_date(" 2021-09 ") == "2021-09"
    assert parse_date("2021-09-15") == "2021-09-15"
    for bad in ("15/09/2021", "2021-13-01", "yesterday"):
        with pytest.raises(ValueError, match="ISO 8601"):
            parse_date(bad)
