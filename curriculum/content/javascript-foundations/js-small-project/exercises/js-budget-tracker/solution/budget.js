// A budget tracker. A transaction looks like:
//   { date: "2024-03-01", description: "Paycheck", amount: 1200, category: "income" }
// Positive amounts are money in, negative amounts are money out.

// Already done for you: rounds an amount to cents.
export function roundToCents(amount) {
  return Math.round(amount * 100) / 100;
}

function formatMoney(amount) {
  return "$" + amount.toFixed(2);
}

export function balance(transactions) {
  let total = 0;
  for (const t of transactions) {
    total += t.amount;
  }
  return roundToCents(total);
}

export function spendingByCategory(transactions) {
  const totals = {};
  for (const t of transactions) {
    if (t.amount < 0) {
      totals[t.category] = (totals[t.category] ?? 0) + Math.abs(t.amount);
    }
  }
  for (const category in totals) {
    totals[category] = roundToCents(totals[category]);
  }
  return totals;
}

export function biggestExpense(transactions) {
  let biggest = undefined;
  for (const t of transactions) {
    if (t.amount < 0 && (biggest === undefined || t.amount < biggest.amount)) {
      biggest = t;
    }
  }
  return biggest;
}

function incomeAndSpending(transactions) {
  let income = 0;
  let spending = 0;
  for (const t of transactions) {
    if (t.amount > 0) {
      income += t.amount;
    } else {
      spending += Math.abs(t.amount);
    }
  }
  return { income: roundToCents(income), spending: roundToCents(spending) };
}

export function monthSummary(transactions, month) {
  const inMonth = transactions.filter((t) => t.date.startsWith(month));
  const { income, spending } = incomeAndSpending(inMonth);
  return { income, spending, net: roundToCents(income - spending) };
}

export function report(transactions) {
  const { income, spending } = incomeAndSpending(transactions);
  const biggest = biggestExpense(transactions);
  const biggestLine = biggest === undefined
    ? "Biggest expense: none"
    : `Biggest expense: ${biggest.description} (${formatMoney(Math.abs(biggest.amount))})`;
  return [
    `Income: ${formatMoney(income)}`,
    `Spending: ${formatMoney(spending)}`,
    `Balance: ${formatMoney(balance(transactions))}`,
    biggestLine,
  ].join("\n");
}
