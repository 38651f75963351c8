"""Region parsing is lenient with what the model sends and refuses with messages it can act on."""

import pytest

from webapp.evidence.regions import QUADRANTS, BBox, RegionError, clamp_dpi, parse_region


def test_corners_are_sorted_and_clamped():
    assert parse_region([0.8, 0.9, -0.2, 0.1]) == BBox(0.0, 0.1, 0.8, 0.9)
    assert parse_region([0.5, 0.5, 1.7, 2]) == BBox(0.5, 0.5, 1.0, 1.0)


@pytest.mark.parametrize(
    "raw",
    [
        ["0.1", "0.2", "0.6", "0.7"],
        "0.1, 0.2, 0.6, 0.7",
        "[0.1 0.2 0.6 0.7]",
        (0.1, 0.2, 0.6, 0.7),
        {"x1": 0.1, "y1": 0.2, "x2": 0.6, "y2": 0.7},
    ],
)
def test_strings_and_shapes_are_accepted(raw):
    assert parse_region(raw) == BBox(0.1, 0.2, 0.6, 0.7)


def test_integers_are_accepted():
    assert parse_region([0, 0, 1, 1]) == BBox(0.0, 0.0, 1.0, 1.0)


def test_sector_is_upper_cased_and_gets_the_margin():
    box = parse_region(sector="b2", margin=0.05)
    assert (
        box.as_list(4)
        == [round(1 / 3 - 0.05, 4), round(1 / 3 - 0.05, 4)] + [round(2 / 3 + 0.05, 4)] * 2
    )


def test_sector_columns_run_left_to_right_and_rows_top_to_bottom():
    c1 = parse_region(sector="C1", margin=0)
    a3 = parse_region(sector="A3", margin=0)
    assert (round(c1.x1, 4), c1.y1, c1.x2, round(c1.y2, 4)) == (0.6667, 0.0, 1.0, 0.3333)
    assert (a3.x1, round(a3.y1, 4), round(a3.x2, 4), a3.y2) == (0.0, 0.6667, 0.3333, 1.0)


def test_sector_margin_is_clamped_at_the_edges():
    assert parse_region(sector="A1", margin=0.05).x1 == 0.0
    assert parse_region(sector="C3", margin=0.05).y2 == 1.0


def test_bbox_wins_over_sector():
    assert parse_region([0.1, 0.1, 0.2, 0.2], sector="C3") == BBox(0.1, 0.1, 0.2, 0.2)


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({}, "No region given"),
        ({"bbox_norm": [0.3, 0.3, 0.3, 0.8]}, "degenerate"),
        ({"bbox_norm": [2, 2, 3, 3]}, "degenerate"),
        ({"bbox_norm": [10, 20, 50, 60]}, "pixels or percent"),
        ({"bbox_norm": [0.1, 0.2, 0.3]}, "exactly 4 numbers"),
        ({"bbox_norm": ["a", "b", "c", "d"]}, "not a number"),
        ({"bbox_norm": [0.1, float("nan"), 0.3, 0.4]}, "not a finite number"),
        ({"bbox_norm": 42}, "must be 4 numbers"),
        ({"bbox_norm": [True, 0, 1, 1]}, "not a number"),
        ({"sector": "D4"}, "Unknown sector"),
        ({"sector": "A12"}, "Unknown sector"),
        ({"bbox_norm": "", "sector": "  "}, "No region given"),
    ],
)
def test_bad_regions_raise_region_error_with_a_message_for_the_model(kwargs, words):
    with pytest.raises(RegionError) as caught:
        parse_region(**kwargs)
    assert words in str(caught.value)


def test_quadrants_overlap_by_ten_percent():
    assert QUADRANTS["TL"].as_list() == [0.0, 0.0, 0.55, 0.55]
    assert QUADRANTS["TR"].as_list() == [0.45, 0.0, 1.0, 0.55]
    assert QUADRANTS["BL"].as_list() == [0.0, 0.45, 0.55, 1.0]
    assert QUADRANTS["BR"].as_list() == [0.45, 0.45, 1.0, 1.0]


@pytest.mark.parametrize(
    "raw, expected",
    [(300, 300), ("150", 150), (10, 72), (1000, 400), (None, 300), ("x", 300), (float("inf"), 300)],
)
def test_clamp_dpi(raw, expected):
    assert clamp_dpi(raw) == expected


def test_clamp_dpi_default_is_configurable():
    assert clamp_dpi(None, default=150) == 150
