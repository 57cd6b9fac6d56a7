"""The Train tab's charts as data: the live score's series (each direction and its untranslated
baseline), their colours, the note with the cost, and redrawing only on change."""
from ui import train_charts


def rec(step, **kw):
    return {"step": step, "kid_a2b": 0.5 / step, "identity_kid_a2b": 1.4, **kw}


def test_score_frame_has_each_direction_and_its_baseline():
    one = train_charts.score_frame([rec(10), rec(20)], ("day", "night"))
    assert one["series"].tolist() == ["day → night", "day → night, untranslated"] * 2
    assert one["value"].tolist() == [0.05, 1.4, 0.025, 1.4] and one["step"].tolist() == [10, 10, 20, 20]
    two = train_charts.score_frame([rec(5, kid_b2a=0.3, identity_kid_b2a=1.3)])
    assert set(two["series"]) == {"A → B", "A → B, untranslated", "B → A", "B → A, untranslated"}
    empty = train_charts.score_frame([])
    assert len(empty) == 0 and str(empty["step"].dtype) == "int64"


def test_score_colors_pair_a_direction_with_its_baseline():
    names = ["A → B", "A → B, untranslated", "B → A", "B → A, untranslated"]
    c = train_charts.score_colors(names)
    assert list(c) == names and len(set(c.values())) == 4
    assert c["A → B"] == "#4c78a8" and c["A → B, untranslated"] == "#9ecae9"


def test_note_says_what_was_scored_and_what_it_cost():
    assert "random CNN" in train_charts.score_note(None)
    held = train_charts.score_note({"split": "test", "n_fake": 100, "seconds": 0.8, "fraction_of_wall_time": 0.021})
    assert held == "100 images per side from held-out test images; 0.80 s per score, 2.1% of the run's time."
    assert "overfitting stays invisible" in train_charts.score_note({"split": "train", "n_fake": 8, "seconds": 1.0})


def test_update_redraws_only_on_change():
    skip = {"__type__": "update"}     # gr.skip()
    seen = {}
    plot, legend = train_charts.update(seen, "score", [rec(10)], train_charts.score_frame, train_charts.score_colors)
    assert plot["color_map"] == {"A → B": "#4c78a8", "A → B, untranslated": "#9ecae9"} and "A → B" in legend
    assert train_charts.update(seen, "score", [rec(10)], train_charts.score_frame) == (skip, skip)
    more, legend = train_charts.update(seen, "score", [rec(10), rec(20)], train_charts.score_frame)
    assert len(more) == 4 and legend == skip          # same series: new data, no redraw of the legend
    cleared, legend = train_charts.update(seen, "score", [], train_charts.score_frame)
    assert cleared is None and legend == ""
