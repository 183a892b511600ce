"""A paycheck calculator. Each function must RETURN its result."""


def gross_pay(hours, rate):
    # TODO: the first 40 hours at rate, hours over 40 at 1.5 times the rate
    return hours * rate


def take_home(gross, tax_rate):
    # TODO: take off the tax and round to cents
    return gross


def pay_slip(name, hours, rate, tax_rate):
    # TODO: like "Dana: 45 hours, gross $950.00, take-home $760.00"
    return name
