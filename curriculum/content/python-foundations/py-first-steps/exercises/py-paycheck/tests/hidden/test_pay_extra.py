from pay import gross_pay, take_home, pay_slip


def test_pays_half_an_hour_of_overtime():
    assert gross_pay(40.5, 10) == 407.5


def test_keeps_everything_when_there_is_no_tax():
    assert take_home(512.5, 0) == 512.5


def test_writes_a_pay_slip_without_overtime():
    assert pay_slip("Lee", 20, 15.5, 0.1) == "Lee: 20 hours, gross $310.00, take-home $279.00"


def test_pays_nothing_for_no_hours():
    assert gross_pay(0, 30) == 0
