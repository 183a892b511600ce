// Press Run (or type: node index.js) to see your functions at work.
import { greeting, signature, letterLength } from "./letter.js";

const body = "Your new work schedule starts on Monday.";

console.log(greeting("Mr. Okafor"));
console.log(body);
console.log("Kind regards,");
console.log(signature("Maria Lopez", "Office Manager"));
console.log();
console.log("The middle line has", letterLength(body), "characters.");
