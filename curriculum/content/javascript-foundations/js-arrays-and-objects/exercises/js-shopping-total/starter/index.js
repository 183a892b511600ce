// Press Run (or type: node index.js) to see a receipt.
import { total, countOver, mostExpensive, withTax } from "./shopping.js";

const prices = [3.49, 12.99, 0.89, 5.25, 2.1];

console.log("Prices:      ", prices);
console.log("Total:       ", total(prices));
console.log("Over 5:      ", countOver(prices, 5));
console.log("Most costly: ", mostExpensive(prices));
console.log("With 8% tax: ", withTax(prices, 0.08));
