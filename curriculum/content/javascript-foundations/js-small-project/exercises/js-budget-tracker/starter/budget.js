// A budget tracker. A transaction looks like:
//   { date: "2024-03-01", description: "Paycheck", amount: 1200, category: "income" }
// Positive amounts are money in, negative amounts are money out.

// Already done for you: rounds an amount to cents.
export function roundToCents(amount) {
  return Math.round(amount * 100) / 100;
}

export function balance(transactions) {
  // TODO: add up all the amounts (rounded to cents)
  return 0;
}

export function spendingByCategory(transactions) {
  // TODO: { category: total spent as a positive number } for the negative amounts only
  return {};
}

export function biggestExpense(transactions) {
  // TODO: the transaction with the most negative amount, or undefined if there is no spending
  return undefined;
}

export function monthSummary(transactions, month) {
  // TODO: { income, spending, net } for the transactions whose date starts with month
  return { income: 0, spending: 0, net: 0 };
}

export function report(transactions) {
  // TODO: four lines of text joined with "\n":
  //   Income: $1200.00
  //   Spending: $810.40
  //   Balance: $389.60
  //   Biggest expense: Rent ($650.00)      (or "Biggest expense: none")
  return "";
}
