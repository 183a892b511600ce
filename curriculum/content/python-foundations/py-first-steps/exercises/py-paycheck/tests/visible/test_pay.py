from pay import gross_pay, take_home, pay_slip


def test_pays_a_forty_hour_week_at_the_normal_rate():
    assert gross_pay(40, 20) == 800


def test_pays_hours_over_forty_at_time_and_a_half():
    assert gross_pay(45, 20) == 950


def test_pays_a_short_week_at_the_normal_rate():
    assert gross_pay(12, 15) == 180


def test_takes_off_twenty_percent_tax():
    assert take_home(800, 0.2) == 640


def test_rounds_take_home_pay_to_cents():
    assert take_home(333.33, 0.15) == 283.33


def test_writes_a_pay_slip_line():
    assert pay_slip("Dana", 45, 20, 0.2) == "Dana: 45 hours, gross $950.00, take-home $760.00"
