"""A paycheck calculator. Each function must RETURN its result."""


def gross_pay(hours, rate):
    if hours <= 40:
        return hours * rate
    overtime = hours - 40
    return 40 * rate + overtime * rate * 1.5


def take_home(gross, tax_rate):
    return round(gross - gross * tax_rate, 2)


def pay_slip(name, hours, rate, tax_rate):
    gross = gross_pay(hours, rate)
    net = take_home(gross, tax_rate)
    return f"{name}: {hours} hours, gross ${gross:.2f}, take-home ${net:.2f}"
