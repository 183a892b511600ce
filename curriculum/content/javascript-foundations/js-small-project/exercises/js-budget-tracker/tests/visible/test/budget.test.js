import { expect } from "chai";
import { balance, spendingByCategory, biggestExpense, monthSummary, report } from "../budget.js";

function march() {
  return [
    { date: "2024-03-01", description: "Paycheck", amount: 1200, category: "income" },
    { date: "2024-03-03", description: "Rent", amount: -650, category: "housing" },
    { date: "2024-03-05", description: "Groceries", amount: -85.4, category: "food" },
    { date: "2024-03-09", description: "Bus pass", amount: -42.15, category: "transport" },
    { date: "2024-03-12", description: "Groceries", amount: -32.85, category: "food" },
  ];
}

describe("balance", () => {
  it("adds up money in and money out", () => {
    expect(balance(march())).to.equal(389.6);
  });

  it("is 0 with no transactions", () => {
    expect(balance([])).to.equal(0);
  });
});

describe("spendingByCategory", () => {
  it("totals the spending of each category as positive numbers", () => {
    expect(spendingByCategory(march())).to.deep.equal({ housing: 650, food: 118.25, transport: 42.15 });
  });
});

describe("biggestExpense", () => {
  it("finds the transaction with the largest spending", () => {
    expect(biggestExpense(march())).to.deep.equal({ date: "2024-03-03", description: "Rent", amount: -650, category: "housing" });
  });
});

describe("monthSummary", () => {
  it("adds up income, spending and what is left for one month", () => {
    expect(monthSummary(march(), "2024-03")).to.deep.equal({ income: 1200, spending: 810.4, net: 389.6 });
  });

  it("gives zeros for a month with no transactions", () => {
    expect(monthSummary(march(), "2024-04")).to.deep.equal({ income: 0, spending: 0, net: 0 });
  });
});

describe("report", () => {
  it("writes a four-line summary of all transactions", () => {
    expect(report(march())).to.equal(
      "Income: $1200.00\nSpending: $810.40\nBalance: $389.60\nBiggest expense: Rent ($650.00)"
    );
  });
});
