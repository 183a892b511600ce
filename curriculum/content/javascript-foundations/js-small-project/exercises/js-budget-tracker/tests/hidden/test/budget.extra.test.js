import { expect } from "chai";
import { balance, spendingByCategory, biggestExpense, monthSummary, report } from "../budget.js";

function twoMonths() {
  return [
    { date: "2024-03-01", description: "Paycheck", amount: 1200, category: "income" },
    { date: "2024-03-20", description: "Phone bill", amount: -35, category: "bills" },
    { date: "2024-04-01", description: "Paycheck", amount: 1250.5, category: "income" },
    { date: "2024-04-06", description: "Work boots", amount: -89.99, category: "clothing" },
    { date: "2024-04-08", description: "Groceries", amount: -19.99, category: "food" },
    { date: "2024-04-09", description: "Groceries", amount: -5.01, category: "food" },
  ];
}

describe("budget tracker, more cases", () => {
  it("rounds a category total to cents", () => {
    expect(spendingByCategory(twoMonths()).food).to.equal(25);
  });

  it("has no biggest expense when there is only income", () => {
    expect(biggestExpense([{ date: "2024-05-01", description: "Paycheck", amount: 900, category: "income" }])).to.equal(undefined);
  });

  it("summarises only the asked-for month", () => {
    expect(monthSummary(twoMonths(), "2024-04")).to.deep.equal({ income: 1250.5, spending: 114.99, net: 1135.51 });
  });

  it("reports a list with only income", () => {
    const onlyIncome = [{ date: "2024-05-01", description: "Paycheck", amount: 900, category: "income" }];
    expect(report(onlyIncome)).to.equal("Income: $900.00\nSpending: $0.00\nBalance: $900.00\nBiggest expense: none");
  });

  it("reports two months of transactions", () => {
    expect(report(twoMonths())).to.equal(
      "Income: $2450.50\nSpending: $149.99\nBalance: $2300.51\nBiggest expense: Work boots ($89.99)"
    );
  });

  it("gives a balance that may be negative", () => {
    expect(balance([{ date: "2024-06-02", description: "Car repair", amount: -310.75, category: "car" }])).to.equal(-310.75);
  });
});
