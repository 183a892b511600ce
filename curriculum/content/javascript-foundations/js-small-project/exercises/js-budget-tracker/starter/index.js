// Press Run (or type: node index.js) to see your budget tracker at work.
import { balance, spendingByCategory, biggestExpense, monthSummary, report } from "./budget.js";

const transactions = [
  { date: "2024-03-01", description: "Paycheck", amount: 1200, category: "income" },
  { date: "2024-03-03", description: "Rent", amount: -650, category: "housing" },
  { date: "2024-03-05", description: "Groceries", amount: -85.4, category: "food" },
  { date: "2024-03-09", description: "Bus pass", amount: -42.15, category: "transport" },
  { date: "2024-03-12", description: "Groceries", amount: -32.85, category: "food" },
  { date: "2024-03-15", description: "Paycheck", amount: 1200, category: "income" },
  { date: "2024-03-20", description: "Phone bill", amount: -35, category: "bills" },
  { date: "2024-04-01", description: "Paycheck", amount: 1200, category: "income" },
  { date: "2024-04-03", description: "Rent", amount: -650, category: "housing" },
  { date: "2024-04-06", description: "Work boots", amount: -89.99, category: "clothing" },
  { date: "2024-04-08", description: "Groceries", amount: -91.3, category: "food" },
];

console.log(report(transactions));
console.log();
console.log("Balance:", balance(transactions));
console.log("Spending by category:", spendingByCategory(transactions));
console.log("Biggest expense:", biggestExpense(transactions));
console.log("March:", monthSummary(transactions, "2024-03"));
console.log("April:", monthSummary(transactions, "2024-04"));
