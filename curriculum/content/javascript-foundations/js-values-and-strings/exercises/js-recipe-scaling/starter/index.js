// Press Run (or type: node index.js) to scale a pancake recipe from 4 people to 10.
import { scaleAmount, cupsToMl, ingredientLine, minutesToText } from "./recipe.js";

const from = 4;
const to = 10;

console.log(`Pancakes for ${to} people`);
console.log(ingredientLine(scaleAmount(2, from, to), "cups", "flour"));
console.log(ingredientLine(cupsToMl(scaleAmount(1.5, from, to)), "ml", "milk"));
console.log(ingredientLine(scaleAmount(2, from, to), "", "eggs"));
console.log("Resting time:", minutesToText(75));
