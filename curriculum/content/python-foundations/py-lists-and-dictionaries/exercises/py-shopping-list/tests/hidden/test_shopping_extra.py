from shopping import scale, combine, to_buy, shopping_lines


def test_leaves_the_original_recipe_alone_when_scaling():
    recipe = {"rice": 150, "beans": 100}
    scale(recipe, 4)
    assert recipe == {"rice": 150, "beans": 100}


def test_scales_a_recipe_down_by_half():
    assert scale({"butter": 250, "sugar": 100}, 0.5) == {"butter": 125, "sugar": 50}


def test_combines_no_recipes_into_nothing():
    assert combine([]) == {}


def test_buys_nothing_when_the_pantry_has_exactly_enough():
    assert to_buy({"rice": 500}, {"rice": 500}) == {}


def test_prints_nothing_for_an_empty_shopping_list():
    assert shopping_lines({}) == []
