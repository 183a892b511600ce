# Press Run (or type: python3 main.py) to print some pay slips.
from pay import gross_pay, take_home, pay_slip

print(pay_slip("Dana", 45, 20, 0.2))
print(pay_slip("Lee", 22.5, 16.4, 0.12))
print(pay_slip("Omar", 40, 21, 0.2))
print("Gross for 50 hours at 18:", gross_pay(50, 18))
