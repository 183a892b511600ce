# Press Run (or type: python3 main.py) for a summary of the month.
from budget import monthly_total, biggest_expense, count_over, weeks_to_save

expenses = [650, 85.40, 42.15, 32.85, 12.99, 120, 8.75, 61.30]

print("Spent this month:", monthly_total(expenses))
print("Biggest expense:", biggest_expense(expenses))
print("Expenses over 50:", count_over(expenses, 50))
print("Weeks to save 500 at 45 a week:", weeks_to_save(500, 45))
