// Press Run (or type: node index.js) for a stock report.
import { stockValue, lowStock, findItem, restock } from "./inventory.js";

const stock = [
  { name: "AA batteries", quantity: 40, price: 3.5 },
  { name: "Light bulbs", quantity: 4, price: 2.25 },
  { name: "Duct tape", quantity: 0, price: 6 },
  { name: "Wood screws (box)", quantity: 18, price: 4.75 },
];

console.log("Stock value:", stockValue(stock));
console.log("Running low:", lowStock(stock, 5));
console.log("Looking up 'duct TAPE':", findItem(stock, "duct TAPE"));
console.log("After a delivery of 12 duct tape:", restock(stock, "Duct tape", 12));
console.log("Running low now:", lowStock(stock, 5));
