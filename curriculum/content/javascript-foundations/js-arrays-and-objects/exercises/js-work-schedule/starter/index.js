// Press Run (or type: node index.js) for a weekly summary.
import { totalHours, daysWorked, longestDay, payByDay } from "./schedule.js";

const week = { monday: 8, tuesday: 6, wednesday: 0, thursday: 9, friday: 7, saturday: 4 };

console.log("Schedule:    ", week);
console.log("Total hours: ", totalHours(week));
console.log("Days worked: ", daysWorked(week));
console.log("Longest day: ", longestDay(week));
console.log("Pay per day: ", payByDay(week, 16.5));
