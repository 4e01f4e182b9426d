from medgap.solvers.permutations import attempts_for, make_attempt, option_orders, to_original
from tests.helpers import choice_sample


def test_first_order_is_original_and_orders_are_distinct():
    sample = choice_sample("q1", n_options=5)
    orders = option_orders(sample, 5, seed=0)
    assert orders[0] == ["A", "B", "C", "D", "E"]
    assert len({tuple(o) for o in orders}) == 5


def test_orders_are_deterministic_in_item_and_seed():
    sample = choice_sample("q1", n_options=4)
    assert option_orders(sample, 5, seed=1) == option_orders(sample, 5, seed=1)
    assert option_orders(sample, 5, seed=1) != option_orders(sample, 5, seed=2)
    assert option_orders(sample, 5, seed=1) != option_orders(choice_sample("q2"), 5, seed=1)


def test_two_options_use_every_distinct_order_once():
    orders = option_orders(choice_sample("q", n_options=2), 5, seed=0)
    assert orders == [["A", "B"], ["B", "A"]]


def test_gold_is_remapped_to_asked_letters():
    sample = choice_sample("q", answer="AC", n_options=4)
    attempt = make_attempt(sample, 1, ["C", "D", "A", "B"])
    assert attempt.options["A"] == sample.options["C"]
    assert attempt.gold_letters == ["A", "C"]  # original C is asked as A, original A as C
    assert to_original("A", attempt.order) == "C"


def test_given_orders_are_used_as_given():
    sample = choice_sample("q", given_orders=[["A", "B", "C", "D"], ["D", "C", "B", "A"]])
    assert [a.order for a in attempts_for(sample, 5, seed=0)] == sample.given_orders
