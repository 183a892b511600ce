// Press Run (or type: node index.js) to see a savings plan.
import { weeksToGoal, savingsTable } from "./savings.js";

const goal = 1500;
const perWeek = 120;

console.log(`Saving ${perWeek} a week for a goal of ${goal}:`);
console.log(`It takes ${weeksToGoal(goal, perWeek)} weeks.`);
console.log(savingsTable(perWeek, 5));
